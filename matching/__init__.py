"""Matching core: price-time-priority books in numba, with a pure-Python reference book as oracle.

No I/O, no asyncio, no FIX, no clock reads: time arrives as an int64 field of each command.

Integration interface (both `Engine` and `ReferenceBook` implement it identically):

    eng = Engine(books=[BookSpec(tick=1, lot=1, min_qty=1, max_qty=50_000, price_limit_bp=3000,
                                 ref_price=56_000, num=1, den=1, qty_scale=10_000_000), ...],
                 groups=[[0, 1, 2], [2, 3]])          # group id = index; a book may be in several
    eng.warm_up()                                       # compile/load every kernel before serving
    eng.reserve(orders=1_000_000, events=100_000)       # optional: preallocate at start-up
    events = eng.process(cmds)                          # cmds: COMMAND_DTYPE array -> EVENT_DTYPE array
    events = eng.process_one(cmd)                       # same, one command (record or 1-element array)
    events = eng.process_at(cmds, i)                    # only command i of a batch (cmd_index = i)
    events = eng.process(cmds, copy=False)              # also process_at: a view of the engine's
                                                        # event buffer, valid until the next command
                                                        # call (Engine only; saves the copy)
    n = eng.submit_at(cmds, i); ...; events = eng.drain()   # one call per command, events collected
                                                        # later (no allocation per call; process()
                                                        # refuses to run until drain())
    eng.order_state(order_id) -> OrderState | None      # book, side, owner, price, qty, leaves, cum, live
    eng.top_of_book(book) -> Top; eng.depth(book, n) -> (bids, asks) LEVEL_DTYPE, best first
    eng.top_prices(side) -> int64[books]: best bid (Side.BUY) / ask (Side.SELL) price per book, 0 if
                                                        # empty; on Engine a live read-only view kept
                                                        # current by the kernels: hold it, index it
    eng.group_depth(group, n) -> (bids, asks) on the comparable price scale, qty in group units
    eng.snapshot(); eng.state_hash(); eng.resting_orders()

`process` also takes int64 rows holding the COMMAND_DTYPE fields in order (skips one conversion).
Returned event arrays are the caller's own unless copy=False: `process` has the kernel write
into a buffer the engine writes again only once every array made from it is gone. Only live
orders are known (`Engine`): an ended order's row is reused and its id forgotten (order_state -> None),
so memory follows the orders live at once, about 200 bytes per order.

Units. Prices: int64 in each instrument's price unit, multiples of `tick`, at most 2**31-1.
Quantities: int64 in the instrument's quantity unit (the service uses lots, lot = 1), multiples of
`lot`, at most 2**30-1. Comparable price of a book = price * num // den (floor; num, den <= 2**31-1
so the product stays below 2**62). Group quantity = book qty * qty_scale (qty_scale <= 2**32-1).

Commands (COMMAND_DTYPE, every field int64; `commands(n)` makes a zeroed batch with rest_book=-1):
  op            Op.NEW / CANCEL / REPLACE / MASS_CANCEL / EXPIRE / SET_REF_PRICE / SWEEP / SET_STP /
                SET_CONVERSION
  time          caller's time, ns; copied onto every event of the command; GTD/EXPIRE compare with it
  book          book id; group id for SWEEP; -1 = all books for MASS_CANCEL and EXPIRE
  order_id      > 0, allocated by the caller, unique forever (REPLACE keeps the same id)
  owner         account id >= 0; -1 = any owner for MASS_CANCEL
  side          Side.BUY=1 / SELL=2;  ord_type OrdType.MARKET=1 / LIMIT=2
  tif           Tif.DAY=0 / GTC=1 / IOC=3 / FOK=4 / GTD=6 (GTD needs expire_time > time)
                EXPIRE with tif=DAY also ends DAY orders; otherwise only GTD orders with expire_time <= time
  price, qty    NEW: limit price (ignored for MARKET) and quantity. REPLACE: new price and new TOTAL
                quantity (incl. filled). SET_REF_PRICE: price = reference (0 = no limit check).
                SWEEP: price = limit on the comparable scale, qty in group units.
  allowed       SWEEP: bitmask of books the router allows (bit b = book b); ANDed with the group
  rest_book     SWEEP: -1 = return the remainder; else a member book where the remainder rests as a
  rest_price    limit order at rest_price (tif DAY/GTC/GTD), floored to whole lots of that book
  stp           SET_STP: Stp.OFF / CANCEL_RESTING / CANCEL_INCOMING / CANCEL_BOTH for `owner` (the taker's mode rules)
  num, den, qty_scale   SET_CONVERSION for `book` (FX updates)

Events (EVENT_DTYPE, int64), in exact order of occurrence; `cmd_index` = position in the batch,
`op`/`time` copied from the command. `group` is -1 except on sweep events.
  ACCEPTED      order_id, book, owner, side, price, qty, leaves=qty. For a SWEEP: book=-1, group,
                price=comparable limit, qty in group units; a rested sweep remainder is a second
                ACCEPTED (op=SWEEP, book=rest_book) followed by the usual NEW-order events.
  REJECTED      reason (Reason), command fields echoed; no state changed.
  TRADE         book of the resting order, price = resting price, qty in book units; order_id =
                taker_id = incoming; leaves/cum of the taker (group units for a sweep, with group_qty =
                qty * qty_scale); maker_id, maker_owner, maker_leaves, maker_cum.
  CANCELLED     reason CANCEL_REQUESTED, MASS_CANCEL, SELF_TRADE, UNFILLED_IOC, FOK_UNFILLABLE;
                qty = order total, leaves = 0, cum.
  REPLACED      new price, new total qty, leaves, cum (may be followed by trades if it now crosses).
  EXPIRED       reason EXPIRED_GTD or EXPIRED_DAY.
  MASS_CANCEL_REPORT  qty = number of orders cancelled (book/owner echoed).
  SWEEP_REPORT  cum = group units filled, leaves = group units returned unfilled (incl. sub-lot dust),
                qty = group units handed to the resting remainder, book = rest book or -1.

Rules in brief: price-time priority; fills at the resting price; a MARKET or IOC remainder is
cancelled; FOK is all-or-nothing against the book (sweeps do not take FOK); replace keeping the price
with a lower or equal quantity keeps priority, anything else loses it (and re-matches); replace to a
total <= filled is refused; daily limit = ref_price +/- ref_price * price_limit_bp // 10000, checked
on limit prices at entry and replace (resting orders are not re-checked when the reference moves;
market orders are not bounded by it). Self-trade prevention follows the incoming order's owner. Sweep: among allowed group books, the best comparable price first, ties by time
priority; fills in whole lots of the resting book, never past the remaining group quantity.
"""
from .indexing import install as _plain_indexing
from .jitcache import ensure_fresh as _ensure_fresh

_ensure_fresh()
_plain_indexing()   # before any kernel compiles (see indexing)

from .engine import Engine  # noqa: E402  (after the cache check on purpose)
from .reference import ReferenceBook
from .types import (
    COMMAND_DTYPE, EVENT_DTYPE, LEVEL_DTYPE, SNAPSHOT_DTYPE, BookSpec, EventKind, Op, OrderState,
    OrdType, Reason, RejectReason, Side, Stp, Tif, Top, command, commands,
)

__all__ = [
    "COMMAND_DTYPE", "EVENT_DTYPE", "LEVEL_DTYPE", "SNAPSHOT_DTYPE", "BookSpec", "Engine", "EventKind",
    "Op", "OrderState", "OrdType", "Reason", "RejectReason", "ReferenceBook", "Side", "Stp", "Tif",
    "Top", "command", "commands",
]
