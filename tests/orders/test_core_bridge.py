"""orders.core_bridge and core_books: the top-of-book reader agrees with the engine's own `top_of_book` on
every book.

The reader indexes the numba engine's live best-price arrays (see `TopReader`); these tests drive
real engines through random orders, cancels, trades and table growth and compare both on every
book after every batch, so a reader gone stale fails here rather than misranking orders.
"""
from __future__ import annotations

import random

import numpy as np

from matching import COMMAND_DTYPE, BookSpec, Engine, Op, OrdType, ReferenceBook, Side, Tif
from router.orders.core_books import TopReader


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


def test_catalogue_books_agree_with_the_reference_across_the_price_ladder_edges() -> None:
    """The core's price ladders (layout.NQ-tick windows around each side's touch) with the tick sizes
    the default catalogue gives `make_engine` (0.01 -> 1 unit, HKGX 99 tael 0.50 -> 50 units): orders
    at, inside and beyond both edges of the first window, a bid walking up over several windows
    (re-centring the ladder at each step), cancels, then market orders that empty every book; the numba
    engine and the reference book must emit the same events and end on the same books."""
    from matching.layout import K_QB, NQ, views
    from router.config import load_config
    from router.orders.core_books import make_engine
    cfg = load_config()
    eng, ref = make_engine(cfg.catalogue, cfg.fx), make_engine(cfg.catalogue, cfg.fx, reference=True)
    instruments = cfg.catalogue.by_book()
    assert {i.tick_units for i in instruments} == {1, 50}
    rows: list[dict] = []
    oid = 0
    for i in instruments:
        b, tick, mid = i.book_id, i.tick_units, i.reference_units
        # no price band: the far orders (three windows out) must reach the book, not be refused
        rows.append(dict(op=Op.SET_REF_PRICE, book=b, price=0))
        for side, sgn in ((Side.BUY, -1), (Side.SELL, 1)):
            for d in (1, NQ // 4 - 1, NQ // 4, NQ // 2 - 1, NQ // 2, NQ // 2 + 1, NQ - 1, NQ, NQ + 1, 3 * NQ):
                oid += 1
                rows.append(dict(op=Op.NEW, book=b, order_id=oid, owner=oid % 3, side=side, ord_type=OrdType.LIMIT,
                                 tif=Tif.GTC, price=mid + sgn * d * tick, qty=1 + oid % 4))
    cut = len(rows)
    for i in instruments:
        b, tick, mid = i.book_id, i.tick_units, i.reference_units
        for k in range(1, 33):    # a new best bid every NQ/8 ticks: over the asks, past the window
            oid += 1
            rows.append(dict(op=Op.NEW, book=b, order_id=oid, owner=3, side=Side.BUY, ord_type=OrdType.LIMIT,
                             tif=Tif.GTC, price=mid - NQ * tick + k * (NQ // 8) * tick, qty=2))
        rows += [dict(op=Op.CANCEL, order_id=oid - 5), dict(op=Op.CANCEL, order_id=oid - 20)]
        for side in (Side.SELL, Side.BUY):
            oid += 1
            rows.append(dict(op=Op.NEW, book=b, order_id=oid, owner=4, side=side, ord_type=OrdType.MARKET,
                             tif=Tif.IOC, qty=100_000 if i.max_lots >= 100_000 else i.max_lots))
    c = np.zeros(len(rows), COMMAND_DTYPE)
    c["rest_book"] = -1
    for n, row in enumerate(rows):
        c[n]["time"] = n + 1
        for k, v in row.items():
            c[n][k] = int(v)
    for lo, hi in ((0, cut), (cut, len(rows))):
        assert eng.process(c[lo:hi]).tolist() == ref.process(c[lo:hi]).tolist()
        if lo == 0:
            bases = views(eng._A)[0][:, K_QB:K_QB + 2]
            for i in instruments:     # each window placed, on the book's own tick grid
                assert all(x != 0 and (x - i.reference_units) % i.tick_units == 0 for x in bases[i.book_id])
        for i in instruments:
            for x, y in zip(eng.depth(i.book_id, 100_000), ref.depth(i.book_id, 100_000)):
                assert x.tolist() == y.tolist()
        assert eng.state_hash() == ref.state_hash()
    assert eng.resting_orders() == ref.resting_orders()
