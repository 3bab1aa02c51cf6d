"""The state hash's digest versions: version 2 covers the trades' dates that version 1 missed, and
hashes recorded by a version-1 run (snapshots, journal checkpoints) are still compared like with like."""
from __future__ import annotations

import datetime
import os
import random

import pytest

from router.records import sequencer, snapshot
from router.records.journal import FileJournal, JournalError
from router.records.snapshot import SnapshotStore
from router.records.state_hash import HASH_VERSION, flow_state_hash, hash_version, state_hashes
from tests.records.test_replay import Driver, trade_a_while
from tests.records.test_snapshot import record_other_hash, restart


def _traded(tmp_path) -> Driver:
    d = Driver(FileJournal(tmp_path / "j"))
    trade_a_while(d, random.Random(5), 300)
    d.app.commit()
    assert d.app.ledger.trades, "the run must have traded"
    return d


def test_version_2_sees_a_trades_value_date_that_version_1_did_not(tmp_path) -> None:
    d = _traded(tmp_path)
    trades = d.app.ledger.trades
    trade = trades[0]
    before = {v: flow_state_hash(d.app.flow, v) for v in (1, 2)}
    trades[0] = trade._replace(value_date=trade.value_date + datetime.timedelta(days=1))
    after = {v: flow_state_hash(d.app.flow, v) for v in (1, 2)}
    assert after[2] != before[2]
    assert after[1] == before[1]        # the gap version 2 closes
    trades[0] = trade
    assert flow_state_hash(d.app.flow, 2) == before[2]


def test_new_records_name_their_version_and_version_1_records_name_none(tmp_path) -> None:
    d = _traded(tmp_path)
    assert HASH_VERSION == 2
    now, old = state_hashes(d.app.flow), state_hashes(d.app.flow, 1)
    assert now["v"] == 2 and hash_version(now) == 2
    assert set(old) == {"core", "flow"} and hash_version(old) == 1
    assert now["core"] == old["core"] and now["flow"] != old["flow"]


def _version_1_writers(monkeypatch) -> None:
    """Make this process record hashes as a version-1 run did (snapshots and the stop's checkpoint)."""
    monkeypatch.setattr(snapshot, "state_hashes", lambda flow: state_hashes(flow, 1))
    monkeypatch.setattr(sequencer, "state_hashes", lambda flow: state_hashes(flow, 1))


def test_a_snapshot_and_a_checkpoint_recorded_by_a_version_1_run_still_verify(tmp_path, monkeypatch) -> None:
    d = Driver(FileJournal(tmp_path / "j"), snapshots=SnapshotStore(tmp_path / "j" / "snapshots"),
               snapshot_every=150)
    with monkeypatch.context() as m:
        _version_1_writers(m)
        trade_a_while(d, random.Random(8), 400)
        d.app.shutdown(cancel_working=False)        # checkpoint + snapshot, both version 1
    d.app.journal.close()
    directory = tmp_path / "j" / "snapshots"
    assert all("v" not in SnapshotStore(directory).read(str(directory / f))[0].hashes
               for f in os.listdir(directory))
    again = restart(tmp_path)                        # the newest (version 1) snapshot, checked in version 1
    assert again.app.recovered_from.seq == d.app.seq
    assert state_hashes(again.app.flow) == state_hashes(d.app.flow)
    os.rename(directory, tmp_path / "away")          # the whole journal: its version-1 checkpoint compared
    full = Driver(FileJournal(tmp_path / "j"))
    assert state_hashes(full.app.flow) == state_hashes(d.app.flow)


def test_a_version_1_snapshot_that_does_not_match_still_stops_the_start(tmp_path, monkeypatch) -> None:
    d = Driver(FileJournal(tmp_path / "j"), snapshots=SnapshotStore(tmp_path / "j" / "snapshots"),
               snapshot_every=150)
    with monkeypatch.context() as m:
        _version_1_writers(m)
        trade_a_while(d, random.Random(9), 400)
    d.app.commit()
    d.app.journal.close()
    directory = tmp_path / "j" / "snapshots"
    record_other_hash(directory / sorted(os.listdir(directory))[-1], "flow")
    with pytest.raises(JournalError, match="refusing to serve"):
        restart(tmp_path)
