"""orders.core_bridge: the top-of-book reader agrees with the engine's own `top_of_book` on every book, and
single commands go through one reused buffer.

The reader indexes the numba engine's live best-price arrays (see `TopReader`); these tests drive
real engines through random orders, cancels, trades and table growth and compare both on every
book after every batch, so a reader gone stale fails here rather than misranking orders.
"""
from __future__ import annotations

import random

import numpy as np

from matching import COMMAND_DTYPE, BookSpec, Engine, Op, OrdType, ReferenceBook, Side, Tif
from router.orders.core_bridge import TopReader


def _expected(engine, book: int) -> tuple:
    t = engine.top_of_book(book)
    return (None, t.ask_price if t.ask_qty else None, t.bid_price if t.bid_qty else None)


def _command(op: int, **fields) -> np.ndarray:
    c = np.zeros(1, COMMAND_DTYPE)
    c["op"] = op
    c["time"] = 1
    c["rest_book"] = -1
    for k, v in fields.items():
        c[k] = v
    return c


def _drive(engine, reader: TopReader, seed: int, steps: int) -> int:
    """Random resting orders, crossing orders and cancels on three books; returns the checks made."""
    rng = random.Random(seed)
    live: list[int] = []
    checks = 0
    oid = 0
    for _ in range(steps):
        if live and rng.random() < 0.3:
            victim = live.pop(rng.randrange(len(live)))
            engine.process(_command(Op.CANCEL, order_id=victim))
        else:
            oid += 1
            book = rng.randrange(3)
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            # Prices straddle 100 so orders both rest and cross.
            price = rng.randrange(90, 111)
            engine.process(_command(Op.NEW, book=book, order_id=oid, owner=rng.randrange(4), side=side,
                                    ord_type=OrdType.LIMIT, tif=Tif.GTC, price=price, qty=rng.randrange(1, 6)))
            live.append(oid)
        for b in range(3):
            assert reader(b) == _expected(engine, b)
            checks += 1
    return checks


def _specs() -> list[BookSpec]:
    return [BookSpec(tick=1), BookSpec(tick=1, qty_scale=2), BookSpec(tick=1)]


def test_reader_matches_top_of_book_through_growth() -> None:
    # A tiny capacity makes the arena grow (and be replaced) several times during the run.
    engine = Engine(_specs(), [[0, 1, 2]], capacity=16)
    reader = TopReader(engine)
    assert reader.fast
    first_arena = engine._A            # (only to show the tables really grew)
    assert _drive(engine, reader, seed=7, steps=600) == 1800
    assert engine._A is not first_arena


def test_empty_books_have_no_top() -> None:
    engine = Engine(_specs(), [[0, 1, 2]])
    reader = TopReader(engine)
    assert [reader(b) for b in range(3)] == [(None, None, None)] * 3


def test_reference_book_is_read_through_top_of_book() -> None:
    engine = ReferenceBook(_specs(), [[0, 1, 2]])
    reader = TopReader(engine)
    assert not reader.fast
    assert _drive(engine, reader, seed=11, steps=300) == 900


def test_single_commands_go_through_one_buffer_the_engine_keeps_a_view_of() -> None:
    from tests.orders.test_flow import HK, SH, Harness, ers, f
    h = Harness(reference=False)
    (ack,) = h.order(SH, "SGE.AU9999", 1, 1, "550.00", clordid="B1")
    buf = h.flow._cmd_buf
    outs = h.order(HK, "SGE.AU9999", 2, 1, "550.00", clordid="S1")
    assert f(ack, 150) == b"0" and [f(o, 150) for o in ers(outs)] == [b"0", b"F", b"F"]
    assert h.flow._cmd_buf is buf
    # The engine reuses its flat view of that buffer rather than re-checking it per message.
    assert h.flow.engine._last_batch is buf
