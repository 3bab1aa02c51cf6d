"""Numba primitives of one book's rows: validation, the id table, order rows, events, the GTD heap.

Pure functions over the arena views described in `layout`: the raw-pointer intrinsics (_load,
_store, prefetch), the price and quantity checks, the open-addressing id table (lookup, insert,
tombstone), taking and freeing order rows, writing event rows and the GTD expiry heap. A free row's
id leaves the table in the same step, so "a live row's id is in the table" holds between commands.
Not here: price levels, the ladder and the FIFO queues (`kernels_levels`), the command handlers
(`kernels_orders`, `kernels_sweep`, `kernels_bulk`). Nothing here allocates, reads a clock or raises.
"""
from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .layout import (
    ID_DELETED, K_BP, K_LOT, K_MAX, K_MIN, K_REF, K_TICK, M_HDISP, M_IDX, M_NE, M_NHEAP, M_NHT, M_NORD,
    M_NROWS, M_OFREE, M_OP, M_TIME, O_BOOK, O_CUM, O_ID, O_LEAVES, O_LEVEL, O_NEXT, O_OWNER, O_PRICE, O_QTY,
    O_SIDE, ROW_FREE,
)
from .types import MAX_PRICE, MAX_QTY, Reason

R_NONE = int(Reason.NONE)
R_BAD_PRICE = int(Reason.BAD_PRICE)
R_BAD_TICK = int(Reason.BAD_TICK)
R_PRICE_LIMIT = int(Reason.PRICE_LIMIT)
R_BAD_QTY = int(Reason.BAD_QTY)
R_BAD_LOT = int(Reason.BAD_LOT)
R_BELOW_MIN = int(Reason.BELOW_MIN_QTY)
R_ABOVE_MAX = int(Reason.ABOVE_MAX_QTY)


@intrinsic
def _as_ptr(typingctx, addr):
    """int64 address -> int64* (for carray views that carry no reference count)."""
    sig = types.CPointer(types.int64)(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(types.CPointer(types.int64)))
    return sig, codegen


@intrinsic
def _store(typingctx, addr, index, value):
    """((int64*) addr)[index] = value: a plain store (no array object, so fine without NRT)."""
    sig = types.void(types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        ptr = builder.inttoptr(args[0], context.get_value_type(types.CPointer(types.int64)))
        builder.store(args[2], builder.gep(ptr, [args[1]]))
    return sig, codegen


@intrinsic
def _load(typingctx, addr, index):
    """((int64*) addr)[index]."""
    sig = types.int64(types.int64, types.int64)

    def codegen(context, builder, signature, args):
        ptr = builder.inttoptr(args[0], context.get_value_type(types.CPointer(types.int64)))
        return builder.load(builder.gep(ptr, [args[1]]))
    return sig, codegen


@intrinsic
def prefetch(typingctx, addr):
    """Hint the CPU to start loading the cache line at int64 address `addr` (no fault if invalid)."""
    sig = types.void(types.int64)

    def codegen(context, builder, signature, args):
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0")
        builder.call(fn, [builder.inttoptr(args[0], i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    return sig, codegen


@njit(cache=True, _nrt=False, inline="always")
def price_reason(K, b, price):
    if price <= 0 or price > MAX_PRICE:
        return R_BAD_PRICE
    tick = K[b, K_TICK]
    if tick != 1 and price % tick != 0:
        return R_BAD_TICK
    ref = K[b, K_REF]
    bp = K[b, K_BP]
    if bp != 0 and ref != 0:
        band = ref * bp // 10000
        if price < ref - band or price > ref + band:
            return R_PRICE_LIMIT
    return R_NONE


@njit(cache=True, _nrt=False, inline="always")
def qty_reason(K, b, qty):
    if qty <= 0 or qty > MAX_QTY:
        return R_BAD_QTY
    lot = K[b, K_LOT]
    if lot != 1 and qty % lot != 0:
        return R_BAD_LOT
    if qty < K[b, K_MIN]:
        return R_BELOW_MIN
    if K[b, K_MAX] != 0 and qty > K[b, K_MAX]:
        return R_ABOVE_MAX
    return R_NONE


@njit(cache=True, _nrt=False, inline="always")
def id_slot(HT, M, oid):
    """Slot of `oid` in the id table, or -1: probes at most M_HDISP slots past its home. Every slot
    it reads is `& mask`, in [0, mask] whatever the sign of `oid`; callers test the -1."""
    mask = HT.shape[0] - 1
    i = (oid ^ (oid >> 32)) & mask
    for _ in range(M[M_HDISP] + 1):
        k = HT[i, 0]
        if k == oid:
            return i
        if k == 0:
            return -1
        i = (i + 1) & mask
    return -1


@njit(cache=True, _nrt=False, inline="always")
def find_order(HT, M, oid):
    i = id_slot(HT, M, oid)
    if i < 0:
        return -1
    return HT[i, 1]


@njit(cache=True, _nrt=False, inline="always")
def add_id(HT, M, oid, row):
    """Insert an id known to be absent, into the first deleted or empty slot of its probe run."""
    mask = HT.shape[0] - 1
    home = (oid ^ (oid >> 32)) & mask
    i = home
    while HT[i, 0] > 0:
        i = (i + 1) & mask
    if HT[i, 0] == 0:
        M[M_NHT] += 1
    HT[i, 0] = oid
    HT[i, 1] = row
    if ((i - home) & mask) > M[M_HDISP]:
        M[M_HDISP] = (i - home) & mask


@njit(cache=True, _nrt=False, inline="always")
def new_row(O, M):
    """A row for a new order: the most recently freed one, else the next never used."""
    r = M[M_OFREE]
    if r >= 0:
        M[M_OFREE] = O[r, O_NEXT]
    else:
        r = M[M_NORD]
        M[M_NORD] = r + 1
    M[M_NROWS] += 1
    return r


@njit(cache=True, _nrt=False, inline="always")
def free_row(O, HT, M, r):
    """Order `r` has ended (its events are written): forget its id, put the row on the free list.
    Fields other than the link and the marker keep their values, so a handler may still read them
    for the rest of the command (no row is taken again before the next command)."""
    oid = O[r, O_ID]
    if M[M_HDISP] == 0:   # every id sits in its home slot: store without probing (no load to wait for)
        HT[(oid ^ (oid >> 32)) & (HT.shape[0] - 1), 0] = ID_DELETED
    else:
        # A live row's id is in the table within M_HDISP of its home, so the probe finds it; were that
        # broken, id_slot's -1 must not become a store just before HT (plain indexing: no wraparound)
        i = id_slot(HT, M, oid)
        if i >= 0:
            HT[i, 0] = ID_DELETED
    O[r, O_LEVEL] = ROW_FREE
    O[r, O_NEXT] = M[M_OFREE]
    M[M_OFREE] = r
    M[M_NROWS] -= 1


@njit(cache=True, _nrt=False, inline="always")
def emit(E, M, kind, reason, book, group, oid, owner, side, price, qty, leaves, cum,
         maker_id, taker_id, maker_owner, maker_leaves, maker_cum, group_qty):
    n = M[M_NE]
    r = E[n]
    r[0] = kind
    r[1] = M[M_OP]
    r[2] = reason
    r[3] = M[M_TIME]
    r[4] = M[M_IDX]
    r[5] = book
    r[6] = group
    r[7] = oid
    r[8] = owner
    r[9] = side
    r[10] = price
    r[11] = qty
    r[12] = leaves
    r[13] = cum
    r[14] = maker_id
    r[15] = taker_id
    r[16] = maker_owner
    r[17] = maker_leaves
    r[18] = maker_cum
    r[19] = group_qty
    M[M_NE] = n + 1


@njit(cache=True, _nrt=False, inline="always")
def emit_order(E, M, O, row, kind, reason, group):
    o = O[row]
    emit(E, M, kind, reason, o[O_BOOK], group, o[O_ID], o[O_OWNER], o[O_SIDE], o[O_PRICE], o[O_QTY],
         o[O_LEAVES], o[O_CUM], 0, 0, 0, 0, 0, 0)


@njit(cache=True, _nrt=False)
def heap_push(X, M, key, row):
    i = M[M_NHEAP]
    M[M_NHEAP] = i + 1
    while i > 0:
        parent = (i - 1) >> 1
        if X[parent, 0] <= key:
            break
        X[i, 0] = X[parent, 0]
        X[i, 1] = X[parent, 1]
        i = parent
    X[i, 0] = key
    X[i, 1] = row


@njit(cache=True, _nrt=False)
def heap_pop_row(X, M):
    """Remove the smallest entry and return its row (caller checked the heap is not empty)."""
    top = X[0, 1]
    n = M[M_NHEAP] - 1
    M[M_NHEAP] = n
    key, row = X[n, 0], X[n, 1]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and X[child + 1, 0] < X[child, 0]:
            child += 1
        if X[child, 0] >= key:
            break
        X[i, 0] = X[child, 0]
        X[i, 1] = X[child, 1]
        i = child
    if n > 0:
        X[i, 0] = key
        X[i, 1] = row
    # park the popped row in the slot the heap just gave up: a run of pops leaves the due rows in
    # X[n_after:n_before] without any allocation
    X[n, 1] = top
    return top
