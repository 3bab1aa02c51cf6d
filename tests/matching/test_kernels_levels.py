"""kernels_levels at its boundaries: a side's sorted levels filled to the last slot of S, the level
table to its last row, levels freed and their ids reused, the ladder's first and last slots and the
prices just outside them, and the owners' table (slot_of) wrapping from its last slot. Every step is
checked against the reference book, event for event, and the arena's invariants (arena.py) after it."""
from __future__ import annotations

from matching import EventKind, Op, Reason
from matching.layout import K_QB, M_CAPL, M_CAPS, NQ, views

from . import arena
from .test_kernels_book import cancel, new, pair, reasons, step

P = 1_000_000           # far from 0, so the window sits inside positive prices


def test_the_level_table_filled_to_its_last_row_then_growth():
    eng, ref = pair()
    capl = int(eng._A[M_CAPL])
    step(eng, ref, *(new(1 + i, price=P - i) for i in range(capl)))   # one level per order
    assert int(eng._A[M_CAPL]) == capl and eng.depth(0, 1000)[0].shape[0] == capl   # L[capl - 1] in use
    step(eng, ref, new(100, price=P - capl))      # one more level: the tables grow first
    assert int(eng._A[M_CAPL]) > capl
    # empty inner and best levels, so freed level ids come back in new levels, then trade through all
    step(eng, ref, *(cancel(1 + i) for i in range(2, capl, 3)), cancel(1), cancel(2))
    step(eng, ref, *(new(600 + i, price=P + 1 + i) for i in range(6)))
    step(eng, ref, new(700, side=2, price=P - capl, qty=10 ** 4))
    assert eng.resting_orders() == 1 and eng.order_state(700).live and eng.top_of_book(0).bid_price == 0


def test_a_side_filled_to_the_last_slot_of_s_then_growth():
    # order and level tables far bigger than a side (S starts at 64 slots whatever the capacity),
    # so it is the side's own room check that grows S, not another table's growth
    eng, ref = pair(capacity=256)
    caps = int(eng._A[M_CAPS])
    step(eng, ref, *(new(1 + i, price=P - i) for i in range(caps)))
    assert int(eng._A[M_CAPS]) == caps and eng.depth(0, 1000)[0].shape[0] == caps   # S[bids, caps - 1]
    step(eng, ref, new(500, price=P - caps))      # one more level: S grows first, nothing else does
    assert int(eng._A[M_CAPS]) > caps and int(eng._A[M_CAPL]) == 256
    step(eng, ref, *(cancel(1 + i) for i in range(0, caps, 5)), new(501, side=2, price=P - caps, qty=10 ** 4))
    assert eng.resting_orders() == 1 and eng.top_of_book(0).bid_price == 0


def test_the_ladder_first_and_last_slots_and_just_outside():
    eng, ref = pair()
    step(eng, ref, new(1, price=P), new(2, side=2, price=P + 10))
    k = views(eng._A)[0]
    bid_base, ask_base = int(k[0, K_QB]), int(k[0, K_QB + 1])
    assert (bid_base, ask_base) == (P - NQ // 2, P + 10 - NQ // 2)
    edges = [new(3, price=bid_base), new(4, price=bid_base - 1),               # bid slot 0, outside
             new(5, side=2, price=ask_base + NQ - 1), new(6, side=2, price=ask_base + NQ)]   # ask last, outside
    step(eng, ref, *edges)
    q = views(eng._A)[8]
    assert q[0, 0] != 0 and q[1, NQ - 1] != 0 and int(k[0, K_QB]) == bid_base
    # trade the touch away on both sides: the edge levels become the best ones, then re-centre
    ev = step(eng, ref, new(7, side=2, price=bid_base, qty=2), new(8, side=1, price=ask_base + NQ - 1, qty=2))
    assert [e for e in reasons(ev) if e[0] == EventKind.TRADE] == [(EventKind.TRADE, Reason.NONE)] * 4
    step(eng, ref, cancel(4), cancel(6), new(9, price=bid_base - 5), new(10, side=2, price=ask_base + NQ + 5))
    assert eng.resting_orders() == 2


def test_owner_ids_wrapping_from_the_last_slot_of_their_table():
    eng, ref = pair()
    mask = views(eng._A)[6].shape[0] - 1
    last, wrapped = mask - 1, 2 * mask              # owner + 1 is the key: homes mask and mask
    assert arena.home(last + 1, mask) == arena.home(wrapped + 1, mask) == mask
    step(eng, ref, dict(op=Op.SET_STP, owner=last, stp=1), dict(op=Op.SET_STP, owner=wrapped, stp=2))
    w = views(eng._A)[6]
    assert w[mask, 0] == last + 1 and w[0, 0] == wrapped + 1
    ev = step(eng, ref, new(1, price=100, owner=wrapped), new(2, side=2, price=100, owner=wrapped),
              new(3, price=101, owner=last), new(4, side=2, price=101, owner=last))
    cancels = [e for e in reasons(ev) if e[0] == EventKind.CANCELLED]
    assert cancels == [(EventKind.CANCELLED, Reason.SELF_TRADE)] * 2
