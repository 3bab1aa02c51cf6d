"""A hash of the order flow's state that two processes agree on: the check that a replay rebuilt it.

`flow_state_hash(flow)` walks the order flow's run-time state (orders and their ClOrdID index,
accounts and reservations, risk and kill-switch state, quota, id counters, reference prices,
market-data subscriptions, trading days seen, FX, the books of record) by content: dictionaries
and sets in the order of their members' digests, so the result depends neither on Python's
per-process string hashing nor on which equal values happen to be one shared object.
Configuration-time objects (catalogue, calendars, the engine, metrics, clocks) and caches are
skipped. `state_hashes(flow)` adds the matching core's own hash.

Digests are versioned, because snapshots and journal checkpoints keep the hashes of the run that
wrote them and a later run must compare like with like: a recorded dict without "v" is version 1,
which digested a `datetime.date` (a trade's trading and value dates) as its class name only;
version 2 digests dates, times and time zones by value. `state_hashes(flow, hash_version(recorded))`
recomputes in the recorded version.

Not here: taking or loading snapshots, deciding what a mismatch means.
"""
from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
import hashlib
from decimal import Decimal
from typing import Any

import numpy as np

__all__ = ["HASH_VERSION", "flow_state_hash", "hash_version", "state_hashes"]

# The digest version new snapshots and checkpoints record (see the module docstring).
HASH_VERSION = 2

# Attributes that are configuration, collaborators or caches rebuilt on demand, not state.
SKIP = frozenset({
    "catalogue", "calendars", "engine", "metrics", "perf", "session_open", "router", "books", "values",
    "owner_of", "group_of_product", "core_factors", "product_num", "_read_top", "_top_fn", "_tops",
    "_acct_cache", "_symbols", "_venue", "_fill_text", "_ts", "_ts_ms", "_cmd_buf", "_asks", "_bids",
    "lot_ug", "fill_report", "factors", "fast", "decision", "explain", "routes", "fx_settings",
    "exec_report",      # the replay's stand-in report builder (router.records.replay), never state
    "_symbol_terms",    # the flow's per-symbol cache of a new order's constants (`_symbols` before it)
    "_days_memo",       # the ledger's memo of the calendars' days per fill (router.records.ledger)
    "_rest_pos",        # the flow's memo of a product order's rest book per ranking (a cache, cleared at 4096)
    "_price_units",     # the flow's memo of Price(44) texts' units (a cache, cleared at 4096)
})


class _Walker:
    """Content digests, Merkle style: a container's digest covers its children's digests, so two
    states hash alike whether or not equal values are shared objects (a snapshot's unpickled orders
    do not share the module constants that orders made later do). Each object is digested once."""

    def __init__(self, version: int = HASH_VERSION) -> None:
        self.version = version
        self.memo: dict[int, bytes] = {}
        self.keep: list[Any] = []    # keeps walked objects alive so their ids are not reused
        self.active: set[int] = set()

    def digest(self, obj: Any) -> bytes:
        cls = obj.__class__
        prefix = _SCALAR_PREFIX.get(cls)
        if prefix is not None:              # the common cases by exact class, as the general path digests them
            text = repr(obj).encode()
            return b"%s%d:%s" % (prefix, len(text), text)
        if not obj and cls in _EMPTY:
            return _EMPTY[cls]
        if obj is None or isinstance(obj, (bool, int, str, bytes, Decimal, float)):
            text = repr(obj).encode()
            return type(obj).__name__[:1].encode() + b"%d:" % len(text) + text
        if isinstance(obj, enum.Enum):
            return f"e{type(obj).__name__}.{obj.name};".encode()
        key = id(obj)
        done = self.memo.get(key)
        if done is not None:
            return done
        if key in self.active:
            return b"cycle;"
        self.active.add(key)
        h = hashlib.sha256()
        if isinstance(obj, np.ndarray):
            h.update(b"a" + str(obj.dtype).encode() + repr(obj.shape).encode() + obj.tobytes())
        elif isinstance(obj, (list, tuple, collections.deque)):
            h.update(b"l%d" % len(obj))
            for x in obj:
                h.update(self.digest(x))
        elif isinstance(obj, dict):
            h.update(b"d%d" % len(obj))
            for k, v in sorted(((self.digest(k), v) for k in obj for v in (obj[k],)), key=lambda kv: kv[0]):
                h.update(k)
                h.update(self.digest(v))
        elif isinstance(obj, (set, frozenset)):
            h.update(b"s%d" % len(obj))
            for d in sorted(self.digest(x) for x in obj):
                h.update(d)
        elif self.version >= 2 and isinstance(obj, (datetime.date, datetime.time)):
            # C types with neither __dict__ nor slots: by value (version 1 saw only the class name).
            h.update(b"t%s:%s" % (type(obj).__name__.encode(), obj.isoformat().encode()))
        elif self.version >= 2 and isinstance(obj, datetime.tzinfo):
            h.update(b"z" + str(obj).encode())
        elif callable(obj) and not hasattr(obj, "__dict__") and not hasattr(obj, "__slots__"):
            h.update(b"f")
        else:
            self._object(obj, h)
        self.active.discard(key)
        out = h.digest()
        self.memo[key] = out
        self.keep.append(obj)
        return out

    def _object(self, obj: Any, h: Any) -> None:
        h.update(b"o" + type(obj).__name__.encode())
        digest = self.digest
        for name in _attributes(obj):
            value = getattr(obj, name, None)
            if value.__class__ not in _SCALAR_PREFIX and callable(value) and not isinstance(value, type) \
                    and hasattr(value, "__self__"):
                continue            # bound methods: behaviour, not state
            h.update(b"n%s=%s" % (name.encode(), digest(value)))


# Fast paths giving exactly the digests of the general code below them (restarts compare digests
# recorded by earlier runs): scalars by exact class with the prefix `type(x).__name__[:1]` gives
# (subclasses such as IntEnum members take the general path), and empty containers, which a done
# order holds several of.
_SCALAR_PREFIX = {type(None): b"N", bool: b"b", int: b"i", str: b"s", bytes: b"b", Decimal: b"D", float: b"f"}
_EMPTY = {dict: hashlib.sha256(b"d0").digest(), list: hashlib.sha256(b"l0").digest(),
          tuple: hashlib.sha256(b"l0").digest(), set: hashlib.sha256(b"s0").digest(),
          frozenset: hashlib.sha256(b"s0").digest(), collections.deque: hashlib.sha256(b"l0").digest()}
# Per class: its dataclass fields and slots (sorted, SKIP removed), all of them, whether it has a __dict__.
_STATIC: dict[type, tuple[list[str], frozenset[str], bool]] = {}


def _attributes(obj: Any) -> list[str]:
    """The attribute names hashed, sorted: dataclass fields, slots, then the instance's own, less SKIP."""
    klass = type(obj)
    static = _STATIC.get(klass)
    if static is None:
        names: list[str] = []
        if dataclasses.is_dataclass(obj):
            names = [f.name for f in dataclasses.fields(obj)]
        for k in klass.__mro__:
            for name in getattr(k, "__slots__", ()):
                if name not in names and name != "__weakref__":
                    names.append(name)
        static = _STATIC[klass] = (sorted(n for n in names if n not in SKIP), frozenset(names),
                                   hasattr(obj, "__dict__"))
    fixed, known, has_dict = static
    if not has_dict:
        return fixed
    extra = [n for n in obj.__dict__ if n not in known and n not in SKIP]
    return sorted(fixed + extra) if extra else fixed


def flow_state_hash(flow: Any, version: int = HASH_VERSION) -> str:
    return _Walker(version).digest(flow).hex()


def hash_version(recorded: dict) -> int:
    """The digest version of hashes a snapshot or checkpoint recorded (version 1 recorded none)."""
    return int(recorded.get("v", 1))


def state_hashes(flow: Any, version: int = HASH_VERSION) -> dict[str, Any]:
    """The core's and the order flow's state hashes, as a snapshot records them; "v" names the
    digest version from version 2 on, so version 1's dicts stay what earlier runs recorded."""
    out: dict[str, Any] = {"core": flow.engine.state_hash(), "flow": flow_state_hash(flow, version)}
    if version >= 2:
        out["v"] = version
    return out
