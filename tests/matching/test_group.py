"""Interoperable groups: consolidated depth and atomic cross-book sweeps, for both implementations."""
from matching import BookSpec, EventKind as K, Op, OrdType, Reason as R, Side, Stp, Tif

from .conftest import batch, kinds

BUY, SELL = Side.BUY, Side.SELL


def books():
    # 0: 10-unit lots of a cheap-unit book; 1: 1000-unit lots; 2: 2-lot minimum step in a currency
    # at a 0.999 discount. Group 0 = all three, group 1 = books 0 and 2.
    return [BookSpec(tick=1, lot=1, qty_scale=10), BookSpec(tick=1, lot=1, qty_scale=1000),
            BookSpec(tick=1, lot=2, qty_scale=1000, num=999, den=1000)], [[0, 1, 2], [0, 2]]


def new(oid, book, side, price, qty, owner=1, tif=Tif.GTC):
    return dict(op=Op.NEW, order_id=oid, book=book, side=side, price=price, qty=qty, owner=owner,
                tif=tif, ord_type=OrdType.LIMIT)


def sweep(oid, group, side, limit, qty, allowed=0b111, owner=5, tif=Tif.IOC, rest_book=-1, rest_price=0,
          ord_type=OrdType.LIMIT):
    return dict(op=Op.SWEEP, order_id=oid, book=group, side=side, price=limit, qty=qty, allowed=allowed,
                owner=owner, tif=tif, rest_book=rest_book, rest_price=rest_price, ord_type=ord_type)


def seeded(make):
    b = make(*books())
    b.process(batch(new(1, 0, SELL, 101, 50), new(2, 1, SELL, 100, 1), new(3, 2, SELL, 101, 4)))
    return b


def test_sweep_best_comparable_first_time_priority_on_ties(make):
    b = seeded(make)
    ev = b.process(batch(sweep(10, 0, BUY, 101, 3000)))
    assert kinds(ev) == [(K.ACCEPTED, 0), (K.TRADE, 0), (K.TRADE, 0), (K.SWEEP_REPORT, 0)]
    acc, t1, t2, rep = ev
    assert (acc["book"], acc["group"], acc["qty"], acc["price"]) == (-1, 0, 3000, 101)
    # books 1 and 2 both compare at 100 (101 * 999 // 1000); book 1's order is older
    assert t1[["book", "group", "maker_id", "price", "qty", "group_qty", "leaves_qty", "cum_qty"]].tolist() == (
        1, 0, 2, 100, 1, 1000, 2000, 1000)
    # book 2 trades in whole 2-lot steps at its own price
    assert t2[["book", "maker_id", "price", "qty", "group_qty", "leaves_qty", "cum_qty", "maker_leaves"]].tolist() == (
        2, 3, 101, 2, 2000, 0, 3000, 2)
    assert rep[["book", "qty", "leaves_qty", "cum_qty"]].tolist() == (-1, 0, 0, 3000)
    assert b.order_state(10) is None    # filled in full: forgotten


def test_sweep_respects_allowed_books_and_comparable_limit(make):
    b = seeded(make)
    ev = b.process(batch(sweep(10, 0, BUY, 100, 5000, allowed=0b101)))
    # book 1 is not allowed; book 0 at 101 is above the limit; book 2 compares at 100
    assert ev[ev["kind"] == K.TRADE][["book", "qty"]].tolist() == [(2, 4)]
    assert ev[-1][["leaves_qty", "cum_qty"]].tolist() == (1000, 4000)
    ev = b.process(batch(sweep(11, 1, BUY, 200, 5000, allowed=0b111)))
    # group 1 does not contain book 1, whatever the allowed mask says
    assert ev[ev["kind"] == K.TRADE][["book", "qty", "group_qty"]].tolist() == [(0, 50, 500)]


def test_sweep_never_overshoots_and_rests_remainder_floored_to_lots(make):
    b = seeded(make)
    ev = b.process(batch(sweep(10, 0, BUY, 101, 1505, allowed=0b001, tif=Tif.GTC, rest_book=1, rest_price=99)))
    assert kinds(ev) == [(K.ACCEPTED, 0), (K.TRADE, 0), (K.SWEEP_REPORT, 0), (K.ACCEPTED, 0)]
    assert ev[1][["book", "qty", "group_qty"]].tolist() == (0, 50, 500)
    # 1005 left: one 1000-unit lot rests on book 1, 5 units of dust are returned
    assert ev[2][["book", "qty", "leaves_qty", "cum_qty"]].tolist() == (1, 1000, 5, 500)
    assert ev[3][["op", "book", "group", "price", "qty", "leaves_qty", "cum_qty"]].tolist() == (
        Op.SWEEP, 1, -1, 99, 1, 1, 0)
    st = b.order_state(10)
    assert (st.book, st.price, st.leaves_qty, st.live) == (1, 99, 1, True)
    assert b.top_of_book(1).bid_price == 99


def test_sweep_lot_larger_than_remaining_skips_that_book(make):
    b = seeded(make)
    ev = b.process(batch(sweep(10, 0, BUY, 101, 990)))
    # 990 < a 1000-unit lot of books 1 and 2, so only book 0's 10-unit lots can be used
    assert ev[ev["kind"] == K.TRADE][["book", "qty"]].tolist() == [(0, 50)]
    assert ev[-1][["leaves_qty", "cum_qty"]].tolist() == (490, 500)


def test_sweep_remainder_that_crosses_its_book_trades_there(make):
    b = seeded(make)
    ev = b.process(batch(sweep(10, 0, BUY, 99, 1000, allowed=0b001, tif=Tif.DAY, rest_book=1, rest_price=100)))
    assert kinds(ev) == [(K.ACCEPTED, 0), (K.SWEEP_REPORT, 0), (K.ACCEPTED, 0), (K.TRADE, 0)]
    assert ev[3][["book", "maker_id", "taker_id", "qty", "group"]].tolist() == (1, 2, 10, 1, -1)


def test_sweep_sell_side_and_market(make):
    b = make(*books())
    b.process(batch(new(1, 0, BUY, 100, 100), new(2, 1, BUY, 101, 1), new(3, 2, BUY, 102, 2)))
    ev = b.process(batch(sweep(10, 0, SELL, 0, 3000, ord_type=OrdType.MARKET)))
    # comparable bids: book 2 = 101 (102 * 0.999 floored), book 1 = 101 (older), book 0 = 100
    assert ev[ev["kind"] == K.TRADE][["book", "price", "qty"]].tolist() == [(1, 101, 1), (2, 102, 2)]
    assert ev[0]["price"] == 0


def test_sweep_self_trade_prevention(make):
    b = seeded(make)
    b.process(batch(dict(op=Op.SET_STP, owner=1, stp=Stp.CANCEL_INCOMING)))
    ev = b.process(batch(sweep(10, 0, BUY, 101, 5000, owner=1, tif=Tif.GTC, rest_book=0, rest_price=90)))
    assert kinds(ev) == [(K.ACCEPTED, 0), (K.CANCELLED, R.SELF_TRADE), (K.SWEEP_REPORT, 0)]
    assert ev[1][["order_id", "group", "book"]].tolist() == (10, 0, -1)
    assert ev[2][["qty", "leaves_qty", "cum_qty"]].tolist() == (0, 5000, 0)
    b.process(batch(dict(op=Op.SET_STP, owner=1, stp=Stp.CANCEL_RESTING)))
    ev = b.process(batch(sweep(11, 0, BUY, 101, 1000, owner=1)))
    # own resting orders are cancelled as the sweep reaches them; book 2's 2000-unit step is too big
    assert kinds(ev) == [(K.ACCEPTED, 0), (K.CANCELLED, R.SELF_TRADE), (K.CANCELLED, R.SELF_TRADE),
                         (K.SWEEP_REPORT, 0)]
    assert ev[1]["order_id"] == 2 and ev[2]["order_id"] == 1
    assert b.snapshot()["order_id"].tolist() == [3]


def test_sweep_rejects(make):
    b = seeded(make)
    ev = b.process(batch(sweep(10, 5, BUY, 101, 10), sweep(10, 0, BUY, 101, 10, tif=Tif.FOK),
                         sweep(10, 1, BUY, 101, 10, tif=Tif.GTC, rest_book=1, rest_price=90),
                         sweep(10, 0, BUY, 101, 10, tif=Tif.IOC, rest_book=1, rest_price=90),
                         sweep(10, 0, BUY, 101, 10, tif=Tif.GTC, rest_book=2, rest_price=0),
                         sweep(10, 0, BUY, 0, 10), sweep(10, 0, BUY, 10, 0), sweep(1, 0, BUY, 101, 10)))
    assert kinds(ev) == [(K.REJECTED, R.BAD_GROUP), (K.REJECTED, R.BAD_TIF), (K.REJECTED, R.BAD_REST_BOOK),
                         (K.REJECTED, R.BAD_TIF), (K.REJECTED, R.BAD_PRICE), (K.REJECTED, R.BAD_PRICE),
                         (K.REJECTED, R.BAD_QTY), (K.REJECTED, R.DUPLICATE_ORDER_ID)]
    assert (ev["book"] == -1).all() and ev["group"].tolist() == [5, 0, 1, 0, 0, 0, 0, 0]
    assert b.order_state(10) is None


def test_conversion_update_reorders_the_sweep(make):
    b = seeded(make)
    ev = b.process(batch(dict(op=Op.SET_CONVERSION, book=2, num=98, den=100, qty_scale=1000),
                         dict(op=Op.SET_CONVERSION, book=2, num=0, den=100, qty_scale=1000),
                         sweep(10, 0, BUY, 101, 2000)))
    assert kinds(ev)[0] == (K.REJECTED, R.BAD_CONVERSION)
    # book 2 now compares at 101 * 0.98 = 98, ahead of book 1 at 100
    assert ev[ev["kind"] == K.TRADE][["book", "qty"]].tolist() == [(2, 2)]


def test_group_depth_is_consolidated_on_the_comparable_scale(make):
    b = seeded(make)
    b.process(batch(new(4, 0, SELL, 100, 7), new(5, 2, BUY, 90, 2), new(6, 0, BUY, 89, 3)))
    bids, asks = b.group_depth(0, 5)
    # asks: 100 <- book 1 (1000) + book 2 at 101 (4000) + book 0 at 100 (70); 101 <- book 0 (500)
    assert asks.tolist() == [(100, 5070, 3), (101, 500, 1)]
    # bids: book 2 at 90 compares at 89 (89.91 floored) and merges with book 0 at 89
    assert bids.tolist() == [(89, 2030, 2)]
    bids, asks = b.group_depth(1, 1)
    assert asks.tolist() == [(100, 4070, 2)]
