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
    assert again.app.deferred_fee_view()["SGE.AUTD"] == {"direction": "shorts_pay", "rate_bp_per_day": "2",
                                                         "trading_day": day}
    assert again.app.ledger.settlements == live.app.ledger.settlements
    assert again.app.obligations_view(day, None).data == live.app.obligations_view(day, None).data


def test_the_settlement_price_reference_at_the_roll_replays_and_snapshots_the_same(tmp_path) -> None:
    """The end of day hands its settlement price to the flow, which takes it as SGE.AUTD's reference at
    the roll (not Friday's last trade, 566.00). A start from a snapshot written between the two rolls
    there, and a replay of the whole journal, reach the same reference and the same state hashes."""
    from router.records.snapshot import SnapshotStore
    from router.records.state_hash import state_hashes
    from tests.records.test_replay import Clock
    live = Driver(FileJournal(tmp_path), snapshots=SnapshotStore(tmp_path / "snapshots"))
    fill(live, 1, "SGE.AUTD", "SHCLIENT1", "HKCLIENT1", 2, "560.00")
    fill(live, 2, "SGE.AUTD", "HKCLIENT1", "SHCLIENT1", 1, "566.00")
    live.app.on_timer(live.clock())
    day = live.app.ledger.trades[0].trading_day.isoformat()
    assert live.app.set_settlement_prices(day, {"SGE.AUTD": Decimal("565.00")}).ok
    live.app.shutdown(cancel_working=False)                # a clean stop writes a snapshot
    live.app.journal.close()

    monday = Clock(live.clock.now + 3 * 86_400 * 10**9)    # Friday to Monday
    again = Driver(FileJournal(tmp_path), monday, snapshots=SnapshotStore(tmp_path / "snapshots"))
    assert again.app.recovered_from is not None
    again.app.on_timer(again.clock())
    ref = next(v for v in again.app.flow.references_view() if v["symbol"] == "SGE.AUTD")
    assert (ref["reference"], ref["source"]) == ("565.00", "settlement")
    again.app.commit()
    again.app.journal.close()

    full = Driver(FileJournal(tmp_path), Clock(monday.now))  # no snapshots: the whole journal
    assert full.app.flow.references_view() == again.app.flow.references_view()
    assert state_hashes(full.app.flow) == state_hashes(again.app.flow)
