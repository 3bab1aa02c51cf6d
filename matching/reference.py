"""Pure-Python reference book: the oracle the numba engine is checked against.

Plain data structures (sortedcontainers for price levels, insertion-ordered dicts for FIFO queues) and
the full semantics written out once, readably. It takes the same constructor arguments, commands and
dtypes as `matching.Engine` and produces the same events and the same state hash. It is NOT fast and
is not used on the serving path; it holds no I/O and reads no clock. The interoperable group sweep
and the order record are in `reference_sweep`.
"""
from __future__ import annotations

import numpy as np
from sortedcontainers import SortedDict

from .types import (
    COMMAND_DTYPE, COMMAND_FIELDS, EVENT_DTYPE, LEVEL_DTYPE, MAX_FACTOR, MAX_PRICE, MAX_QTY,
    MAX_SCALE, SNAPSHOT_DTYPE, EventKind as K, Op, OrdType, OrderState, Reason as R, Side, Stp, Tif,
    Top, as_groups, as_specs, hash_state, merge_group_depth,
)
from .reference_sweep import _TIFS, GroupSweep, _Order

class ReferenceBook(GroupSweep):
    def __init__(self, books, groups=None, capacity: int | None = None):
        self.specs = as_specs(books)
        self.groups = as_groups(groups, len(self.specs))
        n = len(self.specs)
        self.ref = [s.ref_price for s in self.specs]
        self.conv = [[s.num, s.den, s.qty_scale] for s in self.specs]
        # key = -price for bids and +price for asks, so index 0 is always the best level
        self.sides = [[SortedDict() for _ in range(n)], [SortedDict() for _ in range(n)]]
        self.orders: dict[int, _Order] = {}
        self.stp: dict[int, int] = {}
        self.seq = 0
        self._ev: list = []
        self._cur = (0, 0, 0)
        self._pending: list[np.ndarray] = []

    # ------------------------------------------------------------------ commands
    def process(self, cmds: np.ndarray, copy: bool = True) -> np.ndarray:
        # `copy` is accepted for the Engine's interface; results here are always new arrays
        self._ev = []
        cmds = np.asarray(cmds)
        if cmds.dtype == np.int64:
            cmds = np.ascontiguousarray(cmds).reshape(-1).view(COMMAND_DTYPE)
        for i, row in enumerate(np.atleast_1d(cmds).tolist()):
            c = dict(zip(COMMAND_FIELDS, row))
            self._cur = (c["op"], c["time"], i)
            handler = self._handlers.get(c["op"])
            if handler is None:
                self._reject(c, R.BAD_OP)
            else:
                handler(self, c)
        out = np.array(self._ev, dtype=np.int64).reshape(-1, len(EVENT_DTYPE.names))
        return np.ascontiguousarray(out).view(EVENT_DTYPE).reshape(-1)

    def process_one(self, cmd) -> np.ndarray:
        return self.process(np.atleast_1d(cmd))

    def process_at(self, cmds: np.ndarray, i: int, copy: bool = True) -> np.ndarray:
        ev = self.process(cmds[i:i + 1])
        ev["cmd_index"] = i
        return ev

    def process_at_rows(self, cmds: np.ndarray, i: int) -> list[list[int]]:
        return [list(e) for e in self.process_at(cmds, i).tolist()]

    def submit_at(self, cmds: np.ndarray, i: int) -> int:
        ev = self.process_at(cmds, i)
        self._pending.append(ev)
        return len(ev)

    def drain(self) -> np.ndarray:
        out = np.concatenate(self._pending) if self._pending else np.zeros(0, EVENT_DTYPE)
        self._pending = []
        return out

    def warm_up(self) -> None:
        """Nothing to compile; present so callers can switch implementations freely."""

    def reserve(self, orders: int = 0, events: int = 0) -> None:
        """Nothing to preallocate (Python containers grow); same interface as Engine."""

    def _emit(self, kind, reason, book, group, oid, owner, side, price, qty, leaves, cum,
              maker_id=0, taker_id=0, maker_owner=0, maker_leaves=0, maker_cum=0, group_qty=0):
        op, time, idx = self._cur
        self._ev.append((int(kind), op, int(reason), time, idx, book, group, oid, owner, side, price,
                         qty, leaves, cum, maker_id, taker_id, maker_owner, maker_leaves, maker_cum,
                         group_qty))

    def _reject(self, c, reason, sweep=False):
        book, group = (-1, c["book"]) if sweep else (c["book"], -1)
        self._emit(K.REJECTED, reason, book, group, c["order_id"], c["owner"], c["side"], c["price"],
                   c["qty"], 0, 0)

    def _order_event(self, kind, o, reason=R.NONE, group=-1):
        self._emit(kind, reason, o.book, group, o.id, o.owner, o.side, o.price, o.qty, o.leaves, o.cum)

    # ------------------------------------------------------------------ validation
    def _price_reason(self, b, price):
        if price <= 0 or price > MAX_PRICE:
            return R.BAD_PRICE
        spec = self.specs[b]
        if price % spec.tick:
            return R.BAD_TICK
        ref = self.ref[b]
        if spec.price_limit_bp and ref:
            band = ref * spec.price_limit_bp // 10000
            if price < ref - band or price > ref + band:
                return R.PRICE_LIMIT
        return R.NONE

    def _qty_reason(self, b, qty):
        spec = self.specs[b]
        if qty <= 0 or qty > MAX_QTY:
            return R.BAD_QTY
        if qty % spec.lot:
            return R.BAD_LOT
        if qty < spec.min_qty:
            return R.BELOW_MIN_QTY
        if spec.max_qty and qty > spec.max_qty:
            return R.ABOVE_MAX_QTY
        return R.NONE

    def _book_ok(self, b):
        return 0 <= b < len(self.specs)

    # ------------------------------------------------------------------ book primitives
    def _side(self, o, opposite=False):
        s = o.side == Side.SELL
        return self.sides[int(s) ^ int(opposite)][o.book]

    @staticmethod
    def _key(side, price):
        return -price if side == Side.BUY else price

    def _rest(self, o):
        self.seq += 1
        o.seq = self.seq
        o.live = True
        self._side(o).setdefault(self._key(o.side, o.price), {})[o.id] = o

    def _unlink(self, o):
        side = self._side(o)
        key = self._key(o.side, o.price)
        level = side[key]
        del level[o.id]
        if not level:
            del side[key]
        o.live = False

    def _kill(self, o, kind, reason, group=-1):
        """End an order (resting or not) and report it."""
        if o.live:
            self._unlink(o)
        o.leaves = 0
        self._order_event(kind, o, reason, group)
        self._forget(o)

    def _forget(self, o):
        """An ended order is forgotten at once: the book knows only live orders (as the engine,
        which recycles the order's row), so its id is unknown from now on and may come again."""
        del self.orders[o.id]

    # ------------------------------------------------------------------ matching
    def _crosses(self, o, px):
        if o.ord_type == OrdType.MARKET:
            return True
        return px <= o.price if o.side == Side.BUY else px >= o.price

    def _fok_fillable(self, o, mode):
        need, acc = o.leaves, 0
        for key, level in self._side(o, opposite=True).items():
            if not self._crosses(o, abs(key)):
                return False
            for m in level.values():
                if mode and m.owner == o.owner:
                    if mode in (Stp.CANCEL_INCOMING, Stp.CANCEL_BOTH):
                        return False
                    continue
                acc += m.leaves
                if acc >= need:
                    return True
        return False

    def _match(self, o, mode) -> bool:
        """Trade `o` against its book; True when self-trade prevention stopped the incoming order."""
        opp = self._side(o, opposite=True)
        while o.leaves and opp:
            key, level = opp.peekitem(0)
            px = abs(key)
            if not self._crosses(o, px):
                break
            m = next(iter(level.values()))
            if mode and m.owner == o.owner:
                if mode in (Stp.CANCEL_RESTING, Stp.CANCEL_BOTH):
                    self._kill(m, K.CANCELLED, R.SELF_TRADE)
                    if mode == Stp.CANCEL_RESTING:
                        continue
                return True
            q = min(o.leaves, m.leaves)
            o.leaves -= q
            o.cum += q
            m.leaves -= q
            m.cum += q
            if not m.leaves:
                self._unlink(m)
            self._emit(K.TRADE, R.NONE, o.book, -1, o.id, o.owner, o.side, px, q, o.leaves, o.cum,
                       m.id, o.id, m.owner, m.leaves, m.cum)
            if not m.leaves:
                self._forget(m)
        return False

    def _after_accept(self, o):
        mode = self.stp.get(o.owner, Stp.OFF)
        if o.tif == Tif.FOK and not self._fok_fillable(o, mode):
            self._kill(o, K.CANCELLED, R.FOK_UNFILLABLE)
            return
        if self._match(o, mode):
            self._kill(o, K.CANCELLED, R.SELF_TRADE)
        elif o.leaves:
            if o.ord_type == OrdType.MARKET or o.tif in (Tif.IOC, Tif.FOK):
                self._kill(o, K.CANCELLED, R.UNFILLED_IOC)
            else:
                self._rest(o)
        else:
            self._forget(o)         # filled in full

    # ------------------------------------------------------------------ handlers
    def _new(self, c):
        b, oid = c["book"], c["order_id"]
        tif, ord_type = c["tif"], c["ord_type"]
        if not self._book_ok(b):
            return self._reject(c, R.BAD_BOOK)
        if oid <= 0:
            return self._reject(c, R.BAD_ORDER_ID)
        if oid in self.orders:
            return self._reject(c, R.DUPLICATE_ORDER_ID)
        if c["owner"] < 0:
            return self._reject(c, R.BAD_OWNER)
        if c["side"] not in (Side.BUY, Side.SELL):
            return self._reject(c, R.BAD_SIDE)
        if ord_type not in (OrdType.LIMIT, OrdType.MARKET):
            return self._reject(c, R.BAD_ORD_TYPE)
        if tif not in _TIFS:
            return self._reject(c, R.BAD_TIF)
        if tif == Tif.GTD and c["expire_time"] <= c["time"]:
            return self._reject(c, R.BAD_EXPIRE_TIME)
        r = self._qty_reason(b, c["qty"])
        if r:
            return self._reject(c, r)
        price = 0
        if ord_type == OrdType.LIMIT:
            price = c["price"]
            r = self._price_reason(b, price)
            if r:
                return self._reject(c, r)
        expire = c["expire_time"] if tif == Tif.GTD else 0
        o = _Order(oid, b, c["side"], c["owner"], price, c["qty"], tif, expire, ord_type)
        self.orders[oid] = o
        self._order_event(K.ACCEPTED, o)
        self._after_accept(o)

    def _cancel(self, c):
        o = self.orders.get(c["order_id"])
        if o is None:
            return self._reject(c, R.UNKNOWN_ORDER)
        if not o.live:
            return self._reject(c, R.ORDER_NOT_LIVE)
        self._kill(o, K.CANCELLED, R.CANCEL_REQUESTED)

    def _replace(self, c):
        o = self.orders.get(c["order_id"])
        if o is None:
            return self._reject(c, R.UNKNOWN_ORDER)
        if not o.live:
            return self._reject(c, R.ORDER_NOT_LIVE)
        qty, price = c["qty"], c["price"]
        r = self._qty_reason(o.book, qty)
        if r:
            return self._reject(c, r)
        if qty <= o.cum:
            return self._reject(c, R.REPLACE_BELOW_FILLED)
        r = self._price_reason(o.book, price)
        if r:
            return self._reject(c, r)
        keeps_priority = price == o.price and qty <= o.qty
        if not keeps_priority:
            self._unlink(o)
        o.qty, o.leaves, o.price = qty, qty - o.cum, price
        self._order_event(K.REPLACED, o)
        if keeps_priority:
            return
        if self._match(o, self.stp.get(o.owner, Stp.OFF)):
            self._kill(o, K.CANCELLED, R.SELF_TRADE)
        elif o.leaves:
            self._rest(o)
        else:
            self._forget(o)         # filled in full

    def _each_resting(self, book):
        books = range(len(self.specs)) if book == -1 else (book,)
        for b in books:
            for s in (0, 1):
                for level in self.sides[s][b].values():
                    yield from level.values()

    def _mass_cancel(self, c):
        b, owner = c["book"], c["owner"]
        if b != -1 and not self._book_ok(b):
            return self._reject(c, R.BAD_BOOK)
        if owner < -1:
            return self._reject(c, R.BAD_OWNER)
        victims = [o for o in self._each_resting(b) if owner == -1 or o.owner == owner]
        for o in victims:
            self._kill(o, K.CANCELLED, R.MASS_CANCEL)
        self._emit(K.MASS_CANCEL_REPORT, R.NONE, b, -1, c["order_id"], owner, 0, 0, len(victims), 0, 0)

    def _expire(self, c):
        b, t, day = c["book"], c["time"], c["tif"] == Tif.DAY
        if b != -1 and not self._book_ok(b):
            return self._reject(c, R.BAD_BOOK)
        victims = []
        for o in self._each_resting(b):
            if o.tif == Tif.GTD and o.expire <= t:
                victims.append((o, R.EXPIRED_GTD))
            elif day and o.tif == Tif.DAY:
                victims.append((o, R.EXPIRED_DAY))
        for o, reason in victims:
            self._kill(o, K.EXPIRED, reason)

    def _set_ref_price(self, c):
        if not self._book_ok(c["book"]):
            return self._reject(c, R.BAD_BOOK)
        if c["price"] < 0 or c["price"] > MAX_PRICE:
            return self._reject(c, R.BAD_PRICE)
        self.ref[c["book"]] = c["price"]

    def _set_stp(self, c):
        if c["owner"] < 0:
            return self._reject(c, R.BAD_OWNER)
        if c["stp"] not in (Stp.OFF, Stp.CANCEL_RESTING, Stp.CANCEL_INCOMING, Stp.CANCEL_BOTH):
            return self._reject(c, R.BAD_STP)
        self.stp[c["owner"]] = c["stp"]

    def _set_conversion(self, c):
        if not self._book_ok(c["book"]):
            return self._reject(c, R.BAD_BOOK)
        num, den, scale = c["num"], c["den"], c["qty_scale"]
        if not (0 < num <= MAX_FACTOR and 0 < den <= MAX_FACTOR and 0 < scale <= MAX_SCALE):
            return self._reject(c, R.BAD_CONVERSION)
        self.conv[c["book"]] = [num, den, scale]

    _handlers = {
        Op.NEW: _new, Op.CANCEL: _cancel, Op.REPLACE: _replace, Op.MASS_CANCEL: _mass_cancel,
        Op.EXPIRE: _expire, Op.SET_REF_PRICE: _set_ref_price, Op.SWEEP: GroupSweep._sweep, Op.SET_STP: _set_stp,
        Op.SET_CONVERSION: _set_conversion,
    }

    # ------------------------------------------------------------------ queries
    def order_state(self, order_id: int) -> OrderState | None:
        o = self.orders.get(int(order_id))
        if o is None:
            return None
        return OrderState(o.id, o.book, o.side, o.owner, o.price, o.qty, o.leaves, o.cum, o.live)

    def depth(self, book: int, n: int):
        out = []
        for s in (0, 1):
            rows = []
            for key, level in self.sides[s][book].items()[:n]:
                rows.append((abs(key), sum(o.leaves for o in level.values()), len(level)))
            out.append(np.array(rows, dtype=LEVEL_DTYPE))
        return out[0], out[1]

    def top_of_book(self, book: int) -> Top:
        bids, asks = self.depth(book, 1)
        b = tuple(bids[0].tolist()) if len(bids) else (0, 0, 0)
        a = tuple(asks[0].tolist()) if len(asks) else (0, 0, 0)
        return Top(*b, *a)

    def top_prices(self, side: int) -> np.ndarray:
        """Best price of every book on `side` (BUY: bids, SELL: asks), 0 where empty (a new array;
        the engine returns a live view instead)."""
        return np.array([abs(d.keys()[0]) if d else 0 for d in self.sides[int(side) - 1]], np.int64)

    def group_depth(self, group: int, n: int):
        members = self.groups[group]
        return merge_group_depth([self.depth(b, n) for b in members],
                                 [tuple(self.conv[b]) for b in members], n)

    def resting_orders(self) -> int:
        return sum(len(lv) for side in self.sides for book in side for lv in book.values())

    def snapshot(self) -> np.ndarray:
        rows = [(o.book, o.side, o.id, o.owner, o.price, o.qty, o.leaves, o.cum, o.tif, o.expire)
                for o in self._each_resting(-1)]
        return np.array(rows, dtype=SNAPSHOT_DTYPE)

    def book_params(self) -> np.ndarray:
        return np.array([[self.ref[b], *self.conv[b]] for b in range(len(self.specs))], np.int64)

    def stp_pairs(self) -> np.ndarray:
        return np.array(sorted((o, m) for o, m in self.stp.items() if m), np.int64).reshape(-1, 2)

    def state_hash(self) -> str:
        return hash_state(self.snapshot(), self.book_params(), self.stp_pairs())
