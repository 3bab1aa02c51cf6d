"""Engine.process() with copy=True: the kernel writes a batch's events straight into the buffer of
the array it returns, and the engine writes that buffer again only once nothing refers to it.

Every check is against the reference book, batch by batch, with the returned arrays held (or one
view of them, or a buffer export) while later batches run: a buffer reused too early would show
a held batch's events overwritten by a later one's.
"""
import numpy as np

from benchmarks.streams import exchange_books, generate
from matching import Engine, ReferenceBook


def _stream(n=6_000, seed=5, resting=1_500):
    books, groups = exchange_books()
    return books, groups, generate(n, seed=seed, resting=resting)


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_held_results_keep_their_events_while_later_batches_run():
    books, groups, cmds = _stream()
    eng, ref = Engine(books, groups, capacity=64), ReferenceBook(books, groups)
    held, expected = [], []
    for lo in range(0, len(cmds), 500):
        held.append(eng.process(cmds[lo:lo + 500]))
        expected.append(ref.process(cmds[lo:lo + 500]))
    for got, want in zip(held, expected):         # read only after every batch has run
        assert np.array_equal(got, want)
    assert not any(np.shares_memory(a, b) for a, b in zip(held, held[1:]))
    assert eng.state_hash() == ref.state_hash()


def test_a_dropped_result_has_its_buffer_reused_and_a_held_view_prevents_it():
    books, groups, cmds = _stream()
    eng, ref = Engine(books, groups, capacity=64), ReferenceBook(books, groups)
    eng.reserve(events=20_000)                    # no growth: buffers change only by reuse
    part = [cmds[lo:lo + 1000] for lo in range(0, 6000, 1000)]
    want = [ref.process(p) for p in part]
    first = eng.process(part[0])
    a = _address(first)
    assert np.array_equal(first, want[0])
    del first
    second = eng.process(part[1])
    assert _address(second) == a                  # dropped: written again, no new allocation
    qty, exported = second["qty"], memoryview(second)
    del second                                    # a field view and a buffer export remain
    third = eng.process(part[2])
    b = _address(third)
    assert b != a
    fourth = eng.process(part[3])                 # both buffers held: a copy of its own
    assert _address(fourth) not in (a, b)
    assert np.array_equal(eng.process(part[4], copy=False), want[4])
    assert np.array_equal(qty, want[1]["qty"])
    assert np.array_equal(np.frombuffer(exported, want[1].dtype), want[1])
    assert np.array_equal(third, want[2])
    assert np.array_equal(fourth, want[3])
    del qty, exported, third, fourth
    fifth = eng.process(part[5])
    assert _address(fifth) in (a, b)
    assert np.array_equal(fifth, want[5])
    assert eng.state_hash() == ref.state_hash()


def test_a_loop_holding_the_previous_result_alternates_two_buffers():
    books, groups, cmds = _stream()
    eng, ref = Engine(books, groups, capacity=64), ReferenceBook(books, groups)
    eng.reserve(events=20_000)
    seen = set()
    for lo in range(0, 6000, 500):
        events = eng.process(cmds[lo:lo + 500])   # the previous `events` is held during the call
        seen.add(_address(events))
        assert np.array_equal(events, ref.process(cmds[lo:lo + 500]))
    assert len(seen) == 2


def test_a_batch_that_outgrows_the_event_buffer_midway_keeps_its_first_events():
    books, groups, cmds = _stream(n=8_000, seed=9, resting=4_000)
    eng, ref = Engine(books, groups, capacity=16), ReferenceBook(books, groups)
    rows = eng._E.size
    got = eng.process(cmds)                       # one batch: stops for room many times on the way
    assert eng._E.size > rows                     # the engine's buffer grew during it
    assert np.array_equal(got, ref.process(cmds))
    assert eng.state_hash() == ref.state_hash()
