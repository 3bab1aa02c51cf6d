"""Conversions reproduce the reference's worked examples to the cent, and round-trip exactly enough."""
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from router.config import load_config
from router.domain.convert import (
    Fx, comparable, comparable_factor, convert, from_usd_oz_fine_exact, to_scale, to_tick,
    to_usd_oz_fine_exact,
)
from router.domain.errors import ConfigError

CFG = load_config(sections=False)
CAT = CFG.catalogue
K = CAT.constants
FX = Fx({"USDCNY": Decimal("7.25"), "USDCNH": Decimal("7.25"), "USDHKD": Decimal("7.80")})


def inst(symbol):
    return CAT.instruments[symbol]


def test_au9999_560_is_2402_72_usd_per_fine_oz():
    assert to_scale(inst("SGE.AU9999"), Decimal("560.00"), "usd-oz-fine", FX, K) == Decimal("2402.72")


def test_99_tael_gold_22300_is_2399_80_usd_per_fine_oz():
    assert to_scale(inst("HKGX.AU99TAEL"), Decimal("22300"), "usd-oz-fine", FX, K) == Decimal("2399.80")


def test_hk_parity_of_560_cny_per_gram_is_22327_06_hkd_per_tael():
    assert convert(Decimal("560.00"), inst("SGE.AU9999"), inst("HKGX.AU99TAEL"), FX, K) == Decimal("22327.06")


def test_hong_kong_is_2_91_cheaper_in_the_worked_example():
    sh = to_usd_oz_fine_exact(inst("SGE.AU9999"), Decimal("560.00"), FX, K)
    hk = to_usd_oz_fine_exact(inst("HKGX.AU99TAEL"), Decimal("22300"), FX, K)
    assert (sh - hk).quantize(Decimal("0.01")) == Decimal("2.91")


def test_tick_values_in_usd_per_fine_oz_match_reference_table():
    # Reference §5.4 C: 0.0429 (CNY 0.01/g), 0.0538 (HKD 0.50/tael), 0.01 (USD 0.01/oz), at the same FX.
    got = {s: to_usd_oz_fine_exact(inst(s), inst(s).tick, FX, K).quantize(Decimal("0.0001"))
           for s in ("SGE.AU9999", "HKGX.AU99TAEL", "HKGX.LLG")}
    assert got == {"SGE.AU9999": Decimal("0.0429"), "HKGX.AU99TAEL": Decimal("0.0538"),
                   "HKGX.LLG": Decimal("0.0100")}


def test_loco_london_is_not_fineness_adjusted():
    assert to_scale(inst("HKGX.LLG"), Decimal("2400.00"), "usd-oz-fine", FX, K) == Decimal("2400.00")


def test_cny_per_fine_gram_scale():
    # 2400 USD/oz * 7.25 / 31.1034768 = 559.42 CNY per fine gram
    assert to_scale(inst("HKGX.LLG"), Decimal("2400"), "cny-g-fine", FX, K) == Decimal("559.42")
    # A 9999 gross-gram price divided by fineness: 560 / 0.9999
    assert to_scale(inst("SGE.AU9999"), Decimal("560"), "cny-g-fine", FX, K) == Decimal("560.06")


def test_rounding_is_half_even_once_at_the_end():
    # 0.005 boundaries: an exact .xx5 result must round to even, not up.
    fx = Fx({"USDCNY": Decimal("1"), "USDCNH": Decimal("1"), "USDHKD": Decimal("1")})
    llg = inst("HKGX.LLG")
    assert to_scale(llg, Decimal("1.125"), "usd-oz-fine", fx, K, decimals=2) == Decimal("1.12")
    assert to_scale(llg, Decimal("1.135"), "usd-oz-fine", fx, K, decimals=2) == Decimal("1.14")


def test_to_tick_rounds_in_the_requested_direction():
    tael = inst("HKGX.AU99TAEL")
    assert to_tick(tael, Decimal("22327.06"), up=False) == 2232700
    assert to_tick(tael, Decimal("22327.06"), up=True) == 2232750
    assert to_tick(tael, Decimal("22327.50"), up=True) == 2232750


def test_comparable_factor_orders_books_like_the_decimal_conversion():
    sh, hk = inst("SGE.AU9999"), inst("HKGX.AU99TAEL")
    c_sh = comparable(56000, comparable_factor(sh, FX, K))
    c_hk = comparable(2230000, comparable_factor(hk, FX, K))
    assert c_sh == 2402715720 and c_hk == 2399804036
    assert c_hk < c_sh


def test_fx_update_rejects_unknown_pair_and_nonpositive_rate():
    with pytest.raises(ConfigError, match="fx.EURUSD"):
        FX.updated({"EURUSD": Decimal("1.1")})
    with pytest.raises(ConfigError, match="must be positive"):
        FX.updated({"USDCNY": Decimal("0")})
    assert FX.updated({"USDCNY": "7.30"}).rate("USDCNY") == Decimal("7.30")


prices = st.decimals(min_value=Decimal("1"), max_value=Decimal("100000"), places=2)
rates = st.decimals(min_value=Decimal("6.5"), max_value=Decimal("8.5"), places=4)


@settings(max_examples=200, deadline=None)
@given(price=prices, usdcny=rates, usdhkd=rates,
       src=st.sampled_from(sorted(CAT.instruments)), dst=st.sampled_from(sorted(CAT.instruments)))
def test_round_trip_through_usd_is_exact_to_the_price_unit(price, usdcny, usdhkd, src, dst):
    fx = Fx({"USDCNY": usdcny, "USDCNH": usdcny, "USDHKD": usdhkd})
    a, b = inst(src), inst(dst)
    usd = to_usd_oz_fine_exact(a, price, fx, K)
    back = from_usd_oz_fine_exact(a, usd, fx, K).quantize(Decimal("0.01"))
    assert back == price
    # Converting to another instrument and back moves the price by at most half a price unit of each leg.
    there = convert(price, a, b, fx, K)
    again = convert(there, b, a, fx, K)
    slack = to_usd_oz_fine_exact(b, Decimal("0.01"), fx, K) / to_usd_oz_fine_exact(a, Decimal("0.01"), fx, K)
    assert abs(again - price) <= Decimal("0.01") * (1 + slack)


@settings(max_examples=200, deadline=None)
@given(p1=st.integers(1, 10**7), p2=st.integers(1, 10**7), usdcny=rates, usdhkd=rates,
       s1=st.sampled_from(sorted(CAT.instruments)), s2=st.sampled_from(sorted(CAT.instruments)))
def test_fixed_point_comparable_never_inverts_a_clear_decimal_ordering(p1, p2, usdcny, usdhkd, s1, s2):
    fx = Fx({"USDCNY": usdcny, "USDCNH": usdcny, "USDHKD": usdhkd})
    a, b = inst(s1), inst(s2)
    da = to_usd_oz_fine_exact(a, a.units_to_price(p1), fx, K)
    db = to_usd_oz_fine_exact(b, b.units_to_price(p2), fx, K)
    ca, cb = comparable(p1, comparable_factor(a, fx, K)), comparable(p2, comparable_factor(b, fx, K))
    if da - db > Decimal("0.00001"):      # more than 10 micro-USD apart: the integers must agree
        assert ca > cb
    assert abs(Decimal(ca) / 10**6 - da) < Decimal("0.00001")
