"""Numba primitives of one book's price levels: the sorted sides, the price ladder, the FIFO queues.

Pure functions over the arena views described in `layout`; `kernels_orders` and the other handlers
compose them into commands. Every mutation here keeps the invariants the matcher relies on: a
side's level ids stay sorted with the best level last; a level's qty is the sum of its orders'
leaves; a level with no orders is freed (so a level on a side always has a head order); M_LIVE
counts resting orders, and exactly the resting rows have O_LIVE == 1 and a level id in O_LEVEL.
`kill` (end an order: unlink, event, free row) lives here as the one place those meet.
Not here: the id table, order rows, events and the heap (`kernels_book`). Nothing here allocates,
reads a clock or raises on bad input.
"""
from __future__ import annotations

from numba import njit

from .kernels_book import _load, _store, emit_order, free_row
from .layout import (
    K_NLEV, K_QB, K_TICK, L_COUNT, L_HEAD, L_NEXT, L_PRICE, L_QTY, L_TAIL, M_LFREE, M_LHW, M_LIVE, M_LLIVE,
    M_MAXSIDE, M_NB, M_OFFQ, M_SEQ, M_TOPS, NQ, O_BOOK, O_LEAVES, O_LEVEL, O_LIVE, O_NEXT, O_PREV, O_PRICE,
    O_SEQ, O_SIDE,
)


@njit(cache=True, _nrt=False, inline="always")
def set_top(M, b, s, price):
    """Record the best price of side `s` of book `b` (0 = empty) in the engine's top table, which
    Python reads as a plain array (Engine.top_prices) without a kernel call."""
    _store(M[M_TOPS], s * M[M_NB] + b, price)


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
