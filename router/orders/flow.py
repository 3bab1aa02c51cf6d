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
`orders.core_one_command` and `orders.core_bridge` turn into ExecutionReports. `on_timer` expires GTD orders, ends DAY orders when the
last session of an instrument's trading day closes (at the latest when its trading day rolls), moves the
reference price to the day's last trade at the roll (`orders.refprices`) and rolls each quota direction when its day moves on (`quota.QuotaDays`); `kill` / `disconnected` cancel working
orders in one batch.

Units: an instrument order is in lots and integer price units of that instrument; a product order
in fine grams (fine micrograms inside, a maximum each book fills in whole lots of its fine content)
and integer units of the product's currency per fine gram.

Not here: the answers to refused new orders (`orders.new_order_rejects`: the reject report, the
routing refusal's Text, the BusinessMessageReject), sockets, the clock (every entry point takes
`now_ns`), logging on the hot path, FIX framing.
"""
from __future__ import annotations

import collections
import math
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, Callable, Mapping

from matching import Op, Tif as CoreTif, commands
from router.orders.accounts import Account, Accounts
from router.domain.catalogue import CURRENCIES, Catalogue
from router.domain.convert import PRECISION, Fx, to_usd_oz_fine_exact
from router.domain.fx_quotes import FxSettings
from router.orders.marketdata import MarketData
from router.orders.amend import Amendments
from router.orders.core_books import (
    CORE_DEN, OP_NEW, OP_SWEEP, PRODUCT_DEN, STP_MODES, TopReader, book_specs, core_factor, make_engine,
)
from router.orders.core_bridge import CoreEvents, Out
from router.orders.core_one_command import OneCommand
from router.orders.fill_report import FillReport
from router.orders.funds import Funds
from router.orders.new_order_read import KeptTerms, NewOrderRead
from router.orders.new_order_rejects import NewOrderRejects, business_reject
from router.orders.index import DONE_KEPT, Ids, Order, OrderIndex, fast_units, text_of as _s
from router.orders.order_values import OrderValues
from router.orders.reports import quiet_report
from router.orders.quota import CrossBorderQuota, Direction, QuotaDays
from router.orders.quota_use import QuotaUse
from router.orders.refprices import ReferenceConfig, ReferencePrices
from router.domain.reasons import Reason
from router.orders.risk import RiskEngine
from router.orders.status import TradingStatus
from router.orders.routing import Candidate, RouteDecision, RouteRequest, Router, Side

ROUTES_KEPT = 1000
# Positions of the fields `_core_limit` reads from a request and its candidates.
_REQ_SIDE = RouteRequest._fields.index("side")
_CAND_BOOK = Candidate._fields.index("book_id")
_CAND_PRICE = Candidate._fields.index("price")
PRICE_TEXTS_KEPT = 4096
# Module constants instead of enum class attribute lookups on the per-order path.
_BUY, _SELL, _GTD = Side.BUY, Side.SELL, CoreTif.GTD
_new = tuple.__new__          # NamedTuple construction without the generated __new__


class OrderFlow(NewOrderRead, NewOrderRejects, Amendments, Funds, QuotaUse, OneCommand, CoreEvents, ReferencePrices):
    """The order flow for one catalogue, account set and core; see the module docstring."""

    def __init__(self, catalogue: Catalogue, fx: Fx, accounts: Accounts, risk: RiskEngine,
                 quota: CrossBorderQuota, engine: Any, *, run_id: str,
                 session_open: Callable[[str, int], Any], calendars: Any = None, metrics: Any = None,
                 perf: Callable[[], int] | None = None, reference: ReferenceConfig | None = None,
                 fx_settings: FxSettings | None = None, done_kept: int = DONE_KEPT,
                 quota_schedules: Mapping[Direction, str] | None = None) -> None:
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
        # Symbol(55) as sent -> what a new order needs of it (`_symbol_info`); a cache, rebuilt on demand.
        # (Snapshots written before it carry an unused `_symbols` of another shape: a new name.)
        self._symbol_terms: dict[bytes | None, tuple] = {}
        self._rest_pos: dict[tuple, int] = {}
        self._price_units: dict[tuple[bytes, int], int] = {}      # (Price(44) text, decimals) -> units
        # The codec's message shape -> its `new_order_read.ShapeReader` (or None): a cache, pickled empty.
        self._readers: dict[Any, Any] = KeptTerms()
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
        # The schedules whose trading day each quota direction counts (`[quota] *_schedule`, else the books
        # using it): configuration, which a snapshot names rather than stores (records.snapshot.EXTERNAL).
        self.quota_day_schedules = QuotaDays(self.books, quota_schedules)
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
    # new_order reads and checks the request and routes it; `_accept_new` makes the accepted order's
    # record and core command (a split that measured free). What the request's repeating values decide
    # is decided once per (shape, session, values) and kept (`orders.new_order_read`); the per-order
    # values are read here (benchmarks/README.md, "The acknowledgement and the cancel, session 11").
    def new_order(self, session: str, msg: Any, now_ns: int) -> list[Out]:
        if self.metrics is not None:
            self.metrics.order_received(session)
        # -- who sends what. A known shape with terms kept for these values is read by position; anything
        # else through the tag index (`new_order_read`), which keeps accepted terms for the next order.
        rd, terms, dyn = self._kept(session, msg)
        if terms is not None:
            clordid, qty_raw, price_raw = dyn
            if not clordid or self.index.clordid_used(session, clordid):
                terms = None        # answered by the general reading, in its order of checks
            else:
                throttled = self.risk.check_message(session, now_ns)
                if throttled is not None:
                    return self._reject_new(session, msg, now_ns, throttled, throttled.text)
        if terms is None:
            read = self._read_new(session, msg, now_ns, rd)
            if type(read) is list:
                return read
            clordid, qty_raw, price_raw, terms = read
        acct, known, core_tif, tif, route_tif, constraints, side_i, limit = terms
        account = acct.name
        symbol, instr, product, decimals, tick, is_product = known
        expire_ns = 0
        if core_tif is _GTD:
            expire_ns = self._expire_ns(msg, now_ns)
            if expire_ns is None:
                return self._reject_new(session, msg, now_ns, Reason.UNSUPPORTED,
                                        "GTD order needs an ExpireTime(126) in the future", account)
        # The usual whole quantity read here; anything else through fast_units and the exact path.
        qty = int(qty_raw) if qty_raw and qty_raw.isdigit() else fast_units(qty_raw, 0)
        if not qty:
            qty = self._slow_qty(session, msg, now_ns, qty_raw, instr is not None, account)
            if type(qty) is list:
                return qty
        price = None
        if limit:
            # A price text's units, remembered per (text, decimals): clients send the same few levels.
            key = (price_raw, decimals)
            price = self._price_units.get(key)
            if price is None:
                price = fast_units(key[0], decimals)
                if price:
                    if len(self._price_units) >= PRICE_TEXTS_KEPT:
                        self._price_units.clear()
                    self._price_units[key] = price
            if not price or price % tick:
                price = self._slow_price(session, msg, now_ns, price_raw, decimals, instr, symbol, account)
                if type(price) is list:
                    return price
        # -- margin call, then routing
        fills = self.fills
        if fills is not None and fills.margin_calls and instr is not None:
            why = fills.opening_blocked(account, symbol, side_i, qty)
            if why is not None:
                # The books-of-record issue asks for a BusinessMessageReject carrying the call's text.
                if self.metrics is not None:
                    self.metrics.order_rejected(Reason.MARGIN_CALL.label)
                return [business_reject(session, msg, 0, why)]
        t0 = self.perf() if self.perf is not None else 0
        # Quotes only matter when there is a choice of books: without a reader the router ranks
        # an instrument's one book on its reference price without calling anything.
        self.router.top_of_book = self._top_fn if is_product else None
        decision = self.router.route(_new(RouteRequest, (account, _BUY if side_i == 1 else _SELL, symbol, qty,
                                                         price, route_tif, constraints)), now_ns)
        if self.perf is not None and self.metrics is not None:
            self.metrics.router_decision_ns(self.perf() - t0)
        # Under a replay's quiet reports (nobody reads them, and GoldRouteExplain is read only by the
        # reports of the command that makes it) the line is not made (benchmarks/README.md "Restart").
        explain = b"" if self.exec_report is quiet_report else self.router.explain_bytes(decision)
        # The structured explanation is built only when the admin API asks (routes_view).
        self.routes.append((now_ns, session, clordid, decision))
        if not decision.ok:
            return self._reject_new(session, msg, now_ns, decision.reason, self._why(decision, qty, price),
                                    account, explain)
        return self._accept_new(session, msg, now_ns, clordid, acct, known, (side_i, 2 if limit else 1, core_tif,
                                tif, qty, price, expire_ns, constraints), decision, explain)

    def _accept_new(self, session: str, msg: Any, now_ns: int, clordid: bytes, acct: Account, known: tuple,
                    terms: tuple, decision: RouteDecision, explain: bytes) -> list[Out]:
        """A routed order: its record, quota and reservations (or the refusal), the index and risk's
        working set, then its one core command (a NEW on the book, or a product's group SWEEP).
        `terms`: side 1/2, OrdType 1/2, core Tif, its int, quantity, price units or None, ExpireTime ns
        or 0, constraints."""
        symbol, instr, product, decimals, tick, is_product = known
        side_i, ord_type, core_tif, tif, qty, price, expire_ns, constraints = terms
        oid, order_id = self.ids.next_oid()
        name = acct.name
        owner = self.owner_of[name]
        # A product order counts fine micrograms (the router's), an instrument order its lots.
        o = Order(oid, order_id, session, name, owner, clordid, symbol, is_product, side_i, ord_type, tif,
                  decision.qty_ug if is_product else qty, price, decimals, expire_ns, decision, explain,
                  constraints, decision.notional_cny, PRODUCT_DEN if is_product else 1)
        if decision.quota_claims:
            r = self._quota_accept(o, decision.quota_claims)
            if r is not None:
                return self._reject_new(session, msg, now_ns, r, f"{r.text} for this order", name, explain)
        r = self._reserve(o, acct, decision)
        if r is not None:
            self._quota_done(o)
            self._release(o, acct)
            return self._reject_new(session, msg, now_ns, r, f"{r.text} (already reserved by working orders)",
                                    name, explain)
        self.index.add(o)
        self.risk.on_accepted(oid, name, session, decision.notional_cny)
        if core_tif is _GTD:
            self._gtd += 1
        # One flat int64 row in COMMAND_FIELDS order: far cheaper than setting structured fields one by one.
        if not is_product:
            row = [OP_NEW, now_ns, instr.book_id, oid, owner, side_i, ord_type, tif, price or 0, qty,
                   expire_ns, 0, -1, 0, 0, 0, 0, 0]
        else:
            rest = self._rest_candidate(decision) if price is not None else None
            row = [OP_SWEEP, now_ns, self.group_of_product[symbol], oid, owner, side_i, ord_type, tif,
                   self._core_limit(decision) if price is not None else 0, decision.qty_ug, expire_ns,
                   decision.allowed_mask, -1 if rest is None else rest.book_id, 0 if rest is None else rest.price,
                   0, 0, 0, 0]
        return self._run_one(row, ("new", o), now_ns)

    def _symbol_info(self, raw: bytes | None) -> tuple:
        """What a new order needs of its Symbol(55), kept per symbol as sent: (symbol, instrument,
        product, price decimals, tick in price units (1 for a product), is_product). An unknown
        symbol is not kept (any text could be sent)."""
        symbol = _s(raw)
        instr, product = self.catalogue.instruments.get(symbol), self.catalogue.products.get(symbol)
        if instr is None and product is None:
            return (symbol, None, None, 0, 1, False)
        known = (symbol, instr, product, instr.price_decimals if instr is not None else product.price_decimals,
                 instr.tick_units if instr is not None else 1, product is not None)
        self._symbol_terms[raw] = known
        return known

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
        factors = self.core_factors
        buy = d.request[_REQ_SIDE] is _BUY
        limit = None
        # Fields read by position: no list per order, no NamedTuple descriptor calls (x1.02 on an IOC product).
        for c in d.candidates:
            comp = c[_CAND_PRICE] * factors[c[_CAND_BOOK]][0] // CORE_DEN
            if limit is None or (comp > limit if buy else comp < limit):
                limit = comp
        return limit

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


__all__ = ["OrderFlow", "Out", "make_engine", "book_specs", "core_factor"]
