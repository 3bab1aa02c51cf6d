"""The `echo` application, as FIX engines ship for their acceptance suites.

NewOrderSingle(D): echoed back to its sender, body unchanged, under the gateway's header.  A
NewOrderSingle with PossResend(97)=Y whose ClOrdID(11) this session already saw is dropped silently
(the counterparty is re-sending something we acted on).  Any other application message type is
answered with BusinessMessageReject(j) BusinessRejectReason(380)=3 "Unsupported Message Type".

Not its job: validation (the session layer did it), orders, or remembering across restarts.
"""
from __future__ import annotations

from router.fix_app import SessionHandle
from router.fix_codec import FixMessage

__all__ = ["EchoApp"]

# FIX 4.4 StandardHeader and StandardTrailer tags: the echo gets our header, not the sender's.
HEADER_TRAILER_TAGS = frozenset((
    8, 9, 35, 49, 56, 115, 128, 90, 91, 34, 50, 142, 57, 143, 116, 144, 129, 145, 43, 97, 52, 122,
    212, 213, 347, 369, 627, 628, 629, 630, 93, 89, 10,
))


class EchoApp:
    def __init__(self) -> None:
        self.seen: dict[str, set[bytes]] = {}
        self.dropped_possresend = 0

    def on_logon(self, handle: SessionHandle) -> None:
        self.seen.setdefault(handle.session_id, set())

    def on_logout(self, handle: SessionHandle) -> None:
        pass

    def on_message(self, handle: SessionHandle, msg: FixMessage) -> None:
        if msg.msg_type == b"D":
            seen = self.seen.get(handle.session_id)
            if seen is None:
                seen = self.seen[handle.session_id] = set()
            clordid = msg.get(11)
            if clordid in seen and msg.get(97) == b"Y":
                self.dropped_possresend += 1
                return
            seen.add(clordid)
            skip = HEADER_TRAILER_TAGS
            handle.send(b"D", [f for f in msg.fields if f[0] not in skip])
            return
        handle.send(b"j", [(45, msg.get(34) or b"0"), (372, msg.msg_type), (380, 3),
                           (58, "Unsupported Message Type")])
