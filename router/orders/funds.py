"""Cash and metal for orders: reservations when an order is accepted or replaced, settlement of each
full-payment fill (cash out and metal in for a buy, the reverse for a sell, fees included), release of
what is left when the order is done (the cross-border quota is `orders.quota_use`).

Amounts are integers: micro-units of the settlement currency, micrograms of gross metal. Metal is
held per (vault, bar form): a sell reserves and delivers its book's own form. The router priced each
candidate book's need at its conservative child limit; a product order reserves, per currency and
(vault, bar form), the largest need over its candidates. `Funds` is a mixin of `OrderFlow`.
A margined fill gives back the part of the reservation it used (margin and fee at the fill price);
what it holds from then on is the fill observer's business (`orders.fills`: the ledger holds margin
while the position is open). Without an observer a margined fill moves no cash.

Not here: the checks that decide whether an order may trade (routing, risk), any I/O.
"""
from __future__ import annotations

from typing import Any

from router.orders.accounts import Account
from router.domain.convert import COMPARABLE_DEN
from router.orders.index import NO_ENTRIES, Order, micro_text
from router.orders.fills import Fill, FillObserver
from router.orders.quota import quota_direction
from router.domain.reasons import Reason
from router.orders.book_factors import PPM
from router.orders.routing import RouteDecision

_new = tuple.__new__
if len(Fill._fields) != 15:
    raise ImportError("orders.fills.Fill changed: Funds._settle builds it with 15 fields")


class Funds:
    """Mixin of `OrderFlow` (uses its accounts and router books)."""

    fills: FillObserver | None = None       # the books of record, told of every fill (set by the app)
    _fill_now = 0                           # the time of the batch being reported, for `Fill.now_ns`

    def _reserve(self, o: Order, acct: Account, d: RouteDecision) -> Reason | None:
        """Reserve what a fill could cost: per currency / vault the largest need over the candidates
        (the router priced each candidate's cash or metal at its conservative child limit)."""
        # A new order holds the shared empty `index.NO_ENTRIES` in these maps: it gets dicts of its own
        # here, each made with its first entry.
        cands = d.candidates
        if len(cands) == 1:
            # An instrument order (one book): the same reservations without the per-currency maxima.
            c = cands[0]
            o.sell_vaults = {c.symbol: c.vault}
            if c.cash:
                r = acct.reserve_cash(c.settl_ccy, c.cash)
                if r is not None:
                    return r
                o.reserved_cash = {c.settl_ccy: c.cash}
            if c.metal_ug:
                form = self.books[c.book_id].bar_form
                r = acct.reserve_metal(c.vault, form, c.metal_ug)
                if r is not None:
                    return r
                o.reserved_metal = {(c.vault, form): c.metal_ug}
            return None
        cash: dict[str, int] = {}
        metal: dict[tuple[str, str], int] = {}
        vaults: dict[str, str] = {}
        for c in d.candidates:
            vaults[c.symbol] = c.vault
            if c.cash:
                cash[c.settl_ccy] = max(cash.get(c.settl_ccy, 0), c.cash)
            if c.metal_ug:
                key = (c.vault, self.books[c.book_id].bar_form)
                metal[key] = max(metal.get(key, 0), c.metal_ug)
        o.sell_vaults = vaults
        for ccy, amount in cash.items():
            r = acct.reserve_cash(ccy, amount)
            if r is not None:
                return r
            if o.reserved_cash is NO_ENTRIES:
                o.reserved_cash = {}
            o.reserved_cash[ccy] = amount
        for key, ug in metal.items():
            r = acct.reserve_metal(key[0], key[1], ug)
            if r is not None:
                return r
            if o.reserved_metal is NO_ENTRIES:
                o.reserved_metal = {}
            o.reserved_metal[key] = ug
        return None

    def _release(self, o: Order, acct: Account | None = None) -> None:
        acct = acct or self.accounts.get(o.account)
        for ccy, amount in o.reserved_cash.items():
            acct.release_cash(ccy, amount)
        for (vault, form), ug in o.reserved_metal.items():
            acct.release_metal(vault, form, ug)
        o.reserved_cash = NO_ENTRIES
        o.reserved_metal = NO_ENTRIES

    def _re_reserve(self, o: Order, acct: Account, b: Any, vault: str, price: int, lots: int) -> tuple | Reason:
        """A replace: swap the order's reservation for what `lots` open at `price` on book `b` need.
        Returns the old reservation (for `_restore`) or the rejection, with the old one kept."""
        saved = (dict(o.reserved_cash), dict(o.reserved_metal))
        self._release(o, acct)
        value = price * lots * b.settl_num // COMPARABLE_DEN
        fees = value * b.fee_ppm // PPM + lots * b.lot_fee_settl
        if b.margin_ppm is not None or o.side == 1:
            need = value * b.margin_ppm // PPM + fees if b.margin_ppm is not None else value + fees
            r = acct.reserve_cash(b.settl_ccy, need)
            if r is None:
                o.reserved_cash = {b.settl_ccy: need}
        else:
            r = acct.reserve_metal(vault, b.bar_form, lots * b.lot_ug)
            if r is None:
                o.reserved_metal = {(vault, b.bar_form): lots * b.lot_ug}
        if r is not None:
            self._restore(o, acct, saved)
            return r
        return saved

    def _restore(self, o: Order, acct: Account, saved: tuple) -> None:
        """Put back a reservation `_re_reserve` replaced (the replace was refused)."""
        self._release(o, acct)
        cash, metal = saved
        for ccy, amount in cash.items():
            acct.reserve_cash(ccy, amount)
        for (vault, form), ug in metal.items():
            acct.reserve_metal(vault, form, ug)
        o.reserved_cash, o.reserved_metal = dict(cash), dict(metal)

    def _settle(self, o: Order, acct: Account, i: Any, b: Any, px: int, lots: int, terms: tuple,
                vault: str) -> None:
        """One fill of order `o` (account `acct`) on instrument `i` (router factors `b`): a full-payment fill
        moves cash and metal of the book's bar form now, in or out of `vault` (`fill_vault`); a margined one
        gives back the part of the reservation it used. The fill observer (the ledger) then records it and,
        for a margined fill, holds or releases margin and charges the fee on the account. `terms` is
        `trade_terms(b, px, lots)`, the same for both sides."""
        value, fees, ug, value_cny = terms
        ccy = b.settl_ccy
        if b.margin_ppm is not None:
            held = o.reserved_cash.get(ccy, 0)
            use = min(held, -(-value * b.margin_ppm // PPM) + fees)
            acct.release_cash(ccy, use)
            if ccy in o.reserved_cash:
                o.reserved_cash[ccy] = held - use
        elif o.side == 1:
            held = o.reserved_cash.get(ccy, 0)
            use = min(held, value + fees)
            acct.settle_buy(ccy, value + fees, vault, b.bar_form, ug, use)
            if ccy in o.reserved_cash:
                o.reserved_cash[ccy] = held - use
        else:
            key = (vault, b.bar_form)
            held = o.reserved_metal.get(key, 0)
            use = min(held, ug)
            acct.settle_sell(ccy, value - fees, vault, b.bar_form, ug, use)
            if key in o.reserved_metal:
                o.reserved_metal[key] = held - use
        observer = self.fills
        if observer is not None:
            key = (acct.side, b.side, i.quota_zone)
            d = _DIRECTION_TEXT.get(key)
            if d is None:
                d = _DIRECTION_TEXT[key] = _direction_text(*key)
            # tuple.__new__ skips the NamedTuple's generated __new__ (all 15 fields given, in order).
            observer.on_fill(_new(Fill, (acct.name, i.symbol, o.side, lots, px, value, fees, ccy, vault, ug,
                                         b.margin_ppm is not None, d, o.order_id.decode("ascii", "replace"),
                                         self._fill_now, value_cny)), acct)


def metal_need(form: str, where: str, ug: int | None = None) -> str:
    """What a refused sale needed, for its reject text: `ug` gross micrograms (when one book's) of bar
    form `form` in `where` (holdings are per vault and bar form)."""
    grams = "" if ug is None else f"{micro_text(ug).decode()} g of "
    return f"needs {grams}bar form {form} in {where}"


def fill_vault(o: Order, i: Any) -> str:
    """The vault a fill of `o` on instrument `i` moves metal out of (a sell) or into (a buy), which its
    fill report names too: the router's choice for that book, kept when the order reserved; else the
    order's requested vault; else the instrument's first. The one rule for the books and the report."""
    c = o.constraints
    return o.sell_vaults.get(i.symbol) or (c.vault if c is not None else None) or i.vaults[0]


def trade_terms(b: Any, px: int, lots: int) -> tuple[int, int, int, int]:
    """What one trade of `lots` at `px` on a book (router factors `b`) is worth, the same for both sides:
    (value and fees in micro settlement currency, gross micrograms, value in micro-CNY at the router's FX).
    Computed once per trade, not per side (benchmarks/README.md, "The crossing trade, session 11")."""
    value = px * lots * b.settl_num // COMPARABLE_DEN
    return (value, value * b.fee_ppm // PPM + lots * b.lot_fee_settl, lots * b.lot_ug,
            px * lots * b.cny_num // COMPARABLE_DEN)


# A fill's border direction text per (account side, venue side, venue quota zone): the quota's notion of
# crossing, so the books' cross-border flows are the quota's figures; a pure function of the three, kept
# (the enum's `.value` and the comparisons were ~0.3 µs per fill).
_DIRECTION_TEXT: dict[tuple[str, str, tuple[str, ...]], str] = {}


def _direction_text(account_side: str, venue_side: str, quota_zone: tuple[str, ...]) -> str:
    d = quota_direction(account_side, venue_side, quota_zone)
    return "domestic" if d is None else d.value
