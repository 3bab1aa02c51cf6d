"""The state hash's digest versions: version 2 covers the trades' dates that version 1 missed, version 3
digests members by their reprs, and hashes recorded by a version-1 or version-2 run (snapshots, journal
checkpoints) are still compared like with like."""
from __future__ import annotations

import collections
import datetime
import enum
import hashlib
import os
import random
from decimal import Decimal

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
    assert HASH_VERSION == 3
    now, old = state_hashes(d.app.flow), state_hashes(d.app.flow, 1)
    assert now["v"] == 3 and hash_version(now) == 3
    assert set(old) == {"core", "flow"} and hash_version(old) == 1
    assert now["core"] == old["core"] and now["flow"] != old["flow"]
    two = state_hashes(d.app.flow, 2)
    assert two["v"] == 2 and two["core"] == now["core"] and two["flow"] not in (now["flow"], old["flow"])


def _version_1_writers(monkeypatch, version: int = 1) -> None:
    """Make this process record hashes as a run of an earlier digest version did (snapshots and the
    stop's checkpoint)."""
    monkeypatch.setattr(snapshot, "state_hashes", lambda flow: state_hashes(flow, version))
    monkeypatch.setattr(sequencer, "state_hashes", lambda flow: state_hashes(flow, version))


@pytest.mark.parametrize("version", [1, 2])
def test_a_snapshot_and_a_checkpoint_recorded_by_an_earlier_version_still_verify(tmp_path, monkeypatch,
                                                                                 version: int) -> None:
    d = Driver(FileJournal(tmp_path / "j"), snapshots=SnapshotStore(tmp_path / "j" / "snapshots"),
               snapshot_every=150)
    with monkeypatch.context() as m:
        _version_1_writers(m, version)
        trade_a_while(d, random.Random(8), 400)
        d.app.shutdown(cancel_working=False)        # checkpoint + snapshot, both in the earlier version
    d.app.journal.close()
    directory = tmp_path / "j" / "snapshots"
    assert all(hash_version(SnapshotStore(directory).read(str(directory / f))[0].hashes) == version
               for f in os.listdir(directory))
    again = restart(tmp_path)                        # the newest snapshot, checked in its version
    assert again.app.recovered_from.seq == d.app.seq
    assert state_hashes(again.app.flow) == state_hashes(d.app.flow)
    os.rename(directory, tmp_path / "away")          # the whole journal: its checkpoint compared in its version
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
    for version in (1, 2, 3):
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


# -- version 3: members by their reprs ----------------------------------------------------------------
class _Side(enum.Enum):
    BUY = "buy"
    SELL = "sell"


class _Shown(enum.Enum):
    A = 1

    def __repr__(self) -> str:          # not the standard repr: digested by name, not by repr
        return f"<_Shown at {id(self):x}>"


def _v3(obj) -> bytes:
    return state_hash._Walker(3).digest(obj)


def test_version_3_digests_content_shared_or_not_and_dicts_in_any_order() -> None:
    inner = [b"x", {"k": (1, "a")}]
    shared = _Slotted()
    shared.c, shared.d = {"p": inner, "q": inner, 7: _Side.BUY}, [inner, inner]
    copies = _Slotted()
    copies.c = {7: _Side.BUY, "q": [b"x", {"k": (1, "a")}], "p": [b"x", {"k": (1, "a")}]}
    copies.d = [[b"x", {"k": (1, "a")}], [b"x", {"k": (1, "a")}]]
    assert _v3(shared) == _v3(copies)
    assert _v3({("s", b"c"): 1, ("t", b"c"): 2}) == _v3({("t", b"c"): 2, ("s", b"c"): 1})
    copies.d[1][1]["k"] = (1, "b")
    assert _v3(shared) != _v3(copies)


def test_version_3_tells_plain_values_of_other_classes_and_stand_ins_apart() -> None:
    values = [1, True, 1.0, "1", b"1", Decimal(1), Decimal("1.0"), None, "None", datetime.date(2026, 1, 1),
              "datetime.date(2026, 1, 1)", _Side.BUY, "buy", _Shown.A, [], {}, [1], [1.0], {1: 1}, {"1": 1}]
    # (A list and a tuple of the same members digest alike, in every version: the order flow's state
    # does not tell them apart.)
    assert len({_v3((v,)) for v in values}) == len(values)
    assert len({_v3({"k": v}) for v in values}) == len(values)
    # A member that is no plain value stands in as `(its digest,)`: no bytes value reads as one.
    empty_list = hashlib.sha256(b"l0").digest()
    assert _v3(([],)) != _v3((empty_list,)) and _v3(([],)) != _v3(((empty_list,),))


def test_version_3_takes_an_enumeration_by_its_repr_only_when_that_is_the_standard_one() -> None:
    assert state_hash._plain(_Side) and not state_hash._plain(_Shown)
    assert _v3((_Shown.A,)) == _v3((_Shown.A,))


def test_version_3_fast_and_general_walks_agree_on_mixed_members(monkeypatch) -> None:
    """Also with the shortcut tables emptied (`benchmarks.state_hash`'s general case): an empty
    container's shortcut digest is the one the general path gives it."""
    obj = _Slotted()
    obj.d = [b"x", {"k": ()}, _Side.SELL, _Shown.A, datetime.date(2026, 1, 2), {("s", 1): [2]}, {1: _Slotted()},
             [], (), collections.deque(), {}, set(), frozenset()]
    fast, general = _both_ways(monkeypatch, lambda: _v3(obj))
    assert fast == general
    with monkeypatch.context() as m:
        m.setattr(state_hash, "_FAST", False)
        m.setattr(state_hash, "_EMPTY", {})
        m.setattr(state_hash, "_SCALAR_PREFIX", {})
        assert _v3(obj) == fast
