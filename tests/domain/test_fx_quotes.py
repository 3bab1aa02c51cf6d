"""FX quotes: bid/ask or mid per pair, stamps, the jump check, staleness, needed rates, half-spread."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from router.domain.convert import parse_fx
from router.domain.errors import ConfigError
from router.domain.fx_quotes import (
    FxSettings, apply_update, fx_view, half_spread_ppm, needed_ccys, parse_fx_settings, parse_quote, stale_ccys,
)

FX = parse_fx({"USDCNY": D("7.1000"), "USDCNH": D("7.1100"), "USDHKD": D("7.8000")})
S = FxSettings()
T0 = 1_800_000_000 * 10**9


def test_a_two_sided_quote_sets_bid_ask_and_their_mid_with_the_command_time() -> None:
    r = apply_update(FX, {"USDCNY": {"bid": "7.0990", "ask": "7.1010"}}, T0, S, False)
    assert r.ok and r.fx.rates["USDCNY"] == D("7.1000") and r.fx.quotes["USDCNY"] == (D("7.0990"), D("7.1010"))
    assert r.fx.stamps == {"USDCNY": T0} and r.changes == (("USDCNY", D("7.1000"), D("7.1000")),)
    # A mid-only update keeps the mid, forgets the spread it no longer knows, and restamps.
    r2 = apply_update(r.fx, {"USDCNY": "7.1050"}, T0 + 5, S, False)
    assert r2.fx.rates["USDCNY"] == D("7.1050") and "USDCNY" not in r2.fx.quotes and r2.fx.stamps["USDCNY"] == T0 + 5
    assert FX.stamps == {}                                         # values are immutable


def test_a_jump_beyond_max_jump_pct_is_refused_unless_forced_and_nothing_moves() -> None:
    r = apply_update(FX, {"USDCNH": "7.11", "USDCNY": "7.2500"}, T0, S, False)   # +2.11 %
    assert not r.ok and r.reason == "max_jump_pct" and "USDCNY" in r.detail and "2.11 %" in r.detail
    assert apply_update(FX, {"USDCNY": "7.2420"}, T0, S, False).ok               # +2.00 %: allowed
    forced = apply_update(FX, {"USDCNY": "7.2500"}, T0, S, True)
    assert forced.ok and forced.fx.rates["USDCNY"] == D("7.2500")
    assert apply_update(FX, {"USDCNY": "7.2500"}, T0, FxSettings(max_jump_pct=D(5)), False).ok


def test_an_unknown_pair_or_a_crossed_quote_is_refused_naming_it() -> None:
    r = apply_update(FX, {"EURUSD": "1.1"}, T0, S, False)
    assert (r.ok, r.reason) == (False, "unknown_pair") and "EURUSD" in r.detail
    r = apply_update(FX, {"USDHKD": {"bid": "7.81", "ask": "7.80"}}, T0, S, False)
    assert (r.ok, r.reason) == (False, "bad_rate") and "USDHKD" in r.detail
    with pytest.raises(ConfigError, match=r"fx.USDCNY.bid"):
        parse_quote({"bid": "-1", "ask": "7"}, "fx.USDCNY")
    with pytest.raises(ConfigError, match="both bid and ask"):
        parse_quote({"bid": "7"}, "fx.USDCNY")


def test_config_takes_bid_ask_tables_and_the_settings() -> None:
    fx = parse_fx({"USDCNY": {"bid": D("7.09"), "ask": D("7.11")}, "USDCNH": D("7.11"), "USDHKD": "7.8",
                   "max_age_s": 30, "max_jump_pct": 1})
    assert fx.rates["USDCNY"] == D("7.10") and fx.quotes == {"USDCNY": (D("7.09"), D("7.11"))} and fx.stamps == {}
    assert parse_fx_settings({"max_age_s": 30, "max_jump_pct": 1}) == FxSettings(30, D(1))
    assert parse_fx_settings({}) == FxSettings(0, D(2))
    with pytest.raises(ConfigError, match="fx.max_age_s"):
        parse_fx_settings({"max_age_s": -1})
    with pytest.raises(ConfigError, match="fx.max_jump_pct"):
        parse_fx_settings({"max_jump_pct": 0})


def test_staleness_by_currency_is_off_at_max_age_zero() -> None:
    fx = apply_update(FX, {"USDCNY": "7.1", "USDHKD": "7.8"}, T0, S, False).fx
    assert stale_ccys(fx, T0 + 10**12, 0) == frozenset()
    assert stale_ccys(fx, T0 + 30 * 10**9, 30 * 10**9) == {"CNH"}            # never stamped: configured only
    assert stale_ccys(fx, T0 + 30 * 10**9 + 1, 30 * 10**9) == {"CNH", "CNY", "HKD"}


def test_needed_currencies_and_half_spread() -> None:
    assert needed_ccys(["CNY", "CNY", "CNY"]) == frozenset()                 # no conversion
    assert needed_ccys(["USD", "USD", "CNY"]) == {"CNY"}
    assert needed_ccys(["CNH", "CNH", "CNY", None]) == {"CNH", "CNY"}
    fx = apply_update(FX, {"USDCNY": {"bid": "7.0990", "ask": "7.1010"},
                           "USDCNH": {"bid": "7.1000", "ask": "7.1200"}}, T0, S, False).fx
    assert half_spread_ppm(fx, "CNY", "CNY") == 0
    assert half_spread_ppm(fx, "USD", "CNY") == 141                          # 0.001 / 7.1 = 140.8 ppm, up
    assert half_spread_ppm(fx, "USD", "CNH") == 1407                         # 0.01 / 7.11 = 1406.5 ppm, up
    assert half_spread_ppm(fx, "CNY", "CNH") == 1548                         # both legs: 1547.3, up once
    assert half_spread_ppm(fx, "USD", "HKD") == 0                            # mid only: no spread known


def test_the_view_shows_bid_ask_mid_and_age() -> None:
    fx = apply_update(FX, {"USDCNY": {"bid": "7.0990", "ask": "7.1010"}}, T0, S, False).fx
    v = fx_view(fx, T0 + 2_500_000_000, FxSettings(max_age_s=2))
    assert v["pairs"]["USDCNY"] == {"bid": "7.0990", "ask": "7.1010", "mid": "7.1000", "set_ns": T0,
                                    "age_s": 2.5, "stale": True}
    assert v["pairs"]["USDHKD"]["age_s"] is None and v["pairs"]["USDHKD"]["bid"] is None
    assert (v["max_age_s"], v["max_jump_pct"]) == (2, "2")
