"""The books' trading-day roll over several simulated days (time passed in, a real file journal): the
trades the ledger holds stay bounded, the ones let go are in the trade archive, a replay (with or
without a snapshot) rebuilds the same state, and a TradeCaptureReportRequest for an earlier day still
returns that day's trades after the roll and after a restart, with the same TradeReportIDs."""
from __future__ import annotations

import logging
import pickle
from datetime import date, datetime, timezone

from prometheus_client import generate_latest

from router.ops.metrics import Metrics
from router.records.journal import FileJournal
from router.records.ledger import HISTORY_DAYS
from router.records.snapshot import SnapshotStore
from router.records.trade_archive import TradeArchive
from router.records.state_hash import state_hashes
from tests.records.test_replay import T0, Driver

DAY_NS = 86_400 * 10**9
# T0 is Friday 2025-12-05 10:00 in Shanghai and Hong Kong: these offsets are trading days in both cities.
TRADING_DAYS = (0, 3, 4, 5, 6, 7, 10, 11, 12, 13)
PAIRS = 6          # crossing order pairs per symbol and day: 2 trades (one per account) each


def trade_day(d: Driver, day: int) -> None:
    """A day of trading: each pair is an HK sell and an SH buy that cross, on three books (the loco
    London one settles T+2), then a timer tick."""
    d.clock.now = T0 + TRADING_DAYS[day] * DAY_NS
    d.app.on_timer(d.clock())
    for n in range(PAIRS):
        for symbol, price in (("SGE.AU9999", "560.00"), ("HKGX.RKG", "560.00"), ("HKGX.LLG", "2400.00")):
            tag = f"{day}-{symbol[-3:]}-{n}"
            d.order("HKCLIENT1", f"S{tag}", symbol, 2, 1, price)
            d.order("SHCLIENT1", f"B{tag}", symbol, 1, 1, price)
    d.app.on_timer(d.clock())
    d.app.commit()


def ad(d: Driver, req: str, day: date) -> list[dict]:
    """The AEs answering SHCLIENT1's request for its trades of `day`."""
    before = len(d.handles["SHCLIENT1"].sent)
    d.send("SHCLIENT1", b"AD", [(568, req), (569, 0), (263, 0), (580, 1), (75, day.strftime("%Y%m%d"))])
    d.app.commit()
    got = d.handles["SHCLIENT1"].sent[before:]
    (ack,) = [dict(b) for mt, b in got if mt == b"AQ"]
    aes = [dict(b) for mt, b in got if mt == b"AE"]
    assert ack[750] == 0 and ack[748] == len(aes), ack
    return aes


def ids(aes: list[dict]) -> list[tuple]:
    return [(m[571], m[37], m[55], m[31], m[381]) for m in aes]


def test_ledger_memory_is_bounded_over_days_and_earlier_days_are_served_from_the_archive(tmp_path, caplog) -> None:
    d = Driver(FileJournal(tmp_path / "j"), snapshots=SnapshotStore(tmp_path / "j" / "snapshots"))
    first_day = date(2025, 12, 5)
    held, sizes = [], []
    with caplog.at_level(logging.INFO, logger="gold_router.books"):
        trade_day(d, 0)
        day0 = ad(d, "D0", first_day)
        assert len(day0) == 3 * PAIRS                          # SHCLIENT1's side of every pair
        for day in range(1, len(TRADING_DAYS)):
            trade_day(d, day)
            held.append(len(d.app.ledger.trades))
            sizes.append(len(pickle.dumps(d.app.ledger.trades)))
    per_day = 3 * PAIRS * 2
    total = per_day * len(TRADING_DAYS)
    ledger = d.app.ledger
    assert ledger.trades_dropped + len(ledger.trades) == total
    # Held: today's trades and the loco London ones (T+2) not yet at their value date, never more than
    # three days' worth, however many days pass.
    assert max(held) <= 3 * per_day and held[-1] == held[3], held
    assert max(sizes) <= 3 * sizes[0], sizes
    rolls = [r.getMessage() for r in caplog.records if r.getMessage().startswith("books of record rolled")]
    assert rolls and "2025-12-05" in rolls[0] and "archived to" in rolls[0], rolls
    assert all("trades held" in m for m in rolls)
    assert (tmp_path / "j" / "trades").is_dir()

    # The first day after it left memory: the same trades, the same TradeReportIDs.
    assert all(t.trading_day > first_day for t in ledger.trades)
    assert ids(ad(d, "D0-after", first_day)) == ids(day0)
    # Views of that day read the archive too.
    ob = d.app.obligations_view(first_day.isoformat(), "SHCLIENT1").data
    assert sum(o["trades"] for o in ob["obligations"]) == 3 * PAIRS
    st = d.app.statement_view("SHCLIENT1", first_day.isoformat()).data
    assert len(st["trades"]) == 3 * PAIRS
    # End-of-day records further back than HISTORY_DAYS are refused, not settled twice.
    old = d.app.set_settlement_prices(first_day.isoformat(), {"SGE.AUTD": "560.00"})
    assert not old.ok and old.reason == "day_archived", old
    assert ledger.history_from is not None and (date(2025, 12, 18) - ledger.history_from).days == HISTORY_DAYS

    # A restart replaying the whole journal, then one from a snapshot: the same state and answers.
    d.app.commit()
    d.app.take_snapshot(background=False)
    trade_day(d, len(TRADING_DAYS) - 1)                      # a tail after the snapshot
    d.app.journal.close()
    for snapshots in (None, SnapshotStore(tmp_path / "j" / "snapshots")):
        if snapshots is None:
            (tmp_path / "j" / "snapshots").rename(tmp_path / "snapshots-aside")
        again = Driver(FileJournal(tmp_path / "j"), snapshots=snapshots)
        assert (again.app.recovered_from is not None) == (snapshots is not None)
        assert state_hashes(again.app.flow) == state_hashes(d.app.flow)
        assert again.app.ledger.trades_dropped == ledger.trades_dropped
        again.clock.now = d.clock.now
        assert ids(ad(again, "D0-restart", first_day)) == ids(day0)
        again.app.journal.close()
        if snapshots is None:
            (tmp_path / "snapshots-aside").rename(tmp_path / "j" / "snapshots")


def test_a_ledger_without_a_journal_rolls_the_same_and_archives_nothing(caplog) -> None:
    d = Driver(None, metrics=Metrics())
    with caplog.at_level(logging.INFO, logger="gold_router.books"):
        for day in range(4):
            trade_day(d, day)
    ledger = d.app.ledger
    assert ledger.trades_dropped > 0
    assert d.app.trade_archive is None
    text = generate_latest(d.app.metrics.registry).decode()
    assert f"goldrouter_ledger_trades_held {float(len(ledger.trades))}" in text
    assert f"goldrouter_ledger_trades_archived_total {float(ledger.trades_dropped)}" in text
    assert any("not archived (no file journal)" in r.getMessage() for r in caplog.records)
    # What is held starts with a trade still needed: of today, or not yet at its value date (the loco
    # London trade of the day before, T+2, holds the trades after it).
    now = datetime.fromtimestamp(d.clock.now / 1e9, timezone.utc).date()
    first = d.app.ledger.trades[0]
    assert first.value_date >= now and first.symbol == "HKGX.LLG", first
    assert {t.trading_day for t in d.app.ledger.trades} == {date(2025, 12, 8), date(2025, 12, 9), date(2025, 12, 10)}


def test_the_archive_reads_by_day_and_number_once_each_across_overlapping_files(tmp_path) -> None:
    """A roll written again after a crash may cover more trades than an older file of the same start,
    and overlap a later one: every number is read once, and only the days asked for."""
    d = Driver(None)
    for day in range(2):
        trade_day(d, day)
    trades = list(d.app.ledger.trades)
    archive = TradeArchive(tmp_path / "trades")
    archive.write(11, trades[:4])
    archive.write(13, trades[2:6])                 # overlaps 13..14
    archive.write(11, trades[:3])                  # the same start again: rewritten, shorter here
    assert archive.write(20, []) is None
    got = archive.read(date(2025, 12, 1), date(2025, 12, 31))
    assert [n for n, _ in got] == [11, 12, 13, 14, 15, 16]
    assert [t for _, t in got] == trades[:6]
    assert archive.read(date(2025, 12, 1), date(2025, 12, 31), below=13) == got[:2]
    assert archive.read(date(2026, 1, 1), date(2026, 1, 2)) == []
    assert not list((tmp_path / "trades").glob("*.tmp"))
    assert TradeArchive(tmp_path / "none").read(date(2025, 12, 1), date(2025, 12, 31)) == []


def test_without_a_journal_the_archive_goes_to_trade_archive_dir(tmp_path) -> None:
    """A cluster core has no local journal: its service names the archive directory."""
    d = Driver(None)
    d.app.trade_archive_dir = str(tmp_path / "core-a" / "trades")
    for day in range(2):
        trade_day(d, day)
    (path,) = (tmp_path / "core-a" / "trades").iterdir()
    assert path.name.startswith("T1-T4_2025-12-05_2025-12-05")
    archived = d.app.trade_archive.read(date(2025, 12, 1), date(2025, 12, 31))
    assert [n for n, _ in archived] == [1, 2, 3, 4] == list(range(1, d.app.ledger.trades_dropped + 1))
    assert {t.trading_day for _, t in archived} == {date(2025, 12, 5)}
