"""Order records, their identifiers, and the FIX field lists of ExecutionReport and OrderCancelReject.

An `Order` is the router's own view of one client order, in integer *base units*: lots of the
instrument for an order on an instrument, fine micrograms for an order on a routable product (whose
FIX quantities are fine grams). `OrderIndex` maps core order ids, OrderID(37) text and per-session
ClOrdIDs to orders, and remembers every ClOrdID a session ever used so duplicates are refused.
`Ids` hands out core order ids, OrderIDs and ExecIDs that stay unique across restarts (a run id
prefixes them). The message bodies built from orders (ExecutionReport, OrderCancelReject) are in
`router.orders.reports`.

It does not decide anything (no risk, routing or matching), does not parse inbound messages
beyond the small typed readers below, and does no I/O.
"""
from __future__ import annotations

import collections
from decimal import Decimal, InvalidOperation
from typing import Any, Iterator


# -- FIX tags used by the order flow (FIX 4.4 standard numbers) ----------------------------------
ACCOUNT, AVG_PX, CL_ORD_ID, CUM_QTY, EXEC_ID, LAST_MKT, LAST_PX, LAST_QTY = 1, 6, 11, 14, 17, 30, 31, 32
ORDER_ID, ORDER_QTY, ORD_STATUS, ORD_TYPE, ORIG_CL_ORD_ID, PRICE, SIDE, SYMBOL = 37, 38, 39, 40, 41, 44, 54, 55
TEXT, TIME_IN_FORCE, TRANSACT_TIME, ORD_REJ_REASON, EXPIRE_TIME, CXL_REJ_REASON = 58, 59, 60, 103, 126, 102
EXEC_TYPE, LEAVES_QTY, CXL_REJ_RESPONSE_TO, SECURITY_EXCHANGE, CURRENCY = 150, 151, 434, 207, 15
ORD_STATUS_REQ_ID = 790
# Gold custom tags (user-defined range; numbers and meaning tabled in fix_specs/README.md).
GOLD_SETTL_CCY, GOLD_VAULT, GOLD_BAR_FORM, GOLD_SETTL_CYCLE, GOLD_ALLOWED_VENUES = 7001, 7002, 7003, 7004, 7005
GOLD_ROUTE_EXPLAIN, GOLD_ROUTED_INSTRUMENT, GOLD_QTY_UNIT = 7006, 7008, 7009

# ExecType(150) / OrdStatus(39) values (FIX 4.4).
ET_NEW, ET_CANCELED, ET_REPLACED, ET_REJECTED, ET_EXPIRED, ET_TRADE, ET_STATUS = b"0", b"4", b"5", b"8", b"C", b"F", b"I"
OS_NEW, OS_PARTIAL, OS_FILLED, OS_CANCELED, OS_REJECTED, OS_EXPIRED = b"0", b"1", b"2", b"4", b"8", b"C"
DONE_STATUSES = frozenset({OS_FILLED, OS_CANCELED, OS_REJECTED, OS_EXPIRED})

MICRO = 1_000_000
_Q4 = Decimal("0.0001")
DONE_KEPT = 20_000           # default of [orders] done_kept
# AvgPx(6) texts of one-price averages by (price, value_den, decimals) (`Order.avg_px_text`); bounded.
_ONE_PRICE_AVG: dict[tuple[int, int, int], bytes] = {}
ONE_PRICE_AVG_KEPT = 4096


def _avg_text(value: int, den: int, decimals: int) -> bytes:
    """value / den price units as AvgPx(6) text: four places, Decimal's rounding."""
    return str((Decimal(value) / den).scaleb(-decimals).quantize(_Q4)).encode()


def parse_orders_config(t: dict[str, Any]) -> int:
    """The `[orders]` table: `done_kept`, how many ended orders stay findable (status requests, late
    cancels answered "too late") before the oldest are forgotten. Returns it."""
    from router.domain.errors import ConfigError
    for key in t:
        if key != "done_kept":
            raise ConfigError(f"orders.{key}", "unknown key (known: done_kept)")
    kept = t.get("done_kept", DONE_KEPT)
    if type(kept) is not int or kept < 1:
        raise ConfigError("orders.done_kept", f"must be a whole number of orders, at least 1 (got {kept!r})")
    return kept


def micro_text(amount: int) -> bytes:
    """Micro-units as an exact decimal without trailing zeros (grams from micrograms)."""
    whole, frac = divmod(amount, MICRO)
    if not frac:
        return b"%d" % whole
    return (b"%d.%06d" % (whole, frac)).rstrip(b"0")


def units_text(units: int, decimals: int) -> bytes:
    """Integer price units as the decimal price with exactly `decimals` places."""
    if decimals == 0:
        return b"%d" % units
    sign = b"-" if units < 0 else b""
    whole, frac = divmod(abs(units), 10 ** decimals)
    return b"%s%d.%0*d" % (sign, whole, decimals, frac)


def text_of(raw: bytes | None) -> str:
    """A FIX value as text for messages and lookups (empty when absent)."""
    return raw.decode("ascii", "replace") if raw else ""


def parse_decimal(raw: bytes | None) -> Decimal | None:
    """A FIX float field as an exact Decimal, or None when absent or not a finite number."""
    if raw is None:
        return None
    try:
        d = Decimal(raw.decode("ascii"))
    except (InvalidOperation, UnicodeDecodeError, ValueError):
        return None
    return d if d.is_finite() else None


def fast_units(raw: bytes | None, decimals: int) -> int | None:
    """Integer units of 10**-decimals for a plain decimal text like b"560.50", without Decimal.

    None when the text is anything else (sign, exponent, finer than the unit): the caller then
    takes the exact Decimal path, which also words the rejection.
    """
    if not raw:
        return None
    if raw.isdigit():               # a whole number, the usual quantity
        return int(raw) * 10 ** decimals
    whole, _, frac = raw.partition(b".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        return None
    if frac and len(frac) == decimals:      # the usual price: exactly the instrument's decimals
        return int(whole) * 10 ** decimals + int(frac)
    if len(frac) > decimals:
        if frac[decimals:].strip(b"0"):
            return None
        frac = frac[:decimals]
    return int(whole) * 10 ** decimals + (int(frac.ljust(decimals, b"0")) if decimals else 0)


def decimal_to_units(value: Decimal, decimals: int) -> int | None:
    """Whole integer units of 10**-decimals, or None when `value` has finer precision."""
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


class _NoEntries(dict):
    """The one empty, read-only map an order holds where it has no reservations, quota claims or vaults
    yet (`NO_ENTRIES`): five empty dicts made per order and kept with every done order cost more than
    the order's own work (benchmarks/README.md, "Order flow: fewer objects per order"). Whoever adds
    entries assigns the order a dict of its own; writing into this one raises. It reads, hashes
    (state_hash: an empty dict's digest) and pickles (as the one instance) like an empty dict."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kw: Any) -> None:
        raise TypeError("NO_ENTRIES is shared by orders: assign the order a dict of its own")

    __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = __ior__ = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        return _no_entries, ()


def _no_entries() -> "_NoEntries":
    return NO_ENTRIES


NO_ENTRIES = _NoEntries()


class Order:
    """One client order. Quantities in base units (lots, or micrograms for a product order)."""

    __slots__ = (
        "oid", "order_id", "session", "account", "owner", "clordid", "orig_clordid", "symbol", "is_product",
        "side", "ord_type", "tif", "qty", "price", "expire_ns", "book", "group", "cum", "leaves", "value",
        "value_den", "status", "last_px", "last_qty", "last_mkt", "explain", "reserved_cash",
        "reserved_metal", "quota_claims", "notional", "notional_qty", "decision", "price_decimals", "pending_cxl",
        "constraints", "dust", "acked", "core_qty", "core_cum", "sell_vaults", "direction", "er_fixed",
        "quota_days",
    )

    def __init__(self, oid: int, order_id: bytes, session: str, account: str, owner: int, clordid: bytes,
                 symbol: str, is_product: bool, side: int, ord_type: int, tif: int, qty: int,
                 price: int | None, price_decimals: int, expire_ns: int = 0, decision: Any = None,
                 explain: bytes = b"", constraints: Any = None, notional: int = 0, value_den: int = 1) -> None:
        # Everything a new order knows is passed here, in one call: the flow used to set five of these
        # after construction (benchmarks/README.md, "Order flow: the new order's own steps").
        self.oid = oid
        self.order_id = order_id
        self.session = session
        self.account = account
        self.owner = owner
        self.clordid = clordid
        self.orig_clordid: bytes | None = None
        self.symbol = symbol
        self.is_product = is_product
        self.side = side
        self.ord_type = ord_type            # 1 market, 2 limit (FIX and core agree)
        self.tif = tif                      # core Tif value (0 DAY, 1 GTC, 3 IOC, 4 FOK, 6 GTD)
        self.qty = qty
        self.price = price                  # order price units (instrument or product), None = market
        self.price_decimals = price_decimals
        self.expire_ns = expire_ns
        self.book = -1                      # core book it rests on, -1 when not resting
        self.group = -1
        self.cum = 0
        self.leaves = qty
        self.value = 0                      # sum of fill price (order units) x base qty, times value_den
        self.value_den = value_den
        self.status = OS_NEW
        self.last_px = 0                    # order price units x value_den
        self.last_qty = 0
        self.last_mkt = b""
        self.explain = explain
        # The maps below start as the shared read-only NO_ENTRIES; `orders.funds` and `orders.quota_use`
        # give an order dicts of its own when they add entries.
        self.reserved_cash: dict[str, int] = NO_ENTRIES
        self.reserved_metal: dict[tuple[str, str], int] = NO_ENTRIES   # (vault, bar form) -> ug
        self.quota_claims: dict[Any, int] = NO_ENTRIES    # quota held for the open part, per direction
        self.quota_days: dict[Any, Any] = NO_ENTRIES      # the direction's trading day each claim was taken on
        self.notional = notional            # open notional (micro-CNY) of `notional_qty` base units
        self.notional_qty = qty
        self.decision = decision
        self.pending_cxl: bytes | None = None
        self.constraints = constraints
        self.dust = 0                       # micrograms below the rest book's lot, dropped when resting
        self.acked = False
        self.core_qty = 0                   # the resting core order's own qty / cum (in its book's lots)
        self.core_cum = 0
        self.sell_vaults: dict[str, str] = NO_ENTRIES   # symbol -> vault metal leaves (sell) or arrives in (buy)
        self.direction: Any = None
        # Report fields that only a replace changes; whoever sets qty or price after the first report
        # resets this to None.
        self.er_fixed: tuple | None = None

    @property
    def done(self) -> bool:
        return self.status in DONE_STATUSES

    def qty_text(self, base: int) -> bytes:
        return micro_text(base) if self.is_product else b"%d" % base

    def fill(self, base_qty: int, px_scaled: int, venue: bytes) -> None:
        """Account one execution of `base_qty` at `px_scaled` (order price units x value_den)."""
        self.cum += base_qty
        self.leaves -= base_qty
        if self.leaves < 0:
            self.leaves = 0
        self.value += px_scaled * base_qty
        self.last_px = px_scaled
        self.last_qty = base_qty
        self.last_mkt = venue
        self.status = OS_FILLED if self.leaves == 0 else OS_PARTIAL

    def px_text(self, px_scaled: int) -> bytes:
        if self.value_den == 1:
            return units_text(px_scaled, self.price_decimals)
        d = (Decimal(px_scaled) / self.value_den).scaleb(-self.price_decimals)
        return str(d.quantize(_Q4)).encode()

    def avg_px_text(self) -> bytes:
        if not self.cum:
            return b"0"
        px = self.last_px
        if self.value == px * self.cum:
            # The average is the last fill's price (every fill at one price, the usual case): the same
            # rational number, so the same Decimal text, kept per (price, scale) instead of divided anew.
            key = (px, self.value_den, self.price_decimals)
            got = _ONE_PRICE_AVG.get(key)
            if got is None:
                if len(_ONE_PRICE_AVG) >= ONE_PRICE_AVG_KEPT:
                    _ONE_PRICE_AVG.clear()
                got = _ONE_PRICE_AVG[key] = _avg_text(px, self.value_den, self.price_decimals)
            return got
        return _avg_text(self.value, self.cum * self.value_den, self.price_decimals)


class Ids:
    """Core order ids (int64 from 1), OrderID(37) and ExecID(17) texts prefixed by the run id."""

    __slots__ = ("run", "_oid", "_exec", "_report")

    def __init__(self, run_id: str) -> None:
        self.run = run_id.encode() if isinstance(run_id, str) else run_id
        self._oid = 0
        self._exec = 0
        self._report = 0

    def next_oid(self) -> tuple[int, bytes]:
        self._oid += 1
        return self._oid, b"%s-%d" % (self.run, self._oid)

    def next_exec(self) -> bytes:
        self._exec += 1
        return b"%s-E%d" % (self.run, self._exec)

    def skip_exec(self) -> bytes:
        """`next_exec` for a report nobody reads (a journal replay's quiet reports): the counter moves
        the same, so the ExecIDs after it are the ones the live run gave; no text is made."""
        self._exec += 1
        return b""

    def next_report(self) -> bytes:
        self._report += 1
        return b"%s-M%d" % (self.run, self._report)


class OrderIndex:
    """Orders by core id, by OrderID text and by (session, ClOrdID); ClOrdIDs used per session.

    Done orders stay findable (status requests, late cancels get "too late") until `done_kept` more
    orders have finished; then they are forgotten, so a long run does not grow without bound.
    ClOrdIDs stay "used" until `new_day` (uniqueness is per session and trading day).
    """

    def __init__(self, done_kept: int = DONE_KEPT) -> None:
        self.by_oid: dict[int, Order] = {}
        self.by_order_id: dict[bytes, Order] = {}
        self.by_clordid: dict[tuple[str, bytes], Order] = {}
        self.used: dict[str, set[bytes]] = {}
        self.live: dict[int, Order] = {}
        self.done: collections.deque[Order] = collections.deque()
        self.done_kept = done_kept
        # Tuples, not lists: the garbage collector stops tracking a tuple of bytes, and one is kept
        # per order (done ones included), so lists would lengthen every full collection.
        self._names: dict[int, tuple[bytes, ...]] = {}

    def clordid_used(self, session: str, clordid: bytes) -> bool:
        used = self.used.get(session)
        return used is not None and clordid in used

    def use_clordid(self, session: str, clordid: bytes) -> None:
        used = self.used.get(session)
        if used is None:
            used = self.used[session] = set()
        used.add(clordid)

    def add(self, order: Order) -> None:
        oid, session, clordid = order.oid, order.session, order.clordid
        self.by_oid[oid] = order
        self.by_order_id[order.order_id] = order
        self.by_clordid[(session, clordid)] = order
        used = self.used.get(session)
        if used is None:
            used = self.used[session] = set()
        used.add(clordid)
        self.live[oid] = order
        self._names[oid] = (clordid,)

    def rename(self, order: Order, new_clordid: bytes) -> None:
        """A replace gave the order a new ClOrdID; the old one still finds it (status requests)."""
        session = order.session
        order.orig_clordid = order.clordid
        order.clordid = new_clordid
        self.by_clordid[(session, new_clordid)] = order
        used = self.used.get(session)
        if used is None:
            used = self.used[session] = set()
        used.add(new_clordid)
        self._names[order.oid] += (new_clordid,)

    def finish(self, order: Order) -> None:
        if self.live.pop(order.oid, None) is None:
            return
        done = self.done
        done.append(order)
        if len(done) > self.done_kept:
            self._forget(done.popleft())

    def _forget(self, o: Order) -> None:
        self.by_oid.pop(o.oid, None)
        self.by_order_id.pop(o.order_id, None)
        for name in self._names.pop(o.oid, ()):
            if self.by_clordid.get((o.session, name)) is o:
                del self.by_clordid[(o.session, name)]

    def new_day(self) -> None:
        """A new trading day: only the live orders' ClOrdIDs stay taken."""
        self.used = {}
        for (session, name), o in self.by_clordid.items():
            if o.oid in self.live:
                self.use_clordid(session, name)

    def find(self, session: str, clordid: bytes | None, order_id: bytes | None) -> Order | None:
        """The session's own order by ClOrdID or OrderID; another session's order is not found."""
        o = None
        if clordid is not None:
            o = self.by_clordid.get((session, clordid))
        if o is None and order_id is not None:
            o = self.by_order_id.get(order_id)
        if o is None or o.session != session:
            return None
        return o

    def sizes(self) -> dict[str, int]:
        """Entries held, for the memory gauges: live and done orders, ClOrdIDs taken today."""
        return {"live": len(self.live), "done": len(self.done),
                "clordids_used": sum(len(u) for u in self.used.values())}

    def live_orders(self, session: str | None = None) -> Iterator[Order]:
        for o in list(self.live.values()):
            if session is None or o.session == session:
                yield o


__all__ = [
    "Order", "OrderIndex", "Ids", "NO_ENTRIES", "micro_text", "units_text", "parse_decimal", "decimal_to_units", "fast_units",
    "text_of",
]
