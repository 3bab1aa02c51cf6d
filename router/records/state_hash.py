"""A hash of the order flow's state that two processes agree on: the check that a replay rebuilt it.

`flow_state_hash(flow)` walks the order flow's run-time state (orders and their ClOrdID index,
accounts and reservations, risk and kill-switch state, quota, id counters, reference prices,
market-data subscriptions, trading days seen, FX) in a canonical order: dictionaries by key, sets
sorted, each shared object once (later references by number), so the result does not depend on
Python's per-process string hashing. Configuration-time objects (catalogue, calendars, the engine,
metrics, clocks) and caches are skipped. `state_hashes(flow)` adds the matching core's own hash.

Not here: taking or loading snapshots, deciding what a mismatch means.
"""
from __future__ import annotations

import collections
import dataclasses
import enum
import hashlib
from decimal import Decimal
from typing import Any

import numpy as np

__all__ = ["flow_state_hash", "state_hashes"]

# Attributes that are configuration, collaborators or caches rebuilt on demand, not state.
SKIP = frozenset({
    "catalogue", "calendars", "engine", "metrics", "perf", "session_open", "router", "books", "values",
    "owner_of", "group_of_product", "core_factors", "product_num", "_read_top", "_top_fn", "_tops",
    "_acct_cache", "_symbols", "_venue", "_fill_text", "_ts", "_ts_ms", "_cmd_buf", "_asks", "_bids",
    "lot_ug", "factors", "fast", "decision", "explain", "routes",
})


class _Walker:
    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.memo: dict[int, int] = {}
        self.keep: list[Any] = []    # keeps walked objects alive so their ids are not reused

    def put(self, tag: bytes, text: bytes = b"") -> None:
        self.h.update(tag + b"%d:" % len(text) + text)

    def walk(self, obj: Any) -> None:
        if obj is None or isinstance(obj, (bool, int, str, bytes, Decimal, float)):
            self.put(type(obj).__name__[:1].encode(), repr(obj).encode())
            return
        if isinstance(obj, enum.Enum):
            self.put(b"e", f"{type(obj).__name__}.{obj.name}".encode())
            return
        if isinstance(obj, np.ndarray):
            self.put(b"a", str(obj.dtype).encode() + repr(obj.shape).encode() + obj.tobytes())
            return
        if callable(obj) and not hasattr(obj, "__dict__") and not hasattr(obj, "__slots__"):
            return
        ref = self.memo.get(id(obj))
        if ref is not None:
            self.put(b"r", b"%d" % ref)
            return
        self.memo[id(obj)] = len(self.memo)
        self.keep.append(obj)
        if isinstance(obj, (list, tuple, collections.deque)):
            self.put(b"l", b"%d" % len(obj))
            for x in obj:
                self.walk(x)
        elif isinstance(obj, dict):
            self.put(b"d", b"%d" % len(obj))
            for k in sorted(obj, key=_sort_key):
                self.walk(k)
                self.walk(obj[k])
        elif isinstance(obj, (set, frozenset)):
            self.put(b"s", b"%d" % len(obj))
            for x in sorted(obj, key=_sort_key):
                self.walk(x)
        else:
            self._object(obj)

    def _object(self, obj: Any) -> None:
        cls = type(obj)
        self.put(b"o", cls.__name__.encode())
        for name in _attributes(obj):
            if name in SKIP:
                continue
            value = getattr(obj, name, None)
            if callable(value) and not isinstance(value, type) and hasattr(value, "__self__"):
                continue            # bound methods: behaviour, not state
            self.put(b"n", name.encode())
            self.walk(value)


def _attributes(obj: Any) -> list[str]:
    names: list[str] = []
    if dataclasses.is_dataclass(obj):
        names = [f.name for f in dataclasses.fields(obj)]
    for klass in type(obj).__mro__:
        for name in getattr(klass, "__slots__", ()):
            if name not in names and name != "__weakref__":
                names.append(name)
    names.extend(n for n in getattr(obj, "__dict__", {}) if n not in names)
    return sorted(names)


def _sort_key(value: Any) -> tuple[str, str]:
    if isinstance(value, enum.Enum):
        return (type(value).__name__, str(value.value))
    return (type(value).__name__, repr(value))


def flow_state_hash(flow: Any) -> str:
    w = _Walker()
    w.walk(flow)
    return w.h.hexdigest()


def state_hashes(flow: Any) -> dict[str, str]:
    """The core's and the order flow's state hashes, as a snapshot records them."""
    return {"core": flow.engine.state_hash(), "flow": flow_state_hash(flow)}
