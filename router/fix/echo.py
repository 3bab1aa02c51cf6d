"""The `echo` application, as FIX engines ship for their acceptance suites.

NewOrderSingle(D): echoed back to its sender, body unchanged, under the gateway's header.  A
NewOrderSingle with PossResend(97)=Y whose ClOrdID(11) this session already saw is dropped silently
(the counterparty is re-sending something we acted on); the ClOrdIDs seen are forgotten when the
session's sequence numbers reset (`SessionHandle.sequence_epoch` changes).  Any other application message type is
answered with BusinessMessageReject(j) BusinessRejectReason(380)=3 "Unsupported Message Type".

Not its job: validation (the session layer did it), orders, or remembering across restarts.
"""
from __future__ import annotations

from router.fix.app import SessionHandle
from router.fix.codec import FixMessage

__all__ = ["EchoApp"]

# FIX 4.4 StandardHeader and StandardTrailer tags: the echo gets our header, not the sender's.
HEADER_TRAILER_TAGS = frozenset((
    8, 9, 35, 49, 56, 115, 128, 90, 91, 34, 50, 142, 57, 143, 116, 144, 129, 145, 43, 97, 52, 122,
    212, 213, 347, 369, 627, 628, 629, 630, 93, 89, 10,
))


_HEADER_TEXT = frozenset(b"%d" % t for t in HEADER_TRAILER_TAGS if t not in (93, 89, 10))
# Length fields of header data fields, whose values may hold SOH: such a header needs the real parser.
_HEADER_DATA_LENGTHS = frozenset((b"90", b"212"))


def _raw_body(msg: FixMessage) -> list | None:
    """The body as one pre-encoded field, cut from the frame without splitting it into fields.

    The echo is the benchmark target, and splitting every field only to re-join them costs more
    than the rest of the round trip.  `encode` writes a field as tag, "=", value; a value that runs
    on to the end of the body therefore reproduces the body byte for byte.  None when the frame has
    something this shortcut does not handle (header data fields, a signature in the trailer).
    """
    raw = msg.raw
    if b"\x0193=" in raw:
        return None
    pos = raw.find(b"\x0135=") + 1
    end = raw.rfind(b"\x0110=") + 1
    while pos < end:
        eq = raw.find(b"=", pos)
        tag = raw[pos:eq]
        if tag not in _HEADER_TEXT:
            break
        if tag in _HEADER_DATA_LENGTHS:
            return None
        pos = raw.find(b"\x01", eq) + 1
    if pos >= end:
        return []
    eq = raw.find(b"=", pos)
    return [(int(raw[pos:eq]), raw[eq + 1:end - 1])]


class EchoApp:
    def __init__(self) -> None:
        self.seen: dict[str, set[bytes]] = {}
        self._epoch: dict[str, int] = {}  # session -> sequence_epoch its `seen` set belongs to
        self.dropped_possresend = 0

    def _seen_for(self, handle: SessionHandle) -> set[bytes]:
        sid = handle.session_id
        epoch = handle.sequence_epoch
        seen = self.seen.get(sid)
        if seen is None or self._epoch.get(sid) != epoch:
            # New run of sequence numbers: a PossResend can only refer to this run's messages.
            seen = self.seen[sid] = set()
            self._epoch[sid] = epoch
        return seen

    def on_logon(self, handle: SessionHandle) -> None:
        self._seen_for(handle)

    def on_logout(self, handle: SessionHandle) -> None:
        pass

    def on_message(self, handle: SessionHandle, msg: FixMessage) -> None:
        if msg.msg_type == b"D":
            seen = self._seen_for(handle)
            clordid = msg.get(11)
            if clordid in seen and msg.get(97) == b"Y":
                self.dropped_possresend += 1
                return
            seen.add(clordid)
            body = _raw_body(msg)
            if body is None:
                skip = HEADER_TRAILER_TAGS
                body = [f for f in msg.fields if f[0] not in skip]
            handle.send(b"D", body)
            return
        handle.send(b"j", [(45, msg.get(34) or b"0"), (372, msg.msg_type), (380, 3),
                           (58, "Unsupported Message Type")])
