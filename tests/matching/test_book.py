"""Single-book behaviour, identical for the numba engine and the reference book."""
import copy
import pickle

import numpy as np
import pytest

from matching import COMMAND_DTYPE, BookSpec, Engine, EventKind as K, Op, OrdType, Reason as R, Side, Stp, Tif

from .conftest import batch, kinds

BUY, SELL, LIMIT, MARKET = Side.BUY, Side.SELL, OrdType.LIMIT, OrdType.MARKET


def new(oid, side, price, qty, owner=1, tif=Tif.GTC, book=0, ord_type=LIMIT, time=1, expire=0):
    return dict(op=Op.NEW, order_id=oid, side=side, price=price, qty=qty, owner=owner, tif=tif,
                book=book, ord_type=ord_type, time=time, expire_time=expire)


def one_book(make, **kw):
    return make([BookSpec(tick=kw.pop("tick", 5), lot=kw.pop("lot", 1), **kw)])


def test_limit_orders_rest_and_show_in_depth(make):
    b = one_book(make)
    ev = b.process(batch(new(1, BUY, 100, 3), new(2, BUY, 95, 4), new(3, SELL, 110, 2), new(4, BUY, 100, 1)))
    assert kinds(ev) == [(K.ACCEPTED, 0)] * 4
    assert tuple(b.top_of_book(0)) == (100, 4, 2, 110, 2, 1)
    bids, asks = b.depth(0, 5)
    assert bids.tolist() == [(100, 4, 2), (95, 4, 1)]
    assert asks.tolist() == [(110, 2, 1)]
    assert b.resting_orders() == 4


def test_price_time_priority_and_fill_at_resting_price(make):
    b = one_book(make)
    b.process(batch(new(1, SELL, 105, 2, owner=1), new(2, SELL, 100, 2, owner=2), new(3, SELL, 100, 2, owner=3)))
    ev = b.process(batch(new(4, BUY, 105, 5, owner=9)))
    trades = ev[ev["kind"] == K.TRADE]
    # best price first, then time priority inside the level; each fill at the maker's price
    assert trades[["maker_id", "price", "qty", "leaves_qty", "cum_qty"]].tolist() == [
        (2, 100, 2, 3, 2), (3, 100, 2, 1, 4), (1, 105, 1, 0, 5)]
    assert trades["maker_owner"].tolist() == [2, 3, 1]
    assert trades["taker_id"].tolist() == [4, 4, 4]
    assert trades["maker_leaves"].tolist() == [0, 0, 1]
    assert b.order_state(1).leaves_qty == 1 and b.order_state(1).live
    assert b.order_state(4) is None     # filled in full: the book forgets ended orders


def test_market_order_sweeps_and_cancels_the_rest(make):
    b = one_book(make)
    b.process(batch(new(1, SELL, 100, 2), new(2, SELL, 120, 1)))
    ev = b.process(batch(new(3, BUY, 0, 5, owner=2, ord_type=MARKET, tif=Tif.DAY)))
    assert kinds(ev) == [(K.ACCEPTED, 0), (K.TRADE, 0), (K.TRADE, 0), (K.CANCELLED, R.UNFILLED_IOC)]
    assert ev[-1]["cum_qty"] == 3 and ev[-1]["leaves_qty"] == 0
    assert b.resting_orders() == 0


def test_ioc_partial_fill_then_cancel(make):
    b = one_book(make)
    b.process(batch(new(1, SELL, 100, 2)))
    ev = b.process(batch(new(2, BUY, 100, 3, owner=2, tif=Tif.IOC)))
    assert kinds(ev) == [(K.ACCEPTED, 0), (K.TRADE, 0), (K.CANCELLED, R.UNFILLED_IOC)]
    assert b.top_of_book(0).bid_qty == 0


def test_fok_all_or_nothing(make):
    b = one_book(make)
    b.process(batch(new(1, SELL, 100, 2), new(2, SELL, 105, 2)))
    ev = b.process(batch(new(3, BUY, 100, 3, owner=2, tif=Tif.FOK)))
    assert kinds(ev) == [(K.ACCEPTED, 0), (K.CANCELLED, R.FOK_UNFILLABLE)]
    assert b.depth(0, 5)[1].tolist() == [(100, 2, 1), (105, 2, 1)]
    ev = b.process(batch(new(4, BUY, 105, 3, owner=2, tif=Tif.FOK)))
    assert kinds(ev) == [(K.ACCEPTED, 0), (K.TRADE, 0), (K.TRADE, 0)]
    assert ev[-1]["cum_qty"] == 3 and b.order_state(4) is None


def test_gtd_and_day_expiry_are_events_the_caller_triggers(make):
    b = one_book(make)
    ev = b.process(batch(new(1, BUY, 100, 1, tif=Tif.GTD, time=10, expire=10)))
    assert kinds(ev) == [(K.REJECTED, R.BAD_EXPIRE_TIME)]
    b.process(batch(new(2, BUY, 100, 1, tif=Tif.GTD, time=10, expire=50),
                    new(3, BUY, 95, 1, tif=Tif.GTD, time=10, expire=90),
                    new(4, BUY, 90, 1, tif=Tif.DAY), new(5, BUY, 85, 1, tif=Tif.GTC)))
    ev = b.process(batch(dict(op=Op.EXPIRE, book=-1, time=60, tif=Tif.GTD)))
    assert kinds(ev) == [(K.EXPIRED, R.EXPIRED_GTD)] and ev[0]["order_id"] == 2
    ev = b.process(batch(dict(op=Op.EXPIRE, book=0, time=70, tif=Tif.DAY)))
    assert kinds(ev) == [(K.EXPIRED, R.EXPIRED_DAY)] and ev[0]["order_id"] == 4
    assert b.snapshot()["order_id"].tolist() == [3, 5]


def test_cancel_unknown_and_ended(make):
    """An ended order is forgotten at once (its row is recycled): a cancel of it is an unknown order,
    and its id may be used again (the router never does: its ids only increase)."""
    b = one_book(make)
    b.process(batch(new(1, SELL, 100, 1), new(2, BUY, 100, 1, owner=2)))
    ev = b.process(batch(dict(op=Op.CANCEL, order_id=1), dict(op=Op.CANCEL, order_id=77),
                         new(3, BUY, 90, 2), dict(op=Op.CANCEL, order_id=3)))
    assert kinds(ev) == [(K.REJECTED, R.UNKNOWN_ORDER), (K.REJECTED, R.UNKNOWN_ORDER), (K.ACCEPTED, 0),
                         (K.CANCELLED, R.CANCEL_REQUESTED)]
    assert ev[-1]["cum_qty"] == 0 and ev[-1]["qty"] == 2
    assert ev["op"].tolist() == [Op.CANCEL, Op.CANCEL, Op.NEW, Op.CANCEL]
    assert b.order_state(77) is None and b.order_state(1) is None and b.order_state(3) is None
    ev = b.process(batch(new(1, SELL, 100, 4)))
    assert kinds(ev) == [(K.ACCEPTED, 0)] and b.order_state(1).leaves_qty == 4


def test_replace_priority_rules(make):
    b = one_book(make)
    b.process(batch(new(1, SELL, 100, 5, owner=1), new(2, SELL, 100, 5, owner=2)))
    # quantity down keeps the queue position
    ev = b.process(batch(dict(op=Op.REPLACE, order_id=1, price=100, qty=4)))
    assert kinds(ev) == [(K.REPLACED, 0)] and ev[0]["leaves_qty"] == 4
    ev = b.process(batch(new(3, BUY, 100, 1, owner=9, tif=Tif.IOC)))
    assert ev[ev["kind"] == K.TRADE]["maker_id"].tolist() == [1]
    # quantity up loses it
    b.process(batch(dict(op=Op.REPLACE, order_id=1, price=100, qty=6)))
    ev = b.process(batch(new(4, BUY, 100, 1, owner=9, tif=Tif.IOC)))
    assert ev[ev["kind"] == K.TRADE]["maker_id"].tolist() == [2]
    assert b.order_state(1).leaves_qty == 5 and b.order_state(1).cum_qty == 1


def test_replace_price_change_rematches_and_refuses_below_filled(make):
    b = one_book(make)
    b.process(batch(new(1, SELL, 100, 5, owner=1), new(2, BUY, 90, 3, owner=2),
                    new(3, BUY, 100, 2, owner=3)))
    ev = b.process(batch(dict(op=Op.REPLACE, order_id=1, price=90, qty=5)))
    assert kinds(ev) == [(K.REPLACED, 0), (K.TRADE, 0)]
    assert ev[1]["price"] == 90 and ev[1]["qty"] == 3 and ev[1]["taker_id"] == 1
    assert b.order_state(1) is None     # filled in full
    b.process(batch(new(4, SELL, 110, 5), new(5, BUY, 110, 2, owner=9, tif=Tif.IOC)))
    ev = b.process(batch(dict(op=Op.REPLACE, order_id=4, price=110, qty=2),
                         dict(op=Op.REPLACE, order_id=4, price=111, qty=5),
                         dict(op=Op.REPLACE, order_id=4, price=115, qty=3)))
    assert kinds(ev) == [(K.REJECTED, R.REPLACE_BELOW_FILLED), (K.REJECTED, R.BAD_TICK), (K.REPLACED, 0)]
    assert b.order_state(4)[4:] == (115, 3, 1, 2, True)


def test_mass_cancel_by_owner_and_book(make):
    b = make([BookSpec(tick=1), BookSpec(tick=1)])
    b.process(batch(new(1, BUY, 10, 1, owner=1), new(2, SELL, 20, 1, owner=2), new(3, BUY, 11, 1, owner=1, book=1),
                    new(4, SELL, 21, 1, owner=1, book=1)))
    ev = b.process(batch(dict(op=Op.MASS_CANCEL, book=-1, owner=1, order_id=500)))
    assert kinds(ev) == [(K.CANCELLED, R.MASS_CANCEL)] * 3 + [(K.MASS_CANCEL_REPORT, 0)]
    assert ev["order_id"].tolist() == [1, 3, 4, 500] and ev[-1]["qty"] == 3
    ev = b.process(batch(dict(op=Op.MASS_CANCEL, book=0, owner=-1), dict(op=Op.MASS_CANCEL, book=7, owner=-1)))
    assert kinds(ev) == [(K.CANCELLED, R.MASS_CANCEL), (K.MASS_CANCEL_REPORT, 0), (K.REJECTED, R.BAD_BOOK)]
    assert b.resting_orders() == 0


def test_self_trade_prevention_modes(make):
    b = one_book(make)
    b.process(batch(new(1, SELL, 100, 1, owner=7), new(2, SELL, 100, 1, owner=8),
                    dict(op=Op.SET_STP, owner=7, stp=Stp.CANCEL_RESTING)))
    ev = b.process(batch(new(3, BUY, 100, 2, owner=7, tif=Tif.IOC)))
    assert kinds(ev) == [(K.ACCEPTED, 0), (K.CANCELLED, R.SELF_TRADE), (K.TRADE, 0), (K.CANCELLED, R.UNFILLED_IOC)]
    assert ev[1]["order_id"] == 1 and ev[2]["maker_id"] == 2
    b.process(batch(new(4, SELL, 100, 1, owner=7), new(5, SELL, 100, 1, owner=8),
                    dict(op=Op.SET_STP, owner=7, stp=Stp.CANCEL_INCOMING)))
    ev = b.process(batch(new(6, BUY, 100, 2, owner=7)))
    assert kinds(ev) == [(K.ACCEPTED, 0), (K.CANCELLED, R.SELF_TRADE)] and ev[1]["order_id"] == 6
    assert b.resting_orders() == 2
    # cancel both: the resting order met (4) and the incoming one; the other owner's order stays
    b.process(batch(dict(op=Op.SET_STP, owner=7, stp=Stp.CANCEL_BOTH)))
    ev = b.process(batch(new(8, BUY, 100, 2, owner=7)))
    assert kinds(ev) == [(K.ACCEPTED, 0), (K.CANCELLED, R.SELF_TRADE), (K.CANCELLED, R.SELF_TRADE)]
    assert ev["order_id"].tolist() == [8, 4, 8] and b.resting_orders() == 1
    b.process(batch(new(9, SELL, 95, 1, owner=7)))         # ahead of the other owner's order 5
    b.process(batch(dict(op=Op.SET_STP, owner=7, stp=Stp.OFF)))
    ev = b.process(batch(new(7, BUY, 100, 1, owner=7)))
    assert kinds(ev) == [(K.ACCEPTED, 0), (K.TRADE, 0)] and ev[1]["maker_owner"] == 7
    ev = b.process(batch(dict(op=Op.SET_STP, owner=7, stp=5), dict(op=Op.SET_STP, owner=-3, stp=1)))
    assert kinds(ev) == [(K.REJECTED, R.BAD_STP), (K.REJECTED, R.BAD_OWNER)]


def test_validation_rejects_are_values(make):
    b = one_book(make, tick=5, lot=2, min_qty=4, max_qty=20, price_limit_bp=1000, ref_price=1000)
    ev = b.process(batch(
        new(1, BUY, 1000, 4, book=3), new(0, BUY, 1000, 4), new(2, BUY, 1000, 4), new(2, BUY, 1000, 4),
        new(3, 9, 1000, 4), new(4, BUY, 1000, 4, ord_type=7), new(5, BUY, 1000, 4, tif=2),
        new(6, BUY, 1000, 5), new(7, BUY, 1000, 2), new(8, BUY, 1000, 22), new(9, BUY, 1001, 4),
        new(10, BUY, 1105, 4), new(11, BUY, 895, 4), new(12, BUY, 900, 4), new(13, BUY, 0, 4),
        new(14, BUY, 1000, 0), new(15, BUY, 1000, 4, owner=-1), dict(op=42)))
    assert kinds(ev) == [
        (K.REJECTED, R.BAD_BOOK), (K.REJECTED, R.BAD_ORDER_ID), (K.ACCEPTED, 0), (K.REJECTED, R.DUPLICATE_ORDER_ID),
        (K.REJECTED, R.BAD_SIDE), (K.REJECTED, R.BAD_ORD_TYPE), (K.REJECTED, R.BAD_TIF), (K.REJECTED, R.BAD_LOT),
        (K.REJECTED, R.BELOW_MIN_QTY), (K.REJECTED, R.ABOVE_MAX_QTY), (K.REJECTED, R.BAD_TICK),
        (K.REJECTED, R.PRICE_LIMIT), (K.REJECTED, R.PRICE_LIMIT), (K.ACCEPTED, 0), (K.REJECTED, R.BAD_PRICE),
        (K.REJECTED, R.BAD_QTY), (K.REJECTED, R.BAD_OWNER), (K.REJECTED, R.BAD_OP)]
    # a rejected command changes nothing but is echoed
    assert ev[7]["order_id"] == 6 and ev[7]["qty"] == 5 and ev[7]["price"] == 1000
    # moving the reference price moves the band; 0 switches the limit off
    ev = b.process(batch(dict(op=Op.SET_REF_PRICE, book=0, price=1200), new(20, BUY, 1105, 4),
                         dict(op=Op.SET_REF_PRICE, book=0, price=0), new(21, BUY, 5000, 4),
                         dict(op=Op.SET_REF_PRICE, book=2, price=10)))
    assert kinds(ev) == [(K.ACCEPTED, 0), (K.ACCEPTED, 0), (K.REJECTED, R.BAD_BOOK)]


def test_events_carry_time_op_and_command_index(make):
    b = one_book(make)
    ev = b.process(batch(new(1, SELL, 100, 1, time=5), dict(op=Op.CANCEL, order_id=9, time=6),
                         new(2, BUY, 100, 1, owner=2, time=7)))
    assert ev[["time", "cmd_index", "op"]].tolist() == [(5, 0, Op.NEW), (6, 1, Op.CANCEL), (7, 2, Op.NEW),
                                                        (7, 2, Op.NEW)]
    assert (ev["group"] == -1).all()


def test_process_one_matches_batch_and_hash_is_deterministic(make):
    cmds = batch(new(1, SELL, 100, 2), new(2, SELL, 105, 2, owner=3), new(3, BUY, 105, 3, owner=2),
                 dict(op=Op.REPLACE, order_id=2, price=110, qty=2), new(4, BUY, 90, 1))
    a, b, c = one_book(make), one_book(make), one_book(make)
    ev_a = a.process(cmds)
    ev_b = np.concatenate([b.process_one(cmds[i]) for i in range(len(cmds))])
    ev_c = np.concatenate([c.process_at(cmds, i) for i in range(len(cmds))])
    assert (ev_c == ev_a).all()
    assert (ev_b["cmd_index"] == 0).all()
    ev_b["cmd_index"] = ev_a["cmd_index"]  # a single command is always index 0 of its own batch
    assert (ev_a == ev_b).all()
    assert a.state_hash() == b.state_hash()
    b.process(batch(new(5, BUY, 80, 1)))
    assert a.state_hash() != b.state_hash()


def test_capacity_grows_without_losing_state(make):
    b = make([BookSpec(tick=1), BookSpec(tick=1)], capacity=16)
    n = 700
    rows = [new(i + 1, BUY if i % 2 else SELL, 1000 + (i % 150) * (1 if i % 2 == 0 else -1) + (1 if i % 2 == 0 else -1),
                1 + i % 3, owner=i % 5, book=i % 2) for i in range(n)]
    ev = b.process(batch(*rows))
    assert (ev["kind"] == K.ACCEPTED).all() and b.resting_orders() == n
    assert b.order_state(1).live and b.order_state(n).live
    ev = b.process(batch(dict(op=Op.MASS_CANCEL, book=-1, owner=-1)))
    assert len(ev) == n + 1 and b.resting_orders() == 0


def test_submit_at_accumulates_until_drain(make):
    cmds = batch(new(1, SELL, 100, 2), new(2, BUY, 100, 1, owner=2), dict(op=Op.CANCEL, order_id=7),
                 new(3, BUY, 100, 5, owner=2, tif=Tif.IOC))
    a, b = one_book(make), one_book(make)
    expected = a.process(cmds)
    # a batch call before the session must not leak its events into it
    assert kinds(b.process(batch(new(20, BUY, 50, 1), new(21, BUY, 50, 1)))) == [(K.ACCEPTED, 0)] * 2
    made = [b.submit_at(cmds, i) for i in range(2)]
    assert made == [1, 2]
    first = b.drain()
    made = [b.submit_at(cmds, i) for i in range(2, len(cmds))]
    assert made == [1, 3]
    got = np.concatenate([first, b.drain()])
    assert got.tolist() == expected.tolist()
    assert len(b.drain()) == 0
    assert kinds(b.process(batch(new(9, BUY, 90, 1)))) == [(K.ACCEPTED, 0)]


def test_gtd_expiry_comes_out_in_book_order_not_expiry_order(make):
    b = make([BookSpec(tick=1), BookSpec(tick=1)])
    gtd = dict(tif=Tif.GTD, time=1)
    b.process(batch(new(1, SELL, 105, 1, book=1, expire=30, **gtd), new(2, BUY, 99, 1, expire=20, **gtd),
                    new(3, BUY, 100, 1, expire=40, **gtd), new(4, BUY, 100, 1, expire=10, **gtd),
                    new(5, SELL, 101, 1, expire=90, **gtd), new(6, BUY, 98, 1, book=1, expire=25, **gtd)))
    ev = b.process(batch(dict(op=Op.EXPIRE, book=-1, time=50, tif=Tif.GTD)))
    # book 0 bids best first (100: FIFO 3 then 4; then 99), then book 1 bids, then book 1 asks
    assert ev["order_id"].tolist() == [3, 4, 2, 6, 1]
    assert set(ev["reason"].tolist()) == {R.EXPIRED_GTD}
    assert b.snapshot()["order_id"].tolist() == [5]
    assert len(b.process(batch(dict(op=Op.EXPIRE, book=-1, time=60, tif=Tif.GTD)))) == 0


def test_int64_rows_and_reserve(make):
    cmds = batch(new(1, SELL, 100, 2), new(2, BUY, 100, 1, owner=2), new(3, BUY, 95, 1))
    a, b = one_book(make), one_book(make)
    ev_a = a.process(cmds)
    b.reserve(orders=10_000, events=50_000)
    rows = np.ndarray((len(cmds), len(cmds.dtype.names)), np.int64, cmds.copy())
    ev_b = b.process(rows)
    assert ev_a.tolist() == ev_b.tolist() and a.state_hash() == b.state_hash()
    b.reserve(orders=100_000)
    assert b.order_state(1).leaves_qty == 1 and b.resting_orders() == 2


def test_top_prices_held_view_follows_the_book_through_growth(make):
    b = make([BookSpec(tick=1), BookSpec(tick=1)], capacity=16)
    bids, asks = b.top_prices(BUY), b.top_prices(SELL)
    assert bids.tolist() == [0, 0] and asks.tolist() == [0, 0]
    # more orders and levels than the initial capacity, so the engine replaces its tables
    b.process(batch(*[new(i + 1, BUY, 500 + i, 1, book=1) for i in range(100)],
                    new(200, SELL, 900, 1), new(201, SELL, 700, 2)))
    if isinstance(b, Engine):  # the engine hands out live views; the reference, fresh arrays
        assert bids.tolist() == [0, 599] and asks.tolist() == [700, 0]
    assert b.top_prices(BUY).tolist() == [0, 599] and b.top_prices(SELL).tolist() == [700, 0]
    b.process(batch(new(300, BUY, 700, 2), dict(op=Op.CANCEL, order_id=100)))
    assert b.top_prices(BUY).tolist() == [0, 598] and b.top_prices(SELL).tolist() == [900, 0]
    b.process(batch(dict(op=Op.MASS_CANCEL, book=-1, owner=-1)))
    assert b.top_prices(BUY).tolist() == [0, 0] and b.top_prices(SELL).tolist() == [0, 0]
    assert tuple(b.top_of_book(1)) == (0, 0, 0, 0, 0, 0)


def test_copy_false_views_match_copies_until_the_next_call(make):
    cmds = batch(new(1, SELL, 100, 2), new(2, BUY, 100, 1, owner=2), dict(op=Op.CANCEL, order_id=7),
                 new(3, BUY, 100, 5, owner=2, tif=Tif.IOC), new(4, BUY, 99, 3))
    a, b = one_book(make), one_book(make)
    expected = a.process(cmds)
    view = b.process(cmds[:3], copy=False)
    assert view.tolist() == expected[expected["cmd_index"] < 3].tolist()
    singles = [b.process_at(cmds, i, copy=False).tolist() for i in range(3, len(cmds))]
    assert sum(singles, []) == expected[expected["cmd_index"] >= 3].tolist()
    assert a.state_hash() == b.state_hash()
    held = a.process(batch(new(10, BUY, 98, 1)))
    a.process(batch(new(11, BUY, 97, 1)))
    assert held["order_id"].tolist() == [10]  # the default result stays the caller's own copy


def test_engine_refuses_copies_that_would_share_its_buffers():
    eng = Engine([BookSpec(tick=1)])
    for clone in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError):
            clone(eng)


def test_a_row_batch_that_is_a_view_is_flattened_once_and_its_edits_are_seen(monkeypatch):
    """The order flow's one command row comes back from a snapshot unpickled: an array that is itself
    a view. The engine keeps the flat view of it across calls like it does for an array owning its
    memory (not one per call), and sees the row's new contents each call."""
    eng, ref = Engine([BookSpec(tick=1)]), Engine([BookSpec(tick=1)])
    row = pickle.loads(pickle.dumps(np.zeros((1, len(COMMAND_DTYPE.names)), np.int64), protocol=5))
    assert row.base is not None              # the case: not owning its memory
    flattened = []
    remember = Engine._remember
    monkeypatch.setattr(Engine, "_remember", lambda self, c: (flattened.append(self), remember(self, c)))
    orders = [new(1, SELL, 100, 2), new(2, BUY, 99, 1, owner=2), new(3, BUY, 100, 3, owner=2),
              dict(op=Op.CANCEL, order_id=3)]
    for n, o in enumerate(orders):
        one = batch(o)
        row[0] = np.ndarray((len(COMMAND_DTYPE.names),), np.int64, one)
        assert eng.process_at_rows(row, 0) == ref.process_at_rows(one, 0)
    assert flattened.count(eng) == 1
    assert eng.state_hash() == ref.state_hash()
