"""How a NewOrderSingle's request is read: its repeating part once per (message shape, session, values).

A client sends the same tag sequence (the codec's compiled `_Shape`) order after order, and most of an
order's values repeat: Account(1), Symbol(55), Side(54), OrdType(40), TimeInForce(59), ExecInst(18),
the gold tags 7001..7005 and GoldRoutable(7007). Everything `OrderFlow.new_order` decides from those
alone (the account, the symbol's terms, the supported-value check, the time in force, the settlement
constraints, the side) is the same for every order that repeats them in the same session, so it is
decided once and kept (`RequestTerms`), per shape, keyed by (session, those values); a message of a
known shape then reads its values by position (`ShapeReader`: two `itemgetter` calls) instead of ~20
lookups in the message's tag index (benchmarks/README.md, "The acknowledgement and the cancel,
session 11"). Only accepted terms are kept: a refusal is decided, and worded, afresh each time.

`NewOrderRead` (a mixin of `OrderFlow`) reads a request the general way, through the message's tag
index, for a message without a shape, a shape not seen before, or values not kept (`_read_new`), in
the order of checks the answers depend on.

Not here: the per-order values (ClOrdID, OrderQty, Price, ExpireTime; read in `orders.flow`), routing,
the refusals' reports (`orders.new_order_rejects`).
"""
from __future__ import annotations

from operator import itemgetter
from typing import Any

from matching import Tif as CoreTif
from router.domain.reasons import Reason
from router.fix.codec import parse_utc_timestamp
from router.orders.core_books import TIFS
from router.orders.index import text_of as _s
from router.orders.marketdata import BAR_FORM_FROM_FIX, CYCLE_FROM_FIX
from router.orders.new_order_rejects import business_reject
from router.orders.order_values import NO_GOLD_TAGS
from router.orders.routing import NO_CONSTRAINTS, Constraints

__all__ = ["NewOrderRead", "ShapeReader", "KeptTerms", "STATIC_TAGS", "READERS_KEPT", "TERMS_KEPT"]

# The tags whose values decide a new order's terms without its ClOrdID, quantity, price or expiry.
STATIC_TAGS = (b"1", b"55", b"54", b"40", b"59", b"18", b"7001", b"7002", b"7003", b"7004", b"7005", b"7007")
# A shape needs these to be read by position (the rest may be absent: then they read as None).
_NEEDED = (b"11", b"38", b"55", b"54", b"40")
READERS_KEPT = 256          # shapes (a peer chooses them: bounded, cleared when full)
TERMS_KEPT = 4096           # kept terms per shape (the values are the peer's choice too)
_UNSEEN = object()            # a message shape without a reader yet
# TimeInForce(59) -> (core Tif, its int, the router's Tif): the int spares an enum conversion per order.
TIF_TERMS = {raw: (core, int(core), route) for raw, (core, route) in TIFS.items()}


class KeptTerms(dict):
    """A shape's kept terms: a cache, so a snapshot pickles it empty (it refills on demand) and holds no
    codec shape."""

    __slots__ = ()

    def __reduce__(self) -> tuple:
        return KeptTerms, ()


class ShapeReader:
    """One message shape's positions: `static(values)` gives the present `STATIC_TAGS`' values as a
    tuple (the key of `terms`), `dynamic(values)` ClOrdID(11), OrderQty(38) and Price(44) (None when
    the shape has no 44); `terms` the terms decided for (session, static values)."""

    __slots__ = ("static", "dynamic", "terms")

    def __init__(self, static: Any, dynamic: Any) -> None:
        self.static = static
        self.dynamic = dynamic
        self.terms: dict[tuple, tuple] = KeptTerms()


def shape_reader(tags: tuple[bytes, ...]) -> ShapeReader | None:
    """A reader for messages of this tag sequence, or None when it lacks a tag the reading needs."""
    first: dict[bytes, int] = {}
    for n, t in enumerate(tags):
        first.setdefault(t, n)          # the first occurrence, as the message's tag index keeps
    if any(t not in first for t in _NEEDED):
        return None
    static = itemgetter(*[first[t] for t in STATIC_TAGS if t in first])   # 55, 54, 40 at least: a tuple
    p44 = first.get(b"44")
    if p44 is not None:
        dynamic = itemgetter(first[b"11"], first[b"38"], p44)
    else:
        p11, p38 = first[b"11"], first[b"38"]

        def dynamic(v: Any) -> tuple:
            return v[p11], v[p38], None
    return ShapeReader(static, dynamic)


class NewOrderRead:
    """Mixin of `OrderFlow`: a new order's request read through the message's tag index."""

    def _kept(self, session: str, msg: Any) -> tuple:
        """(reader, terms, positional values) of a request: its shape's reader (None when the shape
        cannot be read by position), the terms kept for its repeating values and its (ClOrdID, raw
        OrderQty, raw Price) read by position; terms and values are None when nothing is kept."""
        shape = msg.shape
        rd = self._readers.get(shape, _UNSEEN)
        if rd is _UNSEEN:
            rd = self._reader(shape)
        if rd is not None:
            v = msg.values
            terms = rd.terms.get((session, rd.static(v)))
            if terms is not None:
                return rd, terms, rd.dynamic(v)
        return rd, None, None

    def _reader(self, shape: Any) -> ShapeReader | None:
        """The reader of `shape` (None: no shape, or one the positional reading cannot serve), made
        and kept at its first sighting."""
        readers = self._readers
        if shape in readers:
            return readers[shape]
        if len(readers) >= READERS_KEPT:
            readers.clear()
        rd = readers[shape] = shape_reader(shape.tags) if shape is not None else None
        return rd

    def _read_new(self, session: str, msg: Any, now_ns: int, rd: ShapeReader | None) -> tuple | list:
        """The request read and checked through the tag index, in the order of its answers: ClOrdID,
        duplicate, throttle, account, symbol, supported values, time in force. Returns the answer
        (a list) or (clordid, raw OrderQty, raw Price, terms) with terms as `RequestTerms` keeps them:
        (account, symbol terms, core Tif, its int, router Tif, constraints, side 1/2, limit). Accepted
        terms are kept in `rd` (when given) for the next order with the same values."""
        g = msg.index().get        # one dict of first occurrences: cheaper than a get() per tag
        clordid = g(b"11")
        if not clordid:
            return [business_reject(session, msg, 5, "ClOrdID(11) missing")]
        if self.index.clordid_used(session, clordid):
            if g(b"97") == b"Y":
                # A possible resend of an order we already have: report its state rather than reject it.
                return self.status(session, msg, now_ns)
            return self._reject_new(session, msg, now_ns, Reason.DUPLICATE_CLORDID,
                                    f"duplicate ClOrdID {_s(clordid)} in this session")
        throttled = self.risk.check_message(session, now_ns)
        if throttled is not None:
            return self._reject_new(session, msg, now_ns, throttled, throttled.text)
        acct_key = (session, g(b"1"))
        acct = self._acct_cache.get(acct_key)
        if acct is None:
            acct = self.accounts.resolve(session, _s(g(b"1")))
            if isinstance(acct, Reason):
                return self._reject_new(session, msg, now_ns, acct, f"{acct.text}: {_s(g(b'1')) or '(none)'}")
            self._acct_cache[acct_key] = acct
        account = acct.name
        known = self._symbol_terms.get(g(b"55"))
        if known is None:
            known = self._symbol_info(g(b"55"))
            if known[1] is None and known[2] is None:
                return self._reject_new(session, msg, now_ns, Reason.UNKNOWN_SYMBOL,
                                        f"unknown instrument or product {known[0]!r}", account)
        is_product = known[5]
        # Every FIX 4.4 value passes the dictionary; the ones this router does not support are refused
        # here, as an ExecutionReport the OMS can tie to its ClOrdID. The gold tags are read once.
        gold = (g(b"7001"), g(b"7002"), g(b"7003"), g(b"7004"), g(b"7005"))
        unsupported = self.values.unsupported_value(g, is_product, gold)
        if unsupported is not None:
            return self._reject_new(session, msg, now_ns, Reason.UNSUPPORTED, unsupported, account)
        tifs = TIF_TERMS[g(b"59") or b"0"]
        if is_product and tifs[0] is CoreTif.FOK:
            return self._reject_new(session, msg, now_ns, Reason.UNSUPPORTED,
                                    "fill-or-kill is not supported on a routable product (the group sweep "
                                    "cannot guarantee all-or-none across venues)", account)
        return clordid, g(b"38"), g(b"44"), self._keep_terms(session, msg, rd, g, acct, known, tifs, gold)

    def _keep_terms(self, session: str, msg: Any, rd: ShapeReader | None, g: Any, acct: Any, known: tuple,
                    tifs: tuple, gold: tuple) -> tuple:
        """An accepted request's terms, as `_read_new` returns them, kept in `rd` (when given) for the
        next order of this shape, session and repeating values."""
        terms = (acct, known, *tifs, NO_CONSTRAINTS if gold == NO_GOLD_TAGS else constraints_of(gold),
                 1 if g(b"54") == b"1" else 2, g(b"40") == b"2")
        if rd is not None:
            kept = rd.terms
            if len(kept) >= TERMS_KEPT:
                kept.clear()
            kept[(session, rd.static(msg.values))] = terms
        return terms

    def _expire_ns(self, msg: Any, now_ns: int) -> int | None:
        """A GTD order's ExpireTime(126) in ns, or None when absent, unreadable or not in the future."""
        raw = msg.get(126)
        expire_ns = parse_utc_timestamp(raw) if raw else None
        return expire_ns if expire_ns and expire_ns > now_ns else None


def constraints_of(raw: tuple) -> Constraints:
    """Settlement constraints from the values of the custom tags 7001..7005 (None when absent)."""
    if not any(raw):
        return NO_CONSTRAINTS
    ccy, vault, bar, cycle, venues = (v.decode("ascii", "replace") if v else None for v in raw)
    # The FIX enums name bar forms and cycles briefly; the catalogue uses descriptive names.
    bar = None if bar in (None, "ANY") else BAR_FORM_FROM_FIX.get(bar, bar)
    cycle = None if cycle is None else CYCLE_FROM_FIX.get(cycle, cycle)
    return Constraints(ccy, vault, bar, cycle, frozenset(venues.split()) if venues else None)
