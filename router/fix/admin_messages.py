"""Builders for the session layer's own messages: Reject and BusinessMessageReject bodies, gap fills,
PossDup copies of stored messages for a resend, and the Logout that refuses a Logon.

Pure functions over bytes; `router.fix.session` decides when to send them.  Also holds the message-type
sets and the standard SessionRejectReason texts those decisions use.

Not its job: sequence numbers, the store, or when anything is sent.
"""
from __future__ import annotations

from router.fix.codec import FixMessage, FrameDecoder, Garbled, encode, utc_timestamp

__all__ = [
    "ADMIN_MSG_TYPES", "FIX44_APP_MSG_TYPES", "REJECT_TEXT", "reject_body", "business_reject_body",
    "gap_fill", "possdup_copy", "replay", "refusal_logout",
]

ADMIN_MSG_TYPES = frozenset((b"0", b"1", b"2", b"3", b"4", b"5", b"A"))

# Application message types that FIX 4.4 defines.  An application message the dictionary does not
# know gets a BusinessMessageReject when FIX defines the type (QuickFIX's UnsupportedMessageType with
# the full FIX 4.4 dictionary) and a session Reject "Invalid MsgType" otherwise.
FIX44_APP_MSG_TYPES = frozenset(
    t.encode() for t in (
        "6 7 8 9 B C D E F G H J K L M N P Q R S T V W X Y Z a b c d e f g h i j k l m n o p q r s t "
        "u v w x y z AA AB AC AD AE AF AG AH AI AJ AK AL AM AN AO AP AQ AR AS AT AU AV AW AX AY AZ "
        "BA BB BC BD BE BF BG BH"
    ).split()
)

# Text(58) of a session Reject, per SessionRejectReason(373): QuickFIX's wording, which counterparties
# certified against QuickFIX recognise (the validator's detailed text goes to our log instead).
REJECT_TEXT = {
    0: "Invalid tag number", 1: "Required tag missing", 2: "Tag not defined for this message type",
    3: "Undefined Tag", 4: "Tag specified without a value", 5: "Value is incorrect (out of range) for this tag",
    6: "Incorrect data format for value", 9: "CompID problem", 10: "SendingTime accuracy problem",
    11: "Invalid MsgType", 13: "Tag appears more than once", 14: "Tag specified out of required order",
    15: "Repeating group fields out of order", 16: "Incorrect NumInGroup count for repeating group",
    99: "Other",
}

_HEADER_COUNT = 7  # 8, 9, 35, 49, 56, 34, 52: what encode() writes before any extra header


def reject_body(msg: FixMessage, reason: int, ref_tag: int | None, text: str) -> list:
    """Reject(3): RefSeqNum, RefTagID (when known), RefMsgType, SessionRejectReason, Text."""
    body: list = []
    if msg.has(34):
        body.append((45, msg.get(34)))
    if ref_tag:
        body.append((371, ref_tag))
    if msg.msg_type:
        body.append((372, msg.msg_type))
    body.append((373, reason))
    body.append((58, text))
    return body


def business_reject_body(msg: FixMessage, reason: int, text: str) -> list:
    """BusinessMessageReject(j): RefSeqNum, RefMsgType, BusinessRejectReason, Text."""
    body: list = []
    if msg.has(34):
        body.append((45, msg.get(34)))
    body += [(372, msg.msg_type), (380, reason), (58, text)]
    return body


def gap_fill(sender: bytes, target: bytes, seq: int, new_seq: int, now_ts: bytes, begin: bytes) -> bytes:
    """SequenceReset-GapFill sent in place of messages seq..new_seq-1 during a resend."""
    return encode(b"4", sender, target, seq, now_ts, [(123, b"Y"), (36, new_seq)],
                  begin=begin, extra_header=[(43, b"Y"), (122, now_ts)])


def possdup_copy(frame: bytes, sender: bytes, target: bytes, now_ts: bytes, begin: bytes) -> tuple[bytes, bytes] | None:
    """A stored application message re-stamped for resend: same MsgSeqNum and body, new SendingTime,
    PossDupFlag=Y and OrigSendingTime = the original SendingTime.  None if the frame is unreadable."""
    parsed = FrameDecoder(len(frame) + 16).feed(frame)
    if len(parsed) != 1 or parsed[0].__class__ is Garbled:
        return None
    m = parsed[0]
    body = m.fields[_HEADER_COUNT:-1]
    orig = m.get(52) or now_ts
    resent = encode(m.msg_type, sender, target, m.seq_num, now_ts, body, begin=begin,
                    extra_header=[(43, b"Y"), (122, orig)])
    return resent, m.msg_type


def replay(stored: list[tuple[int, bytes]], begin: int, end: int, sender: bytes, target: bytes,
           now_ts: bytes, begin_string: bytes) -> tuple[list[tuple[bytes, bytes]], list[int]]:
    """Answer to a ResendRequest for begin..end (both inclusive, end already clipped): the stored
    application messages as PossDup copies, every other number covered by a gap fill.  Returns the
    frames in order as (frame, msg_type) and the numbers of stored frames that could not be read
    (those are gap-filled rather than sent corrupt)."""
    out: list[tuple[bytes, bytes]] = []
    unreadable: list[int] = []
    current = begin
    for seq, frame in stored:
        copy = possdup_copy(frame, sender, target, now_ts, begin_string)
        if copy is None:
            unreadable.append(seq)
            continue
        if seq > current:
            out.append((gap_fill(sender, target, current, seq, now_ts, begin_string), b"4"))
        out.append(copy)
        current = seq + 1
    if current <= end:
        out.append((gap_fill(sender, target, current, end + 1, now_ts, begin_string), b"4"))
    return out, unreadable


def refusal_logout(logon: FixMessage, our_comp_id: bytes, text: str, now: int, begin: bytes = b"FIX.4.4") -> bytes:
    """The Logout that refuses a Logon without touching any session's state (unknown CompID,
    bad credentials, already logged on elsewhere, outside the schedule).  MsgSeqNum 1: no session
    sequence is consumed, so a refused attempt cannot disturb the real session."""
    their = logon.get(49) or b"UNKNOWN"
    return encode(b"5", our_comp_id, their, 1, utc_timestamp(now), [(58, text)], begin=begin)
