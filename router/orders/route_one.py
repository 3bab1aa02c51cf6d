"""The router's one-book path: an instrument order weighed against its one book.

`OneBookRoute._route_instrument` is the part of `router.orders.routing.Router` that decides an
order naming an instrument. It applies the hard filters of the general path (`Router._route_books`)
in the same order, with the same values, and builds the decision `Router._decide` would build, but
without what a choice among books needs: the lists of survivors and exclusions, the claims dict,
the ranking sort and two calls. Most orders name an instrument, and that bookkeeping was about a
fifth of their decision (benchmarks/README.md, "Router: the one-book path for instrument orders").

`OneBookRoute._route_planned` is the same decision from the request's plan
(`router.orders.route_plan.one_plan`, made by `_one_plan` when a request comes a second time and kept in
`Router._one_plans` per (account, symbol, side, qty, price[, constraints]), dropped with the product plans
and the static-filter rows on every FX change, new reference price and account change): the kill switch,
sessions, FX ages, quota, funds, open positions, the quote and the risk check are read live on every
call, in the same order; the rest was worked out when the plan was made. An acceptance that read nothing
differing from its plan is kept in the plan and handed out again. A request seen for the first time takes
`_route_instrument` (a plan costs about one decision to make). `Router.plan_cache = False` takes
`_route_instrument` always; `Router.one_book_path = False` sends instruments through the general path;
`tests/orders/test_route_paths.py` and `test_route_plan.py` run seeded random requests and state
changes through the three and compare every field of the decisions.

Not here: the request checks before the book (`Router.route`), products, caches other than the plans,
any clock or I/O.
"""
from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING

from router.domain.calendar import SessionState
from router.domain.convert import COMPARABLE_DEN
from router.domain.fx_quotes import stale_ccys
from router.domain.reasons import Reason
from router.orders.book_factors import PPM, BookFilters
from router.orders.route_plan import PLAN_CACHE_MAX, one_plan
from router.orders.route_types import (
    NO_CONSTRAINTS, Candidate, Exclusion, RouteDecision, RouteRequest, Side, Tif,
)

if TYPE_CHECKING:
    from router.orders.accounts import Account

# Only continuous trading takes routed orders: auctions and breaks are not "open" here.
_CONTINUOUS = SessionState.CONTINUOUS
# NamedTuple construction through tuple.__new__ skips the generated __new__ (hot path).
_new = tuple.__new__
# A list comprehension is a nested function call in 3.11; map over a C getter is not.
_third = itemgetter(2)
# Enum class attribute lookups cost ~60 ns each; the hot path reads these module globals instead.
_BUY = Side.BUY
_DAY = Tif.DAY
_GTC = Tif.GTC
_R_BAD_PRICE = Reason.BAD_PRICE
_R_BAD_QTY = Reason.BAD_QTY
_R_INSUFFICIENT_CASH = Reason.INSUFFICIENT_CASH
_R_INSUFFICIENT_MARGIN = Reason.INSUFFICIENT_MARGIN
_R_INSUFFICIENT_METAL = Reason.INSUFFICIENT_METAL
_R_LOTS_OUT_OF_RANGE = Reason.LOTS_OUT_OF_RANGE
_R_NO_ELIGIBLE_BOOK = Reason.NO_ELIGIBLE_BOOK
_R_PRICE_LIMIT = Reason.PRICE_LIMIT
_R_QUOTA_EXHAUSTED = Reason.QUOTA_EXHAUSTED
_R_SESSION_CLOSED = Reason.SESSION_CLOSED
_R_CALENDAR_UNKNOWN = Reason.CALENDAR_UNKNOWN
_R_FX_STALE = Reason.FX_STALE
_R_UNKNOWN_ACCOUNT = Reason.UNKNOWN_ACCOUNT
_R_UNKNOWN_SYMBOL = Reason.UNKNOWN_SYMBOL
_R_VENUE_NOT_ALLOWED = Reason.VENUE_NOT_ALLOWED


class OneBookRoute:
    """Mixin of `Router`: the one-book path (reads the router's `session_open`, `fx_settings`,
    `fx_costs`, `fx`, `quota`, `closable`, `top_of_book` and `risk`) and instruments' plans (kept in its
    `_one_plans`, made of its `_static` rows)."""

    def _route_instrument(self, req: RouteRequest, acct: "Account", row: BookFilters, now_ns: int) -> RouteDecision:
        """An instrument order (the request checks of `Router.route` passed, `row` its book's filter
        row): the filters, funds, ranking price and risk check of `_route_books` and `_decide` for one
        book, inline (each call and list the general path makes cost more here than the work)."""
        account, side, symbol, qty, price, tif, constraints = req
        (sym, book_id, bit, venue_ok, pre, d, post, vaults, form, lo, hi, tick, num, den, lot_ug, fine_ug, cny_num,
         min_lots, max_lots, settl_num, fee_ppm, lot_fee_settl, margin, ccy, ref_comp, cost_ppm,
         lot_fee_comp, ref_all_in_buy, ref_all_in_sell) = row
        if price is not None and price % tick:
            return RouteDecision(req, _R_BAD_PRICE)
        qty_ug = qty * fine_ug
        buy = side is _BUY
        child = price if price is not None else (hi if buy else lo)
        reason = None
        if not venue_ok:
            reason = _R_VENUE_NOT_ALLOWED
        else:
            state = self.session_open(sym, now_ns)
            if state is not True and state is not _CONTINUOUS:
                reason = state if state is _R_CALENDAR_UNKNOWN else _R_SESSION_CLOSED
            elif self.fx_settings.max_age_s and self.fx_costs.needs(symbol, sym, acct.funding_ccy) & stale_ccys(
                    self.fx, now_ns, self.fx_settings.max_age_s * 1_000_000_000):
                reason = _R_FX_STALE
            elif pre is not None:
                reason = pre
            elif child is None:
                reason = _R_BAD_PRICE
        if reason is None:
            notional_cny = child * qty * cny_num // COMPARABLE_DEN
            if buy and d is not None and not self.quota.fits(d, notional_cny):
                reason = _R_QUOTA_EXHAUSTED
            elif post is not None:
                reason = post
            elif child < lo or (hi is not None and child > hi):
                reason = _R_PRICE_LIMIT
            elif qty < min_lots or qty > max_lots:
                reason = _R_LOTS_OUT_OF_RANGE
        if reason is not None:
            return RouteDecision(req, reason, (), (_new(Exclusion, (sym, book_id, reason)),), qty_ug=qty_ug)
        value = child * qty * settl_num // COMPARABLE_DEN
        fees = -(-value * fee_ppm // PPM) + qty * lot_fee_settl
        vault = vaults[0]
        metal = 0
        cash = acct.cash
        if margin is not None:
            opening = value      # as in _route_books: only the lots that open a position need margin
            if self.closable is not None:
                closing = min(qty, self.closable(account, sym, buy))
                if closing > 0:
                    opening = value * (qty - closing) // qty
            need = -(-opening * margin // PPM) + fees if opening else 0
            if need and cash.get(ccy, 0) - acct.reserved_cash.get(ccy, 0) < need:
                reason = _R_INSUFFICIENT_MARGIN
        elif buy:
            need = value + fees
            if cash.get(ccy, 0) - acct.reserved_cash.get(ccy, 0) < need:
                reason = _R_INSUFFICIENT_CASH
        else:
            need = 0
            metal = qty * lot_ug
            for vault in vaults:
                if acct.free_metal(vault, form) >= metal:
                    break
            else:
                reason = _R_INSUFFICIENT_METAL
        if reason is not None:
            return RouteDecision(req, reason, (), (_new(Exclusion, (sym, book_id, reason)),), qty_ug=qty_ug)
        top = self.top_of_book
        quote = top(book_id, side) if top is not None else None
        if quote is None:
            comp, source = ref_comp, "ref"
            all_in = ref_all_in_buy if buy else ref_all_in_sell
        else:
            comp, source = quote * num // den, "quote"
            cost = -(-comp * cost_ppm // PPM) + lot_fee_comp
            all_in = comp + cost if buy else comp - cost
        funding = acct.funding_ccy
        if funding is not None and funding != ccy:
            spread = -(-comp * self.fx_costs.funding_ppm(funding, ccy) // PPM)
            all_in = all_in + spread if buy else all_in - spread
        candidates = (_new(Candidate, (sym, book_id, qty, child, comp, all_in, source, d, notional_cny, ccy,
                                       need, vault, metal)),)
        notional = notional_cny if notional_cny > 0 else 0
        claims = {d: notional_cny} if buy and d is not None and notional_cny > 0 else None
        limit_comp = child * num // den
        risk = self.risk
        if risk is not None:
            r = risk.check_new(acct, qty_ug, notional, None if price is None else limit_comp, ref_comp)
            if r is not None:
                return RouteDecision(req, r, candidates, (), bit, limit_comp, qty_ug, None, notional, claims)
        rest = book_id if tif is _DAY or tif is _GTC else None
        return RouteDecision(req, None, candidates, (), bit, limit_comp, qty_ug, rest, notional, claims)

    def _one_plan(self, key: tuple, acct: "Account", req: RouteRequest) -> list:
        """An instrument request's plan (`route_plan.one_plan`), kept under `key` in `_one_plans`."""
        account, side, symbol, qty, price, tif, constraints = req
        statics = self._static.get((account, symbol) if constraints == NO_CONSTRAINTS
                                   else (account, symbol, constraints))
        if statics is None:
            statics = self._statics(acct, symbol, constraints)
        row = statics[0]
        funding = acct.funding_ccy
        ccy = row[23]        # the book's settlement currency
        plan = one_plan(acct, row, self.fx_costs.needs(symbol, row[0], funding),
                        self.fx_costs.funding_ppm(funding, ccy) if funding is not None and funding != ccy else None,
                        side is _BUY, qty, price)
        if len(self._one_plans) >= PLAN_CACHE_MAX:
            self._one_plans.clear()     # quantities and prices come from clients: bounded like the statics
        self._one_plans[key] = plan
        return plan

    def _seen_once(self, key: tuple) -> None:
        """An instrument request seen for the first time: remembered (0), planned if it comes again. A
        plan costs about as much to make as one decision without it (benchmarks/README.md, "Router:
        per-request plans for instrument orders"): only a request sent again repays it."""
        if len(self._one_plans) >= PLAN_CACHE_MAX:
            self._one_plans.clear()
        self._one_plans[key] = 0

    def _route_planned(self, req: RouteRequest, plan: list, now_ns: int) -> RouteDecision:
        """An instrument order from its plan (`router.orders.route_plan.one_plan`): the live reads of
        `_route_instrument` in its order (sessions, FX ages, quota, funds, open positions, quote, risk
        check) between the plan's fixed refusals. An acceptance that read nothing differing from the
        plan (no quote, every lot opening, the first vault) is the same decision every time: the plan
        keeps it, with its request, and hands it out again, so a repeated order makes no decision,
        candidate or claims dict (each one lived as long as its order: collector pressure)."""
        (acct, sym, book_id, bare, early, needs, late, d, quota_d, notional_cny, fixed, margin, value, fees, need,
         ccy, vaults, form, metal, qty_ug, child, num, den, cost_ppm, lot_fee_comp, ref_comp, ref_all_in, funding_ppm,
         bit, limit_comp, notional, claims, accepted) = plan
        if bare:
            return RouteDecision(req, _R_BAD_PRICE)
        reason = early
        if reason is None:
            state = self.session_open(sym, now_ns)
            if state is not True and state is not _CONTINUOUS:
                reason = state if state is _R_CALENDAR_UNKNOWN else _R_SESSION_CLOSED
            elif needs and self.fx_settings.max_age_s and needs & stale_ccys(
                    self.fx, now_ns, self.fx_settings.max_age_s * 1_000_000_000):
                reason = _R_FX_STALE
            elif late is not None:
                reason = late
            elif quota_d is not None and not self.quota.fits(quota_d, notional_cny):
                reason = _R_QUOTA_EXHAUSTED
            elif fixed is not None:
                reason = fixed
        if reason is not None:
            return RouteDecision(req, reason, (), (_new(Exclusion, (sym, book_id, reason)),), qty_ug=qty_ug)
        buy = req[1] is _BUY
        qty = req[3]
        vault = vaults[0]
        plain = True            # funds as planned: the kept acceptance may serve
        if margin is not None:
            if self.closable is not None:
                closing = min(qty, self.closable(req[0], sym, buy))
                if closing > 0:
                    plain = False
                    opening = value * (qty - closing) // qty
                    need = -(-opening * margin // PPM) + fees if opening else 0
            if need and acct.cash.get(ccy, 0) - acct.reserved_cash.get(ccy, 0) < need:
                reason = _R_INSUFFICIENT_MARGIN
        elif buy:
            if acct.cash.get(ccy, 0) - acct.reserved_cash.get(ccy, 0) < need:
                reason = _R_INSUFFICIENT_CASH
        else:
            for vault in vaults:
                if acct.free_metal(vault, form) >= metal:
                    break
            else:
                reason = _R_INSUFFICIENT_METAL
            plain = vault is vaults[0]
        if reason is not None:
            return RouteDecision(req, reason, (), (_new(Exclusion, (sym, book_id, reason)),), qty_ug=qty_ug)
        top = self.top_of_book
        quote = top(book_id, req[1]) if top is not None else None
        price = req[4]
        risk = self.risk
        if quote is None and plain and accepted is not None:
            # The kept acceptance, if this request is its request (the tif decides where the rest goes).
            if accepted.request[5] is req[5]:
                if risk is not None:
                    r = risk.check_new(acct, qty_ug, notional, None if price is None else limit_comp, ref_comp)
                    if r is not None:
                        return RouteDecision(req, r, accepted.candidates, (), bit, limit_comp, qty_ug, None,
                                             notional, claims)
                return accepted
        if quote is None:
            comp, source = ref_comp, "ref"
            all_in = ref_all_in
        else:
            comp, source = quote * num // den, "quote"
            cost = -(-comp * cost_ppm // PPM) + lot_fee_comp
            all_in = comp + cost if buy else comp - cost
        if funding_ppm is not None:
            spread = -(-comp * funding_ppm // PPM)
            all_in = all_in + spread if buy else all_in - spread
        candidates = (_new(Candidate, (sym, book_id, qty, child, comp, all_in, source, d, notional_cny, ccy,
                                       need, vault, metal)),)
        if risk is not None:
            r = risk.check_new(acct, qty_ug, notional, None if price is None else limit_comp, ref_comp)
            if r is not None:
                return RouteDecision(req, r, candidates, (), bit, limit_comp, qty_ug, None, notional, claims)
        tif = req[5]
        got = RouteDecision(req, None, candidates, (), bit, limit_comp, qty_ug,
                            book_id if tif is _DAY or tif is _GTC else None, notional, claims)
        if quote is None and plain:
            plan[-1] = got
        return got
