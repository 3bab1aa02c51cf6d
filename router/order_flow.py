"""The pure order-flow engine: FIX application messages and time in, outbound messages out (as values).

`OrderFlow.on_message(session, msg, now_ns)` handles NewOrderSingle(D), OrderCancelRequest(F),
OrderCancelReplaceRequest(G), OrderStatusRequest(H), OrderMassCancelRequest(q), and hands
MarketDataRequest(V) / SecurityListRequest(x) to `router.marketdata`; anything else gets a
BusinessMessageReject. Each call returns a list of `Out(session, msg_type, body)` for the caller to
send, possibly to other sessions (the passive side of a trade). Per new order: parse and check the
request, let `router.routing` filter and rank the books (kill switch and pre-trade risk included),
consume quota and reserve cash or metal, then make exactly one `engine.process()` call — a NEW on the
instrument's book, or an atomic group SWEEP for a routable product — and turn its events into
ExecutionReports. `on_timer` expires GTD orders, ends DAY orders when an instrument's trading day
rolls and rolls the quota day; `kill`/`disconnected` cancel working orders in one batch.

Units: an instrument order is in lots and integer price units of that instrument; a product order
in grams (micrograms inside) and integer units of the product's currency per fine gram. The core
compares books on micro-USD per fine troy ounce (`num/den` with den = 1000, inside its int32 bound).

Not here: sockets, the clock (every entry point takes `now_ns`), logging on the hot path, FIX framing.
Simplifications, stated: margin fills do not move cash (no position ledger; the margin stays
reserved), and quota given back on cancel is proportional to the unfilled quantity.
"""
from __future__ import annotations

import collections
import math
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, Callable, NamedTuple

import numpy as np

from matching import COMMAND_DTYPE, BookSpec, EventKind, Op, Reason as CoreReason, Tif as CoreTif, commands
from router.accounts import Account, Accounts
from router.catalogue import Catalogue, Instrument
from router.convert import COMPARABLE_DEN, PRECISION, Fx, comparable_factor, to_usd_oz_fine_exact
from router.fix_codec import parse_utc_timestamp, utc_timestamp
from router.marketdata import BAR_FORM_FROM_FIX, CYCLE_FROM_FIX, MarketData
from router.orders import (
    GOLD_ROUTED_INSTRUMENT, TEXT, ET_CANCELED, ET_EXPIRED, ET_NEW, ET_REJECTED, ET_REPLACED, ET_STATUS, ET_TRADE, MICRO, OS_CANCELED,
    OS_EXPIRED, OS_REJECTED, Ids, Order, OrderIndex, cancel_reject, decimal_to_units, exec_report,
    fast_units, micro_text, parse_decimal, reject_report, units_text,
)
from router.quota import CrossBorderQuota, Direction
from router.reasons import Reason
from router.risk import RiskEngine
from router.routing import NO_CONSTRAINTS, PPM, Constraints, RouteDecision, RouteRequest, Router, Side, Tif

CORE_DEN = 1000
PRODUCT_DEN = 10**9          # product price units per instrument price unit, as num / PRODUCT_DEN
ROUTES_KEPT = 1000
_TIFS = {b"0": (CoreTif.DAY, Tif.DAY), b"1": (CoreTif.GTC, Tif.GTC), b"3": (CoreTif.IOC, Tif.IOC),
         b"4": (CoreTif.FOK, Tif.FOK), b"6": (CoreTif.GTD, Tif.GTC)}
_CORE_REJECT = {
    CoreReason.BAD_TICK: Reason.BAD_PRICE, CoreReason.BAD_PRICE: Reason.BAD_PRICE,
    CoreReason.PRICE_LIMIT: Reason.PRICE_LIMIT, CoreReason.BAD_LOT: Reason.LOT_ROUNDING,
    CoreReason.BELOW_MIN_QTY: Reason.LOTS_OUT_OF_RANGE, CoreReason.ABOVE_MAX_QTY: Reason.LOTS_OUT_OF_RANGE,
    CoreReason.BAD_QTY: Reason.BAD_QTY, CoreReason.REPLACE_BELOW_FILLED: Reason.BAD_QTY,
    CoreReason.UNKNOWN_ORDER: Reason.UNKNOWN_ORDER, CoreReason.ORDER_NOT_LIVE: Reason.TOO_LATE,
    CoreReason.DUPLICATE_ORDER_ID: Reason.DUPLICATE_CLORDID, CoreReason.BAD_EXPIRE_TIME: Reason.UNSUPPORTED,
}
_CANCEL_TEXT = {
    CoreReason.UNFILLED_IOC: "unfilled remainder cancelled (immediate order)",
    CoreReason.FOK_UNFILLABLE: "fill-or-kill order could not be filled in full",
    CoreReason.SELF_TRADE: "cancelled by self-trade prevention",
    CoreReason.MASS_CANCEL: "cancelled by mass cancel",
}
K_ACCEPTED, K_REJECTED, K_TRADE, K_CANCELLED, K_REPLACED, K_EXPIRED, K_MASS, K_SWEEP = (
    int(EventKind.ACCEPTED), int(EventKind.REJECTED), int(EventKind.TRADE), int(EventKind.CANCELLED),
    int(EventKind.REPLACED), int(EventKind.EXPIRED), int(EventKind.MASS_CANCEL_REPORT),
    int(EventKind.SWEEP_REPORT))


OP_NEW, OP_SWEEP, OP_CANCEL, OP_REPLACE = int(Op.NEW), int(Op.SWEEP), int(Op.CANCEL), int(Op.REPLACE)
# Commands are built as flat int64 rows in this field order; fail at import if the core's layout moves.
_ROW_FIELDS = ("op", "time", "book", "order_id", "owner", "side", "ord_type", "tif", "price", "qty", "expire_time",
               "allowed", "rest_book", "rest_price", "stp", "num", "den", "qty_scale")
if COMMAND_DTYPE.names != _ROW_FIELDS:
    raise ImportError(f"matching.COMMAND_DTYPE fields changed: {COMMAND_DTYPE.names}")


class Out(NamedTuple):
    session: str
    msg_type: bytes
    body: list


def core_factor(instr: Instrument, fx: Fx, catalogue: Catalogue) -> tuple[int, int]:
    """The core's (num, den): micro-USD per fine oz for one price unit, den = 1000 to fit int32."""
    num, den = comparable_factor(instr, fx, catalogue.constants)
    return max(1, (num * CORE_DEN + den // 2) // den), CORE_DEN


def book_specs(catalogue: Catalogue, fx: Fx) -> list[BookSpec]:
    specs = []
    for i in catalogue.by_book():
        num, den = core_factor(i, fx, catalogue)
        specs.append(BookSpec(tick=i.tick_units, lot=1, min_qty=i.min_lots, max_qty=i.max_lots,
                              price_limit_bp=int(i.price_limit_pct * 100), ref_price=i.reference_units,
                              num=num, den=den, qty_scale=i.lot_micrograms))
    return specs


def make_engine(catalogue: Catalogue, fx: Fx, *, reference: bool = False) -> Any:
    """The numba engine (or the pure-Python reference book) for every instrument and group."""
    from matching import Engine, ReferenceBook
    groups = [[catalogue.instruments[m].book_id for m in g.members]
              for g in sorted(catalogue.groups.values(), key=lambda g: g.group_id)]
    cls = ReferenceBook if reference else Engine
    return cls(book_specs(catalogue, fx), groups)


def _s(raw: bytes | None) -> str:
    return raw.decode("ascii", "replace") if raw else ""


class OrderFlow:
    def __init__(self, catalogue: Catalogue, fx: Fx, accounts: Accounts, risk: RiskEngine,
                 quota: CrossBorderQuota, engine: Any, *, run_id: str,
                 session_open: Callable[[str, int], Any], calendars: Any = None, metrics: Any = None,
                 perf: Callable[[], int] | None = None) -> None:
        self.catalogue = catalogue
        self.accounts = accounts
        self.risk = risk
        self.quota = quota
        self.engine = engine
        self.session_open = session_open
        self.calendars = calendars
        self.metrics = metrics
        self.perf = perf
        self.ids = Ids(run_id)
        self.index = OrderIndex()
        self.routes: collections.deque = collections.deque(maxlen=ROUTES_KEPT)
        self.books = catalogue.by_book()
        self.owner_of = {a.name: n for n, a in enumerate(accounts)}
        self._tops: dict[int, Any] = {}
        self._rank = True
        self._acct_cache: dict[tuple[str, bytes | None], Account] = {}
        self._symbols: dict[bytes | None, tuple[str, Any, Any]] = {}
        self.router = Router(catalogue, accounts, quota, session_open, fx, top_of_book=self._top, risk=risk)
        self.group_of_product = {pid: catalogue.groups[p.group].group_id for pid, p in catalogue.products.items()}
        self.md = MarketData(catalogue, engine)
        self._venue = [i.venue.encode() for i in self.books]
        self._fill_text = [b"filled on " + i.symbol.encode() + b" at %s " + f"{i.quote_ccy}/{i.quote_unit}".encode()
                           for i in self.books]
        self._gtd = 0
        self._days: dict[int, Any] = {}
        self._open_count: dict[str, int] = {}
        self.set_fx(fx, push=False)

    # -- configuration-time state ---------------------------------------------------------
    def set_fx(self, fx: Fx, *, push: bool = True) -> None:
        """New FX: router factors, product conversions, and (push) the core's comparable factors."""
        self.fx = fx
        self.router.set_fx(fx)
        self.core_factors = [core_factor(i, fx, self.catalogue) for i in self.books]
        self.md.set_factors(self.core_factors)
        self.product_num: dict[str, list[int]] = {}
        cons = self.catalogue.constants
        with localcontext(PRECISION):
            for pid, p in self.catalogue.products.items():
                unit = Decimal(1).scaleb(-p.price_decimals)
                per_unit_usd = unit / fx.per_usd(p.price_ccy) * cons.grams_per_troy_oz
                self.product_num[pid] = [
                    int((to_usd_oz_fine_exact(i, Decimal(1).scaleb(-i.price_decimals), fx, cons)
                         / per_unit_usd * PRODUCT_DEN).to_integral_value(ROUND_HALF_EVEN))
                    for i in self.books]
        if push:
            cmds = commands(len(self.books))
            for b, (num, den) in enumerate(self.core_factors):
                cmds[b]["op"] = Op.SET_CONVERSION
                cmds[b]["book"] = b
                cmds[b]["num"] = num
                cmds[b]["den"] = den
                cmds[b]["qty_scale"] = self.books[b].lot_micrograms
            self.engine.process(cmds)

    def _top(self, book: int, side: Side) -> int | None:
        if not self._rank:
            return None
        top = self._tops.get(book)
        if top is None:
            top = self._tops[book] = self.engine.top_of_book(book)
        if side is Side.BUY:
            return top.ask_price if top.ask_qty else None
        return top.bid_price if top.bid_qty else None

    # -- entry points -----------------------------------------------------------------------
    def on_message(self, session: str, msg: Any, now_ns: int) -> list[Out]:
        t = msg.msg_type
        if t == b"D":
            return self.new_order(session, msg, now_ns)
        if t == b"F":
            return self.cancel(session, msg, now_ns)
        if t == b"G":
            return self.replace(session, msg, now_ns)
        if t == b"H":
            return self.status(session, msg, now_ns)
        if t == b"q":
            return self.mass_cancel(session, msg, now_ns)
        if t == b"V":
            return [Out(session, mt, body) for mt, body in self.md.request(session, msg)]
        if t == b"x":
            return [Out(session, mt, body) for mt, body in self.md.security_list(msg)]
        return [business_reject(session, msg, 3, "unsupported message type")]

    # -- new orders -------------------------------------------------------------------------
    def _reject_new(self, session: str, msg: Any, now_ns: int, reason: Reason, text: str,
                    account: str = "", explain: bytes = b"") -> list[Out]:
        if self.metrics is not None:
            self.metrics.order_rejected(reason.label)
        body = reject_report(self.ids.next_exec(), utc_timestamp(now_ns), msg.get(11) or b"NONE", account,
                             msg.get(55) or b"", msg.get(54) or b"", msg.get(38) or b"", msg.get(40) or b"",
                             reason, text, explain)
        return [Out(session, b"8", body)]

    def new_order(self, session: str, msg: Any, now_ns: int) -> list[Out]:
        if self.metrics is not None:
            self.metrics.order_received(session)
        g = msg.index().get        # one dict of first occurrences: cheaper than a get() per tag
        clordid = g(b"11")
        if not clordid:
            return [business_reject(session, msg, 5, "ClOrdID(11) missing")]
        if self.index.clordid_used(session, clordid):
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
        symbol_raw = g(b"55")
        known = self._symbols.get(symbol_raw)
        if known is None:
            symbol = _s(symbol_raw)
            known = (symbol, self.catalogue.instruments.get(symbol), self.catalogue.products.get(symbol))
            if known[1] is not None or known[2] is not None:
                self._symbols[symbol_raw] = known
        symbol, instr, product = known
        if instr is None and product is None:
            return self._reject_new(session, msg, now_ns, Reason.UNKNOWN_SYMBOL,
                                    f"unknown instrument or product {symbol!r}", acct.name)
        side_raw = g(b"54")
        if side_raw not in (b"1", b"2"):
            return self._reject_new(session, msg, now_ns, Reason.UNSUPPORTED,
                                    f"unsupported Side(54) {_s(side_raw)!r}: buy (1) or sell (2) only", acct.name)
        ord_type_raw = g(b"40")
        if ord_type_raw not in (b"1", b"2"):
            return self._reject_new(session, msg, now_ns, Reason.UNSUPPORTED,
                                    f"unsupported OrdType(40) {_s(ord_type_raw)!r}: market (1) or limit (2) only",
                                    acct.name)
        tifs = _TIFS.get(g(b"59") or b"0")
        if tifs is None:
            return self._reject_new(session, msg, now_ns, Reason.UNSUPPORTED,
                                    f"unsupported TimeInForce(59) {_s(g(b'59'))!r}", acct.name)
        core_tif, route_tif = tifs
        expire_ns = 0
        if core_tif == CoreTif.GTD:
            raw = g(b"126")
            expire_ns = parse_utc_timestamp(raw) if raw else None
            if not expire_ns or expire_ns <= now_ns:
                return self._reject_new(session, msg, now_ns, Reason.UNSUPPORTED,
                                        "GTD order needs an ExpireTime(126) in the future", acct.name)
        if product is not None and core_tif == CoreTif.FOK:
            return self._reject_new(session, msg, now_ns, Reason.UNSUPPORTED,
                                    "fill-or-kill is not supported on a routable product (the group sweep "
                                    "cannot guarantee all-or-none across venues)", acct.name)
        qty = fast_units(g(b"38"), 0)
        if not qty:
            qty_d = parse_decimal(g(b"38"))
            unit = "lots" if instr is not None else "grams"
            if qty_d is None or qty_d <= 0:
                return self._reject_new(session, msg, now_ns, Reason.BAD_QTY,
                                        f"OrderQty(38) {_s(g(b'38'))!r} must be a positive number of {unit}",
                                        acct.name)
            if qty_d != qty_d.to_integral_value():
                return self._reject_new(session, msg, now_ns, Reason.LOT_ROUNDING,
                                        f"OrderQty(38) {qty_d} is not a whole number of {unit}", acct.name)
            qty = int(qty_d)
        decimals = instr.price_decimals if instr is not None else product.price_decimals
        price = None
        if ord_type_raw == b"2":
            price = fast_units(g(b"44"), decimals)
            if price and (instr is None or price % instr.tick_units == 0):
                pass
            else:
                price = self._slow_price(session, msg, now_ns, g(b"44"), decimals, instr, symbol, acct.name)
                if isinstance(price, list):
                    return price
        constraints = _constraints(g)
        side = Side.BUY if side_raw == b"1" else Side.SELL
        t0 = self.perf() if self.perf is not None else 0
        # Quotes only matter when there is a choice of books; reading one costs a core query.
        self._rank = product is not None
        decision = self.router.route(RouteRequest(acct.name, side, symbol, qty, price, route_tif, constraints),
                                     now_ns)
        if self.perf is not None and self.metrics is not None:
            self.metrics.router_decision_ns(self.perf() - t0)
        explain = decision.explain_text().encode("ascii", "replace")
        # The structured explanation is built only when the admin API asks (routes_view).
        self.routes.append((now_ns, session, clordid, decision))
        if not decision.ok:
            return self._reject_new(session, msg, now_ns, decision.reason, self._why(decision, qty, price),
                                    acct.name, explain)
        if decision.quota_claims:
            r = self.quota.consume_many(decision.quota_claims)
            if r is not None:
                return self._reject_new(session, msg, now_ns, r, f"{r.text} for this order", acct.name, explain)
            if self.metrics is not None:
                self._quota_metrics()
        oid, order_id = self.ids.next_oid()
        o = Order(oid, order_id, session, acct.name, self.owner_of[acct.name], clordid, symbol,
                  product is not None, int(side), int(ord_type_raw), int(core_tif), qty, price, decimals)
        o.expire_ns = expire_ns
        o.decision = decision
        o.explain = explain
        o.constraints = constraints
        o.quota_claims = dict(decision.quota_claims)
        o.notional = decision.notional_cny
        if product is not None:
            o.qty = o.leaves = decision.qty_ug
            o.value_den = PRODUCT_DEN
        r = self._reserve(o, acct, decision)
        if r is not None:
            self.quota_release(o, o.qty)
            self._release(o, acct)
            return self._reject_new(session, msg, now_ns, r, f"{r.text} (already reserved by working orders)",
                                    acct.name, explain)
        self.index.add(o)
        self.risk.on_accepted(oid, acct.name, session, decision.notional_cny)
        if core_tif == CoreTif.GTD:
            self._gtd += 1
        # One flat int64 row in COMMAND_FIELDS order: far cheaper than setting structured fields one by one.
        if product is None:
            row = [OP_NEW, now_ns, instr.book_id, oid, o.owner, int(side), o.ord_type, o.tif, price or 0, qty,
                   expire_ns, 0, -1, 0, 0, 0, 0, 0]
        else:
            rest = self._rest_candidate(decision) if price is not None else None
            row = [OP_SWEEP, now_ns, self.group_of_product[symbol], oid, o.owner, int(side), o.ord_type, o.tif,
                   self._core_limit(decision) if price is not None else 0, decision.qty_ug, expire_ns,
                   decision.allowed_mask, -1 if rest is None else rest.book_id, 0 if rest is None else rest.price,
                   0, 0, 0, 0]
        return self._run(np.array(row, np.int64).view(COMMAND_DTYPE), [("new", o)], now_ns)

    def _slow_price(self, session: str, msg: Any, now_ns: int, raw: bytes | None, decimals: int,
                    instr: Instrument | None, symbol: str, account: str) -> int | list[Out]:
        """The exact Decimal reading of a price the fast path did not take: units, or the rejection."""
        price_d = parse_decimal(raw)
        if price_d is None or price_d <= 0:
            return self._reject_new(session, msg, now_ns, Reason.BAD_PRICE,
                                    f"limit order needs a positive Price(44), got {_s(raw)!r}", account)
        price = decimal_to_units(price_d, decimals)
        if price is None or (instr is not None and price % instr.tick_units):
            tick = instr.tick if instr is not None else Decimal(1).scaleb(-decimals)
            return self._reject_new(session, msg, now_ns, Reason.BAD_PRICE,
                                    f"price {price_d} is not a multiple of the tick {tick} on {symbol}", account)
        return price

    def _rest_candidate(self, d: RouteDecision) -> Any:
        """The book a product order's remainder rests on: the best-ranked candidate whose lot divides
        any remainder the sweep can leave (its lot is the gcd of the candidates' lots), so no metal is
        dropped as sub-lot dust; the router's own choice when none qualifies."""
        if d.rest_book is None:
            return None
        lots = [self.books[c.book_id].lot_micrograms for c in d.candidates]
        g = math.gcd(*lots)
        for c, lot in zip(d.candidates, lots):
            if lot == g:
                return c
        return next(c for c in d.candidates if c.book_id == d.rest_book)

    def _core_limit(self, d: RouteDecision) -> int:
        """The sweep's comparable limit on the core's scale: the loosest child limit, so every
        candidate book can trade up to (buy) / down to (sell) its own conservative child price."""
        comps = [c.price * self.core_factors[c.book_id][0] // CORE_DEN for c in d.candidates]
        return max(comps) if d.request.side is Side.BUY else min(comps)

    def _why(self, d: RouteDecision, qty: int, price: int | None) -> str:
        """A precise Text for a routing rejection: the reason plus each excluded book's detail."""
        reason = d.reason
        if not d.excluded:
            return f"{reason.text} ({d.request.symbol})"
        books = self.router.books()
        parts = []
        for e in d.excluded:
            b = books[e.symbol]
            i = b.instr
            detail = e.reason.text
            if e.reason is Reason.PRICE_LIMIT:
                hi = "none" if b.hi is None else units_text(b.hi, i.price_decimals).decode()
                detail = (f"price outside the daily limit {units_text(b.lo, i.price_decimals).decode()}.."
                          f"{hi} {i.quote_ccy}")
            elif e.reason is Reason.LOTS_OUT_OF_RANGE:
                detail = f"quantity outside {i.min_lots}..{i.max_lots} lots of {i.lot_size} {i.quote_unit}"
            elif e.reason is Reason.LOT_ROUNDING:
                detail = f"quantity not a whole number of {i.lot_grams} g lots"
            elif e.reason in (Reason.INSUFFICIENT_CASH, Reason.INSUFFICIENT_MARGIN, Reason.CURRENCY_NOT_HELD,
                              Reason.SETTL_CCY_MISMATCH):
                detail = f"{e.reason.text} ({i.settlement_ccy})"
            elif e.reason is Reason.VAULT_MISMATCH:
                detail = f"{e.reason.text} (delivers in {', '.join(i.vaults)})"
            elif e.reason is Reason.BAR_FORM_MISMATCH:
                detail = f"{e.reason.text} (delivers {i.bar_form})"
            elif e.reason is Reason.SETTL_CYCLE_MISMATCH:
                detail = f"{e.reason.text} (settles {i.settlement_cycle})"
            elif e.reason is Reason.SESSION_CLOSED:
                detail = f"trading session closed (schedule {i.schedule})"
            parts.append(f"{e.symbol}: {detail}")
        return f"{reason.text}: " + "; ".join(parts)

    # -- reservations -------------------------------------------------------------------------
    def _reserve(self, o: Order, acct: Account, d: RouteDecision) -> Reason | None:
        """Reserve what a fill could cost: per currency / vault the largest need over the candidates
        (the router priced each candidate's cash or metal at its conservative child limit)."""
        cash: dict[str, int] = {}
        metal: dict[str, int] = {}
        for c in d.candidates:
            o.sell_vaults[c.symbol] = c.vault
            if c.cash:
                cash[c.settl_ccy] = max(cash.get(c.settl_ccy, 0), c.cash)
            if c.metal_ug:
                metal[c.vault] = max(metal.get(c.vault, 0), c.metal_ug)
        for ccy, amount in cash.items():
            r = acct.reserve_cash(ccy, amount)
            if r is not None:
                return r
            o.reserved_cash[ccy] = amount
        for vault, ug in metal.items():
            r = acct.reserve_metal(vault, ug)
            if r is not None:
                return r
            o.reserved_metal[vault] = ug
        return None

    def _release(self, o: Order, acct: Account | None = None) -> None:
        acct = acct or self.accounts.get(o.account)
        for ccy, amount in o.reserved_cash.items():
            acct.release_cash(ccy, amount)
        for vault, ug in o.reserved_metal.items():
            acct.release_metal(vault, ug)
        o.reserved_cash = {}
        o.reserved_metal = {}

    def _settle(self, o: Order, book: int, px: int, lots: int) -> None:
        i = self.books[book]
        b = self.router.books()[i.symbol]
        if b.margin_ppm is not None:
            return
        acct = self.accounts.get(o.account)
        value = px * lots * b.settl_num // COMPARABLE_DEN
        fees = value * b.fee_ppm // PPM + lots * b.lot_fee_settl
        ug = lots * b.lot_ug
        ccy = b.settl_ccy
        if o.side == 1:
            vault = o.sell_vaults.get(i.symbol) or o.constraints.vault or i.vaults[0]
            held = o.reserved_cash.get(ccy, 0)
            use = min(held, value + fees)
            acct.settle_buy(ccy, value + fees, vault, ug, use)
            if ccy in o.reserved_cash:
                o.reserved_cash[ccy] = held - use
        else:
            vault = o.sell_vaults.get(i.symbol) or i.vaults[0]
            held = o.reserved_metal.get(vault, 0)
            use = min(held, ug)
            acct.settle_sell(ccy, value - fees, vault, ug, use)
            if vault in o.reserved_metal:
                o.reserved_metal[vault] = held - use

    def quota_release(self, o: Order, unfilled: int) -> None:
        if not o.quota_claims or o.qty <= 0:
            return
        for d, amount in o.quota_claims.items():
            self.quota.release(d, amount * unfilled // o.qty)
        o.quota_claims = {}
        if self.metrics is not None:
            self._quota_metrics()

    def _quota_metrics(self) -> None:
        for d in Direction:
            self.metrics.set_quota(d.value, Decimal(self.quota.used(d)) / MICRO,
                                   Decimal(self.quota.remaining(d)) / MICRO)

    # -- cancel / replace / status / mass cancel ------------------------------------------------
    def _find_orig(self, session: str, msg: Any) -> Order | None:
        return self.index.find(session, msg.get(41), msg.get(37))

    def cancel(self, session: str, msg: Any, now_ns: int) -> list[Out]:
        clordid, orig = msg.get(11) or b"NONE", msg.get(41) or b"NONE"
        o = self._find_orig(session, msg)
        reason, text = None, ""
        if o is None:
            reason, text = Reason.UNKNOWN_ORDER, f"unknown order OrigClOrdID={_s(orig)} in this session"
        elif self.index.clordid_used(session, clordid):
            reason, text = Reason.DUPLICATE_CLORDID, f"duplicate ClOrdID {_s(clordid)} in this session"
        elif o.done or o.book < 0:
            reason, text = Reason.TOO_LATE, f"order {_s(o.order_id)} is already done ({_s(o.status)})"
        if reason is None:
            r = self.risk.check_message(session, now_ns)
            if r is not None:
                reason, text = r, r.text
        if reason is not None:
            return [Out(session, b"9", cancel_reject(o, clordid, orig, b"1", reason, text))]
        self.index.use_clordid(session, clordid)
        row = [OP_CANCEL, now_ns, 0, o.oid, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0]
        return self._run(np.array(row, np.int64).view(COMMAND_DTYPE), [("cancel", o, clordid, orig)], now_ns)

    def replace(self, session: str, msg: Any, now_ns: int) -> list[Out]:
        clordid, orig = msg.get(11) or b"NONE", msg.get(41) or b"NONE"
        o = self._find_orig(session, msg)

        def rej(reason: Reason, text: str) -> list[Out]:
            return [Out(session, b"9", cancel_reject(o, clordid, orig, b"2", reason, text))]

        if o is None:
            return rej(Reason.UNKNOWN_ORDER, f"unknown order OrigClOrdID={_s(orig)} in this session")
        if self.index.clordid_used(session, clordid):
            return rej(Reason.DUPLICATE_CLORDID, f"duplicate ClOrdID {_s(clordid)} in this session")
        if o.done or o.book < 0:
            return rej(Reason.TOO_LATE, f"order {_s(o.order_id)} is already done ({_s(o.status)})")
        if (msg.get(55) and _s(msg.get(55)) != o.symbol) or (msg.get(54) and int(msg.get(54)) != o.side):
            return rej(Reason.UNSUPPORTED, "a replace may not change Symbol(55) or Side(54)")
        if msg.get(40) not in (None, b"2") or o.ord_type != 2:
            return rej(Reason.UNSUPPORTED, "only limit orders can be replaced, to a limit order")
        if msg.get(59) is not None and _TIFS.get(msg.get(59), (None,))[0] != o.tif:
            return rej(Reason.UNSUPPORTED, "a replace may not change TimeInForce(59)")
        r = self.risk.check_message(session, now_ns)
        if r is not None:
            return rej(r, r.text)
        qty_d, price_d = parse_decimal(msg.get(38)), parse_decimal(msg.get(44))
        if qty_d is None or qty_d <= 0 or qty_d != qty_d.to_integral_value():
            return rej(Reason.BAD_QTY, f"OrderQty(38) {_s(msg.get(38))!r} must be a positive whole number")
        if price_d is None or price_d <= 0:
            return rej(Reason.BAD_PRICE, f"Price(44) {_s(msg.get(44))!r} must be positive")
        price = decimal_to_units(price_d, o.price_decimals)
        if price is None:
            return rej(Reason.BAD_PRICE, f"price {price_d} is finer than the price unit")
        i = self.books[o.book]
        b = self.router.books()[i.symbol]
        if o.is_product:
            new_base = int(qty_d) * MICRO
            leaves = new_base - o.cum
            if leaves <= 0 or leaves % b.lot_ug:
                return rej(Reason.LOT_ROUNDING, f"new quantity leaves {micro_text(max(leaves, 0)).decode()} g "
                                               f"open, not a positive whole number of {i.lot_grams} g lots "
                                               f"of {i.symbol} where the order rests")
            core_qty = o.core_cum + leaves // b.lot_ug
            pnum = self.product_num[o.symbol][o.book]
            # The product limit in this book's units, rounded so a buy never pays more (sell receives less).
            units = price * PRODUCT_DEN
            child = units // pnum // b.tick * b.tick if o.side == 1 else -(-(-(-units // pnum)) // b.tick) * b.tick
            if child <= 0:
                return rej(Reason.BAD_PRICE, f"price {price_d} converts to no valid price on {i.symbol}")
            core_price, lots_open = child, leaves // b.lot_ug
        else:
            new_base = int(qty_d)
            if price % i.tick_units:
                return rej(Reason.BAD_PRICE, f"price {price_d} is not a multiple of the tick {i.tick} on {i.symbol}")
            core_qty, core_price, lots_open = new_base, price, new_base - o.cum
            if lots_open <= 0:
                return rej(Reason.BAD_QTY, f"new OrderQty {new_base} is not above the filled {o.cum} lots")
        acct = self.accounts.get(o.account)
        notional = core_price * lots_open * b.cny_num // COMPARABLE_DEN
        r = self.risk.check_replace(acct, o.oid, lots_open * b.lot_ug, notional,
                                    core_price * b.num // b.den, b.ref_comp)
        if r is not None:
            return rej(r, r.text)
        # Re-reserve for the new open quantity at the new price; the old reservation goes back first.
        saved_cash, saved_metal, saved_vaults = dict(o.reserved_cash), dict(o.reserved_metal), dict(o.sell_vaults)
        self._release(o, acct)
        value = core_price * lots_open * b.settl_num // COMPARABLE_DEN
        fees = value * b.fee_ppm // PPM + lots_open * b.lot_fee_settl
        if b.margin_ppm is not None or o.side == 1:
            need = value * b.margin_ppm // PPM + fees if b.margin_ppm is not None else value + fees
            r = acct.reserve_cash(b.settl_ccy, need)
            if r is None:
                o.reserved_cash = {b.settl_ccy: need}
        else:
            vault = o.sell_vaults.get(i.symbol) or i.vaults[0]
            r = acct.reserve_metal(vault, lots_open * b.lot_ug)
            if r is None:
                o.reserved_metal = {vault: lots_open * b.lot_ug}
        if r is not None:
            for ccy, amount in saved_cash.items():
                acct.reserve_cash(ccy, amount)
            for vault, ug in saved_metal.items():
                acct.reserve_metal(vault, ug)
            o.reserved_cash, o.reserved_metal, o.sell_vaults = saved_cash, saved_metal, saved_vaults
            return rej(r, f"{r.text} for the replaced quantity")
        self.index.use_clordid(session, clordid)
        row = [OP_REPLACE, now_ns, 0, o.oid, 0, 0, 0, 0, core_price, core_qty, 0, 0, -1, 0, 0, 0, 0, 0]
        ctx = ("replace", o, clordid, orig, new_base, price, notional, saved_cash, saved_metal)
        return self._run(np.array(row, np.int64).view(COMMAND_DTYPE), [ctx], now_ns)

    def status(self, session: str, msg: Any, now_ns: int) -> list[Out]:
        o = self.index.find(session, msg.get(11), msg.get(37))
        ts = utc_timestamp(now_ns)
        if o is None:
            body = reject_report(self.ids.next_exec(), ts, msg.get(11) or b"NONE", _s(msg.get(1)),
                                 msg.get(55) or b"", msg.get(54) or b"", b"", b"", Reason.UNKNOWN_ORDER,
                                 f"unknown order ClOrdID={_s(msg.get(11))} in this session")
            body[3] = (150, ET_STATUS)
            return [Out(session, b"8", body)]
        # OrdStatusReqID(790) is not echoed: our dictionary does not define it on the ExecutionReport.
        return [Out(session, b"8", exec_report(o, self.ids.next_exec(), ET_STATUS, ts))]

    def mass_cancel(self, session: str, msg: Any, now_ns: int) -> list[Out]:
        clordid = msg.get(11) or b"NONE"
        kind = msg.get(530)
        symbol = _s(msg.get(55))
        account = _s(msg.get(1))
        report = [(11, clordid), (37, self.ids.next_report()), (530, kind or b"7")]
        reject = None
        if kind not in (b"1", b"7"):
            reject = (0, "only MassCancelRequestType 1 (by Symbol) and 7 (all orders) are supported")
        elif kind == b"1" and symbol not in self.catalogue.instruments and symbol not in self.catalogue.products:
            reject = (1, f"unknown instrument or product {symbol!r}")
        if reject is not None:
            return [Out(session, b"r", report + [(531, 0), (532, reject[0]), (533, 0), (58, reject[1])])]
        victims = [o for o in self.index.live_orders(session)
                   if (kind == b"7" or o.symbol == symbol) and (not account or o.account == account)
                   and o.book >= 0]
        outs = self._cancel_batch(victims, now_ns, "cancelled by mass cancel request")
        outs.append(Out(session, b"r", report + [(531, kind), (533, len(victims))]))
        return outs

    def _cancel_batch(self, victims: list[Order], now_ns: int, text: str) -> list[Out]:
        if not victims:
            return []
        cmds = commands(len(victims))
        cmds["op"] = Op.CANCEL
        cmds["time"] = now_ns
        cmds["order_id"] = [o.oid for o in victims]
        return self._run(cmds, [("unsolicited", o, text) for o in victims], now_ns)

    # -- risk controls, session events and timers -------------------------------------------------
    def kill(self, scope: str, account: str | None, on: bool, now_ns: int) -> list[Out]:
        """Kill switch: refuse new orders and cancel working ones (global or one account); off resumes."""
        if scope == "global":
            if not on:
                self.risk.resume_all()
                return []
            ids = self.risk.kill_all()
        else:
            if not on:
                self.risk.resume_account(account)
                return []
            ids = self.risk.kill_account(account)
        victims = [self.index.by_oid[i] for i in ids if i in self.index.by_oid]
        return self._cancel_batch([o for o in victims if not o.done and o.book >= 0], now_ns,
                                  "cancelled by kill switch")

    def disconnected(self, session: str, now_ns: int) -> list[Out]:
        """Cancel-on-disconnect for the session's working orders (unless its accounts opted out)."""
        self.md.drop_session(session)
        ids = set(self.risk.on_disconnect(session))
        victims = [o for o in self.index.live_orders(session) if o.oid in ids and o.book >= 0]
        return self._cancel_batch(victims, now_ns, "cancelled on disconnect")

    def on_timer(self, now_ns: int) -> list[Out]:
        """GTD expiry, DAY expiry at each instrument's trading-day roll, and the quota day roll."""
        cmds = []
        if self._gtd and any(o.tif == CoreTif.GTD and o.expire_ns <= now_ns for o in self.index.live.values()):
            cmds.append((-1, int(CoreTif.GTC)))
        if self.calendars is not None:
            for i in self.books:
                day = self.calendars.trading_day(i.schedule, now_ns)
                if day is None:
                    continue
                prev = self._days.get(i.book_id)
                self._days[i.book_id] = day
                if prev is not None and day != prev:
                    cmds.append((i.book_id, int(CoreTif.DAY)))
            day = self.calendars.trading_day(self.books[0].schedule, now_ns)
            if day is not None and self.quota.roll(day) and self.metrics is not None:
                self._quota_metrics()
        if not cmds:
            return []
        batch = commands(len(cmds))
        batch["op"] = Op.EXPIRE
        batch["time"] = now_ns
        batch["book"] = [b for b, _ in cmds]
        batch["tif"] = [t for _, t in cmds]
        return self._run(batch, [("expire",)] * len(cmds), now_ns)

    # -- core events -> execution reports -----------------------------------------------------------
    def _run(self, cmds: np.ndarray, ctx: list[tuple], now_ns: int) -> list[Out]:
        perf = self.perf
        t0 = perf() if perf is not None else 0
        events = self.engine.process(cmds)
        if perf is not None and self.metrics is not None:
            self.metrics.matching_batch_ns(perf() - t0)
        outs: list[Out] = []
        ts = utc_timestamp(now_ns)
        touched: set[int] = set()
        by_oid = self.index.by_oid
        for ev in events.tolist():
            kind, reason, idx, book = ev[0], ev[2], ev[4], ev[5]
            if book >= 0:
                touched.add(book)
            if kind == K_TRADE:
                self._trade(ev, outs, ts)
                continue
            o = by_oid.get(ev[7])
            c = ctx[idx] if idx < len(ctx) else ("?",)
            if kind == K_ACCEPTED:
                if o is None:
                    continue
                if book >= 0:
                    o.book = book
                    o.core_qty, o.core_cum = ev[11], 0
                if not o.acked:
                    o.acked = True
                    self._count_open(o.symbol, 1)
                    if self.metrics is not None:
                        self.metrics.order_accepted(o.symbol)
                        if not o.is_product:
                            i = self.books[book]
                            self.metrics.routed(i.venue, _dir(o), int(o.qty * i.lot_grams))
                    outs.append(Out(o.session, b"8", exec_report(o, self.ids.next_exec(), ET_NEW, ts, explain=True)))
            elif kind == K_REJECTED:
                self._core_reject(c, CoreReason(reason), outs, ts)
            elif kind == K_CANCELLED:
                if o is None or o.done:
                    continue
                text = _CANCEL_TEXT.get(reason, "")
                if c[0] == "cancel" and reason == CoreReason.CANCEL_REQUESTED:
                    self.index.rename(o, c[2])
                elif c[0] == "unsolicited":
                    text = c[2]
                o.status = OS_CANCELED
                self._finish(o)
                outs.append(Out(o.session, b"8", exec_report(o, self.ids.next_exec(), ET_CANCELED, ts, text=text)))
            elif kind == K_REPLACED:
                if o is None or c[0] != "replace":
                    continue
                _, _, clordid, _, new_base, price, notional, _, _ = c
                self.index.rename(o, clordid)
                o.qty, o.price = new_base, price
                o.leaves = new_base - o.cum
                o.core_qty = ev[11]
                o.notional = notional
                self.risk.on_open_notional(o.oid, notional)
                outs.append(Out(o.session, b"8", exec_report(o, self.ids.next_exec(), ET_REPLACED, ts)))
            elif kind == K_EXPIRED:
                if o is None or o.done:
                    continue
                o.status = OS_EXPIRED
                self._finish(o)
                text = "good-till-date order expired" if reason == CoreReason.EXPIRED_GTD else "day order expired"
                outs.append(Out(o.session, b"8", exec_report(o, self.ids.next_exec(), ET_EXPIRED, ts, text=text)))
            elif kind == K_SWEEP:
                if o is None or o.done:
                    continue
                rested, returned = ev[11], ev[12]
                if rested > 0:
                    o.leaves = rested
                    o.dust = returned
                    if self.metrics is not None:
                        i = self.books[book]
                        self.metrics.routed(i.venue, _dir_book(o, i), rested // MICRO)
                else:
                    o.book = -1
                    o.status = OS_CANCELED
                    self._finish(o)
                    text = "unfilled remainder cancelled (immediate order)" if o.tif in (3, 4) or o.ord_type == 1 \
                        else "remainder too small to rest on the best book, cancelled"
                    outs.append(Out(o.session, b"8", exec_report(o, self.ids.next_exec(), ET_CANCELED, ts, text=text)))
        for b in touched:
            self._tops.pop(b, None)
        if touched:
            outs.extend(Out(s, mt, body) for s, mt, body in self.md.publish(touched))
        return outs

    def _trade(self, ev: list, outs: list[Out], ts: bytes) -> None:
        book, px, lots = ev[5], ev[10], ev[11]
        i = self.books[book]
        venue = self._venue[book]
        lot_ug = i.lot_micrograms
        by_oid = self.index.by_oid
        if self.metrics is not None:
            self.metrics.fill(i.venue, int(lots * i.lot_grams))
        for o, is_maker in ((by_oid.get(ev[7]), False), (by_oid.get(ev[14]), True)):
            if o is None:
                continue
            if is_maker:
                o.core_cum = ev[18]
            if o.is_product:
                base = lots * lot_ug
                px_scaled = px * self.product_num[o.symbol][book]
                if self.metrics is not None and not is_maker and o.book < 0:
                    self.metrics.routed(i.venue, _dir_book(o, i), int(lots * i.lot_grams))
            else:
                base, px_scaled = lots, px
            o.fill(base, px_scaled, venue)
            self._settle(o, book, px, lots)
            if o.leaves and o.qty:
                self.risk.on_open_notional(o.oid, o.notional * o.leaves // o.qty)
            if o.leaves == 0:
                self._finish(o)
            body = exec_report(o, self.ids.next_exec(), ET_TRADE, ts, last=True)
            if o.is_product:
                # LastPx is in the product's unit; say which instrument traded and at its own price.
                body += [(TEXT, self._fill_text[book] % units_text(px, i.price_decimals)),
                         (GOLD_ROUTED_INSTRUMENT, i.symbol)]
            outs.append(Out(o.session, b"8", body))

    def _core_reject(self, c: tuple, reason: CoreReason, outs: list[Out], ts: bytes) -> None:
        ours = _CORE_REJECT.get(reason, Reason.UNSUPPORTED)
        text = f"{ours.text} (core: {reason.name.lower()})"
        if c[0] == "new":
            o = c[1]
            o.status = OS_REJECTED
            self._finish(o, acked=False)
            if self.metrics is not None:
                self.metrics.order_rejected(ours.label)
            outs.append(Out(o.session, b"8", exec_report(o, self.ids.next_exec(), ET_REJECTED, ts, text=text,
                                                           rej=ours, explain=True)))
        elif c[0] in ("cancel", "replace"):
            o = c[1]
            if c[0] == "replace":
                acct = self.accounts.get(o.account)
                self._release(o, acct)
                for ccy, amount in c[7].items():
                    acct.reserve_cash(ccy, amount)
                for vault, ug in c[8].items():
                    acct.reserve_metal(vault, ug)
                o.reserved_cash, o.reserved_metal = dict(c[7]), dict(c[8])
            outs.append(Out(o.session, b"9", cancel_reject(o, c[2], c[3], b"1" if c[0] == "cancel" else b"2",
                                                          ours, text)))

    def _finish(self, o: Order, acked: bool = True) -> None:
        """The order is done: give back quota for its unfilled part, reservations, credit."""
        self.quota_release(o, max(o.qty - o.cum, 0))
        self._release(o)
        self.risk.on_done(o.oid)
        self.index.finish(o)
        if o.tif == CoreTif.GTD:
            self._gtd -= 1
        if acked and o.acked:
            self._count_open(o.symbol, -1)

    def _count_open(self, symbol: str, delta: int) -> None:
        n = self._open_count.get(symbol, 0) + delta
        self._open_count[symbol] = n
        if self.metrics is not None:
            self.metrics.set_open_orders(symbol, n)

    # -- views -----------------------------------------------------------------------------------
    def routes_view(self, limit: int) -> list[dict]:
        """The latest routing decisions with their explanations, newest first."""
        out = []
        for now_ns, session, clordid, decision in list(self.routes)[-limit:] if limit > 0 else []:
            entry = decision.explain()
            entry.update(time_ns=now_ns, session=session, clordid=_s(clordid))
            out.append(entry)
        out.reverse()
        return out


def _dir(o: Order) -> str:
    d = next(iter(o.quota_claims), None) if o.quota_claims else None
    if d is None and o.decision is not None and o.decision.candidates:
        d = o.decision.candidates[0].direction
    return d.value if d is not None else "domestic"


def _dir_book(o: Order, i: Instrument) -> str:
    if o.decision is not None:
        for c in o.decision.candidates:
            if c.symbol == i.symbol:
                return c.direction.value if c.direction is not None else "domestic"
    return "domestic"


def _constraints(g: Callable[[bytes], bytes | None]) -> Constraints:
    """Settlement constraints from the custom tags (`g` reads a tag's first value)."""
    raw = [g(b"7001"), g(b"7002"), g(b"7003"), g(b"7004"), g(b"7005")]
    if not any(raw):
        return NO_CONSTRAINTS
    ccy, vault, bar, cycle, venues = (v.decode("ascii", "replace") if v else None for v in raw)
    # The FIX enums name bar forms and cycles briefly; the catalogue uses descriptive names.
    bar = None if bar in (None, "ANY") else BAR_FORM_FROM_FIX.get(bar, bar)
    cycle = None if cycle is None else CYCLE_FROM_FIX.get(cycle, cycle)
    return Constraints(ccy, vault, bar, cycle, frozenset(venues.split()) if venues else None)


def business_reject(session: str, msg: Any, reason: int, text: str) -> Out:
    """BusinessMessageReject(j): 380 = 0 other, 3 unsupported message type, 5 required field missing."""
    body = [(45, msg.get(34) or b"0"), (372, msg.msg_type)]
    ref = msg.get(11) or msg.get(262) or msg.get(320)
    if ref:
        body.append((379, ref))
    body += [(380, reason), (58, text)]
    return Out(session, b"j", body)


__all__ = ["OrderFlow", "Out", "make_engine", "book_specs", "core_factor", "business_reject"]
