"""Snapshots: the router's whole state at a journal sequence number, so a start replays only the tail.

A snapshot file (`<journal dir>/snapshots/<seq>.snapshot`) holds a header (magic, format version,
the sequence number and time of the last command it includes, the matching core's and the order
flow's state hashes, a CRC32 of the rest) and the order flow pickled. What configuration builds
(catalogue, calendars, the session-hours rule, metrics) is not in the file: it is taken from the
freshly built application at load, by name, and the matching core's arena is put into the fresh
engine in place (`matching.state`), so everything that holds the engine keeps holding it (the
pure-Python reference book, which tests and tools run, is stored as its attributes). The
file is written to a temporary name, fsynced and renamed: a crash leaves the previous snapshot.

`load` checks the CRC and, after unpickling, the two state hashes; a snapshot that fails either is
skipped with a warning and the next older one is tried (the journal still has every command, so
the worst case is a longer replay). One whose accounts hold metal per vault alone (written before
holdings per vault and bar form) is refused at load: which form its grams were in is not in it.
Only the newest `keep` snapshots are kept.

Not here: when to take one (the application decides), the journal itself.
"""
from __future__ import annotations

import enum
import io
import json
import logging
import os
import pickle
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from matching import Engine, ReferenceBook
from matching.state import export_state, import_state
from router.records.state_hash import hash_version, state_hashes

__all__ = ["Snapshot", "SnapshotStore", "SnapshotError", "check_hashes"]

log = logging.getLogger(__name__)
MAGIC = b"GRSNAPSH"
# 4: objects configuration rebuilds are named by a `_external` reduce (3 named them by persistent ids, and
# is still read); 3: the engine arena has price ladders; 2: it recycles order rows (free list in its header)
VERSION = 4
READABLE = (3, 4)
HEAD = struct.Struct("<8sHQqI")      # magic, version, seq, time_ns, meta length; then meta JSON, crc32, body
SUFFIX = ".snapshot"
# Objects configuration rebuilds at every start: pickled by name, supplied by the fresh application.
EXTERNAL = ("catalogue", "calendars", "session_open", "metrics", "engine", "_read_top", "fx_settings",
            "quota_day_schedules")


class SnapshotError(Exception):
    """A snapshot file that cannot be used: names the file and why."""


@dataclass(frozen=True)
class Snapshot:
    seq: int
    time_ns: int
    hashes: dict
    path: str
    extra: Any = None       # what the writer added beside the flow (a cluster core's output numbers)


def _engine_state(engine: Any) -> Any:
    """The core's state to store: the numba engine's arena, or the pure-Python reference book's
    attributes (a tests' and tools' engine; without this its books were silently left out and the
    loaded core hash could never match)."""
    if type(engine) is Engine:
        return export_state(engine)
    if type(engine) is ReferenceBook:
        return ("reference", engine.__dict__.copy())
    raise SnapshotError(f"cannot snapshot a core of type {type(engine).__name__}")


def _put_engine(engine: Any, state: Any) -> None:
    """Put a stored core state into the fresh engine in place (whatever holds the engine keeps it)."""
    if state is None:
        return          # written before the reference book was stored: its hash check decides
    if isinstance(state, tuple) and state[0] == "reference":
        if type(engine) is not ReferenceBook:
            raise SnapshotError("the snapshot holds a reference-book core; this process runs the numba engine")
        engine.__dict__.update(state[1])
        return
    if type(engine) is not Engine:
        raise SnapshotError("the snapshot holds a numba engine arena; this process runs the reference book")
    import_state(engine, state)


def _externals(flow: Any) -> dict[int, str]:
    # The flow itself too: bound methods other objects hold (the router's top-of-book reader) must
    # come back bound to the fresh flow, not to a copy of it.
    out = {id(flow): "flow"}
    for name in EXTERNAL:
        obj = getattr(flow, name, None)
        if obj is not None:
            if type(obj) in _NOT_OVERRIDDEN:
                raise SnapshotError(f"cannot name the flow's {name} (a {type(obj).__name__}) in a snapshot")
            out[id(obj)] = name
    return out


# What pickle never hands to `reducer_override` (it pickles these itself): no external may be one.
_NOT_OVERRIDDEN = (bool, int, float, bytes, str, dict, set, frozenset, list, tuple, bytearray)


class _Pickler(pickle.Pickler):
    """Names the objects configuration rebuilds instead of pickling them. Through `reducer_override`,
    which pickle calls only for objects other than its own scalars and containers and each object
    once: a `persistent_id` was called for every value, 4.4 million times at 20,000 known orders, a
    third of the pickling (benchmarks/README.md, "Snapshot start ... (session 8)")."""

    def __init__(self, f: io.BytesIO, externals: dict[int, str]) -> None:
        super().__init__(f, protocol=5)
        self.externals = externals

    def reducer_override(self, obj: Any) -> Any:
        name = self.externals.get(id(obj))
        if name is None:
            return NotImplemented
        return _external, (name,)


def _external(name: str) -> Any:
    """Stands in a snapshot for an object the loading process supplies (`_Unpickler.find_class`)."""
    raise pickle.UnpicklingError(f"external object {name!r} outside a snapshot load")


class _Unpickler(pickle.Unpickler):
    def __init__(self, f: io.BytesIO, fresh: Any) -> None:
        super().__init__(f)
        self.fresh = fresh

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name == "_external":
            return self.persistent_load
        cls = super().find_class(module, name)
        if module.startswith(("router.", "matching.")) and isinstance(cls, type):
            _inline_state(cls)
        return cls

    def persistent_load(self, name: str) -> Any:
        if name == "flow":
            return self.fresh
        if name not in EXTERNAL:
            raise pickle.UnpicklingError(f"unknown external object {name!r}")
        return getattr(self.fresh, name)


class SnapshotStore:
    def __init__(self, directory: str, keep: int = 3) -> None:
        self.directory = os.fspath(directory)
        self.keep = keep

    def write(self, seq: int, time_ns: int, flow: Any, extra: Any = None) -> Snapshot:
        """Snapshot `flow` as it is after command `seq` (and `extra`, pickled beside it, not hashed);
        returns where it went and its hashes."""
        os.makedirs(self.directory, exist_ok=True)
        hashes = state_hashes(flow)
        body = io.BytesIO()
        engine = flow.engine
        _Pickler(body, _externals(flow)).dump({"flow": flow.__dict__.copy(),
                                              "engine": _engine_state(engine),
                                              "extra": extra})
        meta = json.dumps({"hashes": hashes}, sort_keys=True).encode()
        payload = meta + body.getvalue()
        data = HEAD.pack(MAGIC, VERSION, seq, time_ns, len(meta)) + struct.pack("<I", zlib.crc32(payload)) + payload
        path = os.path.join(self.directory, f"{seq:012d}{SUFFIX}")
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self._prune()
        return Snapshot(seq, time_ns, hashes, path)

    def _prune(self) -> None:
        for name in self._names()[:-self.keep]:
            os.unlink(os.path.join(self.directory, name))

    def _names(self) -> list[str]:
        if not os.path.isdir(self.directory):
            return []
        return sorted(n for n in os.listdir(self.directory) if n.endswith(SUFFIX))

    def candidates(self, last_seq: int) -> list[str]:
        """Snapshot files no newer than the journal's last command, newest first."""
        out = []
        for name in reversed(self._names()):
            try:
                seq = int(name[:-len(SUFFIX)])
            except ValueError:
                continue
            if seq <= last_seq:
                out.append(os.path.join(self.directory, name))
        return out

    @staticmethod
    def read(path: str) -> tuple[Snapshot, bytes]:
        with open(path, "rb") as f:
            data = f.read()
        if len(data) < HEAD.size + 4:
            raise SnapshotError(f"{path}: {len(data)} bytes is too short for a snapshot")
        magic, version, seq, time_ns, meta_len = HEAD.unpack_from(data, 0)
        if magic != MAGIC or version not in READABLE:
            raise SnapshotError(f"{path}: not a version {'/'.join(map(str, READABLE))} gold-router snapshot")
        (crc,) = struct.unpack_from("<I", data, HEAD.size)
        payload = data[HEAD.size + 4:]
        if zlib.crc32(payload) != crc:
            raise SnapshotError(f"{path}: CRC mismatch (damaged file)")
        meta = json.loads(payload[:meta_len])
        return Snapshot(seq, time_ns, meta["hashes"], path), payload[meta_len:]

    def load_into(self, path: str, flow: Any, verify: bool = True,
                  read: tuple[Snapshot, bytes] | None = None) -> Snapshot:
        """Make `flow` (freshly built from the same configuration) the snapshot's state; with
        `verify=False` the caller checks the state hashes itself (`check_hashes`), as start-up does
        beside the replay. `read`: what `read(path)` returned already (the file is not read again)."""
        snap, body = read if read is not None else self.read(path)
        state = _Unpickler(io.BytesIO(body), flow).load()
        _check_holdings(path, state["flow"].get("accounts"))
        engine_state = state.pop("engine")
        extra = state.pop("extra", None)
        _put_engine(flow.engine, engine_state)
        fresh = {name: getattr(flow, name, None) for name in EXTERNAL + ("perf",)}
        loaded = state["flow"]
        was = loaded.get("metrics", fresh.get("metrics"))
        for name, value in loaded.items():      # one by one: see `_inline_state`
            setattr(flow, name, value)
        _reattach(flow, fresh, loaded, was)
        snap = Snapshot(snap.seq, snap.time_ns, snap.hashes, snap.path, extra)
        if verify:
            check_hashes(snap, state_hashes(flow, hash_version(snap.hashes)))
        return snap


def _check_holdings(path: str, accounts: Any) -> None:
    """Refuse a snapshot written while accounts held metal per vault alone (before holdings per vault and
    bar form): which form its grams were in is not recorded, so only a replay can rebuild them."""
    for acct in accounts or ():
        if any(not isinstance(k, tuple) for k in (*acct.metal, *acct.reserved_metal)):
            raise SnapshotError(f"{path}: account {acct.name} holds metal per vault, not per vault and bar form "
                                f"(written before holdings per bar form)")


def _inline_state(cls: type) -> None:
    """Give `cls` a `__setstate__` that sets the unpickled attributes one by one. Without one, pickle
    writes them into the instance's `__dict__`, and on CPython 3.11 an object whose `__dict__` has
    been made reads every attribute about twice as slowly from then on (its values no longer sit
    inline): after a start from a snapshot the flow's parts (index, router, risk, accounts, ledger)
    slowed the replay and all later trading (benchmarks/README.md "Restart")."""
    if cls in _CHECKED:
        return
    _CHECKED.add(cls)
    if issubclass(cls, enum.Enum) or getattr(cls, "__setstate__", None) is not None:
        return
    if not any("__slots__" not in k.__dict__ or "__dict__" in k.__dict__["__slots__"] for k in cls.__mro__[:-1]):
        return          # slots only (an order): pickle sets them one by one already, in C
    cls.__setstate__ = _set_state


_CHECKED: set[type] = set()


def _set_state(self: Any, state: Any) -> None:
    """pickle's default state setting (a dict, or a (dict, slots) pair), attribute by attribute; an
    attribute the class has a data descriptor for goes into the `__dict__`, as pickle puts it."""
    slots = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slots = state
    cls = type(self)
    for name, value in (state or {}).items():
        if hasattr(type(getattr(cls, name, None)), "__set__"):
            self.__dict__[name] = value
        else:
            object.__setattr__(self, name, value)
    for name, value in (slots or {}).items():
        object.__setattr__(self, name, value)


def _reattach(flow: Any, fresh: dict[str, Any], loaded: dict[str, Any], was: Any) -> None:
    """What configuration builds comes from this process, whatever the writer had: a snapshot written
    without metrics (a benchmark, a tool) loaded by `serve` must count into serve's metrics, in the
    flow and in each part of it that counts (the ledger, trading status), and time what serve times.
    `loaded`: the attributes the snapshot set; `was`: the flow's metrics as loaded. (The flow's
    `__dict__` is not touched: see `_inline_state`.)"""
    for name, value in fresh.items():
        if name in loaded:
            setattr(flow, name, value)
    metrics = fresh.get("metrics")
    if metrics is not was:
        for part in loaded.values():
            if hasattr(part, "metrics") and part is not flow and getattr(part, "metrics") in (was, None):
                part.metrics = metrics


def check_hashes(snap: Snapshot, now: dict) -> None:
    """Refuse a loaded snapshot whose state does not hash to what was recorded when it was written."""
    if now != snap.hashes:
        raise SnapshotError(f"{snap.path}: loaded state hashes {now['core'][:16]}/{now['flow'][:16]} differ from "
                            f"the recorded {snap.hashes['core'][:16]}/{snap.hashes['flow'][:16]}")
