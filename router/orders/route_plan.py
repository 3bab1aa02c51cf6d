"""The router's per-request plan: what a request makes of each of its books before anything live is read.

For one request (account, symbol, constraints, side, quantity, limit) and one FX / reference-price /
account state, each book's child limit, lots, CNY notional, the filter result that depends on none of
the live state (settlement currency, vault, bar form, cycle, price band, lot range), the cash a full
payment or a margin needs, and the metal a sell needs are fixed: they come from the book's filter row
(`router.orders.book_factors.BookFilters`) and the request alone. `plan_rows` computes them in the
order `Router._route_books` used to compute them inline, so the general path only reads the live state
(sessions, FX ages, quota, funds, open positions, quotes, the risk check) per call.

`Router` keeps plans per (account, symbol, side, qty, price[, constraints]) beside its static-filter
cache and drops both together (FX change, new reference price, `invalidate`, size bound): a plan is made
of nothing the static-filter rows and the request do not already fix, so it lives exactly as long as
they do. Clients send the same orders again and again, so most product decisions find their plan made
(benchmarks/README.md, "Router: per-request plans").

An instrument request's plan (`one_plan`) is the same idea for its one book: the fixed refusals in the
order `OneBookRoute._route_instrument` reaches them, the amounts, the candidate's fixed fields, and a slot
for the acceptance `OneBookRoute._route_planned` keeps when nothing live differed from the plan.

Not here: the filters on live state, the ranking, the decision, caches, any clock or I/O.
"""
from __future__ import annotations

from typing import Any

from router.domain.convert import COMPARABLE_DEN
from router.domain.reasons import Reason
from router.orders.book_factors import PPM, BookFilters

__all__ = ["PLAN_CACHE_MAX", "QUOTE_MEMO_MAX", "one_plan", "plan_rows"]

PLAN_CACHE_MAX = 4096
QUOTE_MEMO_MAX = 64          # quotes per plan row kept; the memo is emptied when full (quotes move)
_R_PRICE_LIMIT = Reason.PRICE_LIMIT
_R_BAD_PRICE = Reason.BAD_PRICE
_R_VENUE_NOT_ALLOWED = Reason.VENUE_NOT_ALLOWED
_R_LOTS_OUT_OF_RANGE = Reason.LOTS_OUT_OF_RANGE


def _fixed_refusal(post: Any, child: int, lo: int, hi: int | None, lots: int, min_lots: int,
                   max_lots: int) -> Reason | None:
    """The refusals a plan fixes once, in the live path's order: the filter row's own (settlement
    currency .. bar form), the price band, the lot range. `OneBookRoute._route_instrument` makes the
    same checks inline between its live reads."""
    if post is not None:
        return post
    if child < lo or (hi is not None and child > hi):
        return _R_PRICE_LIMIT
    if lots < min_lots or lots > max_lots:
        return _R_LOTS_OUT_OF_RANGE
    return None


def _value_fees(child: int, lots: int, settl_num: int, fee_ppm: int, lot_fee_settl: int) -> tuple[int, int]:
    """`lots` at the child limit in the settlement currency, and their fees (rounded up)."""
    value = child * lots * settl_num // COMPARABLE_DEN
    return value, -(-value * fee_ppm // PPM) + lots * lot_fee_settl


def plan_rows(statics: tuple[BookFilters, ...], product: bool, buy: bool, qty: int, price: int | None,
              qty_ug: int, limit_comp: int | None) -> tuple[tuple, ...]:
    """One row per book, in the statics' order:
    (symbol, book_id, bit, venue_ok, pre, direction, child, lots, notional_cny, fixed, need, metal, vaults,
    bar_form, margin_ppm, value, fees, settl_ccy, num, den, cost_ppm, lot_fee_comp, ref_comp, ref_all_in, quotes).
    `child` None: a market order on a book without a price band (the fields after it are unused);
    `fixed`: the first of settlement currency / vault / bar form / cycle, price limit and lot range that
    refuses the book, else None (the quota check, live, comes before it); `need`: the cash a
    full-payment buy needs, or the margin plus fees when every lot opens a position; `metal`: the
    gross micrograms a full-payment sell needs (of `bar_form`, in one of `vaults`); `ref_all_in`: the
    reference all-in for this side; `quotes`: an empty dict the router fills with (comparable, all-in)
    per quote it ranks the book on (both fixed by the quote and the row's factors and side, like the rest
    of the row)."""
    rows = []
    for (sym, book_id, bit, venue_ok, pre, d, post, vaults, form, lo, hi, tick, num, den, lot_ug, fine_ug, cny_num,
         min_lots, max_lots, settl_num, fee_ppm, lot_fee_settl, margin, ccy, ref_comp, cost_ppm,
         lot_fee_comp, ref_all_in_buy, ref_all_in_sell) in statics:
        # Child limit in this book's units, rounded so it never pays more / receives less.
        if not product:
            child = price if price is not None else (hi if buy else lo)
        elif limit_comp is None:
            child = hi if buy else lo
        elif buy:
            child = limit_comp * den // num // tick * tick
        else:
            units = -(-limit_comp * den // num)       # ceiling division
            child = -(-units // tick) * tick
        if child is None:
            rows.append((sym, book_id, bit, venue_ok, pre, d, None) + (None,) * 17)
            continue
        if product and hi is not None:
            # A product limit beyond the band is the band edge on this book (it can't trade beyond).
            if buy:
                if child > hi:
                    child = hi
            elif child < lo:
                child = lo
        if not product:
            lots = qty
        else:
            # A product quantity is a maximum: this book's share is the whole lots of its fine content
            # that fit (at most its largest order); what no book takes stays unfilled.
            lots = qty_ug // fine_ug
            if lots > max_lots:
                lots = max_lots
        notional_cny = child * lots * cny_num // COMPARABLE_DEN
        fixed = _fixed_refusal(post, child, lo, hi, lots, min_lots, max_lots)
        value, fees = _value_fees(child, lots, settl_num, fee_ppm, lot_fee_settl)
        if margin is not None:
            need = -(-value * margin // PPM) + fees if value else 0
        else:
            need = value + fees
        rows.append((sym, book_id, bit, venue_ok, pre, d, child, lots, notional_cny, fixed, need, lots * lot_ug,
                     vaults, form, margin, value, fees, ccy, num, den, cost_ppm, lot_fee_comp, ref_comp,
                     ref_all_in_buy if buy else ref_all_in_sell, {}))
    return tuple(rows)


def one_plan(acct: Any, row: BookFilters, needs: frozenset[str], funding_ppm: int | None, buy: bool, qty: int,
             price: int | None) -> list:
    """An instrument request's plan (`Router` keeps it beside product plans, under the same key and
    invalidation): what `OneBookRoute._route_instrument` works out of the request and its book's
    filter row before and between its live reads, as one list read by `OneBookRoute._route_planned`:
    [acct, sym, book_id, bare, early, needs, late, direction, quota_d, notional_cny, fixed, margin, value, fees,
    need, ccy, vaults, form, metal, qty_ug, child, num, den, cost_ppm, lot_fee_comp, ref_comp, ref_all_in,
    funding_ppm, bit, limit_comp, notional, claims, accepted].
    `bare`: the request's price is off the tick (refused before the book is looked at); `early`: the
    venue refusal (before sessions); `late`: eligibility, cross-border or an unbounded market order (after
    sessions and FX ages); `quota_d`: the direction a buy claims quota in, else None; `fixed`: settlement
    currency .. lot range (after quota); `need` / `metal`: the funds when every lot opens a position;
    `funding_ppm`: the funding half-spread (None: the account funds in the book's currency);
    `accepted`: None, later the decision accepted with this plan (`_route_planned` keeps it)."""
    (sym, book_id, bit, venue_ok, pre, d, post, vaults, form, lo, hi, tick, num, den, lot_ug, fine_ug, cny_num,
     min_lots, max_lots, settl_num, fee_ppm, lot_fee_settl, margin, ccy, ref_comp, cost_ppm,
     lot_fee_comp, ref_all_in_buy, ref_all_in_sell) = row
    bare = price is not None and price % tick != 0
    child = price if price is not None else (hi if buy else lo)
    early = None if venue_ok else _R_VENUE_NOT_ALLOWED
    late = pre if pre is not None else (_R_BAD_PRICE if child is None else None)
    notional_cny = value = fees = need = metal = limit_comp = 0
    fixed = claims = None
    if child is not None:
        notional_cny = child * qty * cny_num // COMPARABLE_DEN
        fixed = _fixed_refusal(post, child, lo, hi, qty, min_lots, max_lots)
        value, fees = _value_fees(child, qty, settl_num, fee_ppm, lot_fee_settl)
        if margin is not None:
            need = -(-value * margin // PPM) + fees if value else 0
        elif buy:
            need = value + fees
        else:
            metal = qty * lot_ug
        limit_comp = child * num // den
        claims = {d: notional_cny} if buy and d is not None and notional_cny > 0 else None
    return [acct, sym, book_id, bare, early, needs, late, d, d if buy else None, notional_cny, fixed, margin, value,
            fees, need, ccy, vaults, form, metal, qty * fine_ug, child, num, den, cost_ppm, lot_fee_comp, ref_comp,
            ref_all_in_buy if buy else ref_all_in_sell, funding_ppm, bit, limit_comp,
            notional_cny if notional_cny > 0 else 0, claims, None]
