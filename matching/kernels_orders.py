"""Numba handlers for single-book orders: NEW, CANCEL, REPLACE and the settings commands.

Also the shared pieces every handler uses (command field ids, reject/event helpers, the matching
loop, the after-accept policy for IOC/FOK/market/resting). The rules mirror `reference.py` line for
line; when they disagree, the differential tests say which one drifted. No I/O, no clock, no raising.
"""
from __future__ import annotations

from numba import njit

from .kernels_book import (
    add_id, emit, emit_order, find_order, free_row, heap_push, new_row, prefetch, price_reason, qty_reason,
)
from .kernels_levels import best_level, kill, link, unlink
from .layout import (
    K_DEN, K_NLEV, K_NUM, K_REF, K_SCALE, L_HEAD, L_PRICE, L_QTY, M_NB, M_NOWN, O_BOOK, O_CUM,
    O_EXPIRE, O_ID, O_LEAVES, O_LEVEL, O_LIVE, O_NEXT, O_OWNER, O_PREV, O_PRICE, O_QTY, O_SEQ, O_SIDE,
    O_TIF, O_TYPE, slot_of,
)
from .types import EventKind, MAX_FACTOR, MAX_PRICE, MAX_SCALE, Op, Reason

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
                if mode >= 2:
                    return False
            else:
                acc += O[m, O_LEAVES]
                if acc >= need:
                    return True
            m = O[m, O_NEXT]
    return False


@njit(cache=True, _nrt=False, inline="always")
def _match(K, S, L, O, HT, M, E, r, mode):
    """Trade row `r` against its own book; True when self-trade prevention stopped it."""
    b, opp, owner = O[r, O_BOOK], 2 - O[r, O_SIDE], O[r, O_OWNER]
    while O[r, O_LEAVES] > 0:
        lid = best_level(K, S, b, opp)
        if lid < 0:
            break
        px = L[lid, L_PRICE]
        if not _crosses(O, r, px):
            break
        m = L[lid, L_HEAD]   # >= 0: a level on a side has an order (unlink frees a level that empties)
        k = O[m, O_ID]   # its id slot is written when the maker fills: start that load now
        prefetch(HT.ctypes.data + ((k ^ (k >> 32)) & (HT.shape[0] - 1)) * 16)
        if mode != 0 and O[m, O_OWNER] == owner:
            if mode == 1 or mode == 3:
                kill(K, S, L, O, HT, M, E, m, CANCELLED, R_STP, -1)
                if mode == 1:
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
        if O[m, O_LEAVES] == 0:
            free_row(O, HT, M, m)
    return False


@njit(cache=True, _nrt=False, inline="always")
def _after_accept(K, S, L, O, HT, M, E, W, X, r):
    mode = _stp_mode(W, O[r, O_OWNER])
    tif = O[r, O_TIF]
    if tif == FOK and not _fok_fillable(K, S, L, O, r, mode):
        kill(K, S, L, O, HT, M, E, r, CANCELLED, R_FOK, -1)
        return
    if _match(K, S, L, O, HT, M, E, r, mode):
        kill(K, S, L, O, HT, M, E, r, CANCELLED, R_STP, -1)
    elif O[r, O_LEAVES] > 0:
        if O[r, O_TYPE] == MARKET or tif == IOC or tif == FOK:
            kill(K, S, L, O, HT, M, E, r, CANCELLED, R_IOC, -1)
        else:
            link(K, S, L, O, M, r)
            if tif == GTD:
                heap_push(X, M, O[r, O_EXPIRE], r)
    else:
        free_row(O, HT, M, r)   # filled in full


@njit(cache=True, _nrt=False, inline="always")
def _valid_tif(tif):
    return tif == DAY or tif == GTC or tif == IOC or tif == FOK or tif == GTD


@njit(cache=True, _nrt=False, inline="always")
def _new_row(O, HT, M, oid, book, side, owner, price, qty, tif, expire, ord_type):
    r = new_row(O, M)
    add_id(HT, M, oid, r)
    o = O[r]
    o[O_ID], o[O_BOOK], o[O_SIDE], o[O_OWNER], o[O_PRICE] = oid, book, side, owner, price
    o[O_QTY], o[O_LEAVES], o[O_CUM], o[O_TIF], o[O_EXPIRE] = qty, qty, 0, tif, expire
    o[O_LIVE], o[O_LEVEL], o[O_NEXT], o[O_PREV], o[O_SEQ], o[O_TYPE] = 0, -1, -1, -1, 0, ord_type
    return r


@njit(cache=True, _nrt=False, inline="always")
def _new(K, S, L, O, HT, W, X, M, E, c):
    b, oid, tif, ord_type, side = c[C_BOOK], c[C_OID], c[C_TIF], c[C_TYPE], c[C_SIDE]
    if b < 0 or b >= M[M_NB]:
        return _reject(E, M, c, R_BAD_BOOK, False)
    if oid <= 0:
        return _reject(E, M, c, R_BAD_OID, False)
    if find_order(HT, M, oid) >= 0:
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
    _after_accept(K, S, L, O, HT, M, E, W, X, r)


@njit(cache=True, _nrt=False, inline="always")
def _cancel(K, S, L, O, HT, M, E, c):
    r = find_order(HT, M, c[C_OID]) if c[C_OID] > 0 else -1
    if r < 0:
        return _reject(E, M, c, R_UNKNOWN, False)
    if O[r, O_LIVE] == 0:
        return _reject(E, M, c, R_NOT_LIVE, False)
    kill(K, S, L, O, HT, M, E, r, CANCELLED, R_CXL, -1)


@njit(cache=True, _nrt=False)
def _replace(K, S, L, O, HT, W, M, E, c):
    r = find_order(HT, M, c[C_OID]) if c[C_OID] > 0 else -1
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
        L[O[r, O_LEVEL], L_QTY] += leaves - O[r, O_LEAVES]   # r rests (O_LIVE tested): a level id
    else:
        unlink(K, S, L, O, M, r)
    O[r, O_QTY], O[r, O_LEAVES], O[r, O_PRICE] = qty, leaves, price
    emit_order(E, M, O, r, REPLACED, R_NONE, -1)
    if keeps:
        return
    if _match(K, S, L, O, HT, M, E, r, _stp_mode(W, O[r, O_OWNER])):
        kill(K, S, L, O, HT, M, E, r, CANCELLED, R_STP, -1)
    elif O[r, O_LEAVES] > 0:
        link(K, S, L, O, M, r)
    else:
        free_row(O, HT, M, r)   # filled in full


@njit(cache=True, _nrt=False)
def _settings(K, W, M, E, c):
    op, b = c[C_OP], c[C_BOOK]
    if op == OP_STP:
        owner, mode = c[C_OWNER], c[C_STP]
        if owner < 0:
            return _reject(E, M, c, R_BAD_OWNER, False)
        if mode < 0 or mode > 3:
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
