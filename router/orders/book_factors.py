"""The router's per-book factors: each instrument's prices, lots, fees, carry, margin and FX
conversions as integers for one FX state (`BookFactors`), and the order-independent filter results
of one book for one (account, symbol, constraints) with those factors copied flat (`BookFilters`).

`Router` (router.orders.routing) builds a `BookFactors` per instrument on every FX change or new
reference price and caches `BookFilters` tuples per (account, symbol, constraints); its hot loop
reads only these integers. `MICRO` / `PPM` are the scales the factors use.

Not here: the filters and the ranking themselves, caches, quotes, accounts' funds, any clock or I/O.
"""
from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext
from typing import NamedTuple

from router.domain.catalogue import Catalogue, Instrument
from router.domain.convert import COMPARABLE_DEN, PRECISION, Fx, comparable_factor
from router.domain.reasons import Reason
from router.orders.quota import Direction

__all__ = ["MICRO", "PPM", "BookFactors", "BookFilters", "ceil_int", "round_int"]

MICRO = 1_000_000
PPM = 1_000_000


def ceil_int(d: Decimal) -> int:
    return int(d.to_integral_value(rounding=ROUND_CEILING))


def round_int(d: Decimal) -> int:
    return int(d.to_integral_value(rounding=ROUND_HALF_EVEN))


class BookFactors:
    """Everything about one instrument the hot path needs, as integers, for one FX state."""

    __slots__ = ("instr", "symbol", "book_id", "bit", "venue", "side", "eligibility", "settl_ccy",
                 "vaults", "bar_form", "cycle", "margin_ppm", "lot_ug", "fine_ug", "min_lots", "max_lots", "tick",
                 "num", "den", "cost_ppm", "lot_fee_comp", "ref", "ref_comp", "lo", "hi", "settl_num",
                 "cny_num", "fee_ppm", "lot_fee_settl")

    def __init__(self, i: Instrument, fx: Fx, cat: Catalogue, carry_days: int, ref: int | None = None) -> None:
        self.instr = i
        self.symbol = i.symbol
        self.book_id = i.book_id
        self.bit = 1 << i.book_id
        self.venue = i.venue
        self.side = i.side
        self.eligibility = i.eligibility
        self.settl_ccy = i.settlement_ccy
        self.vaults = i.vaults
        self.bar_form = i.bar_form
        self.cycle = i.settlement_cycle
        self.lot_ug = i.lot_micrograms
        self.fine_ug = i.lot_fine_micrograms
        self.min_lots = i.min_lots
        self.max_lots = i.max_lots
        self.tick = i.tick_units
        self.num, self.den = comparable_factor(i, fx, cat.constants)
        with localcontext(PRECISION):
            self.margin_ppm = None if i.margin_rate is None else ceil_int(i.margin_rate * PPM)
            self.fee_ppm = ceil_int(i.fee_rate * PPM)
            # Carry is a cost to whoever holds the position, whichever way the deferred fee flows.
            self.cost_ppm = ceil_int(i.fee_rate * PPM + i.carry_bp_per_day * 100 * carry_days)
            fine_g = i.lot_grams
            if i.quote_unit != "troy_oz_fine" and i.fineness_adjust:
                fine_g = fine_g * i.fineness
            fine_oz = fine_g / cat.constants.grams_per_troy_oz
            usd_fee = i.fee_per_lot / fx.per_usd(i.settlement_ccy)
            self.lot_fee_comp = ceil_int(usd_fee / fine_oz * MICRO)
            self.lot_fee_settl = ceil_int(i.fee_per_lot * MICRO)
            unit_value = i.lot_size.scaleb(-i.price_decimals)   # quote ccy per (price unit x lot)
            q = fx.per_usd(i.quote_ccy)
            self.settl_num = round_int(unit_value * fx.per_usd(i.settlement_ccy) / q * MICRO * COMPARABLE_DEN)
            self.cny_num = round_int(unit_value * fx.per_usd("CNY") / q * MICRO * COMPARABLE_DEN)
            self.ref = i.reference_units if ref is None else ref
            self.ref_comp = self.ref * self.num // self.den
            if i.price_limit_pct > 0:
                lo = Decimal(self.ref) * (100 - i.price_limit_pct) / 100
                hi = Decimal(self.ref) * (100 + i.price_limit_pct) / 100
                t = self.tick
                self.lo = -(-ceil_int(lo) // t) * t
                self.hi = int(hi.to_integral_value(rounding=ROUND_FLOOR)) // t * t
            else:
                self.lo, self.hi = self.tick, None


class BookFilters(NamedTuple):
    """Order-independent filter results of one book for one (account, symbol, constraints), with the
    book's factors copied flat beside them: the hot loop unpacks one tuple per book instead of
    reading some twenty slots through `BookFactors` (each attribute load costs more than a tuple slot)."""

    symbol: str
    book_id: int
    bit: int
    venue_ok: bool
    pre: Reason | None          # eligibility / cross-border permission
    direction: Direction | None  # the quota this account's flow to the book uses (None: within its zone)
    post: Reason | None         # settlement ccy, currency held, vault, bar form, cycle
    vaults: tuple[str, ...]     # where a sell may take metal from
    bar_form: str               # the form of that metal (holdings are per vault and bar form)
    lo: int
    hi: int | None
    tick: int
    num: int
    den: int
    lot_ug: int                 # gross micrograms per lot (the metal a sell needs)
    fine_ug: int                # fine micrograms per lot (a product order's unit)
    cny_num: int
    min_lots: int
    max_lots: int
    settl_num: int
    fee_ppm: int
    lot_fee_settl: int
    margin_ppm: int | None
    settl_ccy: str
    ref_comp: int
    cost_ppm: int
    lot_fee_comp: int
    ref_all_in_buy: int         # all-in of the reference price: the ranking when the book has no quote
    ref_all_in_sell: int
