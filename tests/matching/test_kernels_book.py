"""kernels_book at its boundaries: the id table (an absent id, tombstones, the probe wrapping from the
last slot to the first, a table filled to its rehash), order rows (a freed row reused, the last row
of a full table) and the GTD heap filled to its last slot. Every step is checked against the
reference book, event for event, and the arena's invariants (tests/matching/arena.py) after it."""
from __future__ import annotations

import numpy as np

from matching import BookSpec, Engine, EventKind, Op, ReferenceBook, Reason
from matching.kernels import lookup
from matching.layout import M_CAPH, M_HDISP, M_NHT, views

from . import arena
from .conftest import batch

BOOKS = [BookSpec(tick=1)]
MASK = 31          # Engine(capacity=16) has a 32-slot id table


def pair(capacity: int = 16):
    return Engine(BOOKS, capacity=capacity), ReferenceBook(BOOKS)


def step(eng, ref, *rows: dict) -> np.ndarray:
    """Run the commands on both, one at a time; the same events and intact invariants after each."""
    out = []
    for row in rows:
        c = batch(row)
        a, b = eng.process(c), ref.process(c)
        assert a.tolist() == b.tolist(), row
        arena.check(eng)
        out.append(a)
    assert eng.state_hash() == ref.state_hash()
    return np.concatenate(out)


def new(oid, side=1, price=100, qty=1, owner=0, tif=1, **kw):
    return dict(op=Op.NEW, book=0, order_id=oid, side=side, ord_type=2, tif=tif, price=price, qty=qty,
                owner=owner, **kw)


def cancel(oid):
    return dict(op=Op.CANCEL, order_id=oid)


def replace(oid, price=100, qty=2):
    return dict(op=Op.REPLACE, order_id=oid, price=price, qty=qty)


def reasons(events) -> list[tuple[int, int]]:
    return [(int(e["kind"]), int(e["reason"])) for e in events]


def test_ids_sharing_the_last_home_slot_wrap_to_the_first():
    eng, ref = pair()
    same_home = [31, 63, 95]                     # (oid ^ oid >> 32) & 31 == 31 for each
    assert {arena.home(x, MASK) for x in same_home} == {MASK}
    step(eng, ref, *(new(x, price=90 + i) for i, x in enumerate(same_home)))
    ht = views(eng._A)[5]
    assert ht.shape[0] == MASK + 1 and ht[[31, 0, 1], 0].tolist() == same_home
    assert eng._A[M_HDISP] == 2
    step(eng, ref, cancel(63))                   # a tombstone in slot 0, inside the probe run
    assert ht[0, 0] < 0
    ev = step(eng, ref, replace(95, price=91, qty=3), cancel(95))   # probes past the tombstone
    assert reasons(ev)[-1] == (EventKind.CANCELLED, Reason.CANCEL_REQUESTED)
    step(eng, ref, new(127, price=80))           # reuses slot 0, the first deleted slot of its run
    assert ht[0, 0] == 127 and lookup(eng._A, 127) >= 0
    # a seller takes 31 (tombstone through free_row's probe, M_HDISP > 0) then 127
    step(eng, ref, new(500, side=2, price=80, qty=2))
    assert lookup(eng._A, 31) == lookup(eng._A, 127) == -1


def test_absent_ids_are_unknown_wherever_their_probe_ends():
    eng, ref = pair()
    step(eng, ref, new(31, price=90), new(63, price=91), new(7, price=92))
    step(eng, ref, cancel(63))                   # 63 ended: its slot is a tombstone
    unknown = [63, 95, 127, 8, 2 ** 40 + 31, 10 ** 15]   # ended; same home as a live id; never seen
    for oid in unknown:
        ev = step(eng, ref, cancel(oid), replace(oid))
        assert reasons(ev) == [(EventKind.REJECTED, Reason.UNKNOWN_ORDER)] * 2, oid
        assert lookup(eng._A, oid) == -1
    for oid in (0, -1, -(2 ** 40)):
        ev = step(eng, ref, cancel(oid))
        assert reasons(ev) == [(EventKind.REJECTED, Reason.UNKNOWN_ORDER)], oid
    assert eng.resting_orders() == 2


def test_a_freed_row_is_reused_and_its_old_id_stays_unknown():
    eng, ref = pair()
    step(eng, ref, new(1, price=90), new(2, price=91))
    row_of_1 = lookup(eng._A, 1)
    step(eng, ref, cancel(1))
    step(eng, ref, new(3, price=92))
    assert lookup(eng._A, 3) == row_of_1, "the most recently freed row is taken first"
    ev = step(eng, ref, cancel(1), replace(1, price=93))
    assert reasons(ev) == [(EventKind.REJECTED, Reason.UNKNOWN_ORDER)] * 2
    assert eng.order_state(3).leaves_qty == 1
    ev = step(eng, ref, new(1, price=94))        # an ended id may come back: not a duplicate
    assert reasons(ev) == [(EventKind.ACCEPTED, Reason.NONE)]
    ev = step(eng, ref, new(3, price=95))
    assert reasons(ev) == [(EventKind.REJECTED, Reason.DUPLICATE_ORDER_ID)]


def test_the_last_row_of_a_full_table_then_growth():
    eng, ref = pair()
    step(eng, ref, *(new(10 + i, price=80 + i) for i in range(16)))
    assert eng.order_rows() == (16, 0, 16) and lookup(eng._A, 25) == 15
    step(eng, ref, new(26, price=79))            # no row left: the table grows first
    assert eng.order_rows()[2] > 16
    step(eng, ref, cancel(25), new(27, side=2, price=79, qty=16))   # trade through them all
    assert eng.resting_orders() == 0 and lookup(eng._A, 10) == -1


def test_tombstones_fill_the_id_table_to_its_rehash():
    eng, ref = pair()
    cap = int(eng._A[M_CAPH])
    step(eng, ref, new(1, price=90))
    rehashed = False
    for oid in range(2, 40):
        before = int(eng._A[M_NHT])
        step(eng, ref, new(oid, price=91), cancel(oid))
        rehashed |= int(eng._A[M_NHT]) < before
        assert 2 * int(eng._A[M_NHT]) <= cap
    assert rehashed and int(eng._A[M_CAPH]) == cap, "cleaned in place, not grown"
    assert lookup(eng._A, 1) >= 0


def test_the_gtd_heap_filled_to_its_last_slot_expires_in_order():
    eng, ref = pair()
    step(eng, ref, *(new(100 + i, side=1 + i % 2, price=90 + (i % 2) * 20 + i, tif=6, expire_time=50 - i)
                     for i in range(16)))
    assert eng.order_rows()[2] == 16
    ev = step(eng, ref, dict(op=Op.EXPIRE, book=-1, tif=6, time=60))
    assert len(ev) == 16 and set(ev["kind"].tolist()) == {EventKind.EXPIRED}
    assert eng.resting_orders() == 0
