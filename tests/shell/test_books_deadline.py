"""The end of day without a posted settlement price: at `records.settlement_deadline` (15:45 Shanghai
time for SGE T+D by default) the router application's timer settles each instrument with open
positions at the day's last trade, once, through the same command as `POST /settlement-prices`."""
from __future__ import annotations

from router.app import RouterApp
from router.records.ledger import Ledger
from tests.orders.test_flow import HK, SH, Harness
from tests.records.test_ledger import trade

MONDAY_10H_SHANGHAI = 1_767_578_400_000_000_000          # 2026-01-05 02:00 UTC
MINUTE = 60_000_000_000


def test_the_days_last_trade_settles_at_the_deadline(tmp_path, caplog) -> None:
    h = Harness()
    h.flow.fills = ledger = Ledger(h.cfg.catalogue, h.cfg.sections["calendars"])
    app = RouterApp(h.cfg, h.flow, sessions_always_open=True, clock=lambda: h.now)
    app.reports_dir = tmp_path
    h.now = MONDAY_10H_SHANGHAI
    trade(h, "SGE.AUTD", 2, "560.00")
    trade(h, "SGE.AUTD", 1, "561.50", buyer=HK, seller=SH)  # the day's last trade
    deadline = MONDAY_10H_SHANGHAI + (5 * 60 + 45) * MINUTE  # 15:45 in Shanghai
    caplog.set_level("INFO")
    app.on_timer(deadline - MINUTE)
    assert not ledger.settlements
    app.on_timer(deadline + MINUTE)
    (s,) = ledger.settlements
    assert s["trading_day"].isoformat() == "2026-01-05" and s["prices"] == {"SGE.AUTD": 56150}
    mine = next(m for m in s["moves"] if m["account"] == SH)
    assert mine["variation_margin"] == 1_500 * 1_000_000          # 1 lot long from 560.00 to 561.50
    assert "settling at the day's last price 561.50" in caplog.text
    assert (tmp_path / "statements" / "2026-01-05" / f"{SH}.csv").exists()
    app.on_timer(deadline + 2 * MINUTE)                              # once a day
    assert len(ledger.settlements) == 1
    pos = app.positions_view(SH)["positions"][0]
    assert (pos["mark_price"], pos["mark_source"]) == ("561.50", "settlement")
