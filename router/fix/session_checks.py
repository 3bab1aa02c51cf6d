"""Inbound checks of the FIX session state machine, and the Rejects they answer with.

A mixin of `router.fix.session.Session`: every message after the Logon passes `_validated` (a tag
that is no tag number, then the dictionary's verdict from `router.fix.validate`) and `_checks`
(CompIDs, SendingTime within the tolerance, PossDup with OrigSendingTime), and a failure becomes a
session Reject (35=3) or, for an unsupported application MsgType, a BusinessMessageReject (35=j),
consuming the MsgSeqNum as QuickFIX does; CompID and SendingTime problems also send a Logout.
Not its job: which messages are checked when (`Session._next`), sequence numbers beyond consuming a
rejected one (`router.fix.recovery`), Logon admission (`router.fix.session_logon`), or what the
dictionary requires (`router.fix.validate`). It adds no state besides the SendingTime cache.
"""
from __future__ import annotations

from router.fix.admin_messages import FIX44_APP_MSG_TYPES, REJECT_TEXT, business_reject_body, reject_body
from router.fix.codec import FixMessage, parse_utc_timestamp
from router.fix.recovery import EVENT, REJECTED
from router.fix.validate import SessionRejectReason

# SenderCompID, TargetCompID, SendingTime, PossDupFlag: what `_checks` reads of every message.
_CHECKED = (b"49", b"56", b"52", b"43")


class InboundChecks:
    """Validation, CompID/SendingTime/PossDup checks and Rejects; mixed into `Session`."""

    def _validated(self, msg: FixMessage) -> bool:
        bad = msg.bad_tag
        if bad is not None:
            # Checked here, not only by the dictionary: a session without one rejects it too.
            self._out.append((EVENT, f"message {msg.seq_num} invalid: tag {bad[:20]!r} is not a valid tag number"))
            self._reject(msg, 0, msg.bad_tag_number, REJECT_TEXT[0])  # type: ignore[attr-defined]
            return False
        if self._validate is None:
            return True
        inv = self._validate(msg)
        if inv is None:
            return True
        reason = int(inv.reason)
        mt = msg.msg_type
        if inv.text:
            self._out.append((EVENT, f"message {msg.seq_num} invalid: {inv.text}"))
        if reason == 11:
            if mt in FIX44_APP_MSG_TYPES:
                self._business_reject(msg, 3, "Unsupported Message Type")
            else:
                self._reject(msg, 11, None, REJECT_TEXT[11])
        else:
            # Text carries the standard wording, as QuickFIX does; the detail went to the log.
            self._reject(msg, reason, inv.ref_tag, REJECT_TEXT.get(reason, "Invalid message"))
        return False

    def _checks(self, msg: FixMessage) -> bool:
        """CompID, SendingTime and PossDup checks shared by every message after the Logon."""
        # Every inbound message passes here: its four fields in one read, by position in its shape
        # (no index of every field built; `router.fix.picks`).
        sender, target, raw_time, poss_dup = msg.pick(_CHECKED)
        if sender != self.target or target != self.sender:
            self._reject(msg, 9, None, "CompID problem")
            self._send_logout("CompID problem")
            return False
        raw_time = raw_time or b""
        if raw_time[:17] == self._time_key:
            # Same second as the previous message: the tolerance is far coarser than a second,
            # so the cached whole-second value decides (the full parse is only for PossDup below).
            sending = self._time_val
        else:
            sending = parse_utc_timestamp(raw_time)
            if sending is None:
                self._reject(msg, 1 if not msg.has(52) else 6, 52,
                             REJECT_TEXT[1] if not msg.has(52) else REJECT_TEXT[6])
                return False
            self._time_key = raw_time[:17]
            self._time_val = sending
        if abs(self._now - sending) > self.tolerance_ns:
            self._reject(msg, 10, None, "SendingTime accuracy problem")  # no RefTagID, as QuickFIX
            self._send_logout("SendingTime accuracy problem")
            return False
        if poss_dup == b"Y" and msg.msg_type != b"4":
            orig_raw = msg.get(122)
            if orig_raw is None:
                self._reject(msg, 1, 122, "Required tag missing")
                return False
            orig = parse_utc_timestamp(orig_raw)
            if orig is None:
                self._reject(msg, 6, 122, "Incorrect data format for value")
                return False
            sending = parse_utc_timestamp(raw_time) or sending
            if orig > sending:
                self._reject(msg, 10, 122, "SendingTime accuracy problem")
                self._send_logout("SendingTime accuracy problem")
                return False
        return True

    def _reject(self, msg: FixMessage, reason: int, ref_tag: int | None, text: str) -> None:
        self._consume_rejected(msg)
        self._send_admin(b"3", reject_body(msg, reason, ref_tag, text))
        self._out.append((REJECTED, SessionRejectReason(reason)))
        self._out.append((EVENT, f"Message {msg.seq_num} rejected: {text}" + (f" (tag {ref_tag})" if ref_tag else "")))

    def _business_reject(self, msg: FixMessage, reason: int, text: str) -> None:
        self._consume_rejected(msg)
        self._send_admin(b"j", business_reject_body(msg, reason, text))
        self._out.append((REJECTED, "business_reject"))

    def _consume_rejected(self, msg: FixMessage) -> None:
        # A rejected message still used up its sequence number (except Logon and SequenceReset,
        # whose numbers are handled by their own rules).
        if msg.msg_type not in (b"A", b"4") and msg.seq_num == self.store.next_target_seq:
            self._incr_target()

