"""The price ladders (layout.NQ-tick windows per book side) at their edges, against the reference book.

A ladder only indexes levels: prices outside its window fall back to bisecting the sorted side, and
the window re-centres on the best price when that leaves its middle half. These streams put orders
on both sides of the window's edges, far beyond it, drift the touch over several windows, empty
books and refill them elsewhere, on a tick-1 and a tick-50 book, and check every event, the depth,
the tops and the state hash against `ReferenceBook`.
"""
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from matching import BookSpec, Engine, Op, ReferenceBook, commands
from matching.layout import K_QB, NQ, views

BOOKS = [BookSpec(tick=1, qty_scale=50), BookSpec(tick=50, qty_scale=1)]
GROUPS = [[0, 1]]
MID = (1_000_000, 50_000_000)   # far from 0, so a window could sit on either side of any price


def check_same(eng, ref):
    assert eng.state_hash() == ref.state_hash()
    assert eng.resting_orders() == ref.resting_orders()
    for b in range(len(BOOKS)):
        for x, y in zip(eng.depth(b, 10_000), ref.depth(b, 10_000)):
            assert x.tolist() == y.tolist()
        assert eng.top_of_book(b) == ref.top_of_book(b)
    for side in (1, 2):
        assert eng.top_prices(side).tolist() == ref.top_prices(side).tolist()


def run_both(cmds, cuts=(), capacity=16):
    eng, ref = Engine(BOOKS, GROUPS, capacity=capacity), ReferenceBook(BOOKS, GROUPS)
    edges = sorted({0, len(cmds), *[c for c in cuts if 0 < c < len(cmds)]})
    for lo, hi in zip(edges, edges[1:]):
        assert eng.process(cmds[lo:hi]).tolist() == ref.process(cmds[lo:hi]).tolist()
    check_same(eng, ref)
    return eng


def drifting_stream(n, seed, step_ticks, far=0.05):
    """Passive orders around a mid that moves `step_ticks` per command on average (so the touch
    crosses whole windows), a share `far` of them up to 3 windows away, plus crossing IOCs, cancels,
    replaces and the odd mass cancel that empties every book."""
    rng = np.random.default_rng(seed)
    c = commands(n)
    mid = [float(MID[0]), float(MID[1])]
    live, next_id = [], 1
    for i in range(n):
        r = c[i]
        r["time"] = i + 1
        b = int(rng.integers(0, 2))
        tick = BOOKS[b].tick
        mid[b] += rng.normal(step_ticks, 2 * step_ticks + 1) * tick
        m = int(mid[b]) // tick * tick
        side = int(rng.integers(1, 3))
        sgn = -1 if side == 1 else 1
        x = rng.random()
        if x < 0.55 or not live:
            dist = int(rng.integers(1, 3 * NQ)) if rng.random() < far else int(rng.geometric(0.1))
            r["op"], r["book"], r["order_id"], r["owner"], r["side"] = Op.NEW, b, next_id, int(rng.integers(0, 5)), side
            r["ord_type"], r["tif"], r["price"], r["qty"] = 2, 1, m + sgn * dist * tick, int(rng.integers(1, 5))
            live.append(next_id)
            next_id += 1
        elif x < 0.75:
            r["op"], r["order_id"] = Op.CANCEL, live.pop(int(rng.integers(0, len(live))))
        elif x < 0.85:
            r["op"], r["order_id"] = Op.REPLACE, live[int(rng.integers(0, len(live)))]
            r["price"], r["qty"] = m + sgn * int(rng.integers(1, 2 * NQ)) * tick, int(rng.integers(1, 6))
        elif x < 0.998:
            r["op"], r["book"], r["order_id"], r["owner"], r["side"] = Op.NEW, b, next_id, int(rng.integers(0, 5)), side
            r["ord_type"], r["tif"], r["qty"] = 2, 3, int(rng.integers(1, 30))
            r["price"] = m - sgn * int(rng.integers(0, 40)) * tick
            next_id += 1
        else:
            r["op"], r["book"], r["owner"] = Op.MASS_CANCEL, -1, -1
            live.clear()
    return c


def test_touch_drifting_over_many_windows_agrees():
    # about 12 ticks per command: the touch crosses a window (NQ ticks) every few hundred commands
    cmds = drifting_stream(6_000, seed=3, step_ticks=12)
    eng = run_both(cmds, cuts=(1_000, 2_500, 4_000))
    bases = views(eng._A)[0][:, K_QB:K_QB + 2]
    assert (bases != 0).all(), "every side's window was placed"


def test_far_orders_outside_the_window_agree():
    # a quiet touch, a third of the orders up to three windows away: most far ones bypass the ladder
    cmds = drifting_stream(5_000, seed=4, step_ticks=0, far=0.33)
    run_both(cmds, cuts=(2_000,))


def test_window_edges_exactly():
    # levels at the last slot inside and the first slots outside both ends of the first window,
    # then a best price that walks over the edge (re-centring), then everything traded away
    c = commands(0)
    rows = []
    oid = 1
    base_guess = MID[0] - NQ // 2
    for side, sgn in ((1, -1), (2, 1)):
        for d in (1, NQ // 4 - 1, NQ // 4, NQ // 2 - 1, NQ // 2, NQ // 2 + 1, NQ - 1, NQ, NQ + 1, 3 * NQ):
            rows.append(dict(op=Op.NEW, book=0, order_id=oid, owner=1, side=side, ord_type=2, tif=1,
                             price=MID[0] + sgn * d, qty=1))
            oid += 1
    rows.append(dict(op=Op.NEW, book=0, order_id=oid, owner=2, side=1, ord_type=2, tif=1,
                     price=base_guess + NQ + NQ // 3, qty=1))   # a bid beyond the asks' window? it trades
    oid += 1
    for k in range(1, 40):   # bids stepping up far past the original window, each a new best
        rows.append(dict(op=Op.NEW, book=0, order_id=oid, owner=3, side=1, ord_type=2, tif=1,
                         price=MID[0] - NQ + k * (NQ // 8), qty=2))
        oid += 1
    rows.append(dict(op=Op.NEW, book=0, order_id=oid, owner=4, side=2, ord_type=1, tif=3, qty=10_000))
    oid += 1
    rows.append(dict(op=Op.NEW, book=0, order_id=oid, owner=4, side=1, ord_type=1, tif=3, qty=10_000))
    c = commands(len(rows))
    for i, row in enumerate(rows):
        c[i]["time"] = i + 1
        for k, v in row.items():
            c[i][k] = int(v)
    eng = run_both(c, cuts=(5, 21, 30))
    assert eng.resting_orders() == 0


def test_empty_books_refilled_far_away_agree():
    cmds = drifting_stream(3_000, seed=8, step_ticks=0)
    c = commands(len(cmds) + 1_000)
    c[:len(cmds)] = cmds
    tail = drifting_stream(1_000, seed=9, step_ticks=0)
    for f in ("price",):
        shift = np.where(tail["book"] == 1, 10_000 * 50, 10_000)  # the second part lives 10,000 ticks higher
        tail[f] = np.where(tail[f] > 0, tail[f] + shift, tail[f])
    tail["order_id"] = np.where(tail["order_id"] > 0, tail["order_id"] + 1_000_000, 0)
    c[len(cmds)] = commands(1)[0]
    c[len(cmds)]["op"], c[len(cmds)]["book"], c[len(cmds)]["owner"] = Op.MASS_CANCEL, -1, -1
    c[len(cmds) + 1:] = tail[:999]
    c["time"] = np.arange(1, len(c) + 1)
    run_both(c, cuts=(len(cmds), len(cmds) + 1))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.integers(0, 99), st.integers(0, 1), st.integers(1, 2),
                               st.sampled_from([1, 2, 3, NQ // 4, NQ // 2, NQ - 1, NQ, NQ + 7, 5 * NQ]),
                               st.integers(1, 40), st.integers(1, 4)), min_size=5, max_size=60),
       cuts=st.lists(st.integers(1, 60), max_size=3))
def test_random_jumps_agree(rows, cuts):
    """Orders at distances that straddle the window's quarter, half and edge, on both books, with
    cancels, replaces and IOCs that clear levels and move the best price across the edges."""
    c = commands(len(rows))
    for i, (k, b, side, dist, oid, qty) in enumerate(rows):
        tick = BOOKS[b].tick
        sgn = -1 if side == 1 else 1
        price = MID[b] + sgn * dist * tick
        r = c[i]
        r["time"] = i + 1
        if k < 55:
            r["op"], r["book"], r["order_id"], r["owner"], r["side"] = Op.NEW, b, oid, oid % 3, side
            r["ord_type"], r["tif"], r["price"], r["qty"] = 2, 1, price, qty
        elif k < 70:
            r["op"], r["order_id"] = Op.CANCEL, oid
        elif k < 82:
            r["op"], r["order_id"], r["price"], r["qty"] = Op.REPLACE, oid, MID[b] - sgn * dist * tick, qty + 2
        elif k < 96:
            r["op"], r["book"], r["order_id"], r["owner"], r["side"] = Op.NEW, b, 100 + oid, 9, side
            r["ord_type"], r["tif"], r["price"], r["qty"] = 2, 3, MID[b] - sgn * dist * tick, 3 * qty
        else:
            r["op"], r["book"], r["order_id"], r["owner"], r["side"] = Op.SWEEP, 0, 200 + oid, 9, side
            r["ord_type"], r["tif"], r["price"], r["qty"], r["allowed"] = 1, 3, 0, 50 * qty, 3
    run_both(c, cuts=cuts)
