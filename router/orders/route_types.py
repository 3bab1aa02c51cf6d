"""The routing decision's value types: sides, time in force, constraints, candidates, exclusions,
and `RouteDecision` with its two renderings (structured JSON for the admin API, one compact line for
the execution report's routing tag).

Only values and their presentation live here; `router.orders.routing` computes them. No
configuration, no books, no clock.
"""
from __future__ import annotations

import enum
from typing import Any, NamedTuple

from router.orders.quota import Direction
from router.domain.reasons import Reason

EXPLAIN_MAX = 400


class Side(enum.IntEnum):
    BUY = 1
    SELL = 2


class Tif(enum.Enum):
    DAY = "0"
    GTC = "1"
    IOC = "3"
    FOK = "4"




class Constraints(NamedTuple):
    """Settlement constraints from the order's custom tags; None = no constraint."""

    settl_ccy: str | None = None
    vault: str | None = None
    bar_form: str | None = None
    settl_cycle: str | None = None
    allowed_venues: frozenset[str] | None = None


NO_CONSTRAINTS = Constraints()
_BUY = Side.BUY         # a module global: an enum class attribute lookup costs ~60 ns


class RouteRequest(NamedTuple):
    account: str
    side: Side
    symbol: str                 # instrument symbol or product id
    qty: int                    # lots (instrument) or grams (product)
    price: int | None           # limit in integer price units; None = market (bounded by price limits)
    tif: Tif = Tif.DAY
    constraints: Constraints = NO_CONSTRAINTS


class Candidate(NamedTuple):
    symbol: str
    book_id: int
    lots: int
    price: int                  # child limit, instrument price units, on tick, rounded conservatively
    comparable: int             # ranking price (quote or reference), micro-USD per fine oz
    all_in: int                 # comparable plus fees and carry (buy) / minus (sell)
    source: str                 # "quote" or "ref": where the ranking price came from
    direction: Direction | None
    notional_cny: int           # at the child limit, micro-CNY
    settl_ccy: str
    cash: int                   # to reserve, micro settl_ccy: value + fees (full-payment buy) or margin + fees
    vault: str                  # sell: the vault holding the metal; buy: where metal is delivered
    metal_ug: int               # to reserve for a full-payment sell, else 0


class Exclusion(NamedTuple):
    symbol: str
    book_id: int
    reason: Reason


_NO_DECIMALS: dict[str, tuple[int, str]] = {}


class RouteDecision:
    __slots__ = ("request", "reason", "candidates", "excluded", "allowed_mask", "comparable_limit",
                 "qty_ug", "rest_book", "notional_cny", "quota_claims", "decimals", "explained")

    def __init__(self, request: RouteRequest, reason: Reason | None, candidates: tuple[Candidate, ...] = (),
                 excluded: tuple[Exclusion, ...] = (), allowed_mask: int = 0, comparable_limit: int = 0,
                 qty_ug: int = 0, rest_book: int | None = None, notional_cny: int = 0,
                 quota_claims: dict[Direction, int] | None = None) -> None:
        self.request = request
        self.reason = reason
        self.candidates = candidates
        self.excluded = excluded
        self.allowed_mask = allowed_mask
        self.comparable_limit = comparable_limit
        self.qty_ug = qty_ug
        self.rest_book = rest_book
        self.notional_cny = notional_cny
        self.quota_claims = quota_claims or {}
        # (price decimals, quantity unit) per instrument and product id (the router sets them): prices
        # are shown in each one's own quote, e.g. 560.00, never in internal integer units.
        self.decimals = _NO_DECIMALS
        # Its GoldRouteExplain(7006) bytes once `Router.explain_bytes` made them: a decision a plan hands
        # out again (`router.orders.route_one`) then costs no lookup. Not set on decisions unpickled
        # from snapshots written before it (only fresh decisions are explained).
        self.explained: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def text(self) -> str:
        return "" if self.reason is None else self.reason.text

    def _price(self, symbol: str, units: int | None) -> str | None:
        if units is None:
            return None
        known = self.decimals.get(symbol)
        return str(units) if known is None else _decimal(units, known[0])

    def explain(self) -> dict[str, Any]:
        """The structured explanation kept for the admin API (plain JSON-able values): the order as
        the client sent it (`qty` in `qty_unit`, `price` in its own quote), then `compared`: the books
        ranked best first, each with its child limit in its own quote, the comparable price (USD per
        fine troy ounce), the costs added (buy) or taken off (sell), the all-in price it was ranked
        on, `from` "quote" (best opposite price) or "ref" (reference price, no quote) and `cross`
        (northbound / southbound or null); `excluded`: every other book with the reason; `explain`:
        the GoldRouteExplain(7006) line."""
        r = self.request
        known = self.decimals.get(r.symbol)
        return {
            "symbol": r.symbol, "side": r.side.name.lower(), "qty": r.qty,
            "qty_unit": known[1] if known else None, "price": self._price(r.symbol, r.price),
            "account": r.account,
            "decision": "reject" if self.reason else "route",
            "reason": self.reason.label if self.reason else None,
            "reason_text": self.reason.text if self.reason else None,
            "considered": [c.symbol for c in self.candidates] + [e.symbol for e in self.excluded],
            "compared": [{"rank": n, "symbol": c.symbol, "book": c.book_id, "lots": c.lots,
                          "child_price": self._price(c.symbol, c.price),
                          "usd_oz_fine": _usd(c.comparable), "costs_usd_oz_fine": _usd(abs(c.all_in - c.comparable)),
                          "all_in_usd_oz_fine": _usd(c.all_in), "from": c.source,
                          "cross": c.direction.value if c.direction else None}
                         for n, c in enumerate(self.candidates, 1)],
            "excluded": [{"symbol": e.symbol, "book": e.book_id, "reason": e.reason.label,
                          "reason_text": e.reason.text} for e in self.excluded],
            "comparable_limit_usd_oz_fine": _usd(self.comparable_limit) if self.comparable_limit else None,
            "rest_book": self.rest_book,
            "explain": self.explain_text(),
        }

    def explain_text(self, limit: int = EXPLAIN_MAX) -> str:
        """One line for GoldRouteExplain(7006); the legend is in fix_specs/README.md:
        `B|S SYMBOL QTY[ @PRICE][ REJ reason]`, then per ranked book `N.INSTRUMENT CHILD=USD/ALLIN`
        (CHILD in the instrument's own quote, USD and ALLIN in USD per fine oz; a trailing `r`: ranked
        on the reference price, the book had no quote), then `xINSTRUMENT:reason` per excluded book."""
        r = self.request
        head = f"{'B' if r.side is Side.BUY else 'S'} {r.symbol} {r.qty}"
        if r.price is not None:
            head += f" @{self._price(r.symbol, r.price)}"
        if self.reason is not None:
            head += f" REJ {self.reason.label}"
        parts = [head]
        fragments = _FRAGMENTS
        decimals = self.decimals
        for n, c in enumerate(self.candidates, 1):
            # Candidate fields by position: symbol, child price, comparable, all-in, source.
            key = (c[0], c[3], c[4], c[5], c[6], decimals.get(c[0]))   # decimals: per FX/config state
            fragment = fragments.get(key)
            if fragment is None:
                if len(fragments) >= FRAGMENT_CACHE_MAX:
                    fragments.clear()
                fragment = fragments[key] = (f"{c.symbol} {self._price(c.symbol, c.price)}="
                                             f"{_usd(c.comparable)}/{_usd(c.all_in)}"
                                             + ("" if c.source == "quote" else "r"))
            parts.append(f"{n}.{fragment}")
        for e in self.excluded:
            parts.append(f"x{e.symbol}:{e.reason.label}")
        text = "; ".join(parts)
        if len(text) > limit:
            text = text[:limit - 3] + "..."
        return text

    def __repr__(self) -> str:
        return f"RouteDecision({self.explain_text()})"


# Rendered candidate fragments of the explanation text, by their inputs: books keep quoting the same
# few prices, and formatting two dollar amounts costs more than a lookup. Bounded, cleared when full.
_FRAGMENTS: dict[tuple, str] = {}
FRAGMENT_CACHE_MAX = 4096


def explain_line(d: RouteDecision) -> bytes:
    """`d.explain_text().encode("ascii", "replace")`, byte for byte, made as bytes: the general line
    costs ~5 us to format for a request not seen before (its fragment memo misses on the child price;
    benchmarks/README.md, "Order flow: requests not seen before"). Only each book's USD pair is
    memoised (few values: a reference price or a quote); prices are formatted each time, and an
    accepted limit order on its own book at its own price is one format. A value of another type
    takes `explain_text`."""
    cands, excl = d.candidates, d.excluded
    r = d.request
    decimals = d.decimals
    try:
        symbol = r[2]
        sym = _ASCII.get(symbol) or _ascii(symbol)
        price = r[4]
        if len(cands) == 1 and not excl and d.reason is None and price is not None:
            c = cands[0]
            tail = _TAILS.get((c[4], c[5], c[6]))    # comparable, all-in, source
            known = decimals.get(symbol)
            if tail is not None and c[3] == price and c[0] == symbol and known is not None and 0 < known[0] < 10 \
                    and price >= 0:
                text = _UNITS_FORMAT[known[0]] % divmod(price, _TENS[known[0]])     # `_units`, inline
                line = b"%b %b %d @%b; 1.%b %b%b" % (b"B" if r[1] is _BUY else b"S", sym, r[3], text, sym,
                                                    text, tail)
                if len(line) <= EXPLAIN_MAX:
                    return line
        head = b"%b %b %d" % (b"B" if r[1] is _BUY else b"S", sym, r[3])
        if price is not None:
            head += b" @" + _units(price, decimals.get(symbol))
        if d.reason is not None:
            head += b" REJ " + _ascii(d.reason.label)
        parts = [head]
        for n, c in enumerate(cands, 1):
            key = (c[4], c[5], c[6])
            tail = _TAILS.get(key)
            if tail is None:
                if len(_TAILS) >= FRAGMENT_CACHE_MAX:
                    _TAILS.clear()
                tail = _TAILS[key] = ("=%s/%s%s" % (_usd(c[4]), _usd(c[5]), "" if c[6] == "quote" else "r")
                                      ).encode("ascii", "replace")
            csym = c[0]
            parts.append(b"%d.%b %b%b" % (n, _ASCII.get(csym) or _ascii(csym), _units(c[3], decimals.get(csym)),
                                          tail))
        for e in excl:
            parts.append(b"x%b:%b" % (_ascii(e[0]), _ascii(e[2].label)))
    except TypeError:
        return d.explain_text().encode("ascii", "replace")
    line = b"; ".join(parts)
    if len(line) > EXPLAIN_MAX:
        line = line[:EXPLAIN_MAX - 3] + b"..."
    return line


def _ascii(text: str) -> bytes:
    got = _ASCII.get(text)
    if got is None:
        if len(_ASCII) >= FRAGMENT_CACHE_MAX:
            _ASCII.clear()
        got = _ASCII[text] = text.encode("ascii", "replace")
    return got


def _units(units: int, known: tuple[int, str] | None) -> bytes:
    """`RouteDecision._price` as bytes: integer price units in the quote's decimals when known."""
    if known is None or known[0] <= 0:
        return b"%d" % units
    places = known[0]
    if units >= 0 and places < 10:
        return _UNITS_FORMAT[places] % divmod(units, _TENS[places])
    whole, frac = divmod(abs(units), 10 ** places)
    return b"%s%d.%0*d" % (b"-" if units < 0 else b"", whole, places, frac)


# Price texts by decimal places: b"%d.%02d" % divmod(units, 100) for two (`_units`).
_UNITS_FORMAT = [b"%d"] + [b"%%d.%%0%dd" % n for n in range(1, 10)]
_TENS = [10 ** n for n in range(10)]
# `explain_line`'s memos: a book's "=USD/ALLIN[r]" by (comparable, all-in, source), symbols and labels
# encoded. Bounded, cleared when full.
_TAILS: dict[tuple, bytes] = {}
_ASCII: dict[str, bytes] = {}


def _decimal(units: int, places: int) -> str:
    """Integer price units as a decimal with `places` digits (display only)."""
    if places <= 0:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10 ** places)
    return f"{sign}{whole}.{frac:0{places}d}"


def _usd(micro: int) -> str:
    """Micro-USD as dollars and cents, rounded half up (display only)."""
    sign = "-" if micro < 0 else ""
    cents = (abs(micro) + 5_000) // 10_000
    return f"{sign}{cents // 100}.{cents % 100:02d}"
