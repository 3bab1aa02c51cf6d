"""Logon and Logout handling of the FIX session state machine.

A mixin of `router.fix.session.Session`: a Logon is checked (tags, dictionary, HeartBtInt range,
SendingTime), answered, and may reset sequence numbers (ResetSeqNumFlag, or the session's
reset-on-logon setting); a Logon while logged on is either an in-session reset or the end of the
session; a refused Logon gets a Logout with the reason (never a Reject: the counterparty is not
logged on). A counterparty's Logout is answered (or completes ours) and ends the connection.
Not its job: which session a Logon belongs to or whether its credentials are good (the gateway
admits logons), timers (`Session.tick`), or gap handling after the Logon (`router.fix.recovery`).
"""
from __future__ import annotations

from router.fix.admin_messages import REJECT_TEXT
from router.fix.codec import FixMessage, parse_utc_timestamp
from router.fix.recovery import EVENT, LOGGED_ON, SessionState

_S = 1_000_000_000


class LogonHandling:
    """Logon admission, in-session reset and Logout; mixed into `Session`."""

    def _on_logon(self, msg: FixMessage, queued: bool) -> None:
        store = self.store
        reset = msg.get(141) == b"Y"
        if self.logged_on:
            if queued:
                self._incr_target()
                return
            if not reset:
                self._send_logout("Logon received while already logged on")
                self._disconnect("Logon received while already logged on")
                return
            if not self._validated(msg):
                return
            self._out.append((EVENT, "Logon with ResetSeqNumFlag=Y: sequence numbers reset to 1"))
            store.reset(self._now)
            self._send_admin(b"A", [(98, 0), (108, self.heartbeat_ns // _S), (141, b"Y")])
            self._after_logon_seq(msg, reset=True)
            return
        if msg.bad_tag is not None:
            self._refuse(f"Invalid Logon: {REJECT_TEXT[0]}")
            return
        if self._validate is not None:
            inv = self._validate(msg)
            if inv is not None:
                text = inv.text or REJECT_TEXT.get(int(inv.reason), "Invalid Logon")
                self._refuse(f"Invalid Logon: {text}")
                return
        hb = msg.get_int(108)
        if hb is None or hb < 0 or hb > self.max_heartbeat_s:
            self._refuse(f"HeartBtInt must be 0..{self.max_heartbeat_s}")
            return
        sending = parse_utc_timestamp(msg.get(52) or b"")
        if sending is None or abs(self._now - sending) > self.tolerance_ns:
            self._refuse("SendingTime accuracy problem")
            return
        if reset:
            self._out.append((EVENT, "Logon contains ResetSeqNumFlag=Y, resetting sequence numbers to 1"))
            store.reset(self._now)
        elif self.reset_on_logon:
            store.reset(self._now)
        seq = msg.seq_num
        if seq < store.next_target_seq:
            text = f"MsgSeqNum too low, expecting {store.next_target_seq} but received {seq}"
            self._refuse(text)
            return
        self.heartbeat_ns = hb * _S
        body: list = [(98, 0), (108, hb)]
        if reset:
            body.append((141, b"Y"))
        self._send_admin(b"A", body)
        self.logged_on = True
        self.state = SessionState.LOGGED_ON
        self.test_requests = 0
        self._after_logon_seq(msg, reset)
        self.announced = True
        self._out.append((LOGGED_ON,))

    def _after_logon_seq(self, msg: FixMessage, reset: bool) -> None:
        seq = msg.seq_num
        expected = self.store.next_target_seq
        if seq > expected:
            self._too_high(msg)
        else:
            self._incr_target()

    def _refuse(self, text: str) -> None:
        # The counterparty is not logged on, so a Reject is not allowed: explain in a Logout and go.
        self._send_logout(text)
        self._disconnect(text)

    def _on_logout(self, msg: FixMessage) -> None:
        if self.logout_sent_at is None:
            self._send_logout(None)
            self._out.append((EVENT, "Received logout request, sent logout response"))
        else:
            self._out.append((EVENT, "Received logout response"))
        if msg.seq_num == self.store.next_target_seq:
            self._incr_target()
        self._disconnect("logout")
