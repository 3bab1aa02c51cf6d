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
  O  orders     [capO, NOF]   one row per accepted order, kept after it ends (order_state, duplicates)
  HT order ids  [capH, 2]     open addressing, key = order id (> 0), value = row in O
  W  owners     [capW, 2]     open addressing, key = owner + 1, value = STP mode
  X  GTD heap   [capO, 2]     min-heap of (expire_time, row) so an expiry call touches only due orders
"""
from __future__ import annotations

import numpy as np
from numba import njit

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
HDR = 40

# book fields
K_TICK, K_LOT, K_MIN, K_MAX, K_BP, K_REF, K_NUM, K_DEN, K_SCALE, K_NLEV = range(10)
NKF = 12  # K_NLEV + side (0 = bids, 1 = asks)

# level fields
L_PRICE, L_HEAD, L_TAIL, L_QTY, L_COUNT, L_NEXT = range(6)
NLF = 6

# order fields
# The first 8 fields (one 64-byte line once rows are aligned) are all that matching, unlinking and
# trade reporting touch for a resting order; the rest is read when an order enters or is reported.
(O_NEXT, O_PREV, O_LEVEL, O_LEAVES, O_CUM, O_OWNER, O_ID, O_LIVE,
 O_SEQ, O_BOOK, O_SIDE, O_PRICE, O_QTY, O_TIF, O_EXPIRE, O_TYPE) = range(16)
NOF = 16


def _pow2(n: int) -> int:
    p = 16
    while p < n:
        p *= 2
    return p


def allocate(nb: int, ng: int, cap_o: int, cap_l: int, cap_s: int, cap_h: int, cap_w: int) -> np.ndarray:
    cap_h, cap_w = _pow2(cap_h), _pow2(cap_w)
    sizes = [nb * NKF, max(ng, 1), 2 * nb * cap_s, cap_l * NLF, cap_o * NOF, cap_h * 2, cap_w * 2, cap_o * 2]
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
    a[M_LFREE] = -1
    return a


def views(a: np.ndarray):
    """Python-side views (same shapes as the kernels' views), for queries and growth."""
    nb, ng = int(a[M_NB]), int(a[M_NG])
    cap_o, cap_l, cap_s, cap_h, cap_w = (int(x) for x in a[M_CAPO:M_CAPW + 1])
    ok, og, os_, ol, oo, oh, ow = (int(x) for x in a[M_OFFK:M_OFFW + 1])
    ox = int(a[M_OFFX])
    return (a[ok:ok + nb * NKF].reshape(nb, NKF), a[og:og + max(ng, 1)],
            a[os_:os_ + 2 * nb * cap_s].reshape(2 * nb, cap_s), a[ol:ol + cap_l * NLF].reshape(cap_l, NLF),
            a[oo:oo + cap_o * NOF].reshape(cap_o, NOF), a[oh:oh + cap_h * 2].reshape(cap_h, 2),
            a[ow:ow + cap_w * 2].reshape(cap_w, 2), a[ox:ox + cap_o * 2].reshape(cap_o, 2))


def grow(a: np.ndarray, need_orders: int = 1, need_levels: int = 1, need_side: int = 1,
         need_owners: int = 1) -> np.ndarray:
    """Return a bigger arena holding the same state; capacities at least double when short."""
    nb, ng = int(a[M_NB]), int(a[M_NG])
    cap_o, cap_l, cap_s, cap_h, cap_w = (int(x) for x in a[M_CAPO:M_CAPW + 1])
    nord, llive, maxside, nown = int(a[M_NORD]), int(a[M_LLIVE]), int(a[M_MAXSIDE]), int(a[M_NOWN])
    lhw = int(a[M_LHW])
    new_o = cap_o if nord + need_orders <= cap_o else max(2 * cap_o, nord + need_orders)
    new_l = cap_l if llive + need_levels <= cap_l else max(2 * cap_l, llive + need_levels)
    new_s = cap_s if maxside + need_side <= cap_s else max(2 * cap_s, maxside + need_side)
    new_h = cap_h if 2 * (nord + need_orders) <= cap_h else _pow2(4 * (nord + need_orders))
    new_w = cap_w if 2 * (nown + need_owners) <= cap_w else _pow2(4 * (nown + need_owners))
    b = allocate(nb, ng, new_o, new_l, new_s, new_h, new_w)
    b[M_NORD:M_HDR_END] = a[M_NORD:M_HDR_END]
    b[M_NHEAP] = a[M_NHEAP]
    b[M_APPEND] = a[M_APPEND]
    b[M_TOPS] = a[M_TOPS]
    b[M_CPTR:M_EROWS + 1] = a[M_CPTR:M_EROWS + 1]
    ka, ga, sa, la, oa, ha, wa, xa = views(a)
    kb, gb, sb, lb, ob, hb, wb, xb = views(b)
    nheap = int(a[M_NHEAP])
    xb[:nheap] = xa[:nheap]
    kb[:] = ka
    gb[:] = ga
    sb[:, :cap_s] = sa
    lb[:lhw] = la[:lhw]
    ob[:nord] = oa[:nord]
    _rebuild_ids(hb, ob, nord)
    _rebuild_owners(wb, wa)
    return b


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
    for r in range(nord):
        i = slot_of(ht, o[r, O_ID])
        ht[i, 0] = o[r, O_ID]
        ht[i, 1] = r


@njit(cache=True)
def _rebuild_owners(wb, wa):
    for r in range(wa.shape[0]):
        if wa[r, 0] != 0:
            i = slot_of(wb, wa[r, 0])
            wb[i, 0] = wa[r, 0]
            wb[i, 1] = wa[r, 1]
