"""The state hash's digest versions: version 2 covers the trades' dates that version 1 missed, and
hashes recorded by a version-1 run (snapshots, journal checkpoints) are still compared like with like."""
from __future__ import annotations

import datetime
import os
import random

import pytest

from router.records import sequencer, snapshot, state_hash
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


# -- the walker's inline member digests (`state_hash._FAST`) ----------------------------------------
def _both_ways(monkeypatch, digest_of) -> tuple:
    fast = digest_of()
    with monkeypatch.context() as m:
        m.setattr(state_hash, "_FAST", False)
        general = digest_of()
    return fast, general


def test_the_inline_member_digests_give_the_general_walks_digests(tmp_path, monkeypatch) -> None:
    """Orders, trades, dicts and tuples digest their members inline (`_Walker._each`) and read a slotted
    object's attributes in one call: the flow's digest must be what the general walk gives, in both
    versions, or a restart would refuse the digests an earlier run recorded."""
    from tests.orders.test_flow import HK, SH, Harness
    d = _traded(tmp_path)
    for version in (1, 2):
        fast, general = _both_ways(monkeypatch, lambda: flow_state_hash(d.app.flow, version))
        assert fast == general
    h = Harness()                    # product orders: constraints, working children, targets
    h.order(HK, "SGE.AU9999", 2, "3", "560.00")
    h.order(SH, "GOLD.KG9999", 1, "1000", "550.10")
    h.order(SH, "GOLD.HKSH", 1, "37429", "560.00")
    assert any(o.constraints is not None for o in h.flow.index.by_oid.values())
    fast, general = _both_ways(monkeypatch, lambda: flow_state_hash(h.flow))
    assert fast == general


class _Slotted:
    __slots__ = ("a", "b", "c", "d", "e")

    def __init__(self) -> None:
        self.a, self.c, self.d = 1, {}, [b"x", {"k": ()}]
        self.e = self.__init__          # a bound method: behaviour, left out of the digest


def test_a_slot_never_set_and_a_bound_method_are_digested_as_the_general_walk_does(monkeypatch) -> None:
    obj = _Slotted()                    # `b` never set: read as None, as getattr(obj, "b", None) does
    fast, general = _both_ways(monkeypatch, lambda: state_hash._Walker().digest(obj))
    assert fast == general
    obj.b = None
    assert state_hash._Walker().digest(obj) == fast
    obj.e = 5                           # no longer a method: now in the digest
    assert state_hash._Walker().digest(obj) != fast


@pytest.mark.parametrize("fast", [True, False], ids=["inline", "general"])
def test_every_hashed_field_of_an_order_and_a_trade_is_in_its_digest(tmp_path, monkeypatch, fast: bool) -> None:
    """Changing any attribute the hash covers (an order's slots less `SKIP`, each of a trade's fields)
    changes the digest: the one-call reading of an order must not drop one."""
    from router.orders.index import Order
    monkeypatch.setattr(state_hash, "_FAST", fast)
    d = _traded(tmp_path)
    orders = list(d.app.flow.index.by_oid.values())
    names = [n for n in Order.__slots__ if n not in state_hash.SKIP]
    assert len(names) >= 40
    for order in (next(o for o in orders if o.done), next(o for o in orders if not o.done)):
        before = state_hash._Walker().digest(order)
        for name in names:
            was = getattr(order, name)
            setattr(order, name, ("changed", name))
            try:
                assert state_hash._Walker().digest(order) != before, name
            finally:
                setattr(order, name, was)
        assert state_hash._Walker().digest(order) == before
    trade = d.app.ledger.trades[0]
    before = state_hash._Walker().digest(trade)
    for name in type(trade)._fields:
        assert state_hash._Walker().digest(trade._replace(**{name: ("changed", name)})) != before, name
