"""Sequence recovery for the FIX session state machine: gaps, SequenceReset and ResendRequest.

A mixin of `router.fix.session.Session`: a too-high MsgSeqNum queues the message and asks for a
resend once; a too-low one ends the session unless it is a PossDup; SequenceReset (reset and gap
fill) moves the expected number forward only; a counterparty's ResendRequest is answered from the
message store with PossDup copies of application messages and gap fills for everything else.
It uses the session's own state and outbound helpers and adds none; no sockets, no clock.
"""
from __future__ import annotations

from enum import IntEnum

from router.fix.admin_messages import REJECT_TEXT, replay
from router.fix.codec import FixMessage, utc_timestamp

# The session's action tags (documented in router.fix.session, which re-exports them).
SEND, DELIVER, LOGGED_ON, DISCONNECT, EVENT, REJECTED, RESEND_REQUESTED, RESEND_SERVED = range(8)


class SessionState(IntEnum):
    """Where a session is (here, not in router.fix.session, so that its mixins can name the states)."""
    DISCONNECTED = 0
    AWAIT_LOGON = 1
    LOGGED_ON = 2
    LOGOUT_SENT = 3

# A counterparty that keeps sending past a gap it never fills must not grow our memory without bound.
MAX_QUEUED = 10_000


class SequenceRecovery:
    """Gap detection and resend handling; mixed into `Session`, which provides store, queue and senders."""

    def _too_high(self, msg: FixMessage) -> None:
        seq = msg.seq_num
        expected = self.store.next_target_seq
        if len(self.queue) >= MAX_QUEUED:
            self._send_logout("Too many messages queued behind a sequence gap")
            self._disconnect("queue limit reached")
            return
        self.queue[seq] = msg
        self._out.append((EVENT, f"MsgSeqNum too high, expecting {expected} but received {seq}"))
        rr = self.resend_range
        if rr is not None and seq >= rr[0]:
            return
        self.resend_range = (expected, seq - 1)
        self._send_admin(b"2", [(7, expected), (16, 0)])
        self._out.append((RESEND_REQUESTED, expected, seq - 1))

    def _too_low(self, msg: FixMessage) -> None:
        seq = msg.seq_num
        if msg.get(43) == b"Y":
            # A duplicate of something already processed: check it is a sane resend, then ignore it.
            if msg.msg_type != b"4" and self._validated(msg):
                self._checks(msg)
            return
        text = f"MsgSeqNum too low, expecting {self.store.next_target_seq} but received {seq}"
        self._send_logout(text)
        self._disconnect(text)

    def _on_sequence_reset(self, msg: FixMessage) -> None:
        """SequenceReset-Reset: MsgSeqNum is ignored, NewSeqNo may only move forward."""
        if not self._validated(msg) or not self._checks(msg):
            return
        new = msg.get_int(36)
        expected = self.store.next_target_seq
        if new is None:
            self._reject(msg, 1, 36, "Required tag missing")
        elif new > expected:
            self._out.append((EVENT, f"SequenceReset from {expected} to {new}"))
            self._set_target(new)
        elif new < expected:
            self._reject(msg, 5, None, REJECT_TEXT[5])  # no RefTagID, as QuickFIX

    def _on_gap_fill(self, msg: FixMessage) -> None:
        new = msg.get_int(36)
        expected = self.store.next_target_seq
        if new is None:
            self._reject(msg, 1, 36, "Required tag missing")
        elif new > expected:
            self._set_target(new)
        elif new < expected:
            self._reject(msg, 5, None, REJECT_TEXT[5])  # no RefTagID, as QuickFIX

    def _serve_resend(self, msg: FixMessage) -> None:
        begin = msg.get_int(7) or 0
        end = msg.get_int(16) or 0
        next_out = self.store.next_sender_seq
        last = next_out - 1
        if end == 0 or end > last:
            end = last
        begin = max(begin, 1)
        self._out.append((RESEND_SERVED, begin, end))
        if begin > end:
            self._out.append((EVENT, f"ResendRequest for {begin}..{msg.get(16)!r}: nothing sent yet in that range"))
            return
        frames, unreadable = replay(self.store.get_range(begin, end), begin, end, self.sender, self.target,
                                    utc_timestamp(self._now), self.begin)
        for seq in unreadable:
            self._out.append((EVENT, f"stored message {seq} unreadable; gap-filled instead"))
        out = self._out
        for frame, msg_type in frames:
            out.append((SEND, frame, msg_type))
        self.last_sent = self._now
