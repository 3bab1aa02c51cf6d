"""Numba command kernels: the batch loop and one handler per command op.

`run` is the only entry point the engine calls per batch: it takes the arena, a flat int64 view of
the commands and a flat int64 event buffer, and stops early (returning a flag) when the next command
might not fit the preallocated tables, so the Python side can grow them and resume. The rules mirror
`reference.py` line for line; when they disagree, the differential tests say which one drifted.
No I/O, no clock (time is a command field), no exceptions for bad input.
"""
from __future__ import annotations

import numpy as np
from numba import carray, njit, types
from numba.extending import intrinsic

from .kernels_book import (
    add_id, best_level, emit, emit_order, find_order, heap_pop_row, heap_push, kill, link, price_reason,
    qty_reason, unlink,
)
from .layout import (
    HDR, K_DEN, K_LOT, K_NLEV, K_NUM, K_REF, K_SCALE, L_HEAD, L_PRICE, L_QTY, M_CAPH, M_CAPL,
    M_CAPO, M_CAPS, M_CAPW, M_IDX, M_LIVE, M_LLIVE, M_MAXSIDE, M_NB, M_NE, M_NEXT, M_NG, M_NORD,
    M_APPEND, M_NHEAP, M_NOWN, M_RESUME, M_OFFG, M_OFFH, M_OFFK, M_OFFL, M_OFFO, M_OFFS, M_OFFW, M_OFFX, M_OP, M_TIME, NKF,
    NLF, NOF,
    O_BOOK, O_CUM, O_EXPIRE, O_ID, O_LEAVES, O_LEVEL, O_LIVE, O_NEXT, O_OWNER, O_PREV, O_PRICE,
    O_QTY, O_SEQ, O_SIDE, O_TIF, O_TYPE, slot_of,
)
from .types import (
    MAX_FACTOR, MAX_GROUP_QTY, MAX_PRICE, MAX_QTY, MAX_SCALE, NCF, NEF, EventKind, Op, Reason,
)

# command fields (order of types.COMMAND_FIELDS)
C_OP, C_TIME, C_BOOK, C_OID, C_OWNER, C_SIDE, C_TYPE, C_TIF, C_PRICE, C_QTY = range(10)
C_EXPIRE, C_ALLOWED, C_REST_BOOK, C_REST_PRICE, C_STP, C_NUM, C_DEN, C_SCALE = range(10, 18)

ACCEPTED, REJECTED, TRADE = int(EventKind.ACCEPTED), int(EventKind.REJECTED), int(EventKind.TRADE)
CANCELLED, REPLACED, EXPIRED = int(EventKind.CANCELLED), int(EventKind.REPLACED), int(EventKind.EXPIRED)
MC_REPORT, SW_REPORT = int(EventKind.MASS_CANCEL_REPORT), int(EventKind.SWEEP_REPORT)
BUY, SELL, MARKET, LIMIT = 1, 2, 1, 2
DAY, GTC, IOC, FOK, GTD = 0, 1, 3, 4, 6

R = {r.name: int(r) for r in Reason}
R_NONE, R_BAD_BOOK, R_BAD_OID, R_DUP = R["NONE"], R["BAD_BOOK"], R["BAD_ORDER_ID"], R["DUPLICATE_ORDER_ID"]
R_UNKNOWN, R_NOT_LIVE, R_BAD_SIDE = R["UNKNOWN_ORDER"], R["ORDER_NOT_LIVE"], R["BAD_SIDE"]
R_BAD_TYPE, R_BAD_TIF, R_BAD_EXPIRE = R["BAD_ORD_TYPE"], R["BAD_TIF"], R["BAD_EXPIRE_TIME"]
R_BAD_QTY, R_BAD_PRICE, R_BELOW_FILLED = R["BAD_QTY"], R["BAD_PRICE"], R["REPLACE_BELOW_FILLED"]
R_BAD_OWNER, R_BAD_GROUP, R_BAD_REST = R["BAD_OWNER"], R["BAD_GROUP"], R["BAD_REST_BOOK"]
R_BAD_CONV, R_BAD_OP, R_BAD_STP = R["BAD_CONVERSION"], R["BAD_OP"], R["BAD_STP"]
R_CXL, R_MASS, R_STP, R_IOC = R["CANCEL_REQUESTED"], R["MASS_CANCEL"], R["SELF_TRADE"], R["UNFILLED_IOC"]
R_FOK, R_EXP_GTD, R_EXP_DAY = R["FOK_UNFILLABLE"], R["EXPIRED_GTD"], R["EXPIRED_DAY"]
OP_NEW, OP_CANCEL, OP_REPLACE, OP_MASS = int(Op.NEW), int(Op.CANCEL), int(Op.REPLACE), int(Op.MASS_CANCEL)
OP_EXPIRE, OP_REF, OP_SWEEP = int(Op.EXPIRE), int(Op.SET_REF_PRICE), int(Op.SWEEP)
OP_STP, OP_CONV = int(Op.SET_STP), int(Op.SET_CONVERSION)


@njit(cache=True, _nrt=False, inline="always")
def _reject(E, M, c, reason, sweep):
    book, group = c[C_BOOK], -1
    if sweep:
        book, group = -1, c[C_BOOK]
    emit(E, M, REJECTED, reason, book, group, c[C_OID], c[C_OWNER], c[C_SIDE], c[C_PRICE], c[C_QTY],
         0, 0, 0, 0, 0, 0, 0, 0)


@njit(cache=True, _nrt=False, inline="always")
def _stp_mode(W, owner):
    i = slot_of(W, owner + 1)
    return W[i, 1] if W[i, 0] != 0 else 0


@njit(cache=True, _nrt=False, inline="always")
def _crosses(O, r, px):
    if O[r, O_TYPE] == MARKET:
        return True
    if O[r, O_SIDE] == BUY:
        return px <= O[r, O_PRICE]
    return px >= O[r, O_PRICE]


@njit(cache=True, _nrt=False)
def _fok_fillable(K, S, L, O, r, mode):
    b, opp = O[r, O_BOOK], 2 - O[r, O_SIDE]
    need, acc, owner = O[r, O_LEAVES], 0, O[r, O_OWNER]
    row = S[2 * b + opp]
    for j in range(K[b, K_NLEV + opp] - 1, -1, -1):
        lid = row[j]
        if not _crosses(O, r, L[lid, L_PRICE]):
            return False
        m = L[lid, L_HEAD]
        while m >= 0:
            if mode != 0 and O[m, O_OWNER] == owner:
                if mode == 2:
                    return False
            else:
                acc += O[m, O_LEAVES]
                if acc >= need:
                    return True
            m = O[m, O_NEXT]
    return False


@njit(cache=True, _nrt=False)
def _match(K, S, L, O, M, E, r, mode):
    """Trade row `r` against its own book; True when self-trade prevention stopped it."""
    b, opp, owner = O[r, O_BOOK], 2 - O[r, O_SIDE], O[r, O_OWNER]
    while O[r, O_LEAVES] > 0:
        lid = best_level(K, S, b, opp)
        if lid < 0:
            break
        px = L[lid, L_PRICE]
        if not _crosses(O, r, px):
            break
        m = L[lid, L_HEAD]
        if mode != 0 and O[m, O_OWNER] == owner:
            if mode == 1:
                kill(K, S, L, O, M, E, m, CANCELLED, R_STP, -1)
                continue
            return True
        q = min(O[r, O_LEAVES], O[m, O_LEAVES])
        O[r, O_LEAVES] -= q
        O[r, O_CUM] += q
        O[m, O_LEAVES] -= q
        O[m, O_CUM] += q
        L[lid, L_QTY] -= q
        if O[m, O_LEAVES] == 0:
            unlink(K, S, L, O, M, m)
        emit(E, M, TRADE, R_NONE, b, -1, O[r, O_ID], owner, O[r, O_SIDE], px, q, O[r, O_LEAVES],
             O[r, O_CUM], O[m, O_ID], O[r, O_ID], O[m, O_OWNER], O[m, O_LEAVES], O[m, O_CUM], 0)
    return False


@njit(cache=True, _nrt=False, inline="always")
def _after_accept(K, S, L, O, M, E, W, X, r):
    mode = _stp_mode(W, O[r, O_OWNER])
    tif = O[r, O_TIF]
    if tif == FOK and not _fok_fillable(K, S, L, O, r, mode):
        kill(K, S, L, O, M, E, r, CANCELLED, R_FOK, -1)
        return
    if _match(K, S, L, O, M, E, r, mode):
        kill(K, S, L, O, M, E, r, CANCELLED, R_STP, -1)
    elif O[r, O_LEAVES] > 0:
        if O[r, O_TYPE] == MARKET or tif == IOC or tif == FOK:
            kill(K, S, L, O, M, E, r, CANCELLED, R_IOC, -1)
        else:
            link(K, S, L, O, M, r)
            if tif == GTD:
                heap_push(X, M, O[r, O_EXPIRE], r)


@njit(cache=True, _nrt=False, inline="always")
def _valid_tif(tif):
    return tif == DAY or tif == GTC or tif == IOC or tif == FOK or tif == GTD


@njit(cache=True, _nrt=False, inline="always")
def _new_row(O, HT, M, oid, book, side, owner, price, qty, tif, expire, ord_type):
    r = M[M_NORD]
    M[M_NORD] = r + 1
    add_id(HT, oid, r)
    o = O[r]
    o[O_ID], o[O_BOOK], o[O_SIDE], o[O_OWNER], o[O_PRICE] = oid, book, side, owner, price
    o[O_QTY], o[O_LEAVES], o[O_CUM], o[O_TIF], o[O_EXPIRE] = qty, qty, 0, tif, expire
    o[O_LIVE], o[O_LEVEL], o[O_NEXT], o[O_PREV], o[O_SEQ], o[O_TYPE] = 0, -1, -1, -1, 0, ord_type
    return r


@njit(cache=True, _nrt=False)
def _new(K, S, L, O, HT, W, X, M, E, c):
    b, oid, tif, ord_type, side = c[C_BOOK], c[C_OID], c[C_TIF], c[C_TYPE], c[C_SIDE]
    if b < 0 or b >= M[M_NB]:
        return _reject(E, M, c, R_BAD_BOOK, False)
    if oid <= 0:
        return _reject(E, M, c, R_BAD_OID, False)
    if find_order(HT, oid) >= 0:
        return _reject(E, M, c, R_DUP, False)
    if c[C_OWNER] < 0:
        return _reject(E, M, c, R_BAD_OWNER, False)
    if side != BUY and side != SELL:
        return _reject(E, M, c, R_BAD_SIDE, False)
    if ord_type != LIMIT and ord_type != MARKET:
        return _reject(E, M, c, R_BAD_TYPE, False)
    if not _valid_tif(tif):
        return _reject(E, M, c, R_BAD_TIF, False)
    if tif == GTD and c[C_EXPIRE] <= c[C_TIME]:
        return _reject(E, M, c, R_BAD_EXPIRE, False)
    rs = qty_reason(K, b, c[C_QTY])
    if rs != 0:
        return _reject(E, M, c, rs, False)
    price = 0
    if ord_type == LIMIT:
        price = c[C_PRICE]
        rs = price_reason(K, b, price)
        if rs != 0:
            return _reject(E, M, c, rs, False)
    r = _new_row(O, HT, M, oid, b, side, c[C_OWNER], price, c[C_QTY], tif,
                 c[C_EXPIRE] if tif == GTD else 0, ord_type)
    emit_order(E, M, O, r, ACCEPTED, R_NONE, -1)
    _after_accept(K, S, L, O, M, E, W, X, r)


@njit(cache=True, _nrt=False)
def _cancel(K, S, L, O, HT, M, E, c):
    r = find_order(HT, c[C_OID]) if c[C_OID] > 0 else -1
    if r < 0:
        return _reject(E, M, c, R_UNKNOWN, False)
    if O[r, O_LIVE] == 0:
        return _reject(E, M, c, R_NOT_LIVE, False)
    kill(K, S, L, O, M, E, r, CANCELLED, R_CXL, -1)


@njit(cache=True, _nrt=False)
def _replace(K, S, L, O, HT, W, M, E, c):
    r = find_order(HT, c[C_OID]) if c[C_OID] > 0 else -1
    if r < 0:
        return _reject(E, M, c, R_UNKNOWN, False)
    if O[r, O_LIVE] == 0:
        return _reject(E, M, c, R_NOT_LIVE, False)
    b, qty, price = O[r, O_BOOK], c[C_QTY], c[C_PRICE]
    rs = qty_reason(K, b, qty)
    if rs != 0:
        return _reject(E, M, c, rs, False)
    if qty <= O[r, O_CUM]:
        return _reject(E, M, c, R_BELOW_FILLED, False)
    rs = price_reason(K, b, price)
    if rs != 0:
        return _reject(E, M, c, rs, False)
    keeps = price == O[r, O_PRICE] and qty <= O[r, O_QTY]
    leaves = qty - O[r, O_CUM]
    if keeps:
        L[O[r, O_LEVEL], L_QTY] += leaves - O[r, O_LEAVES]
    else:
        unlink(K, S, L, O, M, r)
    O[r, O_QTY], O[r, O_LEAVES], O[r, O_PRICE] = qty, leaves, price
    emit_order(E, M, O, r, REPLACED, R_NONE, -1)
    if keeps:
        return
    if _match(K, S, L, O, M, E, r, _stp_mode(W, O[r, O_OWNER])):
        kill(K, S, L, O, M, E, r, CANCELLED, R_STP, -1)
    elif O[r, O_LEAVES] > 0:
        link(K, S, L, O, M, r)


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
def _mass_or_expire(K, S, L, O, M, E, c, expire):
    b, owner = c[C_BOOK], c[C_OWNER]
    if b != -1 and (b < 0 or b >= M[M_NB]):
        return _reject(E, M, c, R_BAD_BOOK, False)
    if not expire and owner < -1:
        return _reject(E, M, c, R_BAD_OWNER, False)
    out = np.empty(M[M_LIVE], np.int64)
    why = np.empty(M[M_LIVE], np.int64)
    n = _collect(K, S, L, O, M, b, -2 if expire else owner, c[C_TIME], c[C_TIF] == DAY, out, why)
    for k in range(n):
        kill(K, S, L, O, M, E, out[k], EXPIRED if expire else CANCELLED, why[k], -1)
    if not expire:
        emit(E, M, MC_REPORT, R_NONE, b, -1, c[C_OID], owner, 0, 0, n, 0, 0, 0, 0, 0, 0, 0, 0)


@njit(cache=True)
def _expire_due(K, S, L, O, X, M, E, t):
    """GTD expiry over every book through the heap: cost follows the due orders, not the book size.

    Due orders are put in the canonical order (book, bids then asks, best price first, FIFO) that
    the full scan and the reference produce: FIFO inside a level is ascending O_SEQ."""
    end = M[M_NHEAP]
    while M[M_NHEAP] > 0 and X[0, 0] <= t:
        heap_pop_row(X, M)
    popped = X[M[M_NHEAP]:end, 1]
    n = 0
    for k in range(popped.shape[0]):
        r = popped[k]
        if O[r, O_LIVE] != 0 and O[r, O_TIF] == GTD and O[r, O_EXPIRE] <= t:
            n += 1
    due = np.empty(n, np.int64)
    n = 0
    for k in range(popped.shape[0]):
        r = popped[k]
        if O[r, O_LIVE] != 0 and O[r, O_TIF] == GTD and O[r, O_EXPIRE] <= t:
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
        kill(K, S, L, O, M, E, ordered[k], EXPIRED, R_EXP_GTD, -1)


@njit(cache=True, _nrt=False)
def _settings(K, W, M, E, c):
    op, b = c[C_OP], c[C_BOOK]
    if op == OP_STP:
        owner, mode = c[C_OWNER], c[C_STP]
        if owner < 0:
            return _reject(E, M, c, R_BAD_OWNER, False)
        if mode < 0 or mode > 2:
            return _reject(E, M, c, R_BAD_STP, False)
        i = slot_of(W, owner + 1)
        if W[i, 0] == 0:
            W[i, 0] = owner + 1
            M[M_NOWN] += 1
        W[i, 1] = mode
        return
    if b < 0 or b >= M[M_NB]:
        return _reject(E, M, c, R_BAD_BOOK, False)
    if op == OP_REF:
        if c[C_PRICE] < 0 or c[C_PRICE] > MAX_PRICE:
            return _reject(E, M, c, R_BAD_PRICE, False)
        K[b, K_REF] = c[C_PRICE]
        return
    num, den, scale = c[C_NUM], c[C_DEN], c[C_SCALE]
    if not (0 < num <= MAX_FACTOR and 0 < den <= MAX_FACTOR and 0 < scale <= MAX_SCALE):
        return _reject(E, M, c, R_BAD_CONV, False)
    K[b, K_NUM], K[b, K_DEN], K[b, K_SCALE] = num, den, scale


@njit(cache=True, _nrt=False)
def _sweep(K, G, S, L, O, HT, W, X, M, E, c):
    g, oid, side, tif, rb = c[C_BOOK], c[C_OID], c[C_SIDE], c[C_TIF], c[C_REST_BOOK]
    ord_type, limit, nb = c[C_TYPE], c[C_PRICE], M[M_NB]
    if g < 0 or g >= M[M_NG]:
        return _reject(E, M, c, R_BAD_GROUP, True)
    if oid <= 0:
        return _reject(E, M, c, R_BAD_OID, True)
    if find_order(HT, oid) >= 0:
        return _reject(E, M, c, R_DUP, True)
    if c[C_OWNER] < 0:
        return _reject(E, M, c, R_BAD_OWNER, True)
    if side != BUY and side != SELL:
        return _reject(E, M, c, R_BAD_SIDE, True)
    if ord_type != LIMIT and ord_type != MARKET:
        return _reject(E, M, c, R_BAD_TYPE, True)
    if not _valid_tif(tif) or tif == FOK:
        return _reject(E, M, c, R_BAD_TIF, True)
    if ord_type == LIMIT and limit <= 0:
        return _reject(E, M, c, R_BAD_PRICE, True)
    if c[C_QTY] <= 0 or c[C_QTY] > MAX_GROUP_QTY:
        return _reject(E, M, c, R_BAD_QTY, True)
    if rb != -1:
        if rb < 0 or rb >= nb or ((G[g] >> rb) & 1) == 0:
            return _reject(E, M, c, R_BAD_REST, True)
        if tif != DAY and tif != GTC and tif != GTD:
            return _reject(E, M, c, R_BAD_TIF, True)
        if tif == GTD and c[C_EXPIRE] <= c[C_TIME]:
            return _reject(E, M, c, R_BAD_EXPIRE, True)
        rs = price_reason(K, rb, c[C_REST_PRICE])
        if rs != 0:
            return _reject(E, M, c, rs, True)
    if ord_type == MARKET:
        limit = 0
    owner = c[C_OWNER]
    r = _new_row(O, HT, M, oid, -1, side, owner, limit, c[C_QTY], tif, 0, ord_type)
    emit_order(E, M, O, r, ACCEPTED, R_NONE, g)
    mode = _stp_mode(W, owner)
    mask = G[g] & c[C_ALLOWED]
    opp = 2 - side
    stopped = False
    while O[r, O_LEAVES] > 0:
        left = O[r, O_LEAVES]
        bb, bcomp, bm = -1, 0, -1
        for b in range(nb):
            if (mask >> b) & 1 == 0 or K[b, K_LOT] * K[b, K_SCALE] > left:
                continue
            lid = best_level(K, S, b, opp)
            if lid < 0:
                continue
            comp = L[lid, L_PRICE] * K[b, K_NUM] // K[b, K_DEN]
            if ord_type == LIMIT and ((side == BUY and comp > limit) or (side == SELL and comp < limit)):
                continue
            head = L[lid, L_HEAD]
            if (bb < 0 or (side == BUY and comp < bcomp) or (side == SELL and comp > bcomp)
                    or (comp == bcomp and O[head, O_SEQ] < O[bm, O_SEQ])):
                bb, bcomp, bm = b, comp, head
        if bb < 0:
            break
        m = bm
        if mode != 0 and O[m, O_OWNER] == owner:
            if mode == 1:
                kill(K, S, L, O, M, E, m, CANCELLED, R_STP, -1)
                continue
            stopped = True
            break
        lot, scale = K[bb, K_LOT], K[bb, K_SCALE]
        q = min(O[m, O_LEAVES], left // (lot * scale) * lot)
        px = L[O[m, O_LEVEL], L_PRICE]
        O[m, O_LEAVES] -= q
        O[m, O_CUM] += q
        L[O[m, O_LEVEL], L_QTY] -= q
        gq = q * scale
        O[r, O_LEAVES] -= gq
        O[r, O_CUM] += gq
        if O[m, O_LEAVES] == 0:
            unlink(K, S, L, O, M, m)
        emit(E, M, TRADE, R_NONE, bb, g, oid, owner, side, px, q, O[r, O_LEAVES], O[r, O_CUM],
             O[m, O_ID], oid, O[m, O_OWNER], O[m, O_LEAVES], O[m, O_CUM], gq)
    rest_qty, rest_g = 0, 0
    if stopped:
        returned = O[r, O_LEAVES]
        kill(K, S, L, O, M, E, r, CANCELLED, R_STP, g)
    else:
        if rb != -1 and O[r, O_LEAVES] > 0:
            lot, scale = K[rb, K_LOT], K[rb, K_SCALE]
            rest_qty = O[r, O_LEAVES] // (lot * scale) * lot
            if rest_qty > MAX_QTY or qty_reason(K, rb, rest_qty) != 0:
                rest_qty = 0
            rest_g = rest_qty * scale
        returned = O[r, O_LEAVES] - rest_g
    emit(E, M, SW_REPORT, R_NONE, rb if rest_qty > 0 else -1, g, oid, owner, side, O[r, O_PRICE],
         rest_g, returned, O[r, O_CUM], 0, 0, 0, 0, 0, 0)
    if rest_qty == 0:
        O[r, O_LEAVES] = 0
        return
    o = O[r]
    o[O_BOOK], o[O_PRICE], o[O_QTY], o[O_LEAVES], o[O_CUM] = rb, c[C_REST_PRICE], rest_qty, rest_qty, 0
    o[O_TYPE] = LIMIT
    o[O_EXPIRE] = c[C_EXPIRE] if tif == GTD else 0
    emit_order(E, M, O, r, ACCEPTED, R_NONE, -1)
    _after_accept(K, S, L, O, M, E, W, X, r)


@intrinsic
def _as_ptr(typingctx, addr):
    """int64 address -> int64* (for carray views that carry no reference count)."""
    sig = types.CPointer(types.int64)(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(types.CPointer(types.int64)))
    return sig, codegen


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
    for i in range(start, stop):
        if (M[M_NORD] + 1 > M[M_CAPO] or 2 * (M[M_NORD] + 1) > M[M_CAPH]
                or M[M_LLIVE] + 1 > M[M_CAPL] or M[M_MAXSIDE] + 1 > M[M_CAPS]
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
def run(A, C1, start, stop, E1):
    """Process commands [start, stop); returns 2 * events_written + (1 if it stopped to grow).

    Events are written from row 0 unless the header's M_RESUME flag says this call continues a
    batch that stopped for room (the flag is cleared on entry), or M_APPEND says the caller is
    accumulating events across calls (Engine.submit_at / drain)."""
    M, K, G, S, L, O, HT, W, X = _tables(A)
    C = _view2(C1.ctypes.data, 0, C1.size // NCF, NCF)
    E = _view2(E1.ctypes.data, 0, E1.size // NEF, NEF)
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
                _expire_due(K, S, L, O, X, M, E, c[C_TIME])
            else:
                _mass_or_expire(K, S, L, O, M, E, c, c[C_OP] == OP_EXPIRE)
            i += 1
    M[M_NEXT] = stop
    return 2 * M[M_NE]


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
    return find_order(HT, oid) if oid > 0 else -1

