"""A configured session's place in the gateway, and sending application messages through it.

`SessionSlot` holds one session's store, its pure `Session` state machine, its connection while one
is bound, and the handle the application sends with. `SessionSlot.send` sends one message;
`send_batch` sends a whole batch of `(session, msg_type, body)` outputs in order (the router's
reports after each group commit), doing per message exactly what `send` does but with one clock
read and the lookups done once per batch. A message for a session without a connection is only
stored, for the resend after its next Logon, and its store is flushed with the batch.

Not its job: FIX rules (`router.fix.session`), Logon admission and the registry (`router.fix.gateway`),
socket writes (`router.fix.transport`).
"""
from __future__ import annotations

import time
from typing import Any, Iterable

from router.fix.app import SessionHandle
from router.fix.timestamps import utc_timestamp
from router.fix.onbehalf import RouteMemory

__all__ = ["SessionSlot", "send_batch"]


class SessionSlot:
    """A configured session in the registry: its store, its state machine, its connection if any."""

    __slots__ = ("gateway", "config", "session", "store", "conn", "handle", "session_id", "route", "routes",
                 "next_roll_ns")

    def __init__(self, gateway: Any, config: Any, session: Any, store: Any) -> None:
        self.gateway = gateway
        self.config = config
        self.session = session
        self.store = store
        self.conn: Any = None
        self.session_id = config.target_comp_id
        self.handle = SessionHandle(config.target_comp_id, config.account, config.extra, self)
        self.route: tuple = ()                  # reply route of the message being delivered
        self.routes: RouteMemory | None = None  # request id -> route, once the counterparty used one
        self.next_roll_ns = config.schedule.next_boundary_ns(time.time_ns())   # store rotation

    def send(self, msg_type: bytes, body: list) -> bool:
        route = self.route or (self.routes.route_of(body) if self.routes is not None else ())
        frame = self.session.send_app(msg_type, body, time.time_ns(), route)
        self.gateway.observer.message_out(self.session_id, msg_type)
        conn = self.conn
        if frame is None or conn is None:
            # Stored for a resend after the next Logon (a drop-copy session with nobody connected gets
            # one per report): flushed once per batch with the others' stores, not once per message.
            self.gateway.store_written(self.store)
            return False
        conn.write(frame)
        return True


def send_batch(gateway: Any, by_name: dict[str, SessionSlot], outs: Iterable[tuple]) -> list:
    """Send each `(session, msg_type, body)` in order as its slot's `send` would; the outputs for
    sessions the gateway does not know come back, in order, for the caller to deliver."""
    now = time.time_ns()
    stamp = utc_timestamp(now)      # one SendingTime for the batch, formatted once
    message_out = gateway.observer.message_out
    unknown: list = []
    for out in outs:
        session, msg_type, body = out
        slot = by_name.get(session)
        if slot is None:
            unknown.append(out)
            continue
        route = slot.route or (slot.routes.route_of(body) if slot.routes is not None else ())
        frame = slot.session.send_app(msg_type, body, now, route, stamp)
        message_out(session, msg_type)
        conn = slot.conn
        if frame is None or conn is None:
            gateway.store_written(slot.store)
        else:
            conn.write(frame)
    return unknown
