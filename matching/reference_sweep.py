"""The reference book's interoperable group sweep: one order across the books of a group, best
comparable price first (time priority between books at equal comparable prices), then resting what
is left on the chosen book or returning it. Also the order record the reference book keeps.

A mixin of `reference.ReferenceBook` (it uses the book's sides, conversions, STP modes and event
helpers); written out readably as the oracle for the numba sweep. No I/O, no clock.
"""
from __future__ import annotations

from .types import MAX_GROUP_QTY, MAX_QTY, EventKind as K, OrdType, Reason as R, Side, Stp, Tif

_TIFS = (Tif.DAY, Tif.GTC, Tif.IOC, Tif.FOK, Tif.GTD)
_RESTING_TIFS = (Tif.DAY, Tif.GTC, Tif.GTD)


class _Order:
    __slots__ = ("id", "book", "side", "owner", "price", "qty", "leaves", "cum", "tif", "expire",
                 "live", "seq", "ord_type")

    def __init__(self, oid, book, side, owner, price, qty, tif, expire, ord_type):
        self.id, self.book, self.side, self.owner = oid, book, side, owner
        self.price, self.qty, self.leaves, self.cum = price, qty, qty, 0
        self.tif, self.expire, self.ord_type = tif, expire, ord_type
        self.live, self.seq = False, 0


class GroupSweep:
    def _sweep(self, c):
        g, oid, side, tif, rb = c["book"], c["order_id"], c["side"], c["tif"], c["rest_book"]
        ord_type, limit = c["ord_type"], c["price"]
        why = self._sweep_refusal(c, g, oid, side, tif, rb, ord_type, limit)
        if why:
            return self._reject(c, why, True)
        if ord_type == OrdType.MARKET:
            limit = 0
        s = _Order(oid, -1, side, c["owner"], limit, c["qty"], tif, 0, ord_type)
        self.orders[oid] = s
        self._order_event(K.ACCEPTED, s, group=g)
        mode = self.stp.get(s.owner, Stp.OFF)
        members = [b for b in self.groups[g] if (c["allowed"] >> b) & 1]
        opp = self.sides[1 if side == Side.BUY else 0]
        stopped = False
        while s.leaves:
            best = None
            for b in members:
                num, den, scale = self.conv[b]
                lot = self.specs[b].lot
                if lot * scale > s.leaves or not opp[b]:
                    continue
                key, level = opp[b].peekitem(0)
                px = abs(key)
                comp = px * num // den
                if ord_type == OrdType.LIMIT and (comp > limit if side == Side.BUY else comp < limit):
                    continue
                head = next(iter(level.values()))
                if best is None or (comp < best[0] if side == Side.BUY else comp > best[0]) or (
                        comp == best[0] and head.seq < best[1].seq):
                    best = (comp, head, px, lot, scale)
            if best is None:
                break
            _, m, px, lot, scale = best
            if mode and m.owner == s.owner:
                if mode in (Stp.CANCEL_RESTING, Stp.CANCEL_BOTH):
                    self._kill(m, K.CANCELLED, R.SELF_TRADE)
                    if mode == Stp.CANCEL_RESTING:
                        continue
                stopped = True
                break
            q = min(m.leaves, s.leaves // (lot * scale) * lot)
            m.leaves -= q
            m.cum += q
            gq = q * scale
            s.leaves -= gq
            s.cum += gq
            if not m.leaves:
                self._unlink(m)
            self._emit(K.TRADE, R.NONE, m.book, g, s.id, s.owner, side, px, q, s.leaves, s.cum,
                       m.id, s.id, m.owner, m.leaves, m.cum, gq)
            if not m.leaves:
                self._forget(m)
        rest_qty = 0
        if stopped:
            returned = s.leaves
            self._kill(s, K.CANCELLED, R.SELF_TRADE, group=g)
        else:
            if rb != -1 and s.leaves:
                scale = self.conv[rb][2]
                lot = self.specs[rb].lot
                rest_qty = s.leaves // (lot * scale) * lot
                if rest_qty > MAX_QTY or self._qty_reason(rb, rest_qty):
                    rest_qty = 0
            returned = s.leaves - rest_qty * (self.conv[rb][2] if rest_qty else 0)
        self._emit(K.SWEEP_REPORT, R.NONE, rb if rest_qty else -1, g, s.id, s.owner, side, s.price,
                   rest_qty * (self.conv[rb][2] if rest_qty else 0), returned, s.cum)
        if not rest_qty:
            s.leaves = 0
            if not stopped:         # (a stopped sweep was forgotten by _kill)
                self._forget(s)
            return
        s.book, s.price, s.qty, s.leaves, s.cum = rb, c["rest_price"], rest_qty, rest_qty, 0
        s.ord_type = OrdType.LIMIT
        s.expire = c["expire_time"] if tif == Tif.GTD else 0
        self._order_event(K.ACCEPTED, s)
        self._after_accept(s)


    def _sweep_refusal(self, c, g, oid, side, tif, rb, ord_type, limit):
        """Why a SWEEP command is refused before it trades (a Reason), or 0."""
        if not 0 <= g < len(self.groups):
            return R.BAD_GROUP
        if oid <= 0:
            return R.BAD_ORDER_ID
        if oid in self.orders:
            return R.DUPLICATE_ORDER_ID
        if c["owner"] < 0:
            return R.BAD_OWNER
        if side not in (Side.BUY, Side.SELL):
            return R.BAD_SIDE
        if ord_type not in (OrdType.LIMIT, OrdType.MARKET):
            return R.BAD_ORD_TYPE
        if tif not in _TIFS or tif == Tif.FOK:
            return R.BAD_TIF
        if ord_type == OrdType.LIMIT and limit <= 0:
            return R.BAD_PRICE
        if c["qty"] <= 0 or c["qty"] > MAX_GROUP_QTY:
            return R.BAD_QTY
        if rb != -1:
            if rb not in self.groups[g]:
                return R.BAD_REST_BOOK
            if tif not in _RESTING_TIFS:
                return R.BAD_TIF
            if tif == Tif.GTD and c["expire_time"] <= c["time"]:
                return R.BAD_EXPIRE_TIME
            r = self._price_reason(rb, c["rest_price"])
            if r:
                return r
        return 0
