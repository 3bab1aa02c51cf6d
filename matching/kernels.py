"""Numba entry points: the batch loop, arena views, snapshot and id lookup.

`run` is the only kernel the engine calls per batch: it takes the arena, a flat int64 view of the
commands and a flat int64 event buffer, and stops early (returning a flag) when the next command
might not fit the preallocated tables, so the Python side can grow them and resume. Handlers live in
kernels_orders (single-book orders, settings), kernels_sweep (group sweeps) and kernels_bulk (mass
cancel, expiry). No I/O, no clock (time is a command field), no exceptions for bad input.
"""
from __future__ import annotations

from numba import carray, njit

from .kernels_book import _as_ptr, _load, find_order, prefetch
from .kernels_levels import ladder_at, ladder_slot
from .kernels_bulk import _expire_due, _mass_or_expire
from .kernels_orders import (
    C_BOOK, C_OID, C_OP, C_PRICE, C_SIDE, C_TIF, C_TIME, DAY, OP_CANCEL, OP_CONV, OP_EXPIRE, OP_MASS, OP_NEW,
    OP_REF, OP_REPLACE, OP_STP, OP_SWEEP, R_BAD_OP, _cancel, _new, _reject, _replace, _settings,
)
from .kernels_sweep import _sweep
from .layout import (
    HDR, K_NLEV, L_HEAD, L_TAIL, M_APPEND, M_CAPH, M_CAPL, M_CAPO, M_CAPS, M_CAPW, M_IDX, M_LIVE, M_LLIVE, M_MAXSIDE,
    M_NB, M_NE, M_NEXT, M_NG, M_NHEAP, M_NHT, M_NORD, M_NOWN, M_OFREE, M_OFFG, M_OFFH, M_OFFK, M_OFFL, M_OFFO, M_OFFS, M_CPTR, M_CROWS,
    M_EPTR, M_EROWS, M_OFFW, M_OFFX, M_OP, M_RESUME, M_TIME, NKF, NLF, NOF, O_CUM, O_EXPIRE, O_ID, O_LEAVES,
    O_NEXT, O_OWNER, O_PRICE, O_QTY, O_SIDE, O_TIF,
)
from .types import NCF, NEF


@njit(cache=True)
def _view1(base, off, n):
    return carray(_as_ptr(base + off * 8), (n,))


@njit(cache=True)
def _view2(base, off, rows, cols):
    return carray(_as_ptr(base + off * 8), (rows, cols))


@njit(cache=True)
def _tables(A):
    # Views over raw pointers have no meminfo, so passing them between the helpers costs no atomic
    # reference counting (which dominated the profile with ordinary slices). `A` outlives them: it is
    # the caller's argument for the whole kernel call.
    base = A.ctypes.data
    M = _view1(base, 0, HDR)
    nb, ng = M[M_NB], M[M_NG]
    K = _view2(base, M[M_OFFK], nb, NKF)
    G = _view1(base, M[M_OFFG], max(ng, 1))
    S = _view2(base, M[M_OFFS], 2 * nb, M[M_CAPS])
    L = _view2(base, M[M_OFFL], M[M_CAPL], NLF)
    O = _view2(base, M[M_OFFO], M[M_CAPO], NOF)
    HT = _view2(base, M[M_OFFH], M[M_CAPH], 2)
    W = _view2(base, M[M_OFFW], M[M_CAPW], 2)
    X = _view2(base, M[M_OFFX], M[M_CAPO], 2)
    return M, K, G, S, L, O, HT, W, X


@njit(cache=True, _nrt=False)
def _loop(K, G, S, L, O, HT, W, X, M, E, C, start, stop):
    """The command loop, free of reference counting. Returns the index of the first command it did
    not run: == stop when done, a MASS_CANCEL/EXPIRE that needs scratch memory (run() does it), or
    -(i + 1) when command i might not fit the tables."""
    cap_e = E.shape[0]
    ht_base, o_base = HT.ctypes.data, O.ctypes.data
    for i in range(start, stop):
        # Cancels and replaces of old orders miss the cache twice in a row (id table, then the order
        # row), a new order's id slot and its level's tail row once each. In a batch the next
        # commands are known, so start those loads early: id-table slots four commands ahead, the
        # order row (both lines) or the tail row two ahead (its slot was fetched two commands ago).
        if i + 4 < stop:
            c2 = C[i + 4]
            if c2[C_OP] == OP_CANCEL or c2[C_OP] == OP_REPLACE or c2[C_OP] == OP_NEW:
                k = c2[C_OID]
                prefetch(ht_base + ((k ^ (k >> 32)) & (HT.shape[0] - 1)) * 16)
        if i + 2 < stop:
            c1 = C[i + 2]
            if (c1[C_OP] == OP_CANCEL or c1[C_OP] == OP_REPLACE) and c1[C_OID] > 0:
                r1 = find_order(HT, M, c1[C_OID])
                if r1 >= 0:
                    prefetch(o_base + r1 * (NOF * 8))
                    prefetch(o_base + r1 * (NOF * 8) + 64)
            elif c1[C_OP] == OP_NEW:
                b1 = c1[C_BOOK]
                if b1 >= 0 and b1 < M[M_NB] and (c1[C_SIDE] == 1 or c1[C_SIDE] == 2):
                    qi = ladder_slot(K, b1, c1[C_SIDE] - 1, c1[C_PRICE])
                    if qi >= 0:
                        lid = _load(ladder_at(M, b1, c1[C_SIDE] - 1), qi) - 1
                        if lid >= 0 and L[lid, L_TAIL] >= 0:
                            prefetch(o_base + L[lid, L_TAIL] * (NOF * 8))
        if ((M[M_OFREE] < 0 and M[M_NORD] + 1 > M[M_CAPO]) or 2 * (M[M_NHT] + 1) > M[M_CAPH]
                or M[M_NHEAP] + 1 > M[M_CAPO] or M[M_LLIVE] + 1 > M[M_CAPL] or M[M_MAXSIDE] + 1 > M[M_CAPS]
                or 2 * (M[M_NOWN] + 1) > M[M_CAPW] or M[M_NE] + 2 * M[M_LIVE] + 8 > cap_e):
            return -(i + 1)
        c = C[i]
        op = c[C_OP]
        M[M_OP] = op
        M[M_TIME] = c[C_TIME]
        M[M_IDX] = i
        if op == OP_NEW:
            _new(K, S, L, O, HT, W, X, M, E, c)
        elif op == OP_CANCEL:
            _cancel(K, S, L, O, HT, M, E, c)
        elif op == OP_REPLACE:
            _replace(K, S, L, O, HT, W, M, E, c)
        elif op == OP_SWEEP:
            _sweep(K, G, S, L, O, HT, W, X, M, E, c)
        elif op == OP_MASS or op == OP_EXPIRE:
            return i
        elif op == OP_REF or op == OP_STP or op == OP_CONV:
            _settings(K, W, M, E, c)
        else:
            _reject(E, M, c, R_BAD_OP, False)
    return stop


@njit(cache=True)
def _run(A, C, E, start, stop):
    M, K, G, S, L, O, HT, W, X = _tables(A)
    if M[M_RESUME] == 0 and M[M_APPEND] == 0:
        M[M_NE] = 0
    M[M_RESUME] = 0
    i = start
    while i < stop:
        i = _loop(K, G, S, L, O, HT, W, X, M, E, C, i, stop)
        if i < 0:
            M[M_NEXT] = -(i + 1)
            return 2 * M[M_NE] + 1
        if i < stop:
            c = C[i]
            if c[C_OP] == OP_EXPIRE and c[C_BOOK] == -1 and c[C_TIF] != DAY:
                _expire_due(K, S, L, O, HT, X, M, E, c[C_TIME])
            else:
                _mass_or_expire(K, S, L, O, HT, M, E, c, c[C_OP] == OP_EXPIRE)
            i += 1
    M[M_NEXT] = stop
    return 2 * M[M_NE]


@njit(cache=True)
def run(A, C1, start, stop, E1):
    """Process commands [start, stop); returns 2 * events_written + (1 if it stopped to grow).

    Events are written from row 0 unless the header's M_RESUME flag says this call continues a
    batch that stopped for room (the flag is cleared on entry), or M_APPEND says the caller is
    accumulating events across calls (Engine.submit_at / drain)."""
    C = _view2(C1.ctypes.data, 0, C1.size // NCF, NCF)
    E = _view2(E1.ctypes.data, 0, E1.size // NEF, NEF)
    return _run(A, C, E, start, stop)


@njit(cache=True)
def run_at(A, i):
    """`run` for command i alone, of the batch and into the event buffer the header points at
    (M_CPTR/M_CROWS, M_EPTR/M_EROWS; the engine keeps both arrays alive while they are set)."""
    base = A.ctypes.data
    M = _view1(base, 0, HDR)
    C = _view2(M[M_CPTR], 0, M[M_CROWS], NCF)
    E = _view2(M[M_EPTR], 0, M[M_EROWS], NEF)
    return _run(A, C, E, i, i + 1)


@njit(cache=True)
def snapshot_rows(A, out):
    """Resting orders in canonical order into out[live, 10] (SNAPSHOT_DTYPE field order)."""
    M, K, G, S, L, O, HT, W, X = _tables(A)
    n = 0
    for b in range(M[M_NB]):
        for s in range(2):
            row = S[2 * b + s]
            for j in range(K[b, K_NLEV + s] - 1, -1, -1):
                m = L[row[j], L_HEAD]
                while m >= 0:
                    o = O[m]
                    out[n, 0], out[n, 1], out[n, 2], out[n, 3] = b, o[O_SIDE], o[O_ID], o[O_OWNER]
                    out[n, 4], out[n, 5], out[n, 6], out[n, 7] = o[O_PRICE], o[O_QTY], o[O_LEAVES], o[O_CUM]
                    out[n, 8], out[n, 9] = o[O_TIF], o[O_EXPIRE]
                    n += 1
                    m = O[m, O_NEXT]
    return n


@njit(cache=True)
def lookup(A, oid):
    M, K, G, S, L, O, HT, W, X = _tables(A)
    return find_order(HT, M, oid) if oid > 0 else -1
