"""Stale-session take-over: a valid Logon for a session that is already connected elsewhere.

A client whose TCP connection died silently would otherwise be locked out ("Session already logged
on") until the old connection's heartbeat times out, up to minutes. Instead, when the gateway has
admitted a Logon's identity and finds the session bound to another connection, it hands the Logon
here: the old connection is sent a TestRequest and the new one is parked (its frames buffered, nothing
answered). Then, whichever comes first:

- the old connection sends anything (the Heartbeat answering the TestRequest, or any message): it is
  alive, so the new Logon is refused with "Session already logged on", as before;
- the old connection closes: the new Logon is admitted at once;
- `fix.takeover_probe_ms` passes in silence: the old connection is dropped (INFO log, metric
  `goldrouter_fix_session_takeovers_total`) and the new Logon is admitted.

A second Logon while one is parked for the same session is refused. `takeover_probe_ms = 0` turns
take-over off (every second Logon is refused at once).

Not its job: checking identity or schedules (the gateway does both before calling `start`), the
session rules, or sockets beyond closing them.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

log = logging.getLogger("router.fix")

ALREADY_LOGGED_ON = "Session already logged on"
# A parked connection may send at most this many frames before it is answered (a client should
# wait for the Logon answer; one that floods instead is closed).
MAX_PARKED_FRAMES = 64

__all__ = ["ALREADY_LOGGED_ON", "Takeovers"]


class _Pending:
    __slots__ = ("slot", "old", "new", "logon", "started", "timer", "frames")

    def __init__(self, slot: Any, old: Any, new: Any, logon: Any, started: int) -> None:
        self.slot = slot
        self.old = old
        self.new = new
        self.logon = logon
        self.started = started
        self.timer: asyncio.TimerHandle | None = None
        self.frames: list = []


class Takeovers:
    """The gateway's parked Logons, at most one per session. The gateway must provide
    `_refuse(conn, logon, reason, now)`, `_detach(slot, conn, reason)`, `_bind(slot, conn, logon, now)`,
    `on_frame(conn, item, now)`, `_run(slot, conn, actions)` and `observer`."""

    def __init__(self, gateway: Any, probe_ms: int) -> None:
        self.gateway = gateway
        self.probe_s = probe_ms / 1000
        self.by_session: dict[str, _Pending] = {}
        self.by_conn: dict[Any, _Pending] = {}

    @property
    def enabled(self) -> bool:
        return self.probe_s > 0

    def start(self, slot: Any, new: Any, logon: Any, now: int) -> None:
        """A Logon whose identity checked out, for `slot` which is bound to another connection."""
        gw = self.gateway
        old = slot.conn
        if not self.enabled or slot.session_id in self.by_session or not slot.session.logged_on:
            gw._refuse(new, logon, ALREADY_LOGGED_ON, now)
            return
        p = _Pending(slot, old, new, logon, now)
        self.by_session[slot.session_id] = p
        self.by_conn[new] = p
        log.info("FIX session %s: logon from %s while connected from %s: sending a TestRequest to the "
                 "old connection, replacing it unless it answers within %.1f s",
                 slot.session_id, new.peer, old.peer, self.probe_s)
        gw._run(slot, old, slot.session.test_request(b"TAKEOVER-" + str(now).encode(), now))
        old.flush()
        p.timer = asyncio.get_running_loop().call_later(self.probe_s, self._due, p)

    def parked_frame(self, conn: Any, item: Any) -> bool:
        """Buffer a frame of a parked connection; False if `conn` is not parked."""
        p = self.by_conn.get(conn)
        if p is None:
            return False
        if len(p.frames) >= MAX_PARKED_FRAMES:
            self._forget(p)
            conn.close("too many messages while its logon waited")
        else:
            p.frames.append(item)
        return True

    def old_heard(self, slot: Any) -> None:
        """The bound connection of `slot` sent something: if a Logon is parked for it, refuse it."""
        p = self.by_session.get(slot.session_id)
        if p is None or slot.session.last_recv <= p.started:
            return
        self._forget(p)
        log.info("FIX session %s: the connection from %s answered; logon from %s refused",
                 slot.session_id, p.old.peer, p.new.peer)
        self.gateway._refuse(p.new, p.logon, ALREADY_LOGGED_ON, time.time_ns())
        p.new.flush()

    def closed(self, conn: Any) -> None:
        """A connection closed: a parked one is forgotten; a probed one lets its parked Logon in."""
        p = self.by_conn.get(conn)
        if p is not None:
            self._forget(p)
            return
        slot = conn.slot
        p = self.by_session.get(slot.session_id) if slot is not None else None
        if p is not None and p.old is conn:
            # The gateway detaches the old connection first; admit on the next loop turn.
            asyncio.get_running_loop().call_soon(self._admit, p, "the old connection closed")

    def close(self) -> None:
        for p in list(self.by_session.values()):
            self._forget(p)

    def _forget(self, p: _Pending) -> None:
        if p.timer is not None:
            p.timer.cancel()
            p.timer = None
        if self.by_session.get(p.slot.session_id) is p:
            del self.by_session[p.slot.session_id]
        self.by_conn.pop(p.new, None)

    def _due(self, p: _Pending) -> None:
        p.timer = None
        if self.by_session.get(p.slot.session_id) is not p:
            return
        slot = p.slot
        if slot.conn is p.old and slot.session.last_recv <= p.started:
            log.info("FIX session %s: the connection from %s did not answer a TestRequest within %.1f s; "
                     "replaced by the logon from %s", slot.session_id, p.old.peer, self.probe_s, p.new.peer)
            take = getattr(self.gateway.observer, "session_takeover", None)
            if take is not None:
                take(slot.session_id)
            self.gateway._detach(slot, p.old, "replaced by a new logon (no answer to a TestRequest)")
            p.old.abort()
        self._admit(p, "")

    def _admit(self, p: _Pending, why: str) -> None:
        if self.by_session.get(p.slot.session_id) is not p:
            return
        self._forget(p)
        new, slot, gw = p.new, p.slot, self.gateway
        if new.closing:
            return
        now = time.time_ns()
        if slot.conn is not None:       # the old connection is still bound (it answered meanwhile)
            gw._refuse(new, p.logon, ALREADY_LOGGED_ON, now)
            new.flush()
            return
        if why:
            log.info("FIX session %s: %s; logon from %s admitted", slot.session_id, why, new.peer)
        new._in_batch = True            # one write for the Logon answer and the replies to buffered frames
        try:
            gw._bind(slot, new, p.logon, now)
            for item in p.frames:
                if new.closing:
                    break
                gw.on_frame(new, item, now)
        finally:
            new._in_batch = False
        new.flush()
