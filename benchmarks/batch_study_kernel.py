"""Design study (issue 15, session 11): the compiled middle of "one numba call per socket read".

`batch_new(A, E, C, n, start, ST, OUT)` takes a read's new instrument orders as int64 command rows
(`matching.COMMAND_DTYPE` order, order id left 0) and, row by row, does in one compiled call what
today's Python does for such an order between parsing and the ack: the throttle's token bucket, the
kill switch, the router's one-book filters (tick, session open flag, static eligibility and settlement
refusals, price limit band, lot range), the cash check, risk's order limits, the collar against the
reference comparable price and credit on working notional; then it takes the cash reservation and the
working notional, gives the order the next core id, and runs the core NEW through the real engine's own
command loop (`matching.kernels._loop`) on the engine's arena. Each row's outcome goes into `OUT`.

Every piece of state it reads or changes, the read's rows and their outcomes included, is one flat int64
array `ST` (layout below, built from a live `OrderFlow` by `benchmarks.batch_study.StudyState`), so a
call crosses from Python with the engine's arena, `ST` and two ints.
A row whose order this kernel does not cover (a product, a market order, a sell, a margined book, a book
under a quota direction, an unknown account/book pair) is marked NOT_COVERED before anything changes:
the design would hand it to today's Python path.

A benchmark only (nothing in the service calls it); not cached on disk, so it always runs the current
matching kernels (compiling it costs about a second).
"""
from __future__ import annotations

import numpy as np
from numba import njit
from numba.core import types as nbtypes

from matching import kernels
from matching.kernels_orders import ACCEPTED, C_OID, C_OWNER, C_BOOK, C_PRICE, C_QTY, C_SIDE, C_TIME, C_TYPE
from matching.kernels_orders import CANCELLED, R_IOC, REJECTED
from matching.layout import M_EPTR, M_EROWS, M_NE, M_RESUME
from matching.types import NCF, NEF
from router.domain.convert import COMPARABLE_DEN
from router.domain.reasons import Reason

PPM = 1_000_000
INT64_MAX = 2**63 - 1
NS_PER_S = 1_000_000_000
# Router reasons as small ints: REFUSED + code(reason) in OUT's code column.
REASONS = list(Reason)
CODE = {r: n for n, r in enumerate(REASONS, 1)}

# ST header slots
(H_NACCT, H_NBOOK, H_NCCY, H_OFF_P, H_OFF_LIM, H_OFF_CASH, H_OFF_RES, H_OFF_OPEN, H_OFF_TOK, H_OFF_LAST,
 H_HALTED_ALL, H_COLLAR_BP, H_RATE, H_CAP, H_NEXT_OID, H_NSESS, H_OFF_ROWS, H_OFF_OUT, H_MAX_READ) = range(19)
HDR = 24
# P: one row per (account, book): the router's static filter row for it, flat
(P_KNOWN, P_PRE, P_POST, P_QUOTA, P_TICK, P_LO, P_HI, P_MIN, P_MAX, P_NUM, P_DEN, P_REF_COMP, P_SETTL_NUM,
 P_FEE_PPM, P_LOT_FEE, P_CNY_NUM, P_CCY, P_MARGIN, P_FINE_UG, P_OPEN, P_FMAX) = range(21)
NP = 21
# LIM: one row per account
L_HALTED, L_MAX_UG, L_MAX_NOTIONAL, L_CREDIT, L_SESSION = range(5)
NL = 5
# OUT: one row per command row of the read
R_CODE, R_BOOK, R_CORE_QTY, R_NEED, R_CCY, R_NOTIONAL, R_OID = range(7)
NR = 7
# OUT codes
PENDING, RESTING, CHECKED, IOC_DONE, OTHER, CORE_REJECTED, NOT_COVERED = 0, 1, 2, 3, 4, 5, 6
REFUSED = 100

_THROTTLED, _KILL_ALL, _KILL_ACCT, _BAD_PRICE, _SESSION_CLOSED, _PRICE_LIMIT, _LOTS, _CASH, _MAX_QTY, _MAX_NOTIONAL, \
    _NO_REF, _COLLAR, _CREDIT = (CODE[r] for r in (
        Reason.THROTTLED, Reason.KILL_SWITCH_GLOBAL, Reason.KILL_SWITCH_ACCOUNT, Reason.BAD_PRICE, Reason.SESSION_CLOSED,
        Reason.PRICE_LIMIT, Reason.LOTS_OUT_OF_RANGE, Reason.INSUFFICIENT_CASH, Reason.MAX_ORDER_QTY,
        Reason.MAX_NOTIONAL, Reason.NO_REFERENCE_PRICE, Reason.PRICE_COLLAR, Reason.CREDIT_LIMIT))


@njit(cache=False)
def _checks(c, ST, P, LIM, CASH, RES, OPEN, TOK, LAST, OUT, i):
    """Today's checks for one buy limit order on an instrument, in today's order (flow's throttle,
    then `Router.route` / `OneBookRoute._route_instrument`, then `RiskEngine.check_new`), then the
    reservation (`Funds._reserve`) and the working notional (`RiskEngine.on_accepted`)."""
    acct, book = c[C_OWNER], c[C_BOOK]
    nb = ST[H_NBOOK]
    if acct < 0 or acct >= ST[H_NACCT] or book < 0 or book >= nb:
        return NOT_COVERED
    p = P[acct * nb + book]
    if p[P_KNOWN] == 0 or p[P_QUOTA] != 0 or p[P_MARGIN] >= 0 or c[C_SIDE] != 1 or c[C_TYPE] != 2:
        return NOT_COVERED
    # throttle: the session's token bucket (risk.check_message)
    price, qty = c[C_PRICE], c[C_QTY]
    if price * qty > INT64_MAX // p[P_FMAX]:      # Python's ints do not overflow; int64 would
        return NOT_COVERED
    s = LIM[acct, L_SESSION]
    now, last, cap = c[C_TIME], LAST[s], ST[H_CAP]
    if last < 0:                        # the session's first message: a full bucket
        TOK[s], LAST[s] = cap, now
    elif now > last:
        # tokens + gap * rate, capped; a gap that would fill the bucket anyway is not multiplied (int64)
        TOK[s] = cap if now - last > cap // ST[H_RATE] else min(TOK[s] + (now - last) * ST[H_RATE], cap)
        LAST[s] = now
    if TOK[s] < NS_PER_S:
        return REFUSED + _THROTTLED
    TOK[s] -= NS_PER_S
    if ST[H_HALTED_ALL] != 0:
        return REFUSED + _KILL_ALL
    if LIM[acct, L_HALTED] != 0:
        return REFUSED + _KILL_ACCT
    if price % p[P_TICK] != 0:
        return REFUSED + _BAD_PRICE
    if p[P_OPEN] == 0:
        return REFUSED + _SESSION_CLOSED
    if p[P_PRE] != 0:
        return REFUSED + p[P_PRE]
    notional = price * qty * p[P_CNY_NUM] // COMPARABLE_DEN
    if p[P_POST] != 0:
        return REFUSED + p[P_POST]
    if price < p[P_LO] or (p[P_HI] >= 0 and price > p[P_HI]):
        return REFUSED + _PRICE_LIMIT
    if qty < p[P_MIN] or qty > p[P_MAX]:
        return REFUSED + _LOTS
    value = price * qty * p[P_SETTL_NUM] // COMPARABLE_DEN
    need = value - (-value * p[P_FEE_PPM] // PPM) + qty * p[P_LOT_FEE]
    ccy = p[P_CCY]
    if CASH[acct, ccy] - RES[acct, ccy] < need:
        return REFUSED + _CASH
    if notional < 0:
        notional = 0
    if LIM[acct, L_MAX_UG] >= 0 and qty * p[P_FINE_UG] > LIM[acct, L_MAX_UG]:
        return REFUSED + _MAX_QTY
    if LIM[acct, L_MAX_NOTIONAL] >= 0 and notional > LIM[acct, L_MAX_NOTIONAL]:
        return REFUSED + _MAX_NOTIONAL
    collar = ST[H_COLLAR_BP]
    if collar >= 0:
        ref = p[P_REF_COMP]
        if ref <= 0:
            return REFUSED + _NO_REF
        if abs(price * p[P_NUM] // p[P_DEN] - ref) * 10_000 > collar * ref:
            return REFUSED + _COLLAR
    if LIM[acct, L_CREDIT] >= 0 and OPEN[acct] + notional > LIM[acct, L_CREDIT]:
        return REFUSED + _CREDIT
    if need > 0:
        RES[acct, ccy] += need
    OPEN[acct] += notional
    oid = ST[H_NEXT_OID] + 1
    ST[H_NEXT_OID] = oid
    c[C_OID] = oid
    OUT[i, R_NEED], OUT[i, R_CCY], OUT[i, R_NOTIONAL], OUT[i, R_OID] = need, ccy, notional, oid
    return CHECKED


@njit(cache=False)
def _release(RES, OPEN, OUT, i, acct):
    """The order ended in the core call (an IOC's unfilled rest, a core reject): what `_finish` gives back."""
    ccy, need = OUT[i, R_CCY], OUT[i, R_NEED]
    held = RES[acct, ccy]
    RES[acct, ccy] = held - min(need, held)
    OPEN[acct] -= OUT[i, R_NOTIONAL]


@njit(cache=False)
def _outcome(E, ne0, ne1, c, RES, OPEN, OUT, i):
    """The row's core events (E[ne0:ne1]) as its outcome: resting, an IOC that met nothing, a core
    reject, or OTHER (trades and the rest: today's general event loop, not covered here)."""
    oid = c[C_OID]
    if ne1 - ne0 == 1 and E[ne0, 0] == ACCEPTED and E[ne0, 7] == oid:
        OUT[i, R_CODE], OUT[i, R_BOOK], OUT[i, R_CORE_QTY] = RESTING, E[ne0, 5], E[ne0, 11]
    elif (ne1 - ne0 == 2 and E[ne0, 0] == ACCEPTED and E[ne0 + 1, 0] == CANCELLED and E[ne0 + 1, 2] == R_IOC
          and E[ne0 + 1, 7] == oid):
        OUT[i, R_CODE], OUT[i, R_BOOK], OUT[i, R_CORE_QTY] = IOC_DONE, E[ne0, 5], E[ne0, 11]
        _release(RES, OPEN, OUT, i, c[C_OWNER])
    elif ne1 - ne0 == 1 and E[ne0, 0] == REJECTED:
        OUT[i, R_CODE], OUT[i, R_BOOK] = CORE_REJECTED, E[ne0, 2]
        _release(RES, OPEN, OUT, i, c[C_OWNER])
    else:
        OUT[i, R_CODE] = OTHER


@njit(cache=False)
def batch_new(A, ST, n, start):
    """Rows [start, n) of a read: checks, then the core NEW, row by row. Returns n when done, or the
    row the engine's loop stopped at for room (the caller grows the tables, `Engine._make_room`, and
    calls again from there: that row's checks are not run twice). The rows and their outcomes are
    tables of ST; the engine's event buffer is the one its arena header points at (as `kernels.run_at`):
    two arrays cross from Python per call."""
    base = ST.ctypes.data
    C = kernels._view2(base, ST[H_OFF_ROWS], ST[H_MAX_READ], NCF)
    OUT = kernels._view2(base, ST[H_OFF_OUT], ST[H_MAX_READ], NR)
    E = kernels._view2(A[M_EPTR], 0, A[M_EROWS], NEF)
    na, nb, nccy, ns = ST[H_NACCT], ST[H_NBOOK], ST[H_NCCY], ST[H_NSESS]
    P = kernels._view2(base, ST[H_OFF_P], na * nb, NP)
    LIM = kernels._view2(base, ST[H_OFF_LIM], na, NL)
    CASH = kernels._view2(base, ST[H_OFF_CASH], na, nccy)
    RES = kernels._view2(base, ST[H_OFF_RES], na, nccy)
    OPEN = kernels._view1(base, ST[H_OFF_OPEN], na)
    TOK = kernels._view1(base, ST[H_OFF_TOK], ns)
    LAST = kernels._view1(base, ST[H_OFF_LAST], ns)
    M, K, G, S, L, O, HT, W, X = kernels._tables(A)
    if start == 0:
        M[M_NE] = 0           # a new read: its events from row 0 (as `kernels._run`)
        for i in range(n):
            OUT[i, R_CODE] = PENDING
    M[M_RESUME] = 0           # cleared as `kernels._run` clears it, or the engine's next call appends
    for i in range(start, n):
        c = C[i]
        if OUT[i, R_CODE] != CHECKED:
            code = _checks(c, ST, P, LIM, CASH, RES, OPEN, TOK, LAST, OUT, i)
            OUT[i, R_CODE] = code
            if code != CHECKED:
                continue
        ne0 = M[M_NE]
        if kernels._loop(K, G, S, L, O, HT, W, X, M, E, C, i, i + 1) < 0:
            return i
        _outcome(E, ne0, M[M_NE], c, RES, OPEN, OUT, i)
    return n


def compiled_entry():
    """`batch_new` compiled for its one signature, called without numba's per-call type dispatch
    (as `matching.engine._kernel` does for the engine's one-command call)."""
    a1 = nbtypes.Array(nbtypes.int64, 1, "C")
    sig = (a1, a1, nbtypes.int64, nbtypes.int64)
    if sig not in batch_new.overloads:
        batch_new.compile(sig)
    return batch_new.overloads[sig].entry_point


def empty_state(n_acct: int, n_book: int, n_ccy: int, n_sess: int, max_read: int) -> np.ndarray:
    """A zeroed `ST` with its header's sizes and offsets filled in."""
    sizes = [(H_OFF_P, n_acct * n_book * NP), (H_OFF_LIM, n_acct * NL), (H_OFF_CASH, n_acct * n_ccy),
             (H_OFF_RES, n_acct * n_ccy), (H_OFF_OPEN, n_acct), (H_OFF_TOK, n_sess), (H_OFF_LAST, n_sess),
             (H_OFF_ROWS, max_read * NCF), (H_OFF_OUT, max_read * NR)]
    st = np.zeros(HDR + sum(s for _, s in sizes), np.int64)
    off = HDR
    for slot, size in sizes:
        st[slot] = off
        off += size
    st[H_NACCT], st[H_NBOOK], st[H_NCCY], st[H_NSESS], st[H_MAX_READ] = n_acct, n_book, n_ccy, n_sess, max_read
    return st


def view(st: np.ndarray, slot: int, rows: int, cols: int = 0) -> np.ndarray:
    """A numpy view of one table of `st` (writes go to the kernel's state)."""
    off = int(st[slot])
    return st[off:off + rows] if not cols else st[off:off + rows * cols].reshape(rows, cols)
