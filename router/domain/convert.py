"""Exact price conversions between gold instruments, and the fixed-point factors the core compares with.

Rounding rules (deterministic, documented here once):
1. Every conversion is computed in `Decimal` with 34 significant digits (the IEEE decimal128
   context), from the configured constants and FX rates, with no intermediate rounding.
2. A result is rounded once, at the end, half-even, to the requested number of decimals
   (2 by default: cents of USD per fine ounce, fen of CNY per fine gram). Converting to another
   instrument's quote rounds to that instrument's price unit; `to_tick` rounds to its tick.
3. The matching core never sees a Decimal: `comparable_factor` turns "one price unit of this
   instrument" into micro-USD per fine troy ounce as an integer fraction num/den with
   den = 10**6 and num rounded half-even, so that `comparable = price_units * num // den`.
   At den = 10**6 the factor's relative error is below 1e-9 (< 3 micro-USD at USD 2,400/oz),
   and int64 holds the product for any price below 10**8 price units of the coarsest unit
   (checked by `comparable_factor`).

Comparable scales: "usd-oz-fine" (USD per fine troy ounce) and "cny-g-fine" (CNY per fine gram).
Gross-weight quotes (SGE, HKGX) are divided by nominal fineness when the instrument's
`fineness_adjust` is set; fine-ounce quotes (loco London) are not.

It does not hold FX state beyond the `Fx` value object, and does not decide routing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_CEILING, ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Mapping

from router.domain.catalogue import Constants, Instrument
from router.domain.errors import ConfigError

PRECISION = Context(prec=34)
FX_PAIRS = ("USDCNY", "USDCNH", "USDHKD")
COMPARABLE_DEN = 10**6            # micro-USD per fine oz per price unit, as num / COMPARABLE_DEN
MICRO = Decimal(10**6)
INT64_MAX = 2**63 - 1
MAX_PRICE_UNITS = 10**8
SCALES = ("usd-oz-fine", "cny-g-fine")


@dataclass(frozen=True, slots=True)
class Fx:
    """Quote-currency units per 1 USD, e.g. USDCNY = 7.25 (the mid, which every conversion uses), with
    the bid/ask where known and the command time (ns) that set each pair (`router.domain.fx_quotes`).
    Immutable: an update makes a new Fx."""

    rates: Mapping[str, Decimal] = field(default_factory=dict)
    quotes: Mapping[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    stamps: Mapping[str, int] = field(default_factory=dict)

    def per_usd(self, ccy: str) -> Decimal:
        if ccy == "USD":
            return Decimal(1)
        return self.rates["USD" + ccy]

    def rate(self, pair: str) -> Decimal:
        return self.rates[pair]

    def updated(self, changes: Mapping[str, Decimal]) -> "Fx":
        """New mids (no time: the command path is `fx_quotes.apply_update`); a changed pair's spread is dropped."""
        merged = dict(self.rates)
        merged.update(check_fx(changes, "fx"))
        return Fx(merged, {p: q for p, q in self.quotes.items() if p not in changes}, self.stamps)


def check_fx(raw: Mapping[str, object], key: str = "fx") -> dict[str, Decimal]:
    """Validated FX mids: known pairs, positive decimals or {bid, ask} tables (settings keys skipped).
    Raises ConfigError naming the pair."""
    from router.domain.fx_quotes import check_pairs

    return {pair: mid for pair, (mid, _) in check_pairs(raw, key).items()}


def parse_fx(raw: Mapping[str, object]) -> Fx:
    from router.domain.fx_quotes import check_pairs

    parsed = check_pairs(raw)
    missing = [p for p in FX_PAIRS if p not in parsed]
    if missing:
        raise ConfigError(f"fx.{missing[0]}", "missing required FX rate")
    return Fx({p: mid for p, (mid, _) in parsed.items()},
              {p: quote for p, (_, quote) in parsed.items() if quote is not None})


def _fine_grams_per_unit(instr: Instrument, constants: Constants) -> Decimal:
    grams = constants.unit_grams(instr.quote_unit)
    if instr.quote_unit != "troy_oz_fine" and instr.fineness_adjust:
        grams = grams * instr.fineness
    return grams


def to_usd_oz_fine_exact(instr: Instrument, price: Decimal, fx: Fx, constants: Constants) -> Decimal:
    """Unrounded USD per fine troy ounce for a price in the instrument's quote."""
    with localcontext(PRECISION):
        per_fine_gram = price / _fine_grams_per_unit(instr, constants)
        return per_fine_gram * constants.grams_per_troy_oz / fx.per_usd(instr.quote_ccy)


def to_cny_g_fine_exact(instr: Instrument, price: Decimal, fx: Fx, constants: Constants) -> Decimal:
    """Unrounded CNY per fine gram for a price in the instrument's quote."""
    with localcontext(PRECISION):
        per_fine_gram = price / _fine_grams_per_unit(instr, constants)
        return per_fine_gram / fx.per_usd(instr.quote_ccy) * fx.per_usd("CNY")


def from_usd_oz_fine_exact(instr: Instrument, usd_oz_fine: Decimal, fx: Fx, constants: Constants) -> Decimal:
    """Unrounded price in the instrument's quote for a USD-per-fine-ounce price."""
    with localcontext(PRECISION):
        per_fine_gram_usd = usd_oz_fine / constants.grams_per_troy_oz
        return per_fine_gram_usd * fx.per_usd(instr.quote_ccy) * _fine_grams_per_unit(instr, constants)


def round_to(value: Decimal, decimals: int = 2) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN)


def to_scale(instr: Instrument, price: Decimal, scale: str, fx: Fx, constants: Constants,
             decimals: int = 2) -> Decimal:
    """A price converted to one of SCALES, rounded once, half-even."""
    if scale == "usd-oz-fine":
        return round_to(to_usd_oz_fine_exact(instr, price, fx, constants), decimals)
    if scale == "cny-g-fine":
        return round_to(to_cny_g_fine_exact(instr, price, fx, constants), decimals)
    raise ValueError(f"unknown scale {scale!r} (known: {', '.join(SCALES)})")


def convert(price: Decimal, src: Instrument, dst: Instrument, fx: Fx, constants: Constants) -> Decimal:
    """Parity price: `price` on `src` expressed in `dst`'s quote, rounded to dst's price unit."""
    usd = to_usd_oz_fine_exact(src, price, fx, constants)
    return round_to(from_usd_oz_fine_exact(dst, usd, fx, constants), dst.price_decimals)


def to_tick(instr: Instrument, price: Decimal, *, up: bool) -> int:
    """Integer price units of the nearest tick at or below (up=False) or at or above (up=True) `price`."""
    with localcontext(PRECISION):
        ticks = (price * instr.price_scale / instr.tick_units).to_integral_value(
            rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return int(ticks) * instr.tick_units


def comparable_factor(instr: Instrument, fx: Fx, constants: Constants) -> tuple[int, int]:
    """(num, den): micro-USD per fine oz for one integer price unit; comparable = units * num // den."""
    unit_price = Decimal(1).scaleb(-instr.price_decimals)
    with localcontext(PRECISION):
        micro = to_usd_oz_fine_exact(instr, unit_price, fx, constants) * MICRO * COMPARABLE_DEN
    num = int(micro.to_integral_value(rounding=ROUND_HALF_EVEN))
    if num <= 0 or num * MAX_PRICE_UNITS > INT64_MAX:
        raise ConfigError(f"instruments.{instr.symbol}", f"comparable factor {num} out of int64 range")
    return num, COMPARABLE_DEN


def comparable(units: int, factor: tuple[int, int]) -> int:
    """Integer micro-USD per fine oz for integer price units (floor), exactly as the core computes it."""
    return units * factor[0] // factor[1]
