"""Growth ahead of need (matching.growth): the spare arena prepared on a worker thread gives the
same state as growing in place, and streams that grow many times through it agree with the reference.

The spare path only changes when and where memory is allocated, never an event; these tests prove
that with the oracle, check `growth.capacities` + `growth.move` stay `layout.grow` in two steps
(they are kept apart from layout.py so the kernels' sources do not change), and that an imported
state drops a spare planned for the state it replaces.
"""
import numpy as np

from benchmarks.streams import exchange_books, generate
from matching import Engine, ReferenceBook
from matching.growth import SpareArena, capacities, move, pressure_needs
from matching.layout import M_CAPO, M_CAPW, M_NB, M_NG, M_NHEAP, _live_heap, allocate, grow, views
from matching.state import export_state, import_state


def _engine_after(n_cmds, capacity=64, seed=3):
    books, groups = exchange_books()
    eng = Engine(books, groups, capacity=capacity)
    eng.process(generate(n_cmds, seed=seed, resting=n_cmds // 4))
    return eng


def test_capacities_and_move_are_grow_in_two_steps():
    eng = _engine_after(6_000)
    a = eng._A
    for needs in ((1, 1, 1, 1), (5_000, 1, 1, 1), (1, 900, 70, 40)):
        expected = grow(a, *needs)
        heap = _live_heap(views(a)[7][:int(a[M_NHEAP])], views(a)[4])
        caps = capacities(a, *needs, heap=len(heap))
        assert caps == tuple(int(x) for x in expected[M_CAPO:M_CAPW + 1])
        got = move(a, allocate(int(a[M_NB]), int(a[M_NG]), *caps))
        assert np.array_equal(got, expected)


def test_streams_growing_through_the_spare_agree_with_the_reference():
    books, groups = exchange_books()
    cmds = generate(30_000, seed=21, resting=8_000)
    eng, ref = Engine(books, groups, capacity=256), ReferenceBook(books, groups)
    for lo in range(0, len(cmds), 100):
        assert np.array_equal(eng.process(cmds[lo:lo + 100]), ref.process(cmds[lo:lo + 100]))
        eng._spare.wait()       # as if the loop had matched long enough meanwhile
    assert eng.state_hash() == ref.state_hash()
    counts = eng.arena_growths()
    assert counts["ready"] >= 4 and counts["in_place"] == 0, counts   # 256 -> 8,000+ rows: every growth from a spare
    assert counts["events_prepared"] >= 3, counts                      # 256 -> 16,000+ event rows


def test_one_command_calls_grow_through_the_spare_too():
    books, groups = exchange_books()
    cmds = generate(8_000, seed=22, resting=3_000)
    eng, ref = Engine(books, groups, capacity=16), ReferenceBook(books, groups)
    expected = ref.process(cmds)
    got = np.concatenate([eng.process_at(cmds, i) for i in range(len(cmds))])
    assert np.array_equal(got, expected)
    assert eng.state_hash() == ref.state_hash()
    grew = eng.arena_growths()
    assert grew["ready"] + grew["waited"] > 0, grew


def test_a_spare_planned_smaller_than_the_tables_now_is_not_used():
    eng = _engine_after(2_000, capacity=4096)
    a = eng._A
    assert pressure_needs(a) is None                  # 4096 rows, a few hundred live: no pressure
    spare = SpareArena()
    spare._caps = (int(a[M_CAPO]) // 2, *(int(x) for x in a[M_CAPO + 1:M_CAPW + 1]))
    spare._box = [allocate(int(a[M_NB]), int(a[M_NG]), *spare._caps)]
    spare._thread = _done_thread()
    assert spare.take(a) is None and spare.counts["in_place"] == 1
    assert spare._thread is None and spare._box == []


def test_import_drops_a_spare_planned_for_the_replaced_state():
    books, groups = exchange_books()
    cmds = generate(6_000, seed=23, resting=2_000)
    source, target, ref = Engine(books, groups), Engine(books, groups, capacity=16), ReferenceBook(books, groups)
    source.process(cmds[:4_000])
    ref.process(cmds[:4_000])
    target.process(cmds[:300])                 # small tables past their high-water mark: a spare in preparation
    import_state(target, export_state(source))
    assert target._spare._thread is None
    assert np.array_equal(target.process(cmds[4_000:]), ref.process(cmds[4_000:]))
    assert target.state_hash() == ref.state_hash()


def _done_thread():
    import threading
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    return t
