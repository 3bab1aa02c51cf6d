"""Numba handlers for commands that touch many orders: MASS_CANCEL and EXPIRE.

They need scratch arrays, so they run with numba's reference counting on (the per-command loop runs
without it and hands these commands back to `kernels.run`). Events come out in the canonical order
(book, bids then asks, best price first, FIFO) that the reference book produces by walking its levels.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .kernels_book import emit, heap_pop_row
from .kernels_levels import kill
from .kernels_orders import (
    BUY, CANCELLED, C_BOOK, C_OID, C_OWNER, C_TIF, C_TIME, DAY, EXPIRED, GTD, MC_REPORT, R_BAD_BOOK,
    R_BAD_OWNER, R_EXP_DAY, R_EXP_GTD, R_MASS, R_NONE, _reject,
)
from .layout import (
    K_NLEV, L_HEAD, M_LIVE, M_NB, M_NHEAP, O_BOOK, O_EXPIRE, O_LIVE, O_NEXT, O_OWNER, O_PRICE, O_SEQ,
    O_SIDE, O_TIF,
)


@njit(cache=True)
def _collect(K, S, L, O, M, book, owner, t, day, out, why):
    """Resting orders in canonical order (book, bids then asks, best level first, FIFO).

    owner >= -1 selects by owner (mass cancel); owner == -2 selects by expiry instead."""
    n_out = 0
    b0, b1 = (0, M[M_NB]) if book == -1 else (book, book + 1)
    for b in range(b0, b1):
        for s in range(2):
            row = S[2 * b + s]
            for j in range(K[b, K_NLEV + s] - 1, -1, -1):
                m = L[row[j], L_HEAD]
                while m >= 0:
                    take = 0
                    if owner == -2:
                        if O[m, O_TIF] == GTD and O[m, O_EXPIRE] <= t:
                            take = R_EXP_GTD
                        elif day and O[m, O_TIF] == DAY:
                            take = R_EXP_DAY
                    elif owner == -1 or O[m, O_OWNER] == owner:
                        take = R_MASS
                    if take != 0:
                        out[n_out] = m
                        why[n_out] = take
                        n_out += 1
                    m = O[m, O_NEXT]
    return n_out


@njit(cache=True)
def _mass_or_expire(K, S, L, O, HT, M, E, c, expire):
    b, owner = c[C_BOOK], c[C_OWNER]
    if b != -1 and (b < 0 or b >= M[M_NB]):
        return _reject(E, M, c, R_BAD_BOOK, False)
    if not expire and owner < -1:
        return _reject(E, M, c, R_BAD_OWNER, False)
    out = np.empty(M[M_LIVE], np.int64)
    why = np.empty(M[M_LIVE], np.int64)
    n = _collect(K, S, L, O, M, b, -2 if expire else owner, c[C_TIME], c[C_TIF] == DAY, out, why)
    for k in range(n):
        kill(K, S, L, O, HT, M, E, out[k], EXPIRED if expire else CANCELLED, why[k], -1)
    if not expire:
        emit(E, M, MC_REPORT, R_NONE, b, -1, c[C_OID], owner, 0, 0, n, 0, 0, 0, 0, 0, 0, 0, 0)


@njit(cache=True)
def _expire_due(K, S, L, O, HT, X, M, E, t):
    """GTD expiry over every book through the heap: cost follows the due orders, not the book size.

    Due orders are put in the canonical order (book, bids then asks, best price first, FIFO) that
    the full scan and the reference produce: FIFO inside a level is ascending O_SEQ.
    Rows are recycled, so a stale entry may name a row that now holds another due GTD order, which
    also has its own entry: each row is taken once (marked O_LIVE = 2 while collecting)."""
    end = M[M_NHEAP]
    while M[M_NHEAP] > 0 and X[0, 0] <= t:
        heap_pop_row(X, M)
    popped = X[M[M_NHEAP]:end, 1]
    n = 0
    for k in range(popped.shape[0]):
        r = popped[k]
        if O[r, O_LIVE] == 1 and O[r, O_TIF] == GTD and O[r, O_EXPIRE] <= t:
            O[r, O_LIVE] = 2
            n += 1
    due = np.empty(n, np.int64)
    n = 0
    for k in range(popped.shape[0]):
        r = popped[k]
        if O[r, O_LIVE] == 2:
            O[r, O_LIVE] = 1
            due[n] = r
            n += 1
    if n == 0:
        return
    seq = np.empty(n, np.int64)
    key = np.empty(n, np.int64)
    for k in range(n):
        r = due[k]
        seq[k] = O[r, O_SEQ]
        rank = -O[r, O_PRICE] if O[r, O_SIDE] == BUY else O[r, O_PRICE]
        key[k] = ((O[r, O_BOOK] * 2 + O[r, O_SIDE] - 1) << 33) | (rank + (1 << 31))
    by_seq = due[np.argsort(seq, kind="mergesort")]
    key_by_seq = key[np.argsort(seq, kind="mergesort")]
    ordered = by_seq[np.argsort(key_by_seq, kind="mergesort")]
    for k in range(n):
        kill(K, S, L, O, HT, M, E, ordered[k], EXPIRED, R_EXP_GTD, -1)
