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
version 2 digests dates, times and time zones by value; version 3 digests the members of an object,
a list or tuple, or a dict keyed by plain values by the repr of them all in one call, each member
that is not a plain value standing in as its own digest (`_Walker._reprs`: the same content gives
the same digest, shared or not, a dict in any order), a fifth less CPU than version 2's digest call
per member (benchmarks/README.md, "Start-up: the snapshot check"). `state_hashes(flow,
hash_version(recorded))` recomputes in the recorded version.

Not here: taking or loading snapshots, deciding what a mismatch means.
"""
from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
import hashlib
import operator
from decimal import Decimal
from typing import Any, Callable

import numpy as np

__all__ = ["HASH_VERSION", "flow_state_hash", "hash_version", "state_hashes"]

# The digest version new snapshots and checkpoints record (see the module docstring).
HASH_VERSION = 3

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
    "_readers",         # the flow's message readers per codec shape, with their kept request terms (a cache)
    "_lot_grams_ratios",    # the flow's books' lot grams as exact ratios, for a metric (made on first use)
    "quota_day_schedules",  # which schedules give each quota direction its day: configuration
    "_quota_schedules",     # what held that before `quota_day_schedules`, in older snapshots (unused)
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
        # Digests of the ints, strs and bytes met, by value, one table per exact class (equal values
        # of two classes, 1 and True, b"x" and "x", must not meet). Bounded: ids and times are unique.
        self.seen: dict[type, dict] = {int: {}, str: {}, bytes: {}}

    def digest(self, obj: Any) -> bytes:
        cls = obj.__class__
        prefix = _SCALAR_PREFIX.get(cls)
        if prefix is not None:              # the common cases by exact class, as the general path digests them
            text = repr(obj).encode()
            return b"%s%d:%s" % (prefix, len(text), text)
        if not obj and cls in _EMPTY:
            return _EMPTY[cls]
        key = id(obj)
        done = self.memo.get(key)
        if done is not None:            # only walked objects are in the memo, kept alive: their ids are theirs
            return done
        if obj is None or isinstance(obj, (bool, int, str, bytes, Decimal, float)):
            text = repr(obj).encode()
            return type(obj).__name__[:1].encode() + b"%d:" % len(text) + text
        if isinstance(obj, enum.Enum):
            return f"e{type(obj).__name__}.{obj.name};".encode()
        if key in self.active:
            return b"cycle;"
        self.active.add(key)
        if isinstance(obj, np.ndarray):
            data = b"a" + str(obj.dtype).encode() + repr(obj.shape).encode() + obj.tobytes()
        elif isinstance(obj, (list, tuple, collections.deque)):
            if self.version >= 3 and obj:       # (an empty one as before: `_EMPTY` gives that digest)
                data = b"L" + self._reprs(obj if obj.__class__ is tuple else tuple(obj))
            else:
                data = b"l%d" % len(obj) + b"".join(self._each(obj))
        elif self.version >= 3 and isinstance(obj, dict) and obj and _plain_keys(obj):
            # Keyed by repr, in order: each key's repr ends with a NUL (no repr holds one).
            reprs, values = zip(*sorted(zip(map(repr, obj), obj.values()), key=_first))
            data = b"K%d:%s\x00" % (len(obj), "\x00".join(reprs).encode()) + self._reprs(values)
        elif isinstance(obj, dict):
            pairs = sorted(zip(self._each(obj), [obj[k] for k in obj]), key=_first)
            data = b"d%d" % len(obj) + b"".join([k + v for (k, _), v in zip(pairs, self._each([v for _, v in pairs]))])
        elif isinstance(obj, (set, frozenset)):
            data = b"s%d" % len(obj) + b"".join(sorted(self.digest(x) for x in obj))
        elif self.version >= 2 and isinstance(obj, (datetime.date, datetime.time)):
            # C types with neither __dict__ nor slots: by value (version 1 saw only the class name).
            data = b"t%s:%s" % (type(obj).__name__.encode(), obj.isoformat().encode())
        elif self.version >= 2 and isinstance(obj, datetime.tzinfo):
            data = b"z" + str(obj).encode()
        elif callable(obj) and not hasattr(obj, "__dict__") and not hasattr(obj, "__slots__"):
            data = b"f"
        else:
            data = self._object(obj)
        self.active.discard(key)
        out = hashlib.sha256(data).digest()
        self.memo[key] = out
        self.keep.append(obj)
        return out

    def _each(self, values: Any, methods: bool = False) -> list:
        """Each value's digest; with `methods`, None for a bound method (behaviour, not state). A value
        `digest` takes a shortcut for (a scalar by exact class, an empty container) is digested here
        inline, to the same bytes, and an int, str or bytes met before is looked up: a done order has
        ~45 members and a ledger trade 22, tens of thousands of each at a snapshot, and a call per
        member was most of the walk (benchmarks/README.md, "Replay after a snapshot start").
        `_FAST = False` (tests, `benchmarks.state_hash`) calls `digest` for every value instead."""
        digest = self.digest
        scalar, empty, seen = (_SCALAR_PREFIX, _EMPTY, self.seen) if _FAST else (_NONE, _NONE, _NONE)
        out = []
        add = out.append
        for x in values:
            cls = x.__class__
            known = seen.get(cls)
            if known is not None:       # an int, str or bytes: most members, many of them repeated
                d = known.get(x)
                if d is None:
                    prefix = scalar.get(cls)
                    if prefix is None:
                        d = digest(x)
                    else:
                        text = repr(x).encode()
                        d = b"%s%d:%s" % (prefix, len(text), text)
                    if len(known) < _SEEN_MAX:
                        known[x] = d
                add(d)
                continue
            prefix = scalar.get(cls)
            if prefix is not None:
                text = repr(x).encode()
                add(b"%s%d:%s" % (prefix, len(text), text))
            elif methods and callable(x) and not isinstance(x, type) and hasattr(x, "__self__"):
                add(None)
            elif not x and cls in empty:
                add(empty[cls])
            else:
                add(digest(x))
        return out

    def _object(self, obj: Any) -> bytes:
        fixed = _FIXED.get(type(obj), _fixed) if _FAST else None
        if fixed is _fixed:
            fixed = _fixed(obj)
        values = None
        head = None
        if fixed is not None:
            labels, read, head = fixed
            try:
                values = read(obj)
            except AttributeError:          # a slot never set: getattr(obj, name, None) below gives None
                pass
        if values is None:
            names = _attributes(obj)
            labels = [b"n%s=" % name.encode() for name in names]
            values = [getattr(obj, name, None) for name in names]
            head = None
        if self.version >= 3:
            if head is None:
                head = b"O" + type(obj).__name__.encode() + b"".join(labels)
            return head + self._reprs(tuple(values), True)
        return b"o" + type(obj).__name__.encode() + b"".join(
            [label + d for label, d in zip(labels, self._each(values, True)) if d is not None])


    def _reprs(self, values: tuple, methods: bool = False) -> bytes:
        """Version 3's digest of members: the repr of the tuple of them, one C call, where each member
        that is not a plain value (`_PLAIN`: None, bool, int, str, bytes, float, Decimal, date by exact
        class, whose reprs tell value and class apart) is replaced by `(its digest,)`, or by `()` for a
        bound method with `methods`. Version 2 digested each member by a Python call of its own, most of
        the walk (benchmarks/README.md, "Start-up: the snapshot check"); a tuple can only be such a
        stand-in, as tuples are not plain, so no member reads as another."""
        types = tuple(map(type, values))
        cache = _FAST and len(types) <= _PLAN_LEN
        swap = _PLANS.get(types) if cache else None
        if swap is None:
            swap = tuple([i for i, t in enumerate(types) if not _plain(t)])
            if cache and len(_PLANS) < _PLANS_MAX:
                _PLANS[types] = swap
        if swap:
            values = list(values)
            digest, memo = self.digest, self.memo
            for i in swap:
                x = values[i]
                if methods and callable(x) and not isinstance(x, type) and hasattr(x, "__self__"):
                    values[i] = ()
                else:
                    values[i] = (memo.get(id(x)) or digest(x),)
            values = tuple(values)
        return repr(values).encode()


def _plain(cls: type) -> bool:
    """Whether a value of exactly this class is digested by its repr in version 3: `_PLAIN`, and
    enumerations with the standard repr (`<Direction.SOUTHBOUND: 'southbound'>`) of plain values."""
    plain = _PLAIN_OF.get(cls)
    if plain is None:
        plain = _PLAIN_OF[cls] = (issubclass(cls, enum.Enum) and cls.__repr__ is enum.Enum.__repr__
                                  and all(type(m._value_) in _PLAIN for m in cls))
    return plain


def _plain_keys(obj: dict) -> bool:
    """Whether version 3 keys `obj` by its keys' reprs: each key plain, or a tuple of plain values."""
    types = set(map(type, obj))
    if tuple in types:
        types.discard(tuple)
        if not all([all(map(_plain, map(type, k))) for k in obj if k.__class__ is tuple]):
            return False
    return all(map(_plain, types))


def _first(pair: tuple) -> Any:
    return pair[0]


def _fixed(obj: Any) -> tuple[list[bytes], Callable[[Any], tuple]] | None:
    """For a class whose instances all have the same attributes hashed (slots or dataclass fields, no
    `__dict__`), the labels `n<name>=` and one reader of all values at once; None for the rest."""
    klass = type(obj)
    names = _attributes(obj)
    fixed = None
    if not _STATIC[klass][2] and len(names) >= 2:
        labels = [b"n%s=" % n.encode() for n in names]
        fixed = (labels, operator.attrgetter(*names), b"O" + klass.__name__.encode() + b"".join(labels))
    _FIXED[klass] = fixed
    return fixed


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
# Per class with a fixed attribute list: the labels and the reader `_Walker._object` uses, or None.
_FIXED: dict[type, Any] = {}
# The inline digests of members in `_Walker._each` and the one-call reading of `_FIXED` (False: the
# general walk, `digest` for each member, that the tests compare them with).
_FAST = True
_NONE: dict = {}
# Version 3: the classes whose instances a member's repr stands for (exact classes: a subclass may
# repr otherwise), and per tuple of member classes the positions to replace by digests (`_reprs`).
_PLAIN = frozenset({type(None), bool, int, str, bytes, float, Decimal, datetime.date})
_PLAIN_OF: dict[type, bool] = dict.fromkeys(_PLAIN, True)
_PLANS: dict[tuple, tuple] = {}
_PLAN_LEN = 64          # longer member lists (a list of trades) are not kept: each is one of a kind
_PLANS_MAX = 10_000
_SEEN_MAX = 100_000     # values per class in `_Walker.seen`


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
