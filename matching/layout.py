"""Memory layout of the numba engine: one flat int64 arena holding every table, plus its growth.

Why one arena: numba charges per array argument at every Python->numba call, so the whole engine
state crosses as a single array (plus the command and event buffers). The kernels slice typed views
out of it from offsets stored in its header. This module owns the field numbering and the
allocate / grow-and-copy logic; it does NOT implement any matching rule.

Tables (rows x fields, int64):
  K  books      [B, NKF]      rules, reference price, conversion, per-side level counts
  G  groups     [G]           bitmask of member books
  S  sides      [2B, capS]    level ids sorted worst..best (best at the end, where most changes happen)
  L  levels     [capL, NLF]   price, FIFO head/tail, total leaves, order count, free-list link
  O  orders     [capO, NOF]   one row per live order; a row is recycled (free list) when its order ends
  HT order ids  [capH, 2]     open addressing, key = order id (> 0, -1 = deleted), value = row in O
  W  owners     [capW, 2]     open addressing, key = owner + 1, value = STP mode
  X  GTD heap   [capO, 2]     min-heap of (expire_time, row) so an expiry call touches only due orders
  Q  ladders    [2B, NQ]      per book side, level id + 1 (0 = none) by price: slot (price - base) / tick

Price ladders: finding the level of a price by bisecting the sorted side cost a few unpredictable
branches per order; most orders join a level that exists, so each side also keeps a dense window of
NQ ticks (base price in the book row, K_QB + side) mapping a price straight to its level. A price
outside the window falls back to the bisection, so the ladder only speeds up and never decides.
When a new level leaves the side's best price outside the window's middle half, the window is
re-centred on it (`kernels_levels.recentre`, a pass over that side's levels). The sorted side stays
the record of order (best level, depth, walks); the ladder is an index over it.

Order rows: the engine knows only live orders. When an order ends (filled, cancelled, expired,
rejected after acceptance) its id leaves HT (a tombstone) and its row goes on a free list (linked
through O_NEXT, O_LEVEL = ROW_FREE) that the next new order takes first, so the O table is as big
as the most orders ever live at once, not as the number ever accepted. M_NORD is the rows' high-water
mark, M_NROWS the rows in use, M_NHT the id slots taken (live + tombstones). Ids mostly increase, so
they mostly sit in their home slot; M_HDISP, the largest distance of any id from its home, bounds
every lookup (without it, looking up an ended id would walk the whole band of tombstones). The GTD
heap keeps stale entries of ended orders until they come due or `grow` compacts it.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .types import Tif

# header slots
M_NB, M_NG, M_CAPO, M_CAPL, M_CAPS, M_CAPH, M_CAPW = 0, 1, 2, 3, 4, 5, 6
M_OFFK, M_OFFG, M_OFFS, M_OFFL, M_OFFO, M_OFFH, M_OFFW = 7, 8, 9, 10, 11, 12, 13
M_NORD, M_LHW, M_LFREE, M_LLIVE, M_LIVE, M_SEQ, M_NOWN, M_MAXSIDE = 14, 15, 16, 17, 18, 19, 20, 21
M_NEXT, M_NE, M_OP, M_TIME, M_IDX = 22, 23, 24, 25, 26
M_OFFX, M_NHEAP, M_RESUME, M_APPEND = 27, 28, 29, 30
# address of the engine's best-price table (int64[2, B], bids then asks, 0 = side empty). It lives
# outside the arena so Python's view of it survives growth; the engine owns it and keeps it alive.
M_TOPS = 31
# where the engine's current command batch and event buffer live (address, rows): the one-command
# kernel takes only the arena, since each array argument costs tens of ns to unbox per call
M_CPTR, M_CROWS, M_EPTR, M_EROWS = 32, 33, 34, 35
# order-row recycling: free-list head (-1 = empty), rows in use, id-table slots taken (with tombstones),
# and the farthest any id sits from its home slot (a lookup of an absent id stops past it)
M_OFREE, M_NROWS, M_NHT, M_HDISP = 36, 37, 38, 39
# where the ladders are, and the layout's version (an exported arena of another layout is refused)
M_OFFQ, M_LAYOUT = 40, 41
HDR = 48
LAYOUT = 0x474C_0003  # "GL" + 3: price ladders (Q table, K_QB); an arena of layout 2 has no such mark

# slots per ladder: the window covers NQ ticks around the best price of a side
NQ = 4096

# book fields
K_TICK, K_LOT, K_MIN, K_MAX, K_BP, K_REF, K_NUM, K_DEN, K_SCALE, K_NLEV = range(10)
K_QB = 11  # K_NLEV + side (0 = bids, 1 = asks): levels per side; K_QB + side: the side's ladder base price
NKF = 16

# level fields
L_PRICE, L_HEAD, L_TAIL, L_QTY, L_COUNT, L_NEXT = range(6)
NLF = 6

# order fields
# The first 8 fields (one 64-byte line once rows are aligned) are all that matching, unlinking and
# trade reporting touch for a resting order; the rest is read when an order enters or is reported.
(O_NEXT, O_PREV, O_LEVEL, O_LEAVES, O_CUM, O_OWNER, O_ID, O_LIVE,
 O_SEQ, O_BOOK, O_SIDE, O_PRICE, O_QTY, O_TIF, O_EXPIRE, O_TYPE) = range(16)
NOF = 16
TIF_GTD = int(Tif.GTD)
ROW_FREE = -2      # O_LEVEL of a row on the free list (-1: an order that is not resting)
ID_DELETED = -1    # HT key of a deleted id (a tombstone: lookups probe past it, inserts reuse it)


def _pow2(n: int) -> int:
    p = 16
    while p < n:
        p *= 2
    return p


def allocate(nb: int, ng: int, cap_o: int, cap_l: int, cap_s: int, cap_h: int, cap_w: int) -> np.ndarray:
    cap_h, cap_w = _pow2(cap_h), _pow2(cap_w)
    sizes = [nb * NKF, max(ng, 1), 2 * nb * cap_s, cap_l * NLF, cap_o * NOF, cap_h * 2, cap_w * 2, cap_o * 2,
             2 * nb * NQ]
    offs, pos = [], HDR
    for s in sizes:
        offs.append(pos)
        pos += -(-s // 8) * 8   # every table starts on a 64-byte line
    raw = np.empty(pos + 8, np.int64)
    skip = (-raw.ctypes.data % 64) // 8
    a = raw[skip:skip + pos]
    a.fill(0)  # touch every page now, at allocation, rather than on the matching path
    a[[M_NB, M_NG, M_CAPO, M_CAPL, M_CAPS, M_CAPH, M_CAPW]] = [nb, ng, cap_o, cap_l, cap_s, cap_h, cap_w]
    a[M_OFFK:M_OFFW + 1] = offs[:7]
    a[M_OFFX] = offs[7]
    a[M_OFFQ] = offs[8]
    a[M_LAYOUT] = LAYOUT
    a[M_LFREE] = -1
    a[M_OFREE] = -1
    return a


def views(a: np.ndarray):
    """Python-side views (same shapes as the kernels' views), for queries and growth."""
    nb, ng = int(a[M_NB]), int(a[M_NG])
    cap_o, cap_l, cap_s, cap_h, cap_w = (int(x) for x in a[M_CAPO:M_CAPW + 1])
    ok, og, os_, ol, oo, oh, ow = (int(x) for x in a[M_OFFK:M_OFFW + 1])
    ox, oq = int(a[M_OFFX]), int(a[M_OFFQ])
    return (a[ok:ok + nb * NKF].reshape(nb, NKF), a[og:og + max(ng, 1)],
            a[os_:os_ + 2 * nb * cap_s].reshape(2 * nb, cap_s), a[ol:ol + cap_l * NLF].reshape(cap_l, NLF),
            a[oo:oo + cap_o * NOF].reshape(cap_o, NOF), a[oh:oh + cap_h * 2].reshape(cap_h, 2),
            a[ow:ow + cap_w * 2].reshape(cap_w, 2), a[ox:ox + cap_o * 2].reshape(cap_o, 2),
            a[oq:oq + 2 * nb * NQ].reshape(2 * nb, NQ))


def grow(a: np.ndarray, need_orders: int = 1, need_levels: int = 1, need_side: int = 1,
         need_owners: int = 1) -> np.ndarray:
    """Return an arena holding the same state with room for the needs; capacities at least double
    when short. The copy also drops the id table's tombstones (ids are re-inserted from the rows in
    use) and the GTD heap's stale entries, so it is also how a full id table or heap is cleaned."""
    nb, ng = int(a[M_NB]), int(a[M_NG])
    cap_o, cap_l, cap_s, cap_h, cap_w = (int(x) for x in a[M_CAPO:M_CAPW + 1])
    llive, maxside, nown = int(a[M_LLIVE]), int(a[M_MAXSIDE]), int(a[M_NOWN])
    nrows = int(a[M_NROWS])
    _, _, _, _, oa, _, _, xa, _ = views(a)
    heap = _live_heap(xa[:int(a[M_NHEAP])], oa)
    # rows: room for the live orders, and the heap (one row per entry) at most half full after
    new_o = cap_o
    if nrows + need_orders > cap_o or 2 * (len(heap) + 1) > cap_o:
        new_o = max(2 * cap_o, nrows + need_orders, 2 * (len(heap) + 1))
    new_l = cap_l if llive + need_levels <= cap_l else max(2 * cap_l, llive + need_levels)
    new_s = cap_s if maxside + need_side <= cap_s else max(2 * cap_s, maxside + need_side)
    # ids: at most a quarter full right after the rebuild, so a cleaning is followed by many inserts
    new_h = cap_h if 4 * (nrows + need_orders) <= cap_h else _pow2(4 * (nrows + need_orders))
    new_w = cap_w if 2 * (nown + need_owners) <= cap_w else _pow2(4 * (nown + need_owners))
    return move(a, allocate(nb, ng, new_o, new_l, new_s, new_h, new_w), heap)


def move(a: np.ndarray, b: np.ndarray, heap: np.ndarray | None = None) -> np.ndarray:
    """Copy `a`'s state into `b`, a fresh arena from `allocate` for the same books and groups whose
    capacities are all at least `a`'s (see `fits`); returns `b`. `heap`: `a`'s live GTD entries
    if already computed."""
    cap_s = int(a[M_CAPS])
    nord, nrows, lhw = int(a[M_NORD]), int(a[M_NROWS]), int(a[M_LHW])
    ka, ga, sa, la, oa, ha, wa, xa, qa = views(a)
    if heap is None:
        heap = _live_heap(xa[:int(a[M_NHEAP])], oa)
    b[M_NORD:M_HDR_END] = a[M_NORD:M_HDR_END]
    b[M_APPEND] = a[M_APPEND]
    b[M_TOPS] = a[M_TOPS]
    b[M_CPTR:M_EROWS + 1] = a[M_CPTR:M_EROWS + 1]
    b[M_OFREE], b[M_NROWS] = a[M_OFREE], nrows
    kb, gb, sb, lb, ob, hb, wb, xb, qb = views(b)
    qb[:] = qa
    b[M_NHEAP] = len(heap)
    xb[:len(heap)] = heap
    kb[:] = ka
    gb[:] = ga
    sb[:, :cap_s] = sa
    lb[:lhw] = la[:lhw]
    ob[:nord] = oa[:nord]
    b[M_NHT], b[M_HDISP] = _rebuild_ids(hb, ob, nord)
    _rebuild_owners(wb, wa)
    return b


def rehash_ids(a: np.ndarray) -> bool:
    """Clear the id table's tombstones in place (ids re-inserted from the rows in use) when that
    leaves it at most a quarter full; False when it needs to grow instead (see `grow`). Costs one
    pass over the id table and the order rows, no copy of the arena."""
    nrows, cap_h = int(a[M_NROWS]), int(a[M_CAPH])
    if 4 * (nrows + 1) > cap_h:
        return False
    o, ht = views(a)[4:6]
    ht.fill(0)
    a[M_NHT], a[M_HDISP] = _rebuild_ids(ht, o, int(a[M_NORD]))
    return True


def _live_heap(x: np.ndarray, o: np.ndarray) -> np.ndarray:
    """The GTD heap's entries that still stand for a resting GTD order (one per row), sorted by time:
    a sorted array is a valid min-heap."""
    rows, keys = x[:, 1], x[:, 0]
    ok = (o[rows, O_LEVEL] >= 0) & (o[rows, O_TIF] == TIF_GTD) & (o[rows, O_EXPIRE] == keys)
    kept = x[ok]
    _, first = np.unique(kept[:, 1], return_index=True)
    kept = kept[first]
    return kept[np.lexsort((kept[:, 1], kept[:, 0]))]


M_HDR_END = M_IDX + 1


@njit(cache=True, inline="always")
def slot_of(ht, key):
    """Row holding `key` in an open-addressing table, or the empty row where it would go."""
    mask = ht.shape[0] - 1
    # Gateways hand out (mostly) increasing ids, so keeping the low bits puts consecutive orders in
    # consecutive rows: lookups of recent orders stay in cache. The fold mixes in a session prefix.
    i = (key ^ (key >> 32)) & mask
    while ht[i, 0] != 0 and ht[i, 0] != key:
        i = (i + 1) & mask
    return i


@njit(cache=True)
def _rebuild_ids(ht, o, nord):
    """Insert the ids of the rows in use; returns (ids inserted, largest distance from home)."""
    n, far, mask = 0, 0, ht.shape[0] - 1
    for r in range(nord):
        if o[r, O_LEVEL] != ROW_FREE:
            key = o[r, O_ID]
            i = slot_of(ht, key)
            ht[i, 0] = key
            ht[i, 1] = r
            n += 1
            far = max(far, (i - ((key ^ (key >> 32)) & mask)) & mask)
    return n, far


@njit(cache=True)
def _rebuild_owners(wb, wa):
    for r in range(wa.shape[0]):
        if wa[r, 0] != 0:
            i = slot_of(wb, wa[r, 0])
            wb[i, 0] = wa[r, 0]
            wb[i, 1] = wa[r, 1]
