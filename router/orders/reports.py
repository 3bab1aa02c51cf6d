"""Message bodies built from orders: ExecutionReport (35=8), its reject form, OrderCancelReject (35=9).

`exec_report` turns an `Order` in its current state into an ExecutionReport body: a `WireBody`
(router.fix.encoding), built encoded from pieces the order keeps (`Order.er_fixed`: Account to
TimeInForce, encoded), which the gateway sends as it is and every other reader reads as its
(tag, value) pairs. `quiet_report` is its stand-in while a journal replay rebuilds state whose reports nobody reads.
`reject_report` answers a NewOrderSingle that never became an order;
`cancel_reject` refuses a cancel or replace.

It decides nothing and does no I/O; order records and the FIX tag numbers are in `router.orders.index`.
"""
from __future__ import annotations

from typing import Any

from router.domain.reasons import Reason
from router.fix.encoding import WireBody
from router.orders.index import (
    ACCOUNT, AVG_PX, CL_ORD_ID, CUM_QTY, CXL_REJ_REASON, CXL_REJ_RESPONSE_TO, DONE_STATUSES, ET_CANCELED, ET_NEW,
    ET_REJECTED, ET_REPLACED, ET_TRADE, EXEC_ID, EXEC_TYPE, GOLD_QTY_UNIT, GOLD_ROUTE_EXPLAIN, LAST_MKT, LAST_PX,
    LAST_QTY, LEAVES_QTY, ORD_REJ_REASON, ORD_STATUS, ORD_STATUS_REQ_ID, ORD_TYPE, ORDER_ID, ORDER_QTY,
    ORIG_CL_ORD_ID, OS_CANCELED, OS_FILLED, OS_NEW, OS_PARTIAL, OS_REJECTED, PRICE, SIDE, SYMBOL, TEXT,
    TIME_IN_FORCE, TRANSACT_TIME, Order, micro_text, units_text,
)


def exec_report(order: Order, exec_id: bytes, exec_type: bytes, now_ts: bytes, *, text: str | bytes = b"",
                rej: Reason | None = None, last: bool = False, explain: bool = False,
                status_req_id: bytes | None = None, tail: bytes = b"") -> WireBody:
    """An ExecutionReport body for `order` in its current state, built encoded (a `WireBody`, which
    reads as its (tag, value) pairs) from pieces the order keeps: the gateway sends it as it is
    instead of encoding some 18 pairs field by field (benchmarks/README.md, "Order flow: what was
    made faster"). `tail` is more fields, encoded, appended last (a fill's trade fields: one
    bytes join instead of a `WireBody.add_fields` per group, "Fills: core events to state")."""
    order_id, clordid, status = order.order_id, order.clordid, order.status
    done = status in DONE_STATUSES
    fixed = _kept_fixed(order, done)
    qty_text = micro_text if order.is_product else _lots_text
    leaves = _ZERO if done else qty_text(order.leaves)
    cum = qty_text(order.cum) if order.cum else _ZERO
    avg = order.avg_px_text() if order.cum else _ZERO
    try:
        if status_req_id is None and rej is None and (order.orig_clordid is None or exec_type not in _ORIG_TYPES):
            wire = b"\x0137=%b\x0111=%b\x0117=%b\x01150=%b\x0139=%b%b" % (
                order_id, clordid, exec_id, exec_type, status, fixed)
        else:
            wire = b"\x0137=%b\x0111=%b" % (order_id, clordid)
            if order.orig_clordid is not None and exec_type in _ORIG_TYPES:
                wire += b"\x0141=" + order.orig_clordid
            if status_req_id is not None:
                wire += b"\x01790=" + status_req_id
            wire += b"\x0117=%b\x01150=%b\x0139=%b" % (exec_id, exec_type, status)
            if rej is not None:
                wire += b"\x01103=%d" % rej.ord_rej_reason
            wire += fixed
        if last:
            wire += b"\x0132=%b\x0131=%b" % (qty_text(order.last_qty), order.px_text(order.last_px))
            if order.last_mkt:
                wire += b"\x0130=" + order.last_mkt
        wire += b"\x01151=%b\x0114=%b\x016=%b\x0160=%b" % (leaves, cum, avg, now_ts)
        if text:
            wire += b"\x0158=" + (text if text.__class__ is bytes else text.encode())
        if explain and order.explain:
            wire += b"\x017006=" + order.explain
        wire += _UNIT_PRODUCT if order.is_product else _UNIT_LOTS
    except TypeError:
        # A value that is not bytes (not one the order flow makes): encoded field by field.
        body = WireBody.of(_exec_report_pairs(order, exec_id, exec_type, now_ts, text, rej, last, explain,
                                              status_req_id, leaves, cum, avg))
        return WireBody(body.wire + tail) if tail else body
    return WireBody(wire + tail if tail else wire)


def ack_report(order: Order, exec_id: bytes, now_ts: bytes) -> WireBody:
    """`exec_report(order, exec_id, ET_NEW, now_ts, explain=True)`, byte for byte, for the first
    acknowledgement of a new order: the body is one template, `order`'s own pieces in its slots
    (OrderID, ClOrdID, ExecID, the kept Account..TimeInForce fields, LeavesQty, TransactTime, the
    explanation line), with every field an ack fixes written in: 150=0, 39=0, CumQty and AvgPx 0, no
    Text, no OrigClOrdID. Half the general builder's cost (benchmarks/README.md, "Order flow: the
    acknowledgement's own path"). An order not in the state an ack is built from (filled already,
    status other than new) or a value that is not bytes takes `exec_report` itself."""
    if order.status != OS_NEW or order.cum:
        return exec_report(order, exec_id, ET_NEW, now_ts, explain=True)
    fixed = order.er_fixed
    if fixed is None:
        fixed = order.er_fixed = _fixed_fields(order)
    explain = order.explain
    try:
        if order.is_product:
            wire = _ACK % (order.order_id, order.clordid, exec_id, fixed, micro_text(order.leaves), now_ts)
            return WireBody(wire + b"\x017006=" + explain + _UNIT_PRODUCT if explain else wire + _UNIT_PRODUCT)
        wire = _ACK_LOTS % (order.order_id, order.clordid, exec_id, fixed, order.leaves, now_ts)
        return WireBody(wire + b"\x017006=" + explain + _UNIT_LOTS if explain else wire + _UNIT_LOTS)
    except TypeError:
        return exec_report(order, exec_id, ET_NEW, now_ts, explain=True)


def cancelled_report(order: Order, exec_id: bytes, now_ts: bytes, text: bytes = b"") -> WireBody:
    """`exec_report(order, exec_id, ET_CANCELED, now_ts, text=text)`, byte for byte, for a cancelled order
    with nothing filled (a client's cancel, an IOC's unfilled remainder): one template as `ack_report`'s
    (OrderID, ClOrdID, OrigClOrdID when renamed, ExecID, the Account..TimeInForce fields, TransactTime
    and the Text in its slots; 150=4, 39=4, LeavesQty, CumQty and AvgPx 0 written in). Anything else
    takes `exec_report`."""
    if order.status != OS_CANCELED or order.cum:
        return exec_report(order, exec_id, ET_CANCELED, now_ts, text=text)
    fixed = order.er_fixed
    if fixed is None:
        fixed = _fixed_fields(order)
    else:
        order.er_fixed = None       # done: as `_kept_fixed`, the order keeps no fields
    orig = order.orig_clordid
    try:
        if orig is None:
            wire = _CANCELLED_FIRST % (order.order_id, order.clordid, exec_id, fixed, now_ts)
        else:
            wire = _CANCELLED % (order.order_id, order.clordid, orig, exec_id, fixed, now_ts)
        if text:
            wire += b"\x0158=" + text
        return WireBody(wire + (_UNIT_PRODUCT if order.is_product else _UNIT_LOTS))
    except TypeError:
        return exec_report(order, exec_id, ET_CANCELED, now_ts, text=text)


def trade_report(order: Order, exec_id: bytes, now_ts: bytes, tail: bytes = b"") -> WireBody:
    """`exec_report(order, exec_id, ET_TRADE, now_ts, last=True, tail=tail)`, byte for byte, for an
    instrument order's fill (150=F, 39=1 or 2): one template as `ack_report`'s (OrderID, ClOrdID, ExecID,
    OrdStatus, the Account..TimeInForce fields, LastQty, LastPx, LastMkt when known, LeavesQty, CumQty,
    AvgPx, TransactTime in its slots), then the trade's `tail`. A product order (fine grams, its own
    price scale), another status or a value that is not bytes takes `exec_report`."""
    status = order.status
    if order.is_product or order.value_den != 1 or (status != OS_PARTIAL and status != OS_FILLED):
        return exec_report(order, exec_id, ET_TRADE, now_ts, last=True, tail=tail)
    done = status == OS_FILLED
    mkt = order.last_mkt
    try:
        wire = _TRADE_LOTS % (order.order_id, order.clordid, exec_id, status, _kept_fixed(order, done),
                              order.last_qty, units_text(order.last_px, order.price_decimals),
                              b"\x0130=" + mkt if mkt else b"", 0 if done else order.leaves, order.cum,
                              order.avg_px_text(), now_ts)
    except TypeError:
        return exec_report(order, exec_id, ET_TRADE, now_ts, last=True, tail=tail)
    return WireBody(wire + _UNIT_LOTS + tail)


def _kept_fixed(order: Order, done: bool) -> bytes:
    fixed = order.er_fixed
    if fixed is None:
        fixed = _fixed_fields(order)
        if not done:
            order.er_fixed = fixed
    elif done:
        # A done order is kept a while for status requests; cached fields would only lengthen the
        # garbage collector's full passes over them.
        order.er_fixed = None
    return fixed


class _Unread:
    """The body `quiet_report` returns: nobody reads it; what callers add to it goes nowhere."""

    __slots__ = ()

    def add_fields(self, fields: Any) -> None:
        pass


UNREAD = _Unread()


def quiet_report(order: Order, exec_id: bytes, exec_type: bytes, now_ts: bytes, *, text: Any = b"",
                 rej: Any = None, last: bool = False, explain: bool = False, status_req_id: Any = None,
                 tail: bytes = b"") -> _Unread:
    """`exec_report` for a journal replay's outputs that nobody reads: the same effect on the order
    (the fields it keeps, which the state hash covers), no body built. `_kept_fixed`'s effect without
    its work: a done order keeps no fields, so none are formatted for it ("Fills: core events to state").
    `exec_report`'s keywords are named, not taken as `**_`: no dict is made per call."""
    if order.status in DONE_STATUSES:
        order.er_fixed = None
    elif order.er_fixed is None:
        order.er_fixed = _fixed_fields(order)
    return UNREAD


def _exec_report_pairs(order: Order, exec_id: Any, exec_type: Any, now_ts: Any, text: Any, rej: Reason | None,
                       last: bool, explain: bool, status_req_id: Any, leaves: bytes, cum: bytes,
                       avg: bytes) -> list[tuple[int, Any]]:
    """`exec_report`'s fields as (tag, value) pairs, any value type `encode` accepts."""
    body: list[tuple[int, Any]] = [(ORDER_ID, order.order_id), (CL_ORD_ID, order.clordid)]
    if order.orig_clordid is not None and exec_type in _ORIG_TYPES:
        body.append((ORIG_CL_ORD_ID, order.orig_clordid))
    if status_req_id is not None:
        body.append((ORD_STATUS_REQ_ID, status_req_id))
    body += ((EXEC_ID, exec_id), (EXEC_TYPE, exec_type), (ORD_STATUS, order.status))
    if rej is not None:
        body.append((ORD_REJ_REASON, b"%d" % rej.ord_rej_reason))
    body += _fixed_pairs(order)
    qty_text = micro_text if order.is_product else _lots_text
    if last:
        body += ((LAST_QTY, qty_text(order.last_qty)), (LAST_PX, order.px_text(order.last_px)))
        if order.last_mkt:
            body.append((LAST_MKT, order.last_mkt))
    body += ((LEAVES_QTY, leaves), (CUM_QTY, cum), (AVG_PX, avg), (TRANSACT_TIME, now_ts))
    if text:
        body.append((TEXT, text))
    if explain and order.explain:
        body.append((GOLD_ROUTE_EXPLAIN, order.explain))
    body.append((GOLD_QTY_UNIT, b"GF" if order.is_product else b"LOT"))
    return body


# A product order's quantities are fine grams (GF); an instrument order's, lots of the instrument.
_UNIT_PRODUCT, _UNIT_LOTS = b"\x01%d=GF" % GOLD_QTY_UNIT, b"\x01%d=LOT" % GOLD_QTY_UNIT
_ORIG_TYPES = (ET_REPLACED, ET_CANCELED)
# The acknowledgement's template (`ack_report`): everything but its slots written in.
_ACK = b"\x0137=%b\x0111=%b\x0117=%b\x01150=0\x0139=0%b\x01151=%b\x0114=0\x016=0\x0160=%b"
_ACK_LOTS = b"\x0137=%b\x0111=%b\x0117=%b\x01150=0\x0139=0%b\x01151=%d\x0114=0\x016=0\x0160=%b"
_CANCELLED = b"\x0137=%b\x0111=%b\x0141=%b\x0117=%b\x01150=4\x0139=4%b\x01151=0\x0114=0\x016=0\x0160=%b"
_CANCELLED_FIRST = b"\x0137=%b\x0111=%b\x0117=%b\x01150=4\x0139=4%b\x01151=0\x0114=0\x016=0\x0160=%b"
# An instrument order's fill (`trade_report`).
_TRADE_LOTS = (b"\x0137=%b\x0111=%b\x0117=%b\x01150=F\x0139=%b%b\x0132=%d\x0131=%b%b\x01151=%d\x0114=%d\x016=%b"
               b"\x0160=%b")
_ZERO = b"0"


def _lots_text(lots: int) -> bytes:
    return b"%d" % lots


def _fixed_pairs(order: Order) -> list[tuple[int, bytes]]:
    fields = [(ACCOUNT, order.account.encode()), (SYMBOL, order.symbol.encode()), (SIDE, b"%d" % order.side),
              (ORDER_QTY, order.qty_text(order.qty)), (ORD_TYPE, b"%d" % order.ord_type)]
    if order.price is not None:
        fields.append((PRICE, units_text(order.price, order.price_decimals)))
    fields.append((TIME_IN_FORCE, b"%d" % order.tif))
    return fields


def _fixed_fields(order: Order) -> bytes:
    """The fields of every report that change only when a replace changes quantity or price
    (Account to TimeInForce), encoded; kept on the order until then (`Order.er_fixed`). They are a
    function of the values below alone, and a client's orders repeat them (same account, symbol,
    side, size, price), so the encoded fields are reused from a bounded table by those values
    (benchmarks/README.md, "Order flow: what was made faster")."""
    key = (order.account, order.symbol, order.side, order.qty, order.ord_type, order.price, order.price_decimals,
           order.tif, order.is_product)
    got = _FIXED.get(key)
    if got is None:
        if len(_FIXED) >= FIXED_CACHE_MAX:
            _FIXED.clear()
        price = b"" if order.price is None else b"\x0144=" + units_text(order.price, order.price_decimals)
        got = _FIXED[key] = b"\x011=%b\x0155=%b\x0154=%d\x0138=%b\x0140=%d%b\x0159=%d" % (
            order.account.encode(), order.symbol.encode(), order.side, order.qty_text(order.qty), order.ord_type,
            price, order.tif)
    return got


# Encoded Account..TimeInForce fields by the order values they show (`_fixed_fields`).
_FIXED: dict[tuple, bytes] = {}
FIXED_CACHE_MAX = 4096


def reject_report(exec_id: bytes, now_ts: bytes, clordid: bytes, account: str, symbol: bytes, side: bytes,
                  qty: bytes, ord_type: bytes, reason: Reason, text: str, explain: bytes = b"",
                  order_id: bytes = b"NONE") -> list[tuple[int, Any]]:
    """An ExecutionReport rejecting a NewOrderSingle that never became an order."""
    body: list[tuple[int, Any]] = [
        (ORDER_ID, order_id), (CL_ORD_ID, clordid), (EXEC_ID, exec_id), (EXEC_TYPE, ET_REJECTED),
        (ORD_STATUS, OS_REJECTED), (ORD_REJ_REASON, reason.ord_rej_reason),
    ]
    if account:
        body.append((ACCOUNT, account))
    body += [(SYMBOL, symbol or b"NONE"), (SIDE, side or b"1")]
    if qty:
        body.append((ORDER_QTY, qty))
    if ord_type:
        body.append((ORD_TYPE, ord_type))
    body += [(LEAVES_QTY, 0), (CUM_QTY, 0), (AVG_PX, 0), (TRANSACT_TIME, now_ts), (TEXT, text)]
    if explain:
        body.append((GOLD_ROUTE_EXPLAIN, explain))
    return body


def cancel_reject(order: Order | None, clordid: bytes, orig_clordid: bytes, response_to: bytes,
                  reason: Reason, text: str) -> list[tuple[int, Any]]:
    """An OrderCancelReject body (434: 1 cancel request, 2 cancel/replace request)."""
    return [
        (ORDER_ID, order.order_id if order is not None else b"NONE"), (CL_ORD_ID, clordid),
        (ORIG_CL_ORD_ID, orig_clordid), (ORD_STATUS, order.status if order is not None else OS_REJECTED),
        (CXL_REJ_RESPONSE_TO, response_to), (CXL_REJ_REASON, reason.cxl_rej_reason), (TEXT, text),
    ]


__all__ = ["exec_report", "ack_report", "cancelled_report", "trade_report", "reject_report", "cancel_reject"]
