"""Snapshots: a start loads the newest one and replays only the commands after it, reaching the same
state as the live router and as a replay of the whole journal; a damaged snapshot is skipped for an
older one; one whose state does not match its recorded hashes stops the start."""
from __future__ import annotations

import dataclasses
import json
import pickle
import os
import random
import struct
import zlib

import pytest

from router.records.journal import FileJournal, JournalError
from router.records.snapshot import HEAD, SnapshotStore
from router.records.state_hash import state_hashes
from tests.records.test_replay import Clock, Driver, T0, trade_a_while


def live_run(tmp_path, every: int = 150, n: int = 600) -> Driver:
    d = Driver(FileJournal(tmp_path / "j"), snapshots=SnapshotStore(tmp_path / "j" / "snapshots", keep=3),
               snapshot_every=every)
    trade_a_while(d, random.Random(21), n)
    d.app.commit()
    d.app.journal.close()
    return d


def record_other_hash(path, which: str) -> int:
    """Rewrite a snapshot as a sound file (valid CRC) that records another state; returns its seq."""
    data = path.read_bytes()
    magic, version, seq, time_ns, meta_len = HEAD.unpack_from(data, 0)
    payload = data[HEAD.size + 4:]
    meta = json.loads(payload[:meta_len])
    meta["hashes"][which] = "0" * 64
    new_meta = json.dumps(meta).encode()
    payload = new_meta + payload[meta_len:]
    path.write_bytes(HEAD.pack(magic, version, seq, time_ns, len(new_meta)) + struct.pack("<I", zlib.crc32(payload))
                     + payload)
    return seq


def restart(tmp_path, **kw) -> Driver:
    return Driver(FileJournal(tmp_path / "j"), snapshots=SnapshotStore(tmp_path / "j" / "snapshots", keep=3), **kw)


def test_a_start_from_a_snapshot_replays_only_the_tail_and_reaches_the_same_state(tmp_path) -> None:
    live = live_run(tmp_path)
    files = sorted(os.listdir(tmp_path / "j" / "snapshots"))
    assert len(files) == 3, files                              # older ones pruned
    again = restart(tmp_path)
    snap = again.app.recovered_from
    assert snap is not None and snap.seq == int(files[-1].split(".")[0])
    assert again.app.seq == live.app.seq and snap.seq < live.app.seq
    assert state_hashes(again.app.flow) == state_hashes(live.app.flow)
    assert again.app.positions_view("SHCLIENT1") == live.app.positions_view("SHCLIENT1")
    full = Driver(FileJournal(tmp_path / "j"))                 # no snapshots: the whole journal
    assert state_hashes(full.app.flow) == state_hashes(again.app.flow)
    for d in (again, full):
        d.clock.now = T0 + 10**12
        d.order("HKCLIENT1", "NEXT", "HKGX.RKG", 2, 2, "559.00")
        d.app.commit()
    assert again.reports("HKCLIENT1")[-1] == full.reports("HKCLIENT1")[-1]


def test_a_damaged_snapshot_is_skipped_for_an_older_one(tmp_path) -> None:
    live = live_run(tmp_path)
    directory = tmp_path / "j" / "snapshots"
    newest = directory / sorted(os.listdir(directory))[-1]
    data = bytearray(newest.read_bytes())
    data[-10] ^= 0xFF
    newest.write_bytes(bytes(data))
    again = restart(tmp_path)
    assert again.app.recovered_from.seq < int(newest.name.split(".")[0])
    assert state_hashes(again.app.flow) == state_hashes(live.app.flow)


def test_a_snapshot_whose_state_does_not_match_its_hashes_stops_the_start(tmp_path) -> None:
    live_run(tmp_path)
    directory = tmp_path / "j" / "snapshots"
    newest = directory / sorted(os.listdir(directory))[-1]
    record_other_hash(newest, "core")
    with pytest.raises(JournalError, match="refusing to serve"):
        restart(tmp_path)


def test_a_clean_stop_writes_a_snapshot_and_the_next_start_replays_nothing(tmp_path) -> None:
    d = Driver(FileJournal(tmp_path / "j"), snapshots=SnapshotStore(tmp_path / "j" / "snapshots"))
    trade_a_while(d, random.Random(4), 200)
    d.app.shutdown(cancel_working=False)
    d.app.journal.close()
    again = Driver(FileJournal(tmp_path / "j"), Clock(T0 + 10**12),
                   snapshots=SnapshotStore(tmp_path / "j" / "snapshots"))
    assert again.app.recovered_from.seq == d.app.seq
    assert state_hashes(again.app.flow) == state_hashes(d.app.flow)


def test_journal_verify_compares_every_snapshot_with_the_replay(tmp_path) -> None:
    from tests.records.test_journal_tool import run
    live_run(tmp_path)
    out = run("journal", "verify", str(tmp_path / "j"))
    assert out.returncode == 0 and "journal OK" in out.stdout, out.stdout + out.stderr
    directory = tmp_path / "j" / "snapshots"
    newest = directory / sorted(os.listdir(directory))[-1]
    seq = record_other_hash(newest, "flow")
    out = run("journal", "verify", str(tmp_path / "j"))
    assert out.returncode == 1 and str(newest) in out.stdout and f"after command {seq}" in out.stdout


def test_the_state_hash_fast_paths_give_the_general_paths_digests(monkeypatch) -> None:
    """Scalars by exact class and empty containers are digested by shortcuts; they must give exactly
    what the general walk gives, or a restart would refuse digests an earlier run recorded."""
    import collections
    import enum
    from decimal import Decimal as D

    from router.records import state_hash

    class Side(enum.IntEnum):
        BUY = 1

    class Name(str):
        pass
    values = [None, True, False, 0, -7, 2**70, "", "SGE.AU9999", b"", b"\x01x", D("1141.24"), 0.5, Side.BUY,
              Name("x"), {}, [], (), set(), frozenset(), collections.deque(), {"a": [(), {}, {b"k": set()}]},
              [None, 1, "x", b"y", (2, ()), collections.deque([D("0")])]]
    fast = [state_hash._Walker().digest(v) for v in values]
    monkeypatch.setattr(state_hash, "_SCALAR_PREFIX", {})
    monkeypatch.setattr(state_hash, "_EMPTY", {})
    general = [state_hash._Walker().digest(v) for v in values]
    assert fast == general


def test_a_snapshot_written_without_metrics_loads_into_a_process_that_has_them(tmp_path) -> None:
    """What configuration builds comes from the loading process: a snapshot a benchmark or tool wrote
    without metrics, loaded by serve, leaves serve's flow, ledger and trading status counting."""
    from router.ops.metrics import Metrics
    live_run(tmp_path)                              # written without metrics
    metrics = Metrics()
    again = restart(tmp_path, metrics=metrics)
    flow = again.app.flow
    assert again.app.recovered_from is not None
    assert flow.metrics is metrics and flow.fills.metrics is metrics and flow.trading.metrics is metrics
    assert flow.perf is not None


@pytest.mark.parametrize("reference", [True, False], ids=["reference_book", "numba_core"])
def test_a_snapshot_round_trip_keeps_the_core_of_either_engine(tmp_path, reference: bool) -> None:
    # The reference book (the tests' oracle engine) used to be left out of the file: the loaded core
    # was empty and its hash never matched. Resting orders, a partial fill and a product order.
    from tests.orders.test_flow import HK, SH, Harness
    h = Harness(reference=reference)
    h.order(HK, "SGE.AU9999", 2, "3", "560.00")
    h.order(SH, "SGE.AU9999", 1, "1", "561.00")
    h.order(SH, "GOLD.KG9999", 1, "1000", "550.10")
    store = SnapshotStore(tmp_path / "snap")
    snap = store.write(3, h.now, h.flow)
    fresh = Harness(reference=reference)
    engine = fresh.flow.engine
    store.load_into(snap.path, fresh.flow)         # verifies both recorded hashes
    assert fresh.flow.engine is engine and engine.resting_orders() == h.flow.engine.resting_orders() == 2
    assert state_hashes(fresh.flow) == state_hashes(h.flow)
    cancel = fresh.send(HK, b"F", [(41, "c1"), (11, "x1"), (55, "SGE.AU9999"), (54, 2), (60, "20260101-00:00:00")])
    assert [(o.msg_type, dict(o.body)[150]) for o in cancel] == [(b"8", b"4")]     # the order is there to cancel


def test_a_snapshot_of_one_engine_kind_is_refused_by_the_other(tmp_path) -> None:
    from router.records.snapshot import SnapshotError
    from tests.orders.test_flow import HK, Harness
    h = Harness(reference=True)
    h.order(HK, "SGE.AU9999", 2, "3", "560.00")
    snap = SnapshotStore(tmp_path / "snap").write(1, h.now, h.flow)
    with pytest.raises(SnapshotError, match="reference-book core"):
        SnapshotStore(tmp_path / "snap").load_into(snap.path, Harness(reference=False).flow)


class _Plain:
    def __init__(self) -> None:
        self.a, self.b = 1, [2]


@dataclasses.dataclass(frozen=True)
class _Frozen:
    x: int
    y: str


class _WithProperty:
    def __init__(self) -> None:
        self._v, self.w = 3, 4

    @property
    def v(self) -> int:
        return self._v


class _SlotsAndDict:
    __slots__ = ("s", "__dict__")

    def __init__(self) -> None:
        self.s, self.d = 5, 6


def test_loaded_objects_get_their_attributes_one_by_one_and_the_same_ones(tmp_path) -> None:
    """A snapshot's objects get their attributes set one by one (`snapshot._set_state`), not written
    into their `__dict__` (on CPython 3.11 that slows every later attribute read); what they end up
    with is what pickle's own way gives, for plain, frozen, property-holding and slotted classes."""
    from router.records import snapshot
    for make in (_Plain, lambda: _Frozen(7, "z"), _WithProperty, _SlotsAndDict):
        obj = make()
        data = pickle.dumps(obj, protocol=5)
        plain = pickle.loads(data)
        snapshot._inline_state(type(obj))
        try:
            got = pickle.loads(data)
        finally:
            del type(obj).__setstate__
            snapshot._CHECKED.discard(type(obj))
        assert type(got) is type(obj)
        assert vars(got) == vars(plain)
        assert getattr(got, "s", None) == getattr(plain, "s", None)
    d = live_run(tmp_path)
    fresh = Driver(FileJournal(tmp_path / "j"), snapshots=SnapshotStore(tmp_path / "j" / "snapshots"))
    assert fresh.app.recovered_from is not None
    flow = fresh.app.flow
    for part in (flow.index, flow.risk, flow.accounts, flow.fills):
        assert type(part).__setstate__ is snapshot._set_state, type(part)
    assert "__dict__" not in type(flow.router).__setstate__.__code__.co_names    # its own, one by one
    # slots only: pickle sets an order's slots one by one itself (in C), left alone
    assert "__setstate__" not in vars(type(next(iter(flow.index.by_oid.values()))))
    assert state_hashes(flow) == state_hashes(d.app.flow)


class _PersistentIdPickler(pickle.Pickler):
    """How a version-3 snapshot named the objects configuration rebuilds: persistent ids."""

    def __init__(self, f, externals) -> None:
        super().__init__(f, protocol=5)
        self.externals = externals

    def persistent_id(self, obj):
        return self.externals.get(id(obj))


def test_a_version_3_snapshot_with_persistent_ids_still_loads(tmp_path, monkeypatch) -> None:
    """Snapshots name the flow, its engine, catalogue ... by a `_external` reduce since version 4; a
    version-3 file (persistent ids) written before still loads to the same state."""
    from router.records import snapshot
    with monkeypatch.context() as m:
        m.setattr(snapshot, "_Pickler", _PersistentIdPickler)
        m.setattr(snapshot, "VERSION", 3)
        live = live_run(tmp_path)
    directory = tmp_path / "j" / "snapshots"
    newest = directory / sorted(os.listdir(directory))[-1]
    assert HEAD.unpack_from(newest.read_bytes(), 0)[1] == 3
    again = restart(tmp_path)
    assert again.app.recovered_from.seq == int(newest.name.split(".")[0])
    assert state_hashes(again.app.flow) == state_hashes(live.app.flow)
    d = Driver(FileJournal(tmp_path / "k"), snapshots=SnapshotStore(tmp_path / "k" / "snapshots"))
    trade_a_while(d, random.Random(4), 50)
    d.app.shutdown(cancel_working=False)                            # a version-4 snapshot now
    d.app.journal.close()
    files = sorted(os.listdir(tmp_path / "k" / "snapshots"))
    assert HEAD.unpack_from((tmp_path / "k" / "snapshots" / files[-1]).read_bytes(), 0)[1] == snapshot.VERSION == 4
    newer = Driver(FileJournal(tmp_path / "k"), Clock(T0 + 10**12), snapshots=SnapshotStore(tmp_path / "k" / "snapshots"))
    assert newer.app.recovered_from.seq == d.app.seq
    assert state_hashes(newer.app.flow) == state_hashes(d.app.flow)


def test_a_flow_part_pickle_would_not_hand_to_the_reducer_cannot_be_named(tmp_path) -> None:
    from router.records import snapshot
    from tests.orders.test_flow import Harness
    h = Harness()
    h.flow.calendars = {"CN_SGE": "a plain dict is pickled by pickle itself"}
    with pytest.raises(snapshot.SnapshotError, match="calendars"):
        SnapshotStore(tmp_path / "s").write(1, h.now, h.flow)


def _hk_metal(d: Driver) -> dict:
    return {a: d.app.positions_view(a)["metal"]["HK"] for a in ("SHCLIENT1", "HKCLIENT1")}


def test_holdings_per_bar_form_survive_a_snapshot_start_and_a_full_replay(tmp_path) -> None:
    """Tael bars and kilobars in the HK vault are separate holdings: a start from a snapshot taken with
    a tael sale resting (metal reserved) and a replay of the whole journal rebuild both, reservations too."""
    d = Driver(FileJournal(tmp_path / "j"), snapshots=SnapshotStore(tmp_path / "j" / "snapshots"))
    d.order("SHCLIENT1", "T1", "HKGX.AU99TAEL", 2, 3, "22300.00")       # 3 lots of tael bars offered
    d.order("HKCLIENT1", "T2", "HKGX.AU99TAEL", 1, 2, "22300.00")       # 2 taken; 1 lot stays reserved
    d.order("HKCLIENT1", "K1", "HKGX.RKG", 2, 4, "560.00")
    d.order("SHCLIENT1", "K2", "HKGX.RKG", 1, 4, "560.00")               # 4 kilobars the other way
    live = _hk_metal(d)
    assert live["SHCLIENT1"]["tael_bar_990"] == {"grams": "366804.2", "available_grams": "363061.3",
                                                 "reserved_grams": "3742.9"}
    assert live["SHCLIENT1"]["ingot_1kg_9999"]["grams"] == "204000"
    d.app.shutdown(cancel_working=False)
    d.app.journal.close()
    again = Driver(FileJournal(tmp_path / "j"), Clock(T0 + 10**12),
                   snapshots=SnapshotStore(tmp_path / "j" / "snapshots"))
    assert again.app.recovered_from.seq == d.app.seq
    full = Driver(FileJournal(tmp_path / "j"), Clock(T0 + 10**12))
    assert _hk_metal(again) == _hk_metal(full) == live
    assert state_hashes(again.app.flow) == state_hashes(full.app.flow) == state_hashes(d.app.flow)


def test_a_snapshot_holding_metal_per_vault_alone_stops_the_start(tmp_path) -> None:
    """A snapshot written before holdings were per bar form does not say which form its grams are in."""
    d = Driver(FileJournal(tmp_path / "j"), snapshots=SnapshotStore(tmp_path / "j" / "snapshots"))
    trade_a_while(d, random.Random(4), 50)
    d.app.flow.accounts["SHCLIENT1"].metal = {"HK": 200_000_000_000}      # the old shape
    d.app.shutdown(cancel_working=False)
    d.app.journal.close()
    with pytest.raises(JournalError, match="SHCLIENT1 holds metal per vault, not per vault and bar form"):
        restart(tmp_path)
