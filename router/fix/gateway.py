"""The FIX acceptor: listening server, session registry, Logon admission, timers, optional TLS.

`start_gateway(config, app)` opens one store and one `Session` per configured session, listens
(TLS when `tls_cert`/`tls_key` are set) and returns the running `Gateway`.  A connection's first
Logon is admitted here: unknown CompIDs and bad credentials all get the same Logout text (the real
reason is logged), and repeated failures lock the client address out for a while
(`LogonThrottle`); a valid Logon for a session already connected elsewhere probes that connection
and replaces it if it is silent (`router.fix.takeover`); a Logon outside the session's schedule
gets a Logout with the reason (built by `refusal_logout`, which
touches no session state) and the connection is closed.  An admitted connection is bound to its
session; from then on frames go to the pure `Session` and its actions are carried out here, in order.
Two optional application hooks: `claim_session` decides whether a Logon may be bound (after the
checks above), and `release_session` is awaited before a Logout's answer goes out
(`router.fix.logout_release`).
A one-second tick drives every connected session's heartbeat and logout timers and its schedule.

Not its job: FIX rules (`session`), framing (`codec`), socket mechanics (`transport`), loading
the dictionaries and the TLS context (`acceptor_setup`), or what application messages mean (the
`Application`).
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import time
from typing import Any, Callable

from router.fix.admin_messages import refusal_logout
from router.fix.app import Application, NullObserver, SessionHandle
from router.fix.busy_poll import BusyPoll
from router.fix.slot import SessionSlot, send_batch
from router.fix.client_certs import peer_subject, subject_text
from router.fix.codec import FixMessage, Garbled
from router.fix.acceptor_setup import load_validator, server_ssl_context, session_validators
from router.fix.config import FixConfig, SessionConfig
from router.fix.credentials import DUMMY_HASH, LogonThrottle, verify_password
from router.fix.session import (
    DELIVER, DISCONNECT, EVENT, LOGGED_ON, REJECTED, RESEND_REQUESTED, RESEND_SERVED, SEND,
    Session,
)
from router.fix.logout_release import RELEASE_WAIT_S, hold_logout_answer
from router.fix.onbehalf import RouteMemory, may_route, reply_route
from router.fix.store import open_store
from router.fix.takeover import Takeovers
from router.fix.transport import FixConnection

log = logging.getLogger("router.fix")

# The one text for every Logon refused over identity (unknown CompID, bad username or password,
# an address locked out): telling them apart would let anyone enumerate CompIDs.
LOGON_REFUSED = "Logon refused: unknown CompID or invalid credentials"

__all__ = ["Gateway", "start_gateway", "load_validator"]


def _nothing() -> None:
    pass


class Gateway:
    """The running acceptor: `port`, `handle(session_id)`, `sessions_view()`, `close()`."""

    busy_poll: BusyPoll | None = None   # set by start_gateway when fix.busy_poll_us > 0

    def __init__(self, config: FixConfig, app: Application, *, observer: Any = None,
                 validator: Callable[[FixMessage], Any] | None = None,
                 validators: dict[str, Callable[[FixMessage], Any]] | None = None) -> None:
        self.config = config
        self.app = app
        self.observer = observer if observer is not None else NullObserver()
        self.validator = validator
        # Optional Application hooks: `commit` before any batch reaches a store or a socket (write-ahead),
        # `after_write` after a connection's socket write (what the answers need not wait for).
        self.before_write = getattr(app, "commit", None) or _nothing
        self.after_write = getattr(app, "after_write", None) or _nothing
        self.sender = config.sender_comp_id.encode()
        self.slots: dict[bytes, SessionSlot] = {}
        self.connections: set[FixConnection] = set()
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.refused_logons = 0
        self.throttle = LogonThrottle(config.logon_failure_limit, config.logon_failure_window_s * 1_000_000_000,
                                      config.logon_lockout_s * 1_000_000_000)
        self._tick_handle: asyncio.TimerHandle | None = None
        self._unflushed: set[Any] = set()       # stores of sessions without a connection, written to
        self._stores_flush_scheduled = False
        self._closing = False
        # A connection is processing a read or committing its batch: its flush (commit, stores) comes next.
        self.reading = False
        self.takeovers = Takeovers(self, config.takeover_probe_ms)
        self.claiming: dict[FixConnection, list] = {}   # Logons waiting for the application's claim_session
        # Optional: the application releases a session before its Logout is answered (router.fix.logout_release).
        self.release_session = getattr(app, "release_session", None)
        self.logout_release_wait_s = RELEASE_WAIT_S
        now = time.time_ns()
        for sc in config.sessions:
            try:
                store = open_store(config.store, config.store_dir, f"{config.sender_comp_id}-{sc.target_comp_id}",
                                   now, fsync=config.fsync)
            except BaseException:
                for slot in self.slots.values():
                    slot.store.close()
                raise
            session = Session(config.sender_comp_id, sc.target_comp_id, store,
                              validators[sc.target_comp_id] if validators else validator,
                              max_heartbeat_s=sc.heartbeat_s,
                              sending_time_tolerance_s=config.sending_time_tolerance_s,
                              logout_timeout_s=config.logout_timeout_s,
                              reset_on_logon=sc.reset_on_logon,
                              on_behalf_of=frozenset(c.encode() for c in sc.on_behalf_of))
            self.slots[sc.target_comp_id.encode()] = SessionSlot(self, sc, session, store)
        self.by_name: dict[str, SessionSlot] = {slot.session_id: slot for slot in self.slots.values()}

    # ---------------------------------------------------------------- stores of unconnected sessions
    def store_written(self, store: Any) -> None:
        """A message went into the store of a session without a connection: flushed at the end of the current
        read's `FixConnection.flush` (nothing scheduled while `reading`) or, outside one, on the next loop turn."""
        self._unflushed.add(store)
        if not self._stores_flush_scheduled and not self.reading:
            self._stores_flush_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self.flush_stores)
            except RuntimeError:        # no event loop (tools, tests): at once
                self.flush_stores()

    def flush_stores(self) -> None:
        self._stores_flush_scheduled = False
        if self._unflushed:
            stores, self._unflushed = self._unflushed, set()
            for store in stores:
                store.flush()

    # ---------------------------------------------------------------- public API
    def handle(self, session_id: str) -> SessionHandle | None:
        """The application's way to a configured session (logged on or not); None if unknown."""
        slot = self.slots.get(session_id.encode())
        return slot.handle if slot is not None else None

    def send_batch(self, outs: list) -> list:
        """Send `(session, msg_type, body)` outputs in order (`slot.send_batch`); the unknown sessions' come back."""
        return send_batch(self, self.by_name, outs)

    def sessions_info(self) -> list[dict]:
        """One dict per configured session, for the admin API and metrics."""
        out = []
        for slot in self.slots.values():
            s = slot.session
            out.append({
                "session_id": slot.session_id,
                "state": s.state.name.lower(),
                "connected": slot.conn is not None,
                "peer": slot.conn.peer if slot.conn is not None else None,
                "next_sender_seq_num": slot.store.next_sender_seq,
                "next_target_seq_num": slot.store.next_target_seq,
                "account": slot.config.account,
                "stored_messages": len(slot.store),
            })
        return out

    sessions_view = sessions_info  # the name the service and the metrics collector use

    async def close(self, timeout: float = 1.0) -> None:
        """Log out every logged-on session, wait up to `timeout` s for the answers, close all."""
        if self._closing:
            return
        self._closing = True
        self.takeovers.close()
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        if self.server is not None:
            self.server.close()
        now = time.time_ns()
        for slot in list(self.slots.values()):
            if slot.conn is not None and slot.session.logged_on:
                self._run(slot, slot.conn, slot.session.logout("Gateway shutting down", now))
                slot.conn.flush()
        waiting = [c.closed for c in self.connections]
        if waiting:
            await asyncio.wait(waiting, timeout=timeout)
        for conn in list(self.connections):
            conn.abort()
        waiting = [c.closed for c in self.connections]
        if waiting:
            await asyncio.wait(waiting, timeout=timeout)
        if self.server is not None:
            await self.server.wait_closed()
        self._unflushed.clear()             # closing flushes every store
        for slot in self.slots.values():
            slot.store.close()

    # ---------------------------------------------------------------- transport callbacks
    def connection_opened(self, conn: FixConnection) -> None:
        if self._closing:
            conn.abort()
            return
        self.connections.add(conn)
        log.info("FIX connection from %s", conn.peer)

    def connection_closed(self, conn: FixConnection, exc: Exception | None) -> None:
        self.connections.discard(conn)
        if self.takeovers.by_session:
            self.takeovers.closed(conn)
        slot = conn.slot
        if slot is None:
            return
        self._detach(slot, conn, conn.close_reason or exc or "peer closed")

    def _detach(self, slot: SessionSlot, conn: FixConnection, reason: Any) -> None:
        """Unbind `conn` from its session (closed, or replaced by a take-over) and tell the application."""
        conn.slot = None
        if slot.conn is conn:
            slot.conn = None
            was_logged_on = slot.session.disconnected()
            self.observer.session_state(slot.session_id, "disconnected")
            log.info("FIX session %s %s from %s (%s)", slot.session_id,
                     "logged out" if was_logged_on else "disconnected", conn.peer, reason)
            if was_logged_on:
                try:
                    self.app.on_logout(slot.handle)
                except Exception:
                    log.exception("application on_logout failed for %s", slot.session_id)

    def on_frame(self, conn: FixConnection, item: FixMessage | Garbled, now: int) -> None:
        slot = conn.slot
        if slot is None:
            if self.claiming and conn in self.claiming:
                self.claiming[conn].append((item, now))
                return
            if not (self.takeovers.by_conn and self.takeovers.parked_frame(conn, item)):
                self._admit(conn, item, now)
            return
        if item.__class__ is not Garbled:
            self.observer.message_in(slot.session_id, item.msg_type)
        self._run(slot, conn, slot.session.receive(item, now))
        if self.takeovers.by_session:
            self.takeovers.old_heard(slot)

    # ---------------------------------------------------------------- internals
    def _run(self, slot: SessionSlot, conn: FixConnection, actions: list) -> None:
        observer = self.observer
        sid = slot.session_id
        for act in actions:
            kind = act[0]
            if kind == SEND:
                conn.write(act[1])
                observer.message_out(sid, act[2])
            elif kind == DELIVER:
                msg = act[1]
                shape = msg.shape
                if shape.routes if shape is not None else may_route(msg.raw):
                    # Replies carry DeliverToCompID(128) = the OnBehalfOfCompID(115) they answer.
                    slot.route = reply_route(msg)
                    if slot.route:
                        if slot.routes is None:
                            slot.routes = RouteMemory()
                        slot.routes.remember(msg, slot.route)
                try:
                    self.app.on_message(slot.handle, msg)
                except Exception:
                    log.exception("application failed on a message from %s", sid)
                finally:
                    slot.route = ()
            elif kind == LOGGED_ON:
                conn.logged_on()
                observer.session_state(sid, "logged_on")
                log.info("FIX session %s logged on from %s", sid, conn.peer)
                try:
                    self.app.on_logon(slot.handle)
                except Exception:
                    log.exception("application on_logon failed for %s", sid)
            elif kind == DISCONNECT:
                log.info("FIX session %s: disconnecting: %s", sid, act[1])
                if act[1] == "logout" and self.release_session is not None:     # a Logout exchange ended it
                    hold_logout_answer(self, slot, conn, actions)
                conn.close(act[1])
            elif kind == EVENT:
                log.info("FIX session %s: %s", sid, act[1])
            elif kind == REJECTED:
                observer.session_reject(sid, act[1])
            elif kind == RESEND_REQUESTED:
                observer.resend_request(sid)
                log.info("FIX session %s: sent ResendRequest %d..%d", sid, act[1], act[2])
            elif kind == RESEND_SERVED:
                log.info("FIX session %s: served ResendRequest %d..%d", sid, act[1], act[2])

    def _refuse(self, conn: FixConnection, logon: FixMessage, reason: str, now: int) -> None:
        self.refused_logons += 1
        log.warning("FIX logon from %s (SenderCompID %r) refused: %s", conn.peer, logon.get(49), reason)
        conn.write(refusal_logout(logon, self.sender, reason, now))
        conn.close(f"logon refused: {reason}")

    def _refuse_identity(self, conn: FixConnection, logon: FixMessage, reason: str, now: int) -> None:
        """Refuse a Logon whose identity did not check out.  The counterparty always gets the same
        text, so unknown CompIDs cannot be told from bad passwords; the real reason is logged here."""
        self.refused_logons += 1
        address = conn.peer.rpartition(":")[0] or conn.peer
        log.info("FIX logon from %s (SenderCompID %r) refused: %s", conn.peer, logon.get(49), reason)
        if self.throttle.failed(address, now):
            log.info("FIX logons from %s locked out for %d s after %d failures", address,
                     self.config.logon_lockout_s, self.config.logon_failure_limit)
        conn.write(refusal_logout(logon, self.sender, LOGON_REFUSED, now))
        conn.close(f"logon refused: {reason}")

    def _admit(self, conn: FixConnection, item: FixMessage | Garbled, now: int) -> None:
        if item.__class__ is Garbled:
            log.warning("FIX connection %s: garbled message ignored before logon: %s", conn.peer, item.reason)
            return
        msg: FixMessage = item  # type: ignore[assignment]
        if msg.msg_type != b"A":
            log.warning("FIX connection %s: first message is %r, not a Logon; closing", conn.peer, msg.msg_type)
            conn.close("first message not a Logon")
            return
        if msg.get(8) != b"FIX.4.4":
            self._refuse(conn, msg, "Incorrect BeginString", now)
            return
        address = conn.peer.rpartition(":")[0] or conn.peer
        if self.throttle.locked(address, now):
            self.refused_logons += 1
            log.info("FIX logon from %s (SenderCompID %r) refused: address locked out after repeated failures",
                     conn.peer, msg.get(49))
            conn.write(refusal_logout(msg, self.sender, LOGON_REFUSED, now))
            conn.close("logon refused: address locked out")
            return
        slot = self.slots.get(msg.get(49) or b"")
        sc = slot.config if slot is not None else None
        if sc is not None and sc.password:
            # Checked before the CompIDs' verdict is acted on, and against a dummy hash when there is
            # no password to check, so a refusal takes as long whichever part was wrong.
            pass_ok = verify_password(sc.password, msg.get(554) or b"")
            user_ok = hmac.compare_digest(msg.get(553) or b"", sc.username.encode())
        else:
            if msg.has(554):
                verify_password(DUMMY_HASH, msg.get(554) or b"")
            pass_ok = user_ok = True
        if msg.get(56) != self.sender:
            self._refuse_identity(conn, msg, f"Unknown TargetCompID {(msg.get(56) or b'').decode('ascii', 'replace')}", now)
            return
        if slot is None or sc is None:
            self._refuse_identity(conn, msg, f"Unknown SenderCompID {(msg.get(49) or b'').decode('ascii', 'replace')}", now)
            return
        if not (user_ok and pass_ok):
            self._refuse_identity(conn, msg, "Invalid username or password", now)
            return
        if sc.tls_client_pairs:
            transport = conn.transport
            subject = peer_subject(transport.get_extra_info("peercert") if transport is not None else None)
            if subject != sc.tls_client_pairs:
                self._refuse_identity(conn, msg, f"TLS client certificate subject {subject_text(subject)} "
                                                 f"does not match {sc.tls_client_subject!r}", now)
                return
        self.throttle.succeeded(address)
        if slot.conn is not None:
            self.takeovers.start(slot, conn, msg, now)
            return
        claim = getattr(self.app, "claim_session", None)
        if claim is not None:       # optional hook: an application that must own the session first
            self.claiming[conn] = []
            asyncio.get_running_loop().create_task(self._claimed(slot, conn, msg, now, claim(slot.session_id)))
            return
        self._bind(slot, conn, msg, now)

    async def _claimed(self, slot: SessionSlot, conn: FixConnection, msg: FixMessage, now: int, claim: Any) -> None:
        """Bind once the application's `claim_session` (a coroutine giving None or a refusal reason) says so;
        frames that came meanwhile follow the Logon."""
        try:
            refusal = await claim
        except Exception as exc:          # the application could not decide: refuse, say why
            refusal = f"session owner unknown ({exc.__class__.__name__})"
        held = self.claiming.pop(conn, [])
        if conn.closing:
            return
        if refusal is None and slot.conn is not None:
            refusal = "session already logged on"
        if refusal is not None:
            self._refuse(conn, msg, refusal, time.time_ns())
            return
        self._bind(slot, conn, msg, time.time_ns())
        for item, at in held:
            self.on_frame(conn, item, at)
        conn.flush()

    def _bind(self, slot: SessionSlot, conn: FixConnection, msg: FixMessage, now: int) -> None:
        """Bind an admitted Logon's connection to its (free) session and let the session answer it."""
        sc = slot.config
        if not sc.schedule.is_open(now):
            self._refuse(conn, msg, "Logon outside of session time", now)
            return
        period = sc.schedule.period_start_ns(now)
        if period is not None and slot.store.creation_ns < period:
            log.info("FIX session %s: new session period, sequence numbers reset", slot.session_id)
            slot.store.reset(now)
        slot.conn = conn
        conn.slot = slot
        slot.session.connect(now)
        self.observer.message_in(slot.session_id, b"A")
        self._run(slot, conn, slot.session.receive(msg, now))

    def _tick(self) -> None:
        # Rescheduled first: one session's failure must not stop every session's heartbeats.
        self._tick_handle = asyncio.get_running_loop().call_later(1.0, self._tick)
        now = time.time_ns()
        for slot in self.slots.values():
            if now >= slot.next_roll_ns:
                self._roll_store(slot, now)
            conn = slot.conn
            if conn is None:
                continue
            session = slot.session
            try:
                if session.logged_on and session.logout_sent_at is None and not slot.config.schedule.is_open(now):
                    self._run(slot, conn, session.logout("Session end", now))
                self._run(slot, conn, session.tick(now))
            except Exception:
                log.exception("FIX session %s: timer processing failed; closing its connection", slot.session_id)
                conn.close("internal error")
            conn.flush()


    def _roll_store(self, slot: SessionSlot, now: int) -> None:
        """The session's daily boundary passed: rotate its store (router.fix.store.roll_day)."""
        slot.next_roll_ns = slot.config.schedule.next_boundary_ns(now)
        days = self.config.store_retention_days
        try:
            dropped = slot.store.roll_day(now, days)
        except OSError:
            log.exception("FIX session %s: store rotation failed; kept as it was", slot.session_id)
            return
        log.info("FIX session %s: store rotated at the daily boundary: %d messages sent before the last %d "
                 "boundaries dropped, %d kept for resend", slot.session_id, dropped, days, len(slot.store))


async def start_gateway(config: FixConfig, app: Application, *, observer: Any = None,
                        ready_callback: Callable[["Gateway"], Any] | None = None,
                        validator: Callable[[FixMessage], Any] | None | str = "dictionary") -> Gateway:
    """Open the stores, listen, start the timers.  `validator="dictionary"` loads each session's data
    dictionary (ours unless the session names one); tests may pass another callable (or None for no
    dictionary validation)."""
    validators = None
    if validator == "dictionary":
        validators = session_validators(config)
        validator = None
    gateway = Gateway(config, app, observer=observer, validator=validator,  # type: ignore[arg-type]
                      validators=validators)
    loop = asyncio.get_running_loop()
    if config.busy_poll_us:
        gateway.busy_poll = BusyPoll(loop, config.busy_poll_us, gateway.observer)
    try:
        gateway.server = await loop.create_server(
            lambda: FixConnection(gateway, config.max_message_size, config.logon_timeout_s),
            config.host, config.port, ssl=server_ssl_context(config), reuse_address=True,
        )
    except BaseException:
        for slot in gateway.slots.values():
            slot.store.close()
        raise
    gateway.port = gateway.server.sockets[0].getsockname()[1]
    gateway._tick_handle = loop.call_later(1.0, gateway._tick)
    for slot in gateway.slots.values():
        gateway.observer.session_state(slot.session_id, "disconnected")
    log.info("FIX acceptor listening on %s:%d (%d sessions%s)", config.host, gateway.port,
             len(gateway.slots), ", TLS" if config.tls_cert else "")
    if ready_callback is not None:
        ready_callback(gateway)
    return gateway
