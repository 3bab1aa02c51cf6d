"""The books of record across a restart: fills, the published deferred fee and the end of day are
journaled commands, so replaying the journal rebuilds positions, margin, P&L, settlements and
statements exactly (the worked example of the README: 2 lots SGE.AUTD at 560.00, settled at 565.00
with shorts paying longs, closed next at 566.00)."""
from __future__ import annotations

from decimal import Decimal

from router.records.journal import FileJournal
from tests.records.test_replay import Driver


def fill(d: Driver, n: int, symbol: str, buyer: str, seller: str, lots: int, price: str) -> None:
    d.order(seller, f"S{n}", symbol, 2, lots, price)
    d.order(buyer, f"B{n}", symbol, 1, lots, price)


def test_end_of_day_and_deferred_fee_replay_to_the_same_books(tmp_path) -> None:
    live = Driver(FileJournal(tmp_path))
    fill(live, 1, "SGE.AUTD", "SHCLIENT1", "HKCLIENT1", 2, "560.00")
    assert live.app.set_deferred_fee({"SGE.AUTD": ("shorts_pay", Decimal(2))}).ok
    day = live.app.ledger.trades[0].trading_day.isoformat()
    r = live.app.set_settlement_prices(day, {"SGE.AUTD": Decimal("565.00")})
    assert r.ok, r
    mine = next(m for m in r.data["moves"] if m["account"] == "SHCLIENT1")
    assert (mine["variation_margin"], mine["margin_required"]) == ("10000.00", "192100.00")
    refused = live.app.set_settlement_prices(day, {"SGE.AUTD": Decimal("566.00")})
    assert refused.reason == "already_settled"           # journaled too, and refused again on replay
    fill(live, 2, "SGE.AUTD", "HKCLIENT1", "SHCLIENT1", 2, "566.00")
    live.app.commit()
    before = {a: live.app.positions_view(a) for a in ("SHCLIENT1", "HKCLIENT1")}
    assert before["SHCLIENT1"]["positions"][0]["realised_pnl"] == "12000.00"
    statement = live.app.statement_view("SHCLIENT1", day).data
    live.app.journal.close()

    again = Driver(FileJournal(tmp_path))
    assert {a: again.app.positions_view(a) for a in ("SHCLIENT1", "HKCLIENT1")} == before
    assert again.app.statement_view("SHCLIENT1", day).data == statement
    assert again.app.deferred_fee_view()["SGE.AUTD"] == {"direction": "shorts_pay", "rate_bp_per_day": "2"}
    assert again.app.ledger.settlements == live.app.ledger.settlements
    assert again.app.obligations_view(day, None).data == live.app.obligations_view(day, None).data
