"""Run-time reference prices on the pure order flow: band, collar and core limit move together.

The embedded default configuration has SGE.AU9999 at a reference of 560.00 CNY/g with a 30 % daily
band; gold near 1,141 CNY/g (USD 5,000/oz) is outside it until the reference moves.
"""
from __future__ import annotations

import dataclasses
import logging
from decimal import Decimal

import pytest

from router.config import build_config, embedded_defaults
from router.domain.errors import ConfigError
from router.orders.refprices import ReferenceConfig, parse_reference_config
from tests.orders.test_flow import HK, SH, T0, Harness, ers, f

AU = "SGE.AU9999"
DAY_NS = 86_400 * 10**9


def view(h: Harness, symbol: str = AU) -> dict:
    return next(v for v in h.flow.references_view() if v["symbol"] == symbol)


@pytest.mark.parametrize("reference", [True, False], ids=["reference_book", "numba"])
def test_setting_the_reference_moves_band_collar_and_core_limit(reference: bool) -> None:
    h = Harness(reference=reference)
    (rej,) = h.order(SH, AU, 1, 1, "1141.00", clordid="B0")
    assert f(rej, 150) == b"8" and b"daily limit" in f(rej, 58)
    r = h.flow.set_reference_prices({AU: Decimal("1141.24")}, h.now)
    assert r.reason == "max_jump_pct"                      # +104 % from the configured 560.00
    r = h.flow.set_reference_prices({AU: Decimal("1141.24")}, h.now, force=True)
    assert r.ok and r.changes == ((AU, 56000, 114124),)
    v = view(h)
    assert v["reference"] == "1141.24" and v["band"] == ["798.87", "1483.61"] and v["source"] == "admin"
    assert v["collar"] == ["1027.12", "1255.36"] and v["quote"] == "CNY/gram"
    h.flow.set_fx(h.flow.fx)                               # an FX update rebuilds the books, not the reference
    assert view(h)["band"] == ["798.87", "1483.61"]
    (ack,) = h.order(SH, AU, 1, 1, "1141.00", clordid="B1")
    assert f(ack, 150) == b"0"
    # The core's own daily limit moved too: a price inside the old band is now outside the new one.
    (low,) = h.order(SH, AU, 1, 1, "560.00", clordid="B2")
    assert f(low, 150) == b"8"
    # The band edge is inside, one tick beyond is not (the collar is widened to see the core's limit).
    h.flow.risk.config = dataclasses.replace(h.flow.risk.config, collar_bp=None)
    assert f(h.order(SH, AU, 1, 1, "1483.61")[0], 150) == b"0"
    assert f(h.order(SH, AU, 1, 1, "1483.62")[0], 150) == b"8"


def test_jump_beyond_max_jump_pct_is_refused_unless_forced(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness()
    caplog.set_level(logging.INFO, logger="gold_router.reference")
    r = h.flow.set_reference_prices({AU: Decimal("700.00")}, h.now)            # +25 %
    assert not r.ok and r.reason == "max_jump_pct" and "reference.max_jump_pct = 20" in r.detail
    assert view(h)["reference"] == "560.00" and view(h)["source"] == "config"
    assert h.flow.set_reference_prices({AU: Decimal("672.00")}, h.now).ok      # exactly +20 %
    assert h.flow.set_reference_prices({AU: Decimal("1141.24")}, h.now, force=True).ok
    assert view(h)["reference"] == "1141.24"
    assert [r.getMessage() for r in caplog.records] == [
        "reference price SGE.AU9999 560.00 -> 672.00 (admin)", "reference price SGE.AU9999 672.00 -> 1141.24 (admin)"]


def test_bad_requests_name_what_is_wrong_and_change_nothing() -> None:
    h = Harness()
    r = h.flow.set_reference_prices({AU: Decimal("600.00"), "SGE.NOPE": Decimal("1")}, h.now)
    assert (r.ok, r.reason) == (False, "unknown_symbol") and "SGE.NOPE" in r.detail
    assert view(h)["reference"] == "560.00"        # all or nothing: AU9999 did not move either
    r = h.flow.set_reference_prices({AU: Decimal("600.005")}, h.now)
    assert r.reason == "off_tick" and "tick 0.01" in r.detail
    r = h.flow.set_reference_prices({AU: Decimal("0")}, h.now)
    assert r.reason == "bad_price" and AU in r.detail
    r = h.flow.set_reference_prices({AU: Decimal("-5")}, h.now, force=True)
    assert r.reason == "bad_price"


def test_trading_day_roll_takes_the_last_trade_and_keeps_the_reference_without_one() -> None:
    h = Harness()
    monday = T0 + 4 * DAY_NS + 2 * 3600 * 10**9            # 2026-01-05 10:00 Beijing
    h.now = monday
    assert h.flow.on_timer(h.now) == []
    h.order(HK, AU, 2, 1, "565.00")
    outs = h.order(SH, AU, 1, 1, "566.00")
    assert any(f(o, 150) == b"F" for o in ers(outs, SH))
    h.order(HK, AU, 2, 1, "567.00")
    h.order(SH, AU, 1, 1, "567.00")                        # the day's last trade, at 567.00
    h.now = monday + DAY_NS
    h.flow.on_timer(h.now)
    assert view(h)["reference"] == "567.00" and view(h)["source"] == "last_trade"
    assert view(h, "HKGX.RKG")["source"] == "config"       # did not trade: the old reference stays
    h.now += DAY_NS
    h.flow.on_timer(h.now)                                 # no trade on Tuesday: unchanged
    assert view(h)["reference"] == "567.00"


def test_max_jump_pct_is_configurable_and_validated() -> None:
    assert parse_reference_config(None) == ReferenceConfig(Decimal(20))
    tree = embedded_defaults()
    tree["reference"] = {"max_jump_pct": Decimal("5")}
    assert build_config(tree).sections["reference"].max_jump_pct == Decimal(5)
    tree["reference"] = {"max_jump_pct": Decimal("0")}
    with pytest.raises(ConfigError, match="reference.max_jump_pct"):
        build_config(tree)
    tree["reference"] = {"max_jump": 5}
    with pytest.raises(ConfigError, match="reference.max_jump"):
        build_config(tree)


def test_a_margined_instrument_rolls_to_the_days_settlement_price_not_its_last_trade(tmp_path) -> None:
    """SGE T+D's daily limit runs from the previous settlement price: the price the books' end of day
    posted (a journaled command) becomes the reference at the roll; without one, the last trade."""
    from router.app import RouterApp
    from router.records.ledger import Ledger
    h = Harness()
    h.flow.fills = Ledger(h.cfg.catalogue, h.cfg.sections["calendars"])
    app = RouterApp(h.cfg, h.flow, sessions_always_open=True, clock=lambda: h.now)
    app.reports_dir = tmp_path
    monday = T0 + 4 * DAY_NS + 2 * 3600 * 10**9            # 2026-01-05 10:00 Beijing
    h.now = monday
    h.flow.on_timer(h.now)
    for symbol in ("SGE.AUTD", "SGE.MAUTD"):
        h.order(HK, symbol, 2, 2, "560.50")
        h.order(SH, symbol, 1, 2, "560.50")                # the day's last trade, at 560.50
    h.now = monday + 6 * 3600 * 10**9                      # 16:00: the end of day posts AUTD only
    assert app.set_settlement_prices("2026-01-05", {"SGE.AUTD": Decimal("565.00")}).ok
    h.now = monday + DAY_NS
    h.flow.on_timer(h.now)
    autd = view(h, "SGE.AUTD")
    assert (autd["reference"], autd["source"]) == ("565.00", "settlement")
    assert autd["band"] == ["474.60", "655.40"]             # 565.00 -/+ 16 %
    assert (view(h, "SGE.MAUTD")["reference"], view(h, "SGE.MAUTD")["source"]) == ("560.50", "last_trade")
    h.now += 3600 * 10**9                                  # Tuesday trades at 566.00 and is not settled:
    h.order(HK, "SGE.AUTD", 2, 1, "566.00")                # Monday's settlement price is not Tuesday's
    h.order(SH, "SGE.AUTD", 1, 1, "566.00")
    h.now += DAY_NS
    h.flow.on_timer(h.now)
    assert (view(h, "SGE.AUTD")["reference"], view(h, "SGE.AUTD")["source"]) == ("566.00", "last_trade")
