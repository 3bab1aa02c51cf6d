"""Numba primitives of one book: validation, price levels, FIFO queues, event writing.

Pure functions over the arena views described in `layout`; `kernels` composes them into commands.
Every mutation here keeps four invariants the matcher relies on: a side's level ids stay sorted with
the best level last; a level's qty is the sum of its orders' leaves; a level with no orders is freed;
M_LIVE counts resting orders. Nothing here allocates, reads a clock or raises on bad input.
"""
from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .layout import (
    ID_DELETED, K_BP, K_LOT, K_MAX, K_MIN, K_NLEV, K_QB, K_REF, K_TICK, L_COUNT, L_HEAD, L_NEXT, L_PRICE, L_QTY,
    L_TAIL, M_HDISP, M_OFFQ, NQ, M_IDX, M_LFREE, M_NHT, M_NORD, M_NROWS, M_OFREE, ROW_FREE, M_LHW, M_LIVE, M_LLIVE, M_MAXSIDE, M_NB, M_NE, M_NHEAP, M_OP, M_SEQ, M_TIME,
    M_TOPS, O_BOOK,
    O_CUM, O_ID, O_LEAVES, O_LEVEL, O_LIVE, O_NEXT, O_OWNER, O_PREV, O_PRICE, O_QTY, O_SEQ, O_SIDE,
    slot_of,
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
def set_top(M, b, s, price):
    """Record the best price of side `s` of book `b` (0 = empty) in the engine's top table, which
    Python reads as a plain array (Engine.top_prices) without a kernel call."""
    _store(M[M_TOPS], s * M[M_NB] + b, price)


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


@njit(cache=True, _nrt=False, inline="always")
def best_level(K, S, b, s):
    n = K[b, K_NLEV + s]
    if n == 0:
        return -1
    return S[2 * b + s, n - 1]


@njit(cache=True, _nrt=False, inline="always")
def _position(K, S, L, b, s, price):
    """First index whose level is not worse than `price` (bids ascend, asks descend)."""
    sgn = 1 if s == 0 else -1
    key = price * sgn
    row = S[2 * b + s]
    n = K[b, K_NLEV + s]
    # most traffic is at or near the top of book, so probe the last slots before bisecting
    if n == 0 or L[row[n - 1], L_PRICE] * sgn < key:
        return n
    lo, hi = 0, n - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if L[row[mid], L_PRICE] * sgn < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, _nrt=False, inline="always")
def ladder_at(M, b, s):
    """Address of the first slot of side `s` of book `b` in the ladder table Q [2B, NQ] (see
    layout); slots are read and written through _load/_store (a carray view would need the NRT)."""
    return M.ctypes.data + (M[M_OFFQ] + (2 * b + s) * NQ) * 8


@njit(cache=True, _nrt=False, inline="always")
def ladder_slot(K, b, s, price):
    """Slot of `price` in the ladder of side `s` of book `b`, or -1 outside its window."""
    q = price - K[b, K_QB + s]
    tick = K[b, K_TICK]
    if tick != 1:
        q = q // tick
    if q < 0 or q >= NQ:
        return -1
    return q


@njit(cache=True, _nrt=False)
def recentre(K, S, L, q, b, s):
    """Move side `s` of book `b`'s ladder window (slots at address `q`) so its best price sits in
    the middle: clear the slots of its levels, move the base, fill the slots again (one pass over
    the side's levels)."""
    n = K[b, K_NLEV + s]
    row = S[2 * b + s]
    for j in range(n):
        i = ladder_slot(K, b, s, L[row[j], L_PRICE])
        if i >= 0:
            _store(q, i, 0)
    # n >= 1: the only caller, add_level, has just put a level on this side
    K[b, K_QB + s] = L[row[n - 1], L_PRICE] - (NQ // 2) * K[b, K_TICK]
    for j in range(n):
        i = ladder_slot(K, b, s, L[row[j], L_PRICE])
        if i >= 0:
            _store(q, i, row[j] + 1)


@njit(cache=True, _nrt=False)
def add_level(K, S, L, M, q, b, s, price, qi, pos):
    """A new, empty level at `price` on side `s` of book `b`, placed in the sorted side (at `pos`,
    -1 = not searched yet) and in the ladder (`q`, slot `qi`, -1 outside the window); returns its
    id. Not inlined: a price gets a new level far less often than an order joins one, and one
    compiled copy instead of one per caller keeps the cold compile short."""
    n = K[b, K_NLEV + s]
    row = S[2 * b + s]
    if pos < 0:
        pos = _position(K, S, L, b, s, price)
    lid = M[M_LFREE]
    if lid >= 0:
        M[M_LFREE] = L[lid, L_NEXT]
    else:
        lid = M[M_LHW]
        M[M_LHW] = lid + 1
    M[M_LLIVE] += 1
    L[lid, L_PRICE] = price
    L[lid, L_HEAD] = -1
    L[lid, L_TAIL] = -1
    L[lid, L_QTY] = 0
    L[lid, L_COUNT] = 0
    for j in range(n, pos, -1):   # j - 1 >= pos >= 0 (_position never returns a negative)
        row[j] = row[j - 1]
    row[pos] = lid
    K[b, K_NLEV + s] = n + 1
    if pos == n:
        set_top(M, b, s, price)
    if n + 1 > M[M_MAXSIDE]:
        M[M_MAXSIDE] = n + 1
    if qi >= 0:
        _store(q, qi, lid + 1)
    # keep the window around the touch: re-centre when the best price leaves its middle half
    bi = ladder_slot(K, b, s, L[row[n], L_PRICE])
    if bi < NQ // 4 or bi >= NQ - NQ // 4:
        recentre(K, S, L, q, b, s)
    return lid


@njit(cache=True, _nrt=False, inline="always")
def link(K, S, L, O, M, r):
    """Append order row `r` at the tail of its price level (creating the level if needed)."""
    b, s, price = O[r, O_BOOK], O[r, O_SIDE] - 1, O[r, O_PRICE]
    q = ladder_at(M, b, s)
    qi = ladder_slot(K, b, s, price)
    pos = -1
    if qi >= 0:
        lid = _load(q, qi) - 1
    else:
        pos = _position(K, S, L, b, s, price)
        row = S[2 * b + s]
        lid = row[pos] if pos < K[b, K_NLEV + s] and L[row[pos], L_PRICE] == price else -1
    if lid < 0:
        lid = add_level(K, S, L, M, q, b, s, price, qi, pos)
    tail = L[lid, L_TAIL]
    O[r, O_PREV] = tail
    O[r, O_NEXT] = -1
    if tail >= 0:
        O[tail, O_NEXT] = r
    else:
        L[lid, L_HEAD] = r
    L[lid, L_TAIL] = r
    L[lid, L_QTY] += O[r, O_LEAVES]
    L[lid, L_COUNT] += 1
    O[r, O_LEVEL] = lid
    O[r, O_LIVE] = 1
    M[M_SEQ] += 1
    O[r, O_SEQ] = M[M_SEQ]
    M[M_LIVE] += 1


@njit(cache=True, _nrt=False)
def drop_inner_level(K, S, L, b, s, lid):
    """Take level `lid`, not the best one, out of side `s` of book `b`'s sorted levels: a search and
    a shift. Not inlined: it is rare (a cancel or expiry emptying a level behind the touch), and one
    compiled copy instead of one per caller of `unlink` keeps the cold compile short."""
    n = K[b, K_NLEV + s]
    row = S[2 * b + s]
    pos = _position(K, S, L, b, s, L[lid, L_PRICE])
    for j in range(pos, n - 1):
        row[j] = row[j + 1]
    K[b, K_NLEV + s] = n - 1


@njit(cache=True, _nrt=False, inline="always")
def unlink(K, S, L, O, M, r):
    """Take order row `r` out of its level, freeing the level when it empties.
    `r` must rest (O_LIVE == 1), so its O_LEVEL is a level id, not -1 (not resting) or ROW_FREE (-2),
    which would index just before L: every caller tested O_LIVE or took `r` from a level's queue."""
    lid = O[r, O_LEVEL]
    prv, nxt = O[r, O_PREV], O[r, O_NEXT]
    if prv >= 0:
        O[prv, O_NEXT] = nxt
    else:
        L[lid, L_HEAD] = nxt
    if nxt >= 0:
        O[nxt, O_PREV] = prv
    else:
        L[lid, L_TAIL] = prv
    L[lid, L_QTY] -= O[r, O_LEAVES]
    L[lid, L_COUNT] -= 1
    O[r, O_LIVE] = 0
    O[r, O_LEVEL] = -1
    M[M_LIVE] -= 1
    if L[lid, L_COUNT] == 0:
        b, s = O[r, O_BOOK], O[r, O_SIDE] - 1
        n = K[b, K_NLEV + s]   # >= 1: level `lid` is still on this side
        if S[2 * b + s, n - 1] == lid:
            # the best level, as when a trade takes its last order: the next one becomes the best
            set_top(M, b, s, L[S[2 * b + s, n - 2], L_PRICE] if n > 1 else 0)
            K[b, K_NLEV + s] = n - 1
        else:
            drop_inner_level(K, S, L, b, s, lid)
        qi = ladder_slot(K, b, s, L[lid, L_PRICE])
        if qi >= 0:
            _store(ladder_at(M, b, s), qi, 0)
        L[lid, L_NEXT] = M[M_LFREE]
        M[M_LFREE] = lid
        M[M_LLIVE] -= 1


@njit(cache=True, _nrt=False, inline="always")
def kill(K, S, L, O, HT, M, E, r, kind, reason, group):
    """End order `r` (resting or not) with a CANCELLED/EXPIRED event and free its row."""
    if O[r, O_LIVE] != 0:
        unlink(K, S, L, O, M, r)
    O[r, O_LEAVES] = 0
    emit_order(E, M, O, r, kind, reason, group)
    free_row(O, HT, M, r)



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
