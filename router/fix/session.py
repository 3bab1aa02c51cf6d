"""FIX 4.4 session layer as a pure state machine: (event, time) in, actions out.

One `Session` per configured counterparty, acceptor side.  The host (the gateway) feeds it decoded
frames (`receive`), clock ticks (`tick`), application sends (`send_app`) and connection events, and
carries out the actions it returns, in order:

    (SEND, frame, msg_type)        write these bytes
    (DELIVER, msg)                 hand an application message to the Application
    (LOGGED_ON,)                   the Logon handshake completed
    (DISCONNECT, reason)           close the connection (after writing what came before)
    (EVENT, text)                  something worth a log line (never emitted per normal message)
    (REJECTED, reason)             a session Reject was sent (a SessionRejectReason, an IntEnum whose
                                   `label` names the metric) or "business_reject" for a 35=j
    (RESEND_REQUESTED, begin, end) we asked the counterparty to resend
    (RESEND_SERVED, begin, end)    we answered the counterparty's ResendRequest

Behaviour follows the FIX session test cases; where they leave freedom it follows QuickFIX:
validation failures are Rejects that consume the MsgSeqNum, a too-high MsgSeqNum queues the message
and sends one ResendRequest (EndSeqNo 0), a too-low one without PossDupFlag ends the session with a
Logout, CompID and SendingTime problems are a Reject followed by a Logout, resends replay stored
application messages with PossDupFlag and OrigSendingTime and gap-fill everything else, the heartbeat
timer sends a TestRequest after 1.2 intervals of silence and after 2.4 sends a Logout with the
reason and disconnects.

Not its job: sockets, timers, logging, the clock, choosing which session a Logon belongs to or
whether its credentials are good (the gateway admits logons; `admin_messages.refusal_logout` builds the
answer to a refused one), or validating fields against the dictionary (`router.fix.validate` does that).
The pieces: this module holds the state, the entry points, the per-message dispatch and the outbound
helpers; `session_logon` the Logon/Logout handling, `session_checks` the inbound checks and Rejects,
`recovery` the sequence gaps and resends (mixins sharing the session's state).
"""
from __future__ import annotations

from typing import Any, Callable

from router.fix.admin_messages import ADMIN_MSG_TYPES
from router.fix.codec import FixMessage, Garbled, encode, utc_timestamp
from router.fix.encoding import SessionHeader, WireBody
from router.fix.onbehalf import on_behalf_problem
from router.fix.session_checks import InboundChecks
from router.fix.session_logon import LogonHandling

__all__ = [
    "Session", "SessionState", "SEND", "DELIVER", "LOGGED_ON", "DISCONNECT", "EVENT", "REJECTED",
    "RESEND_REQUESTED", "RESEND_SERVED",
]

from router.fix.recovery import (  # noqa: F401  (the action tags and states are this module's API)
    DELIVER, DISCONNECT, EVENT, LOGGED_ON, MAX_QUEUED, REJECTED, RESEND_REQUESTED, RESEND_SERVED, SEND,
    SequenceRecovery, SessionState,
)

_S = 1_000_000_000


class Session(LogonHandling, InboundChecks, SequenceRecovery):
    """Acceptor-side FIX session for one (our SenderCompID, their SenderCompID) pair."""

    def __init__(
        self,
        sender_comp_id: str,
        target_comp_id: str,
        store: Any,
        validate: Callable[[FixMessage], Any] | None = None,
        *,
        max_heartbeat_s: int = 30,
        sending_time_tolerance_s: int = 120,
        logout_timeout_s: int = 2,
        reset_on_logon: bool = False,
        begin_string: bytes = b"FIX.4.4",
        on_behalf_of: frozenset[bytes] | None = None,
    ) -> None:
        self.sender = sender_comp_id.encode()
        self.target = target_comp_id.encode()
        self.session_id = target_comp_id
        self.store = store
        self._validate = validate
        self.max_heartbeat_s = max_heartbeat_s
        self.tolerance_ns = sending_time_tolerance_s * _S
        self.logout_timeout_ns = logout_timeout_s * _S
        self.reset_on_logon = reset_on_logon
        # OnBehalfOfCompID(115) values this counterparty may use (None: not checked)
        self.on_behalf_of = on_behalf_of
        self.begin = begin_string
        self._begin_field = b"8=" + begin_string + b"\x01"
        self._header = SessionHeader(begin_string, self.sender, self.target)
        self.state = SessionState.DISCONNECTED
        self.logged_on = False
        self.announced = False  # LOGGED_ON was emitted and the matching disconnect not yet seen
        self.heartbeat_ns = 0
        self.last_sent = 0
        self.last_recv = 0
        self.test_requests = 0
        self.logout_sent_at: int | None = None
        self.resend_range: tuple[int, int] | None = None
        self.queue: dict[int, FixMessage] = {}
        self._out: list = []
        self._now = 0
        self._time_key = b""
        self._time_val = 0

    # ------------------------------------------------------------------ connection lifecycle
    def connect(self, now: int) -> None:
        """A transport was bound to this session and its Logon is about to be processed."""
        self.state = SessionState.AWAIT_LOGON
        self.logged_on = False
        self.queue.clear()
        self.resend_range = None
        self.test_requests = 0
        self.logout_sent_at = None
        self.last_sent = self.last_recv = now

    def disconnected(self) -> bool:
        """The transport is gone; True if the session had been logged on (the app's on_logout)."""
        was = self.announced
        self.announced = False
        self.state = SessionState.DISCONNECTED
        self.logged_on = False
        self.queue.clear()
        self.resend_range = None
        self.logout_sent_at = None
        self.store.flush()
        return was

    def test_request(self, test_req_id: bytes, now: int) -> list:
        """Send a TestRequest now, whatever the heartbeat timer says (a Logon for this session came in on
        another connection: is this one still alive?). Nothing when not logged on."""
        out = self._out = []
        self._now = now
        if self.logged_on:
            self._send_admin(b"1", [(112, test_req_id)])
        return out

    # ------------------------------------------------------------------ events in
    def receive(self, msg: FixMessage | Garbled, now: int) -> list:
        out = self._out = []
        self._now = now
        if msg.__class__ is Garbled:
            # Session rules: a garbled message is ignored without consuming its sequence number.
            out.append((EVENT, f"garbled message ignored: {msg.reason}"))
            return out
        if self.state is SessionState.DISCONNECTED:
            return out
        self.last_recv = now
        self.test_requests = 0
        self._next(msg, False)
        if self.queue and self.state is not SessionState.DISCONNECTED:
            self._next_queued()
        rr = self.resend_range
        if rr is not None and self.store.next_target_seq > rr[1]:
            # Whatever filled the gap (resends, gap fills, rejected resends), it is filled.
            self.resend_range = None
            out.append((EVENT, f"ResendRequest {rr[0]}..{rr[1]} satisfied"))
        return out

    def tick(self, now: int) -> list:
        """Heartbeat, TestRequest and logout timers; the host calls it about once a second."""
        out = self._out = []
        self._now = now
        if not self.logged_on:
            return out
        if self.logout_sent_at is not None and now - self.logout_sent_at >= self.logout_timeout_ns:
            self._disconnect("Timed out waiting for logout response")
            return out
        hb = self.heartbeat_ns
        if hb == 0:
            return out
        since_recv = now - self.last_recv
        if since_recv >= hb * 12 // 5:
            # The counterparty may still be reading: tell it why before closing (FIX test case 6 allows it).
            self._send_logout("Timed out waiting for heartbeat")
            self._disconnect("Timed out waiting for heartbeat")
        elif since_recv >= hb * 6 * (self.test_requests + 1) // 5:
            self._send_admin(b"1", [(112, b"TEST")])
            self.test_requests += 1
            out.append((EVENT, "Sent test request TEST"))
        elif now - self.last_sent >= hb and self.test_requests == 0:
            self._send_admin(b"0", [])
        return out

    def send_app(self, msg_type: bytes, body: list, now: int, route: tuple = (),
                 stamp: bytes | None = None) -> bytes | None:
        """Stamp, store and return an application message; None when not logged on (it stays
        stored, so the counterparty gets it by resend after its next Logon). `route`: header fields
        such as DeliverToCompID(128) (router.fix.onbehalf). `stamp`: `now` as a UTCTimestamp, when
        the caller formatted it once for a whole batch (`router.fix.slot.send_batch`)."""
        store = self.store
        seq = store.next_sender_seq
        if stamp is None:
            stamp = utc_timestamp(now)
        if body.__class__ is WireBody and not route:
            # The order flow's reports and their drop copies: the header template's one call
            # (benchmarks/README.md, "The FIX layers, measured alone").
            frame = self._header.frame(msg_type, seq, stamp, body.wire)
        else:
            frame = encode(msg_type, self.sender, self.target, seq, stamp, body, begin=self.begin,
                           extra_header=route)
        store.save_sent(seq, frame)
        if self.logged_on:
            self.last_sent = now
            return frame
        return None

    def logout(self, text: str, now: int) -> list:
        """Start a logout handshake (shutdown, end of the schedule, an operator)."""
        out = self._out = []
        self._now = now
        if self.logged_on and self.logout_sent_at is None:
            self._send_logout(text)
        return out

    # ------------------------------------------------------------------ inbound processing
    def _next(self, msg: FixMessage, queued: bool) -> None:
        mt = msg.msg_type
        if not msg.raw.startswith(self._begin_field) and msg.get(8) != self.begin:
            if mt == b"5":
                self._on_logout(msg)
                return
            self._out.append((EVENT, f"Incorrect BeginString {msg.get(8)!r}"))
            if msg.seq_num == self.store.next_target_seq:
                self._incr_target()
            if self.logged_on:
                self._send_logout("Incorrect BeginString")
            else:
                self._disconnect("Incorrect BeginString")
            return
        if mt == b"A":
            self._on_logon(msg, queued)
            return
        if not self.logged_on:
            self._disconnect("first message is not a Logon")
            return

        if mt == b"2":
            # Served before any sequence check: both sides waiting on each other's gap must not deadlock.
            if not self._validated(msg) or not self._checks(msg):
                return
            self._serve_resend(msg)
            seq = msg.seq_num
            expected = self.store.next_target_seq
            if seq == expected:
                self._incr_target()
            elif seq > expected and not queued:
                self._too_high(msg)
            return
        if mt == b"5":
            self._on_logout(msg)
            return
        if mt == b"4" and msg.get(123) != b"Y":
            self._on_sequence_reset(msg)
            return

        seq = msg.seq_num
        expected = self.store.next_target_seq
        if seq != expected:
            if seq > expected:
                self._too_high(msg)
            else:
                self._too_low(msg)
            return
        if not self._validated(msg) or not self._checks(msg):
            return
        if mt in ADMIN_MSG_TYPES:
            if mt == b"0":
                self._incr_target()
            elif mt == b"1":
                self._send_admin(b"0", [(112, msg.get(112) or b"")])
                self._incr_target()
            elif mt == b"4":
                self._on_gap_fill(msg)
            else:  # Reject
                self._out.append((EVENT, f"Reject received for MsgSeqNum {msg.get(45)!r}: {msg.get(58)!r}"))
                self._incr_target()
            return
        shape = msg.shape       # a compiled shape knows whether its messages carry 115
        if self.on_behalf_of is not None and (shape.on_behalf if shape is not None else b"\x01115=" in msg.raw):
            problem = on_behalf_problem(msg, self.on_behalf_of, self.session_id)
            if problem is not None:
                self._reject(msg, 5, 115, problem)
                return
        self._incr_target()
        self._out.append((DELIVER, msg))

    def _next_queued(self) -> None:
        queue = self.queue
        while queue and self.state is not SessionState.DISCONNECTED:
            expected = self.store.next_target_seq
            for stale in [s for s in queue if s < expected]:
                del queue[stale]
            msg = queue.pop(expected, None)
            if msg is None:
                return
            if msg.msg_type in (b"A", b"2"):
                # Already acted on when it arrived; only its sequence number is still owed.
                self._incr_target()
            else:
                self._next(msg, True)

    # ------------------------------------------------------------------ outbound helpers
    def _send_admin(self, msg_type: bytes, body: list, extra: list | tuple = ()) -> None:
        store = self.store
        seq = store.next_sender_seq
        frame = encode(msg_type, self.sender, self.target, seq, utc_timestamp(self._now), body,
                       begin=self.begin, extra_header=extra)
        store.set_next_sender_seq(seq + 1)
        self.last_sent = self._now
        self._out.append((SEND, frame, msg_type))

    def _send_logout(self, text: str | None) -> None:
        self._send_admin(b"5", [(58, text)] if text else [])
        if self.logout_sent_at is None:
            self.logout_sent_at = self._now
        if self.state is SessionState.LOGGED_ON:
            self.state = SessionState.LOGOUT_SENT

    def _incr_target(self) -> None:
        store = self.store
        store.set_next_target_seq(store.next_target_seq + 1)

    def _set_target(self, seq: int) -> None:
        self.store.set_next_target_seq(seq)

    def _disconnect(self, reason: str) -> None:
        self._out.append((DISCONNECT, reason))
        self.state = SessionState.DISCONNECTED
        self.logged_on = False

