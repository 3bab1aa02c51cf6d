"""The pure order-flow engine: FIX application messages and time in, outbound messages out (as values).

`OrderFlow.on_message(session, msg, now_ns)` handles NewOrderSingle(D) here, OrderCancelRequest(F),
OrderCancelReplaceRequest(G), OrderStatusRequest(H) and OrderMassCancelRequest(q) in `orders.amend`,
hands MarketDataRequest(V) / SecurityListRequest(x) to `marketdata` and SecurityStatusRequest(e) to
`status`, and answers anything else with
a BusinessMessageReject. Each call returns `Out(session, msg_type, body)` values for the caller to
send, possibly to other sessions (the passive side of a trade). Per new order: parse and check the
request, let `routing` filter and rank the books (kill switch and pre-trade risk included), consume
quota (a buy, `orders.quota_use`) and reserve cash or metal (`orders.funds`), then make exactly one `engine.process()` call — a
NEW on the instrument's book, or an atomic group SWEEP for a routable product — whose events
`orders.core_bridge` turns into ExecutionReports. `on_timer` expires GTD orders, ends DAY orders when the
last session of an instrument's trading day closes (at the latest when its trading day rolls), moves the
reference price to the day's last trade at the roll (`orders.refprices`) and rolls each quota direction on its destination venue's trading day; `kill` / `disconnected` cancel working
orders in one batch.

Units: an instrument order is in lots and integer price units of that instrument; a product order
in fine grams (fine micrograms inside, a maximum each book fills in whole lots of its fine content)
and integer units of the product's currency per fine gram.

Not here: sockets, the clock (every entry point takes `now_ns`), logging on the hot path, FIX framing.
"""
from __future__ import annotations

import collections
import math
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, Callable

from matching import Op, Tif as CoreTif, commands
from router.orders.accounts import Account, Accounts
from router.domain.catalogue import CURRENCIES, Catalogue, Instrument
from router.domain.convert import PRECISION, Fx, to_usd_oz_fine_exact
from router.domain.fx_quotes import FxSettings
from router.fix.codec import parse_utc_timestamp, utc_timestamp
from router.orders.marketdata import BAR_FORM_FIX, BAR_FORM_FROM_FIX, CYCLE_FIX, CYCLE_FROM_FIX, MarketData
from router.orders.amend import Amendments
from router.orders.core_bridge import (
    CORE_DEN, OP_NEW, OP_SWEEP, PRODUCT_DEN, STP_MODES, TIFS, CoreEvents, Out, TopReader, book_specs, core_factor,
    make_engine,
)
from router.orders.fill_report import FillReport
from router.orders.funds import Funds
from router.orders.index import (
    DONE_KEPT, Ids, Order, OrderIndex, decimal_to_units, fast_units, micro_text, parse_decimal, text_of as _s,
    units_text,
)
from router.orders.reports import reject_report
from router.orders.order_values import OrderValues
from router.orders.quota import CrossBorderQuota, Direction
from router.orders.quota_use import QuotaUse
from router.orders.refprices import ReferenceConfig, ReferencePrices
from router.domain.reasons import Reason
from router.orders.risk import RiskEngine, collar_band
from router.orders.status import TradingStatus
from router.orders.routing import NO_CONSTRAINTS, Constraints, RouteDecision, RouteRequest, Router, Side

ROUTES_KEPT = 1000
# Module constants instead of enum class attribute lookups on the per-order path.
_BUY, _SELL, _GTD, _FOK = Side.BUY, Side.SELL, CoreTif.GTD, CoreTif.FOK
_new = tuple.__new__          # NamedTuple construction without the generated __new__


class OrderFlow(Amendments, Funds, QuotaUse, CoreEvents, ReferencePrices):
    """The order flow for one catalogue, account set and core; see the module docstring."""

    def __init__(self, catalogue: Catalogue, fx: Fx, accounts: Accounts, risk: RiskEngine,
                 quota: CrossBorderQuota, engine: Any, *, run_id: str,
                 session_open: Callable[[str, int], Any], calendars: Any = None, metrics: Any = None,
                 perf: Callable[[], int] | None = None, reference: ReferenceConfig | None = None,
                 fx_settings: FxSettings | None = None, done_kept: int = DONE_KEPT) -> None:
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
        self.index = OrderIndex(done_kept)
        self.routes: collections.deque = collections.deque(maxlen=ROUTES_KEPT)
        self.books = catalogue.by_book()
        self.owner_of = {a.name: n for n, a in enumerate(accounts)}
        self._read_top = TopReader(engine)
        self._acct_cache: dict[tuple[str, bytes | None], Account] = {}
        self._symbols: dict[bytes | None, tuple[str, Any, Any]] = {}
        self._rest_pos: dict[tuple, int] = {}
        # One bound method, handed to the router for product orders: reads each book's live best
        # price (benchmarks/README.md, "Order flow: what was made faster").
        self._top_fn = self._read_top.price
        self.router = Router(catalogue, accounts, quota, session_open, fx, top_of_book=self._top_fn, risk=risk)
        self.router.closable = self.closable_lots
        self.fx_settings = fx_settings or FxSettings()
        self.router.fx_settings = self.fx_settings     # one object: a snapshot takes it from the configuration
        self.group_of_product = {pid: catalogue.groups[p.group].group_id for pid, p in catalogue.products.items()}
        self.md = MarketData(catalogue, engine)
        self.trading = TradingStatus(catalogue, session_open, calendars, metrics)
        self.values = OrderValues(CURRENCIES, catalogue.venues)
        self._venue = [i.venue.encode() for i in self.books]
        self.fill_report = FillReport(catalogue)
        self._fill_text = [b"filled on " + i.symbol.encode() + b" at %s " + f"{i.quote_ccy}/{i.quote_unit}".encode()
                           for i in self.books]
        self._gtd = 0
        self._days: dict[int, Any] = {}
        # book -> UTC ns its current trading day's last session ends; DAY orders expire at the first tick past it.
        self.day_close: dict[int, int] = {}
        self._id_day: Any = None
        # The schedule whose trading day each quota direction counts: the first book on its destination side.
        self._quota_schedules = [(d, next(i.schedule for i in self.books if i.side == side))
                                 for d, side in ((Direction.NORTHBOUND, "onshore"), (Direction.SOUTHBOUND, "offshore"))
                                 if any(i.side == side for i in self.books)]
        self._open_count: dict[str, int] = {}
        self.set_fx(fx, push=False)
        self._init_references(reference)
        self._set_self_trade_modes()

    # -- configuration-time state ---------------------------------------------------------
    def set_fx(self, fx: Fx, *, push: bool = True) -> None:
        """New FX: router factors, product conversions, and (push) the core's comparable factors."""
        self.fx = fx
        self.router.set_fx(fx)
        self.core_factors = [core_factor(i, fx, self.catalogue) for i in self.books]
        self.md.set_factors(self.core_factors)
        self.md.set_fx(fx)
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
                cmds[b]["qty_scale"] = self.books[b].lot_fine_micrograms
            self.engine.process(cmds)

    def _set_self_trade_modes(self) -> None:
        """Each account's self-trade prevention mode into the core (the core's owner is the account)."""
        cmds = commands(len(self.owner_of))
        for n, (name, owner) in enumerate(self.owner_of.items()):
            cmds[n]["op"] = Op.SET_STP
            cmds[n]["owner"] = owner
            cmds[n]["stp"] = STP_MODES[self.accounts.get(name).self_trade]
        events = self.engine.process(cmds)
        if len(events):
            raise ValueError(f"the core refused a self-trade prevention mode: {events.tolist()}")

    def _top(self, book: int, side: Side) -> int | None:
        # What snapshots written before the router read quotes through `TopReader.price` hold as the
        # router's reader (a method of the flow): kept so those snapshots still load.
        return self._read_top.price(book, side)

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
            return [Out(session, mt, body) for mt, body in
                    self.md.security_list(msg, lambda symbol: self.trading.list_fields(symbol, now_ns))]
        if t == b"e":
            return self.trading.request(session, msg, now_ns)
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
        ord_type_raw = g(b"40")
        # Every FIX 4.4 value passes the dictionary; the ones this router does not support are refused
        # here, as an ExecutionReport the OMS can tie to its ClOrdID.
        unsupported = self.values.unsupported_value(g, product is not None)
        if unsupported is not None:
            return self._reject_new(session, msg, now_ns, Reason.UNSUPPORTED, unsupported, acct.name)
        tifs = TIFS[g(b"59") or b"0"]
        core_tif, route_tif = tifs
        expire_ns = 0
        if core_tif is _GTD:
            raw = g(b"126")
            expire_ns = parse_utc_timestamp(raw) if raw else None
            if not expire_ns or expire_ns <= now_ns:
                return self._reject_new(session, msg, now_ns, Reason.UNSUPPORTED,
                                        "GTD order needs an ExpireTime(126) in the future", acct.name)
        if product is not None and core_tif is _FOK:
            return self._reject_new(session, msg, now_ns, Reason.UNSUPPORTED,
                                    "fill-or-kill is not supported on a routable product (the group sweep "
                                    "cannot guarantee all-or-none across venues)", acct.name)
        qty = fast_units(g(b"38"), 0)
        if not qty:
            qty_d = parse_decimal(g(b"38"))
            unit = "lots" if instr is not None else "fine grams"
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
        side = _BUY if side_raw == b"1" else _SELL
        fills = self.fills
        if fills is not None and fills.margin_calls and instr is not None:
            why = fills.opening_blocked(acct.name, symbol, int(side), qty)
            if why is not None:
                # The books-of-record issue asks for a BusinessMessageReject carrying the call's text.
                if self.metrics is not None:
                    self.metrics.order_rejected(Reason.MARGIN_CALL.label)
                return [business_reject(session, msg, 0, why)]
        t0 = self.perf() if self.perf is not None else 0
        # Quotes only matter when there is a choice of books: without a reader the router ranks
        # an instrument's one book on its reference price without calling anything.
        self.router.top_of_book = self._top_fn if product is not None else None
        decision = self.router.route(_new(RouteRequest, (acct.name, side, symbol, qty, price, route_tif,
                                                         constraints)), now_ns)
        if self.perf is not None and self.metrics is not None:
            self.metrics.router_decision_ns(self.perf() - t0)
        explain = self.router.explain_bytes(decision)
        # The structured explanation is built only when the admin API asks (routes_view).
        self.routes.append((now_ns, session, clordid, decision))
        if not decision.ok:
            return self._reject_new(session, msg, now_ns, decision.reason, self._why(decision, qty, price),
                                    acct.name, explain)
        oid, order_id = self.ids.next_oid()
        o = Order(oid, order_id, session, acct.name, self.owner_of[acct.name], clordid, symbol,
                  product is not None, int(side), int(ord_type_raw), int(core_tif), qty, price, decimals)
        if decision.quota_claims:
            r = self._quota_accept(o, decision.quota_claims)
            if r is not None:
                return self._reject_new(session, msg, now_ns, r, f"{r.text} for this order", acct.name, explain)
        o.expire_ns = expire_ns
        o.decision = decision
        o.explain = explain
        o.constraints = constraints
        o.notional = decision.notional_cny
        if product is not None:
            o.qty = o.leaves = o.notional_qty = decision.qty_ug
            o.er_fixed = None
            o.value_den = PRODUCT_DEN
        r = self._reserve(o, acct, decision)
        if r is not None:
            self._quota_done(o)
            self._release(o, acct)
            return self._reject_new(session, msg, now_ns, r, f"{r.text} (already reserved by working orders)",
                                    acct.name, explain)
        self.index.add(o)
        self.risk.on_accepted(oid, acct.name, session, decision.notional_cny)
        if core_tif is _GTD:
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
        return self._run_one(row, ("new", o), now_ns)

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
        cands = d.candidates
        # The choice depends only on which books rank in which order: remember its position.
        key = (d.rest_book, *[c[1] for c in cands])
        pos = self._rest_pos.get(key)
        if pos is None:
            lots = [self.books[c.book_id].lot_fine_micrograms for c in cands]
            g = math.gcd(*lots)
            pos = next((n for n, lot in enumerate(lots) if lot == g), None)
            if pos is None:
                pos = next(n for n, c in enumerate(cands) if c.book_id == d.rest_book)
            if len(self._rest_pos) >= 4096:
                self._rest_pos.clear()
            self._rest_pos[key] = pos
        return cands[pos]

    def _core_limit(self, d: RouteDecision) -> int:
        """The sweep's comparable limit on the core's scale: the loosest child limit, so every
        candidate book can trade up to (buy) / down to (sell) its own conservative child price."""
        comps = [c.price * self.core_factors[c.book_id][0] // CORE_DEN for c in d.candidates]
        return max(comps) if d.request.side is Side.BUY else min(comps)

    def _why(self, d: RouteDecision, qty: int, price: int | None) -> str:
        """A precise Text for a routing rejection: the reason plus each excluded book's detail."""
        reason = d.reason
        books = self.router.books()
        acct = self.accounts.get(d.request.account)
        if acct is not None:
            text = self.risk.limit_text(reason, acct, d.qty_ug, d.notional_cny)
            if text is not None:
                return text
        if reason is Reason.PRICE_COLLAR and d.candidates and self.risk.config.collar_bp is not None:
            b = books[d.candidates[0].symbol]
            i, bp = b.instr, self.risk.config.collar_bp
            lo, hi = collar_band(b.ref, bp)
            return (f"{reason.text}: {Decimal(bp) / 100:f} % around the reference "
                    f"{units_text(b.ref, i.price_decimals).decode()} {i.quote_ccy} per {i.quote_unit.replace('_', ' ')} "
                    f"on {i.symbol}, "
                    f"{units_text(lo, i.price_decimals).decode()}..{units_text(hi, i.price_decimals).decode()}")
        if not d.excluded:
            return f"{reason.text} ({d.request.symbol})"
        parts = []
        for e in d.excluded:
            b = books[e.symbol]
            i = b.instr
            detail = e.reason.text
            if e.reason is Reason.PRICE_LIMIT:
                hi = "none" if b.hi is None else units_text(b.hi, i.price_decimals).decode()
                detail = (f"price outside the daily limit {units_text(b.lo, i.price_decimals).decode()}.."
                          f"{hi} {i.quote_ccy}")
            elif e.reason is Reason.LOTS_OUT_OF_RANGE and d.request.symbol in self.catalogue.products:
                detail = (f"quantity below {i.min_lots} lot(s) of {i.lot_size} {i.quote_unit} "
                          f"({micro_text(i.lot_fine_micrograms).decode()} g fine each)")
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
                detail = f"{e.reason.text} (delivers {BAR_FORM_FIX.get(i.bar_form, i.bar_form)})"
            elif e.reason is Reason.SETTL_CYCLE_MISMATCH:
                detail = f"{e.reason.text} (settles {CYCLE_FIX.get(i.settlement_cycle, i.settlement_cycle)})"
            elif e.reason is Reason.SESSION_CLOSED:
                detail = f"trading session closed (schedule {i.schedule})"
            elif e.reason is Reason.FX_STALE:
                needs = self.router.fx_costs.needs(d.request.symbol, e.symbol, acct.funding_ccy if acct else None)
                detail = (f"converts with {', '.join('USD' + c for c in sorted(needs))}, not all updated within "
                          f"fx.max_age_s = {self.fx_settings.max_age_s} s")
            elif e.reason is Reason.CALENDAR_UNKNOWN and self.calendars is not None:
                cal = self.calendars.calendar_name(i.schedule)
                detail = (f"{cal} holiday calendar ends {self.calendars.covered_until(i.schedule).isoformat()}; "
                          f"extend calendars.{cal}.holidays and covers_until in config")
            parts.append(f"{e.symbol}: {detail}")
        return f"{reason.text}: " + "; ".join(parts)

    # -- reservations -------------------------------------------------------------------------

    # -- cancel / replace / status / mass cancel ------------------------------------------------


    def closable_lots(self, account: str, symbol: str, buy: bool) -> int:
        """Lots of a new order on `symbol` that would close the account's margined position (so need no
        margin): the position the books of record hold, less what its working orders on the same side
        would already close."""
        fills = self.fills
        if fills is None:
            return 0
        pos = fills.position_lots(account, symbol)
        if not pos or (pos < 0) != buy:
            return 0
        side = 1 if buy else 2
        working = sum(o.leaves for o in self.index.live.values()
                      if o.account == account and o.symbol == symbol and o.side == side)
        return max(0, abs(pos) - working)

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
