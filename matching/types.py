"""Shared vocabulary of the matching core: enums, command/event dtypes, book specs, limits.

Both implementations (numba `Engine` and `ReferenceBook`) import everything from here, so the two
speak byte-identical commands and events. This module also holds the few read-side helpers that are
pure functions of per-book depth (consolidated group depth, state hash), so they cannot diverge.
It does NOT match orders, hold state, or do any I/O.

Units: prices are int64 in the instrument's own price units (e.g. 1/100 CNY per gram), quantities int64
in the instrument's own quantity units (the service uses lots, so `lot = 1`). Group quantities (sweeps,
consolidated depth) are in the caller's group unit: `group_qty = book_qty * qty_scale[book]`.
Comparable prices: `comparable = price * num // den` (floor). Bounds keep every product inside int64:
price <= MAX_PRICE (2**31-1) and num, den <= MAX_FACTOR (2**31-1) give price*num < 2**62;
book qty <= MAX_QTY (2**30-1) and qty_scale <= MAX_SCALE (2**32-1) give qty*qty_scale < 2**62.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

import numpy as np

MAX_PRICE = 2**31 - 1
MAX_QTY = 2**30 - 1
MAX_FACTOR = 2**31 - 1
MAX_SCALE = 2**32 - 1
MAX_GROUP_QTY = 2**62
MAX_BOOKS = 64


class Op(IntEnum):
    NEW = 1
    CANCEL = 2
    REPLACE = 3
    MASS_CANCEL = 4
    EXPIRE = 5
    SET_REF_PRICE = 6
    SWEEP = 7
    SET_STP = 8
    SET_CONVERSION = 9


class EventKind(IntEnum):
    ACCEPTED = 1
    REJECTED = 2
    TRADE = 3
    CANCELLED = 4
    REPLACED = 5
    EXPIRED = 6
    MASS_CANCEL_REPORT = 7
    SWEEP_REPORT = 8


class Reason(IntEnum):
    """Reject reasons (on REJECTED) and causes (on CANCELLED/EXPIRED); 0 elsewhere."""
    NONE = 0
    BAD_BOOK = 1
    BAD_ORDER_ID = 2
    DUPLICATE_ORDER_ID = 3
    UNKNOWN_ORDER = 4
    ORDER_NOT_LIVE = 5
    BAD_SIDE = 6
    BAD_ORD_TYPE = 7
    BAD_TIF = 8
    BAD_EXPIRE_TIME = 9
    BAD_QTY = 10
    BAD_LOT = 11
    BELOW_MIN_QTY = 12
    ABOVE_MAX_QTY = 13
    BAD_PRICE = 14
    BAD_TICK = 15
    PRICE_LIMIT = 16
    REPLACE_BELOW_FILLED = 17
    BAD_OWNER = 18
    BAD_GROUP = 19
    BAD_REST_BOOK = 20
    BAD_CONVERSION = 21
    BAD_OP = 22
    BAD_STP = 23
    # causes of CANCELLED / EXPIRED
    CANCEL_REQUESTED = 40
    MASS_CANCEL = 41
    SELF_TRADE = 42
    UNFILLED_IOC = 43
    FOK_UNFILLABLE = 44
    EXPIRED_GTD = 45
    EXPIRED_DAY = 46


RejectReason = Reason


class Side(IntEnum):
    BUY = 1
    SELL = 2


class OrdType(IntEnum):
    MARKET = 1
    LIMIT = 2


class Tif(IntEnum):
    DAY = 0
    GTC = 1
    IOC = 3
    FOK = 4
    GTD = 6


class Stp(IntEnum):
    OFF = 0
    CANCEL_RESTING = 1
    CANCEL_INCOMING = 2
    CANCEL_BOTH = 3          # the resting order met and the incoming one


# Every field is int64 so a batch can be handed to numba as one flat int64 view (no per-field copies).
COMMAND_FIELDS = (
    "op", "time", "book", "order_id", "owner", "side", "ord_type", "tif", "price", "qty",
    "expire_time", "allowed", "rest_book", "rest_price", "stp", "num", "den", "qty_scale",
)
COMMAND_DTYPE = np.dtype([(f, np.int64) for f in COMMAND_FIELDS])
NCF = len(COMMAND_FIELDS)

EVENT_FIELDS = (
    "kind", "op", "reason", "time", "cmd_index", "book", "group", "order_id", "owner", "side",
    "price", "qty", "leaves_qty", "cum_qty", "maker_id", "taker_id", "maker_owner", "maker_leaves",
    "maker_cum", "group_qty",
)
EVENT_DTYPE = np.dtype([(f, np.int64) for f in EVENT_FIELDS])
NEF = len(EVENT_FIELDS)

LEVEL_DTYPE = np.dtype([("price", np.int64), ("qty", np.int64), ("count", np.int64)])

SNAPSHOT_DTYPE = np.dtype([(f, np.int64) for f in (
    "book", "side", "order_id", "owner", "price", "qty", "leaves_qty", "cum_qty", "tif", "expire_time")])


@dataclass(frozen=True)
class BookSpec:
    """Static rules of one book; `ref_price` (0 = none) and the conversion can change later by command."""
    tick: int
    lot: int = 1
    min_qty: int = 0
    max_qty: int = 0          # 0 = no maximum
    price_limit_bp: int = 0   # 0 = no daily limit
    ref_price: int = 0
    num: int = 1
    den: int = 1
    qty_scale: int = 1

    def __post_init__(self):
        for name in ("tick", "lot", "den", "num", "qty_scale"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"BookSpec.{name} must be positive")
        if self.min_qty < 0 or self.max_qty < 0 or self.price_limit_bp < 0 or self.ref_price < 0:
            raise ValueError("BookSpec min_qty/max_qty/price_limit_bp/ref_price must be >= 0")
        if self.num > MAX_FACTOR or self.den > MAX_FACTOR or self.qty_scale > MAX_SCALE:
            raise ValueError("BookSpec conversion factor out of range")


class OrderState(NamedTuple):
    order_id: int
    book: int      # -1 for a sweep whose remainder did not rest
    side: int
    owner: int
    price: int
    qty: int       # total quantity (group units for a sweep that did not rest)
    leaves_qty: int
    cum_qty: int
    live: bool


class Top(NamedTuple):
    bid_price: int
    bid_qty: int
    bid_count: int
    ask_price: int
    ask_qty: int
    ask_count: int


def as_specs(books) -> list[BookSpec]:
    specs = []
    for b in books:
        if isinstance(b, BookSpec):
            specs.append(b)
        elif isinstance(b, dict):
            specs.append(BookSpec(**{k: int(v) for k, v in b.items()}))
        else:
            specs.append(BookSpec(*[int(v) for v in b]))
    if not 1 <= len(specs) <= MAX_BOOKS:
        raise ValueError(f"between 1 and {MAX_BOOKS} books are supported")
    return specs


def as_groups(groups, n_books: int) -> list[list[int]]:
    """Groups come as a list (index = group id) or a dict with ids 0..G-1; members are book ids."""
    if groups is None:
        return []
    if isinstance(groups, dict):
        if sorted(groups) != list(range(len(groups))):
            raise ValueError("group ids must be 0..G-1")
        groups = [groups[g] for g in range(len(groups))]
    out = []
    for members in groups:
        ms = sorted({int(b) for b in members})
        if not ms or ms[0] < 0 or ms[-1] >= n_books:
            raise ValueError(f"group members must be book ids 0..{n_books - 1}")
        out.append(ms)
    return out


def commands(n: int) -> np.ndarray:
    """A zeroed command batch with the 'no value' defaults (-1) where 0 would mean something."""
    c = np.zeros(n, COMMAND_DTYPE)
    c["rest_book"] = -1
    return c


def command(op, **fields) -> np.ndarray:
    c = commands(1)
    c["op"] = int(op)
    for k, v in fields.items():
        c[k] = int(v)
    return c


def merge_group_depth(per_book: list[tuple[np.ndarray, np.ndarray]], factors, n: int):
    """Consolidate per-book depth onto the comparable scale.

    `factors[i] = (num, den, qty_scale)` for the i-th entry of `per_book`. Because the conversion is
    monotone, the top n consolidated levels come from the top n levels of each book.
    """
    sides = []
    for s, descending in ((0, True), (1, False)):
        acc: dict[int, list[int]] = {}
        for (levels, (num, den, scale)) in zip((pb[s] for pb in per_book), factors):
            for px, q, cnt in levels.tolist():
                cp = px * num // den
                a = acc.setdefault(cp, [0, 0])
                a[0] += q * scale
                a[1] += cnt
        keys = sorted(acc, reverse=descending)[:n]
        out = np.zeros(len(keys), LEVEL_DTYPE)
        for i, k in enumerate(keys):
            out[i] = (k, acc[k][0], acc[k][1])
        sides.append(out)
    return sides[0], sides[1]


def hash_state(snapshot: np.ndarray, book_params: np.ndarray, stp_pairs: np.ndarray) -> str:
    """sha256 over per-book [ref_price, num, den, qty_scale], sorted non-OFF (owner, stp) pairs, and the
    resting orders in canonical order (book, BUY then SELL, best level first, FIFO)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(book_params, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(stp_pairs, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(snapshot).tobytes())
    return h.hexdigest()
