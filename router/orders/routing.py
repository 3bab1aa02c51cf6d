"""The smart router: hard filters, all-in ranking and the split plan for one order, with its explanation.

`Router.route(request, now_ns, fx)` takes an order for an instrument (qty in lots, price in the
instrument's integer price units) or for a routable product (qty in fine grams, a maximum: each
book is offered the whole lots of its fine content that fit, up to its largest order; price in the
product's integer price units of its currency per fine gram) and returns a `RouteDecision`:
either a rejection (a `Reason` value) or a plan for the matching core's atomic group sweep
(ranked candidate books with conservative child limits, the allowed-books mask, the
comparable limit in micro-USD per fine troy ounce, the quantity in group micrograms, the book
the remainder rests on) plus a structured explanation and a short text for a FIX tag.

Hard filters per book, in this order: allowed venues, session open, FX fresh (`fx.max_age_s`: a book
whose price conversion needs a rate older than that is excluded `fx_stale`), eligibility, cross-border
permission, cross-border quota (buys only), settlement currency, currency held, vault, bar form,
settlement cycle, price limits, lot range (a product quantity below one lot of the book), funds (cash or metal for full payment, margin
for margin contracts, on the lots that open a position: `closable`, when set, tells how many lots of
a new order would close one).
Survivors are ranked by all-in comparable price: the book's best
opposite price (or its reference price when it has none) converted to micro-USD per fine oz,
plus proportional fee and carry, plus the per-lot fee spread over a lot's fine ounces, plus (for an
account with a `funding_ccy`) half the FX bid/ask spread of converting it into the book's settlement currency.

Everything that depends only on configuration and FX is precomputed (`router.orders.book_factors`,
which holds the per-book integer factors and static filter rows); per-(account, symbol,
constraints) static filter results are cached, and a request's plan (`router.orders.route_plan`: a
product's per-book rows; an instrument's one row, made when the request comes a second time) is kept
per request beside them, so a decision reads little more than the live state per book. `Router.route` checks the request, then weighs its books one of two ways: an instrument's
one book inline (`router.orders.route_one`), or the general loop over a product's books
(`_route_books`, then `_decide`), which gives the same decision for an instrument.

This module does NOT consume quota, reserve funds, touch books or read a clock: the
caller does that on acceptance, from `RouteDecision.quota_claims` and each candidate's
`cash` / `metal_ug` / `vault` (amounts at the child limit, so conservative).
"""
from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any, Callable

from router.orders.accounts import Account, Accounts
from router.orders.book_factors import MICRO, PPM, BookFactors, BookFilters, round_int
from router.domain.catalogue import Catalogue
from router.domain.convert import COMPARABLE_DEN, PRECISION, Fx
from router.domain.fx_quotes import FxSettings, stale_ccys
from router.orders.fx_costs import FxCosts
from router.orders.quota import CrossBorderQuota, Direction, quota_direction
from router.orders.route_plan import PLAN_CACHE_MAX, QUOTE_MEMO_MAX, plan_rows
from router.domain.reasons import Reason
from router.orders.route_one import (  # the hot path's aliases, shared by both paths
    OneBookRoute, _BUY, _CONTINUOUS, _DAY, _GTC, _R_BAD_PRICE, _R_BAD_QTY, _R_CALENDAR_UNKNOWN, _R_FX_STALE,
    _R_INSUFFICIENT_CASH, _R_INSUFFICIENT_MARGIN, _R_INSUFFICIENT_METAL, _R_NO_ELIGIBLE_BOOK,
    _R_QUOTA_EXHAUSTED, _R_SESSION_CLOSED, _R_UNKNOWN_ACCOUNT, _R_UNKNOWN_SYMBOL, _R_VENUE_NOT_ALLOWED, _new,
    _third,
)
from router.orders.route_types import (  # noqa: F401  (re-exported: the routing API)
    Candidate, Constraints, Exclusion, NO_CONSTRAINTS, RouteDecision, RouteRequest, Side, Tif, explain_line,
)

STATIC_CACHE_MAX = 4096
EXPLAIN_CACHE_MAX = 4096
# The names snapshots written before the split pickled these classes under (router.orders.routing).
_Book, _Static = BookFactors, BookFilters


def _static_key(account: str, symbol: str, c: Constraints) -> tuple:
    return (account, symbol) if c == NO_CONSTRAINTS else (account, symbol, c)


# (symbol, now_ns) -> True, a SessionState, or Reason.CALENDAR_UNKNOWN (closed because the date is past the calendar).
SessionOpen = Callable[[str, int], Any]
TopOfBook = Callable[[int, Side], "int | None"]


class Router(OneBookRoute):
    """Routes orders for one catalogue and account set; rebuild on config reload, `set_fx` on FX change."""

    # Instruments take `_route_instrument` (False: the general path for every order; the tests that
    # compare the two paths switch it per instance).
    one_book_path = True
    # Requests keep their `route_plan` plans, and an instrument's plan its acceptance (False: products
    # make their rows afresh every call and instruments take `_route_instrument`; the tests that compare
    # the two switch it per instance).
    plan_cache = True

    def __init__(self, catalogue: Catalogue, accounts: Accounts, quota: CrossBorderQuota,
                 session_open: SessionOpen, fx: Fx, *, top_of_book: TopOfBook | None = None,
                 carry_days: int = 1, risk: Any = None) -> None:
        self.catalogue = catalogue
        self.accounts = accounts
        self._by_name = {a.name: a for a in accounts}
        self.quota = quota
        self.session_open = session_open
        self.top_of_book = top_of_book
        self.carry_days = carry_days
        self.risk = risk
        self._refs: dict[str, int] = {}       # run-time reference prices (units) replacing the configured ones
        self.fx_settings = FxSettings()       # the flow's (configuration): fx.max_age_s 0 = FX age not checked
        # (account, symbol, buy) -> lots of a new order that would close a margined position, or None
        self.closable: Callable[[str, str, bool], int] | None = None
        # What explanations need to show prices in each one's own quote (RouteDecision.decimals).
        self.price_decimals: dict[str, tuple[int, str]] = {s: (i.price_decimals, "lots")
                                                           for s, i in catalogue.instruments.items()}
        for pid, p in catalogue.products.items():
            self.price_decimals[pid] = (p.price_decimals, "g_fine")   # products take fine grams
        # GoldRouteExplain(7006) lines by what they show (`explain_bytes`); bounded, cleared when full.
        self._explains: dict[tuple, bytes] = {}
        self._members: dict[str, tuple[str, ...]] = {s: (s,) for s in catalogue.instruments}
        for pid, p in catalogue.products.items():
            self._members[pid] = catalogue.groups[p.group].members
        self.set_fx(fx)

    def set_fx(self, fx: Fx) -> None:
        """Recompute every FX-dependent factor (and drop the static-filter cache, which holds the books)."""
        self.fx = fx
        cat = self.catalogue
        self._books = {s: BookFactors(i, fx, cat, self.carry_days, self._refs.get(s))
                       for s, i in cat.instruments.items()}
        self._product_num: dict[str, int] = {}
        with localcontext(PRECISION):
            for pid, p in cat.products.items():
                unit = Decimal(1).scaleb(-p.price_decimals)
                usd_oz = unit / fx.per_usd(p.price_ccy) * cat.constants.grams_per_troy_oz
                self._product_num[pid] = round_int(usd_oz * MICRO * COMPARABLE_DEN)
        self._static: dict[tuple[str, str, Constraints], tuple[BookFilters, ...]] = {}
        self._plans: dict[tuple, tuple[int, int | None, tuple]] = {}   # made of _static's rows: dropped with it
        # Instruments' plans (`route_plan.one_plan` lists), or 0 for a request seen once (planned when seen
        # again): apart from the products' so a stream of new instrument requests does not evict them.
        self._one_plans: dict[tuple, list | int] = {}
        self.fx_costs = FxCosts(fx, cat)

    def set_reference(self, symbol: str, ref_units: int) -> None:
        """A new reference price for one instrument: its band, collar reference and no-quote ranking
        are recomputed, and the static-filter cache (which holds them) is dropped."""
        self._refs[symbol] = ref_units
        self._books[symbol] = BookFactors(self.catalogue.instruments[symbol], self.fx, self.catalogue,
                                    self.carry_days, ref_units)
        self._static.clear()
        self._plans.clear()
        self._one_plans.clear()

    def invalidate(self) -> None:
        """Forget cached static filter results: call after an account's eligibility, side,
        cross-border flag or set of currency lines changes."""
        self._static.clear()
        self._plans.clear()
        self._one_plans.clear()

    # -- static filters -------------------------------------------------------------------
    def _statics(self, acct: Account, symbol: str, c: Constraints) -> tuple[BookFilters, ...]:
        key = _static_key(acct.name, symbol, c)
        got = self._static.get(key)
        if got is not None:
            return got
        if len(self._static) >= STATIC_CACHE_MAX:
            # Constraints come from clients; a bounded cache keeps odd tag values from growing it forever.
            self._static.clear()
            self._plans.clear()
            self._one_plans.clear()
        out = []
        for s in self._members[symbol]:
            b = self._books[s]
            venue_ok = c.allowed_venues is None or b.venue in c.allowed_venues
            # Crossing is the quota's notion: an account within the venue's quota zone (an offshore one on
            # the offshore-funded International Board) does not cross, so needs no permission either.
            d = quota_direction(acct.side, b.side, b.instr.quota_zone)
            pre = None
            if b.eligibility not in acct.eligibility:
                pre = Reason.NOT_ELIGIBLE
            elif d is not None and not acct.cross_border:
                pre = Reason.CROSS_BORDER_NOT_ALLOWED
            post = None
            vaults = b.vaults if c.vault is None else tuple(v for v in b.vaults if v == c.vault)
            if c.settl_ccy is not None and c.settl_ccy != b.settl_ccy:
                post = Reason.SETTL_CCY_MISMATCH
            elif not acct.holds(b.settl_ccy):
                post = Reason.CURRENCY_NOT_HELD
            elif not vaults:
                post = Reason.VAULT_MISMATCH
            elif c.bar_form is not None and c.bar_form != b.bar_form:
                post = Reason.BAR_FORM_MISMATCH
            elif c.settl_cycle is not None and c.settl_cycle != b.cycle:
                post = Reason.SETTL_CYCLE_MISMATCH
            ref_cost = -(-b.ref_comp * b.cost_ppm // PPM) + b.lot_fee_comp
            out.append(BookFilters(b.symbol, b.book_id, b.bit, venue_ok, pre, d, post, vaults, b.bar_form, b.lo,
                               b.hi, b.tick, b.num, b.den, b.lot_ug, b.fine_ug, b.cny_num, b.min_lots,
                               b.max_lots, b.settl_num, b.fee_ppm, b.lot_fee_settl, b.margin_ppm,
                               b.settl_ccy, b.ref_comp, b.cost_ppm, b.lot_fee_comp, b.ref_comp + ref_cost,
                               b.ref_comp - ref_cost))
        got = self._static[key] = tuple(out)
        return got

    def _plan(self, key: tuple, acct: Account, req: RouteRequest, product_num: int) -> tuple[int, int | None, tuple]:
        """A product request's (qty_ug, comparable limit, `plan_rows`), kept under `key` when `plan_cache`."""
        account, side, symbol, qty, price, tif, constraints = req
        statics = self._static.get(_static_key(account, symbol, constraints))
        if statics is None:
            statics = self._statics(acct, symbol, constraints)
        qty_ug = qty * MICRO
        limit_comp = None if price is None else price * product_num // COMPARABLE_DEN
        plan = (qty_ug, limit_comp, plan_rows(statics, True, side is _BUY, qty, price, qty_ug, limit_comp))
        if self.plan_cache:
            if len(self._plans) >= PLAN_CACHE_MAX:
                self._plans.clear()     # quantities and prices come from clients: bounded like the statics
            self._plans[key] = plan
        return plan

    # -- the decision ---------------------------------------------------------------------
    def route(self, req: RouteRequest, now_ns: int, fx: Fx | None = None) -> RouteDecision:
        """The decision for one request: its kept plan when there is one (and no kill switch is on), else
        the checks on the request itself; then its books weighed one of two ways, an instrument's one book
        (`_route_planned`, or `_route_instrument` without plans) or every member book of a product
        (`_route_books`, which decides an instrument alike when `one_book_path` is off)."""
        if fx is not None and fx is not self.fx:
            self.set_fx(fx)
        # NamedTuple field access is a descriptor call each time; unpack once. The checks sit here, not
        # in a function of their own: a frame more per decision cost products ~5 % (benchmarks/README.md,
        # "Router: the one-book path for instrument orders").
        account, side, symbol, qty, price, tif, constraints = req
        risk = self.risk
        product_num = self._product_num.get(symbol)
        # Most orders carry no constraints; a 5-tuple key hashes in a fraction of the time of one
        # holding the five-field Constraints (tuples do not cache their hash). (`is` first: comparing two
        # Constraints costs ~50 ns and the flow passes NO_CONSTRAINTS itself.)
        key = ((account, symbol, side, qty, price)
               if constraints is NO_CONSTRAINTS or constraints == NO_CONSTRAINTS
               else (account, symbol, side, qty, price, constraints))
        plan = ((self._plans if product_num is not None else self._one_plans).get(key) if self.plan_cache
                else None)
        if plan and (risk is None or not (risk.halted_all or risk.halted)) and (
                product_num is not None or self.one_book_path):
            # A kept plan's request passed the checks below when the plan was made (known account and
            # symbol, quantity and price above 0) and nothing they read changes while it is kept: with
            # no kill switch on, straight to its books.
            d = (self._route_planned(req, plan, now_ns) if product_num is None
                 else self._route_books(req, self._by_name[account], plan[2], plan[0], plan[1], now_ns))
        elif (acct := self._by_name.get(account)) is None:
            d = RouteDecision(req, _R_UNKNOWN_ACCOUNT)
        elif risk is not None and (risk.halted_all or risk.halted) and (killed := risk.killed(account)) is not None:
            d = RouteDecision(req, killed)
        elif symbol not in self._members:
            d = RouteDecision(req, _R_UNKNOWN_SYMBOL)
        elif qty <= 0:
            d = RouteDecision(req, _R_BAD_QTY)
        elif price is not None and price <= 0:
            d = RouteDecision(req, _R_BAD_PRICE)
        elif product_num is not None:
            # A product's plan: everything its books make of this request that no live state changes.
            if plan is None:
                plan = self._plan(key, acct, req, product_num)
            d = self._route_books(req, acct, plan[2], plan[0], plan[1], now_ns)
        elif plan is not None and self.one_book_path:
            # An instrument request seen before: its plan (`route_plan.one_plan`), made now if it was seen once.
            d = self._route_planned(req, plan or self._one_plan(key, acct, req), now_ns)
        else:
            statics = self._static.get((account, symbol) if constraints == NO_CONSTRAINTS
                                       else (account, symbol, constraints))
            if statics is None:
                statics = self._statics(acct, symbol, constraints)
            if self.one_book_path:
                if self.plan_cache:
                    self._seen_once(key)
                d = self._route_instrument(req, acct, statics[0], now_ns)
            else:
                b0 = self._books[symbol]
                if price is not None and price % b0.tick:
                    d = RouteDecision(req, _R_BAD_PRICE)
                else:
                    # fine micrograms, as a product's quantity: the risk limit's unit
                    qty_ug = qty * b0.fine_ug
                    limit_comp = None if price is None else price * b0.num // b0.den
                    d = self._route_books(req, acct, plan_rows(statics, False, side is _BUY, qty, price, qty_ug,
                                                               limit_comp), qty_ug, limit_comp, now_ns)
        d.decimals = self.price_decimals
        return d

    def _route_books(self, req: RouteRequest, acct: Account, plan: tuple[tuple, ...], qty_ug: int,
                     limit_comp: int | None, now_ns: int) -> RouteDecision:
        """The general path: every book of the request's plan (`router.orders.route_plan`) through the
        hard filters, in the order the module docstring gives, reading the live state (sessions, FX ages,
        quota, funds, open positions, quotes); the survivors ranked on their all-in price; the decision
        from `_decide`."""
        account, side, symbol = req[0], req[1], req[2]
        buy = side is _BUY
        ranked: list[tuple[int, int, Candidate]] = []
        excluded: list[Exclusion] = []
        mask = 0
        notional = 0
        claims: dict[Direction, int] = {}
        session_open = self.session_open
        max_age = self.fx_settings.max_age_s
        stale = stale_ccys(self.fx, now_ns, max_age * 1_000_000_000) if max_age else None
        funding = acct.funding_ccy
        fits = self.quota.fits
        top = self.top_of_book
        cash = acct.cash
        reserved = acct.reserved_cash
        for (sym, book_id, bit, venue_ok, pre, d, child, lots, notional_cny, fixed, need, metal_ug, vaults, form,
             margin, value, fees, ccy, num, den, cost_ppm, lot_fee_comp, ref_comp, ref_all_in, memo) in plan:
            if not venue_ok:
                excluded.append(_new(Exclusion, (sym, book_id, _R_VENUE_NOT_ALLOWED)))
                continue
            state = session_open(sym, now_ns)
            if state is not True and state is not _CONTINUOUS:
                excluded.append(_new(Exclusion, (sym, book_id, state if state is _R_CALENDAR_UNKNOWN
                                                 else _R_SESSION_CLOSED)))
                continue
            if stale and self.fx_costs.needs(symbol, sym, funding) & stale:
                excluded.append(_new(Exclusion, (sym, book_id, _R_FX_STALE)))
                continue
            if pre is not None:
                excluded.append(_new(Exclusion, (sym, book_id, pre)))
                continue
            if child is None:
                # market order on a book without a price band: nothing bounds it
                excluded.append(_new(Exclusion, (sym, book_id, _R_BAD_PRICE)))
                continue
            reason = None
            if buy and d is not None and not fits(d, notional_cny):     # only buys consume quota
                reason = _R_QUOTA_EXHAUSTED
            elif fixed is not None:
                reason = fixed
            else:
                vault = vaults[0]
                metal = 0
                if margin is not None:
                    # Only the lots that open (or add to) a position need margin and cash for fees; an
                    # order that only closes pays its fee out of the margin it releases.
                    if self.closable is not None:
                        closing = min(lots, self.closable(account, sym, buy))
                        if closing > 0:
                            opening = value * (lots - closing) // lots
                            need = -(-opening * margin // PPM) + fees if opening else 0
                    if need and cash.get(ccy, 0) - reserved.get(ccy, 0) < need:
                        reason = _R_INSUFFICIENT_MARGIN
                elif buy:
                    if cash.get(ccy, 0) - reserved.get(ccy, 0) < need:
                        reason = _R_INSUFFICIENT_CASH
                else:
                    need = 0
                    metal = metal_ug
                    for vault in vaults:
                        if acct.free_metal(vault, form) >= metal:
                            break
                    else:
                        reason = _R_INSUFFICIENT_METAL
            if reason is not None:
                excluded.append(_new(Exclusion, (sym, book_id, reason)))
                continue
            quote = top(book_id, side) if top is not None else None
            if quote is None:
                comp, source = ref_comp, "ref"
                all_in = ref_all_in
            else:
                # A quote's comparable and all-in price are fixed by the plan row: worked out once per quote.
                got = memo.get(quote)
                if got is None:
                    comp = quote * num // den
                    cost = -(-comp * cost_ppm // PPM) + lot_fee_comp
                    got = (comp, comp + cost if buy else comp - cost)
                    if len(memo) >= QUOTE_MEMO_MAX:
                        memo.clear()
                    memo[quote] = got
                comp, all_in = got
                source = "quote"
            if funding is not None and funding != ccy:
                spread = -(-comp * self.fx_costs.funding_ppm(funding, ccy) // PPM)
                all_in = all_in + spread if buy else all_in - spread
            ranked.append((all_in if buy else -all_in, book_id, _new(Candidate, (
                sym, book_id, lots, child, comp, all_in, source, d, notional_cny, ccy, need, vault, metal))))
            mask |= bit
            if notional_cny > notional:
                notional = notional_cny
            if buy and d is not None and notional_cny > claims.get(d, 0):
                claims[d] = notional_cny
        return self._decide(req, acct, ranked, excluded, mask, limit_comp, qty_ug, notional, claims)

    def _decide(self, req: RouteRequest, acct: Account, ranked: list[tuple[int, int, Candidate]],
                excluded: list[Exclusion], mask: int, limit_comp: int | None, qty_ug: int, notional: int,
                claims: dict[Direction, int]) -> RouteDecision:
        """The general path's decision from its survivors: the exclusions' reason when none survived,
        else the ranked plan after the risk check (limits, collar, credit) on the best book."""
        price = req[4]
        buy = req[1] is _BUY
        if not ranked:
            reasons = {e.reason for e in excluded}
            reason = reasons.pop() if len(reasons) == 1 else _R_NO_ELIGIBLE_BOOK
            return RouteDecision(req, reason, (), tuple(excluded), qty_ug=qty_ug)
        if len(ranked) == 1:
            candidates: tuple[Candidate, ...] = (ranked[0][2],)
        else:
            ranked.sort()
            candidates = tuple(map(_third, ranked))
        if limit_comp is None:
            # Market order: the sweep may go as far as the worst child limit (band edge).
            books = self._books
            comps = [c.price * books[c.symbol].num // books[c.symbol].den for c in candidates]
            limit_comp = max(comps) if buy else min(comps)
        risk = self.risk
        if risk is not None:
            best = self._books[candidates[0].symbol]
            r = risk.check_new(acct, qty_ug, notional, None if price is None else limit_comp, best.ref_comp)
            if r is not None:
                return RouteDecision(req, r, candidates, tuple(excluded), mask, limit_comp, qty_ug,
                                     None, notional, claims)
        tif = req[5]
        rest = candidates[0].book_id if tif is _DAY or tif is _GTC else None
        return RouteDecision(req, None, candidates, tuple(excluded), mask, limit_comp, qty_ug,
                             rest, notional, claims)

    def __getstate__(self) -> dict[str, Any]:
        # A snapshot (which pickles the flow and this router with it) leaves the explanation lines
        # out: a cache of up to EXPLAIN_CACHE_MAX lines, refilled by the next orders.
        state = self.__dict__.copy()
        state["_explains"] = {}
        state["_plans"] = {}
        state["_one_plans"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # One by one, not into `__dict__`: on CPython 3.11 an object whose `__dict__` was made reads its
        # attributes about twice as slowly (router.records.snapshot._inline_state).
        for name, value in state.items():
            setattr(self, name, value)
        if "_plans" not in state:       # snapshots written before per-request plans hold none
            self._plans = {}
        if "_one_plans" not in state:   # nor before instruments' plans
            self._one_plans = {}

    def explain_bytes(self, d: RouteDecision) -> bytes:
        """The decision's GoldRouteExplain(7006) line, encoded (`explain_line`); with several books, reused
        by the values it shows (benchmarks/README.md, "Order flow: requests not seen before")."""
        got = d.explained
        if got is not None:
            return got      # a decision handed out again by its plan (`_route_planned`)
        r = d.request
        if r[2] not in self._product_num:
            # An instrument's one book: one format (`explain_line`). A product's line is looked up (~0.4 us).
            got = d.explained = explain_line(d)
            return got
        key = (r[1], r[2], r[3], r[4], d.reason, d.candidates, d.excluded)
        got = self._explains.get(key)
        if got is None:
            if len(self._explains) >= EXPLAIN_CACHE_MAX:
                self._explains.clear()
            got = self._explains[key] = explain_line(d)
        d.explained = got
        return got

    def books(self) -> dict[str, BookFactors]:
        """The precomputed per-instrument factors for the current FX (read-only; admin/debug)."""
        return self._books
