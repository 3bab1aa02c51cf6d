"""The gateway role's application: FIX application messages in, commands onto the stream; the
leading core's outputs in, FIX messages out to the sessions this gateway serves.

`GatewayApp` sits behind the ordinary FIX acceptor (`router.fix.gateway`: codec, session layer, FIX
store, TLS, passwords all as in `serve`). It keeps no trading state. An application message becomes
a `FIX_IN` command (the raw frame and the time it arrived), a Logon a `LOGON` command, a session's
end a `LOGOUT` command (the core cancels on disconnect where configured), all through one
`CommandPublisher` (pipelined, group-committed). The client hears nothing about a command until the
core has applied it, and the core only sees what the stream has stored on a quorum.

From a session's first Logon on, the gateway listens on `goldrouter.cluster.out.<session>` and
hands each output to the session's handle (so a session that is logged out gets its outputs stored
for resend, as in `serve`), after `wire.OutputFilter` has dropped duplicates and stale epochs. An
output that skips numbers, and every NATS reconnection, make the gateway ask the leading core for
what it missed (`repair`) before delivering more for that session.

A session is served by one gateway at a time (`sessions.SessionLeases`, through the acceptor's
`claim_session` hook). A session's lease is released once the stream has stored its LOGOUT command,
and a Logout is answered only after that release (the acceptor's `release_session` hook,
`router.fix.logout_release`), so a client may log on at another gateway as soon as it has the
answer. With `fix_store.StoreRecords`, every session's FIX store is also recorded in JetStream, and
a gateway taking a session another gateway served last rebuilds the store from there before
binding the Logon, so the client keeps its sequence numbers.

Not here: trading logic, the store records' format (`fix_store`).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import nats

from router.cluster.fix_store import ReplicatedStore, StoreRecords
from router.cluster.publisher import CommandPublisher
from router.cluster.repair import OutputRepair
from router.cluster.sessions import SessionLeases
from router.cluster.wire import OUT_PREFIX, Output, OutputFilter, decode_output, out_subject
from router.fix.codec import FixMessage
from router.records.journal_format import CommandKind

__all__ = ["GatewayApp"]

log = logging.getLogger("gold_router.cluster")


class GatewayApp:
    """The Application seam of the FIX acceptor in the gateway role (see the module docstring)."""

    def __init__(self, nc: Any, name: str, publisher: CommandPublisher, metrics: Any = None,
                 leases: SessionLeases | None = None, stores: StoreRecords | None = None) -> None:
        self.nc = nc
        self.stores = stores
        self.leases = leases
        if leases is not None:
            leases.on_lost, leases.on_moved = self._lost, self._moved
        self.name = name
        self.publisher = publisher
        self.metrics = metrics
        self.filter = OutputFilter()
        self.repair = OutputRepair(nc, name, self._deliver)
        self.gateway: Any = None
        self.subs: dict[str, Any] = {}
        self.releasing: dict[str, asyncio.Task] = {}    # session -> its lease's release under way
        self.floor: dict[str, int] = {}
        self.shutting_down = False
        self.stats = {"commands": 0, "delivered": 0, "undeliverable": 0}
        self._prefix = OUT_PREFIX + "."

    def attach_gateway(self, gateway: Any) -> None:
        """The acceptor, before its first connection: its sessions' stores get recorded in JetStream."""
        self.gateway = gateway
        if self.stores is not None:
            for slot in gateway.slots.values():
                slot.store = slot.session.store = ReplicatedStore(slot.store, slot.session_id, self.stores)

    # -- Application seam --------------------------------------------------------------------------------
    def on_logon(self, handle: Any) -> None:
        session = handle.session_id
        if session not in self.subs:
            self.subs[session] = None
            asyncio.get_running_loop().create_task(self._listen(session))
        fut = self._submit(CommandKind.LOGON, session, b"")
        fut.add_done_callback(lambda f: self._floor(session, f))
        if self.leases is not None:     # a no-op after claim_session; a take-over's Logon had no claim
            asyncio.get_running_loop().create_task(self.leases.keep(session))

    def on_logout(self, handle: Any) -> None:
        if not self.shutting_down:
            session = handle.session_id
            ended = self._submit(CommandKind.LOGOUT, session, b"")
            if self.leases is not None:
                # Released once the stream has the session's end: whatever another gateway appends for the
                # session after taking the lease (its LOGON first) comes after this LOGOUT in the stream.
                task = asyncio.get_running_loop().create_task(self.leases.release(session, after=ended))
                self.releasing[session] = task
                task.add_done_callback(lambda t: self._released(session, t))

    async def release_session(self, session: str) -> None:
        """The FIX acceptor's hook before it answers a Logout: done once the release `on_logout` started is
        (the acceptor bounds the wait; the release goes on if it gives up)."""
        task = self.releasing.get(session)
        if task is not None:
            await asyncio.shield(task)

    def _released(self, session: str, task: asyncio.Task) -> None:
        if self.releasing.get(session) is task:     # not a later logout's release of the same session
            del self.releasing[session]

    async def claim_session(self, session: str) -> str | None:
        """The FIX acceptor's hook before it binds a Logon: the session's lease (None: ours)."""
        if self.leases is None:
            return None
        refusal = await self.leases.claim(session)
        if refusal is None and self.stores is not None:
            slot = self.gateway.slots.get(session.encode())
            if slot is not None and isinstance(slot.store, ReplicatedStore):
                await self.stores.load(session, slot.store.inner)   # served elsewhere last: its store
        if refusal is None and session in self.leases.orphaned:
            # The gateway that served it died without appending the session's end: append it now,
            # before this Logon, so the core cancels on disconnect as it would have then. Listen
            # first, and count the session's outputs from that command on as this gateway's: the
            # cancel reports go into the session's store (or straight out, if bound by then).
            self.leases.orphaned.discard(session)
            if session not in self.subs:
                self.subs[session] = None
                await self._listen(session)
            try:
                self.floor[session] = await self._submit(CommandKind.LOGOUT, session, b"")
            except Exception:
                log.exception("gateway %s: %s's disconnect not appended", self.name, session)
        return refusal

    def _lost(self, session: str) -> None:
        slot = self.gateway.slots.get(session.encode()) if self.gateway is not None else None
        if slot is not None and slot.conn is not None:
            slot.conn.close("session lease lost")

    async def _moved(self, session: str) -> None:
        sub = self.subs.pop(session, None)
        self.floor.pop(session, None)
        self.filter.last.pop(session, None)
        if sub is not None:
            try:
                await sub.unsubscribe()
            except nats.errors.Error:
                pass

    def on_message(self, handle: Any, msg: FixMessage) -> None:
        self._submit(CommandKind.FIX_IN, handle.session_id, msg.raw)

    def shutdown(self, cancel_working: bool) -> None:
        """A gateway's clean stop is not its clients' disconnect: no LOGOUT commands from here on."""
        self.shutting_down = True

    # -- internals ---------------------------------------------------------------------------------------
    def _submit(self, kind: CommandKind, session: str, payload: bytes) -> asyncio.Future:
        self.stats["commands"] += 1
        return self.publisher.submit(kind, session, payload, time.time_ns())

    def _floor(self, session: str, fut: asyncio.Future) -> None:
        if not fut.cancelled() and fut.exception() is None and session not in self.floor:
            self.floor[session] = fut.result()

    async def _listen(self, session: str) -> None:
        try:
            self.subs[session] = await self.nc.subscribe(out_subject(session), cb=self._on_output,
                                                         pending_msgs_limit=1_000_000)
        except nats.errors.Error:
            log.exception("gateway %s: cannot listen for %s's outputs", self.name, session)
            self.subs.pop(session, None)
            return
        log.info("gateway %s serves session %s: listening on %s", self.name, session, out_subject(session))

    async def _on_output(self, msg: Any) -> None:
        session = msg.subject[len(self._prefix):]
        try:
            out = decode_output(msg.data)
        except Exception:
            log.exception("gateway %s: unreadable output for %s", self.name, session)
            return
        if self.repair.holding(session):
            self.repair.hold(session, out)
            return
        last = self.filter.last.get(session)
        if last is not None and out.number > last + 1 and out.epoch >= self.filter.epoch:
            self.repair.start(session, last, out)          # a gap: ask for the missing ones first
            return
        self._deliver(session, out)

    def _deliver(self, session: str, out: Output) -> bool:
        verdict = self.filter.verdict(session, out, self.floor.get(session, 0))
        if verdict != "deliver":
            return False
        handle = self.gateway.handle(session) if self.gateway is not None else None
        if handle is None:
            self.stats["undeliverable"] += 1
            return False
        handle.send(out.msg_type, out.body)
        self.stats["delivered"] += 1
        return True

    async def on_nats_reconnected(self) -> None:
        """Outputs published while the connection was down are lost on the way: ask for them."""
        for session in list(self.subs):
            last = self.filter.last.get(session)
            if last is not None:
                self.repair.start(session, last)

    async def aclose(self) -> None:
        await self.repair.close()
        if self.leases is not None:
            await self.leases.close()
        for sub in self.subs.values():
            if sub is not None:
                try:
                    await sub.unsubscribe()
                except nats.errors.Error:
                    pass
        self.subs.clear()

    def status(self) -> dict:
        return {"role": "gateway", "name": self.name, "sessions": sorted(self.subs), "epoch": self.filter.epoch,
                "fix_store": self.stores.view() if self.stores is not None else None,
                "dropped": dict(self.filter.dropped), "gaps": self.filter.gaps, "repair": dict(self.repair.stats),
                "nats": self.nc.connected_url.netloc if self.nc.connected_url else None, **self.stats,
                "in_flight": self.publisher.in_flight}

    def metrics_view(self) -> dict:
        """What `router.ops` exposes as goldrouter_cluster_* for this gateway."""
        p = self.publisher.stats
        return {"role": "gateway", "published": p.acked, "resent": p.resent, "delivered": self.stats["delivered"],
                "dropped": dict(self.filter.dropped), "epoch": self.filter.epoch,
                "logons_refused": self.leases.stats["refused"] if self.leases is not None else 0,
                "repaired": self.repair.stats["repaired"], "lost": self.repair.stats["lost"]}
