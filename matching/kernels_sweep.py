"""Numba handler for SWEEP: one incoming order against several books of a group, atomically.

Best comparable price (price * num // den of each allowed member book) first, time priority across
books on ties, fills in whole lots of the resting book at its own price, never past the remaining
group quantity; the remainder is returned or rests on the chosen book as an ordinary NEW order.
"""
from __future__ import annotations

from numba import njit

from .kernels_book import emit, emit_order, find_order, free_row, price_reason, qty_reason
from .kernels_levels import best_level, kill, unlink
from .kernels_orders import (
    ACCEPTED, BUY, CANCELLED, C_ALLOWED, C_BOOK, C_EXPIRE, C_OID, C_OWNER, C_PRICE, C_QTY, C_REST_BOOK,
    C_REST_PRICE, C_SIDE, C_TIF, C_TIME, C_TYPE, DAY, FOK, GTC, GTD, LIMIT, MARKET, R_BAD_EXPIRE,
    R_BAD_GROUP, R_BAD_OID, R_BAD_OWNER, R_BAD_PRICE, R_BAD_QTY, R_BAD_REST, R_BAD_SIDE, R_BAD_TIF,
    R_BAD_TYPE, R_DUP, R_NONE, R_STP, SELL, SW_REPORT, TRADE, _after_accept, _new_row, _reject, _stp_mode,
    _valid_tif,
)
from .layout import (
    K_DEN, K_LOT, K_NUM, K_SCALE, L_HEAD, L_PRICE, L_QTY, M_NB, M_NG, O_BOOK, O_CUM, O_EXPIRE, O_ID,
    O_LEAVES, O_LEVEL, O_OWNER, O_PRICE, O_QTY, O_SEQ, O_TYPE,
)
from .types import MAX_GROUP_QTY, MAX_QTY


@njit(cache=True, _nrt=False)
def _sweep(K, G, S, L, O, HT, W, X, M, E, c):
    g, oid, side, tif, rb = c[C_BOOK], c[C_OID], c[C_SIDE], c[C_TIF], c[C_REST_BOOK]
    ord_type, limit, nb = c[C_TYPE], c[C_PRICE], M[M_NB]
    if g < 0 or g >= M[M_NG]:
        return _reject(E, M, c, R_BAD_GROUP, True)
    if oid <= 0:
        return _reject(E, M, c, R_BAD_OID, True)
    if find_order(HT, M, oid) >= 0:
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
            head = L[lid, L_HEAD]   # >= 0: a level on a side has an order; O[bm] is read only once bb >= 0
            if (bb < 0 or (side == BUY and comp < bcomp) or (side == SELL and comp > bcomp)
                    or (comp == bcomp and O[head, O_SEQ] < O[bm, O_SEQ])):
                bb, bcomp, bm = b, comp, head
        if bb < 0:
            break
        m = bm
        if mode != 0 and O[m, O_OWNER] == owner:
            if mode == 1 or mode == 3:
                kill(K, S, L, O, HT, M, E, m, CANCELLED, R_STP, -1)
                if mode == 1:
                    continue
            stopped = True
            break
        lot, scale = K[bb, K_LOT], K[bb, K_SCALE]
        q = min(O[m, O_LEAVES], left // (lot * scale) * lot)
        px = L[O[m, O_LEVEL], L_PRICE]   # m heads a level, so it rests: O_LEVEL is that level
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
        if O[m, O_LEAVES] == 0:
            free_row(O, HT, M, m)
    rest_qty, rest_g = 0, 0
    if stopped:
        returned = O[r, O_LEAVES]
        kill(K, S, L, O, HT, M, E, r, CANCELLED, R_STP, g)
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
        if not stopped:      # (a stopped sweep's row was freed by kill)
            free_row(O, HT, M, r)
        return
    o = O[r]
    o[O_BOOK], o[O_PRICE], o[O_QTY], o[O_LEAVES], o[O_CUM] = rb, c[C_REST_PRICE], rest_qty, rest_qty, 0
    o[O_TYPE] = LIMIT
    o[O_EXPIRE] = c[C_EXPIRE] if tif == GTD else 0
    emit_order(E, M, O, r, ACCEPTED, R_NONE, -1)
    _after_accept(K, S, L, O, HT, M, E, W, X, r)
