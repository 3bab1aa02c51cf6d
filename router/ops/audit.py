"""Operator log lines for what the router refuses: one INFO line per application-level reject sent
to a FIX client, naming the session, the request it answers and the reason with its Text.

`reject_line(session, msg_type, body)` returns that line for an outbound message that is a reject —
an ExecutionReport with ExecType(150)=8, an OrderCancelReject(9), a BusinessMessageReject(j), a
MarketDataRequestReject(Y) or a refused OrderMassCancelReport (r with 531=0) — and None for anything
else; `log_rejects(outs)` logs every such line of a batch of `(session, msg_type, body)` values. Only
the message type is compared for non-rejects, so it may sit on the send path.

Not here: session-level Rejects (35=3; the session layer logs those), admin mutations (`ops.admin`
logs each one), deciding anything.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable

from router.fix.encoding import WireBody

log = logging.getLogger("gold_router.rejects")

_REJECT_TYPES = frozenset((b"8", b"9", b"j", b"Y", b"r"))
_ER_REJECT, _ER_REJECT_LAST = b"\x01150=8\x01", b"\x01150=8"     # ExecType(150)=8 in a WireBody
_NAMES = {b"8": "order rejected", b"9": "cancel rejected", b"j": "business reject", b"Y": "market data rejected",
          b"r": "mass cancel rejected"}
# (tag, name) shown for each message type, in this order, when present.
_SHOWN = {
    b"8": ((11, "ClOrdID"), (1, "Account"), (55, "Symbol"), (54, "Side"), (38, "OrderQty"), (44, "Price"),
           (103, "OrdRejReason")),
    b"9": ((11, "ClOrdID"), (41, "OrigClOrdID"), (434, "CxlRejResponseTo"), (102, "CxlRejReason")),
    b"j": ((372, "RefMsgType"), (379, "BusinessRejectRefID"), (380, "BusinessRejectReason")),
    b"Y": ((262, "MDReqID"), (281, "MDReqRejReason")),
    b"r": ((11, "ClOrdID"), (530, "MassCancelRequestType"), (532, "MassCancelRejectReason")),
}


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return str(value)


def reject_line(session: str, msg_type: bytes, body: list[tuple[int, Any]]) -> str | None:
    """The INFO line for an outbound reject, or None when the message is not one."""
    if msg_type not in _REJECT_TYPES:
        return None
    if msg_type == b"8" and (150, b"8") not in body:
        return None
    if msg_type == b"r" and (531, b"0") not in body and (531, 0) not in body:
        return None
    fields: dict[int, Any] = {}
    for tag, value in body:
        fields.setdefault(tag, value)
    parts = [f"{name}={_text(fields[tag])}" for tag, name in _SHOWN[msg_type] if tag in fields]
    text = fields.get(58)
    line = f"{_NAMES[msg_type]} to {session}: " + " ".join(parts)
    if text is not None:
        line += f": {_text(text)}"
    return line


def log_rejects(outs: Iterable[tuple[str, bytes, list]]) -> None:
    """One INFO line per reject in `outs` (nothing when INFO is off)."""
    if not log.isEnabledFor(logging.INFO):
        return
    for session, msg_type, body in outs:
        if msg_type in _REJECT_TYPES:
            if msg_type == b"8" and body.__class__ is WireBody:
                # The usual ExecutionReport: `(150, b"8") in body` read off its encoding inline.
                wire = body.wire
                if _ER_REJECT not in wire and not wire.endswith(_ER_REJECT_LAST):
                    continue
            line = reject_line(session, msg_type, body)
            if line is not None:
                log.info("%s", line)


__all__ = ["reject_line", "log_rejects"]
