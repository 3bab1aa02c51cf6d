"""Per-session leases of the gateway role: one gateway serves a FIX session at a time.

Before a gateway accepts a Logon it takes the lease `session_<SenderCompID>` (a `router.records.lease`
lease in its own JetStream KV bucket, with the gateway's name as owner). A Logon at a second gateway
while the first holds the lease is refused with a Logout naming the holder. The holder renews the lease
while the session is logged on; at the session's end it releases it, and the client may log on again at
any gateway. `release` may be told to wait for the session's LOGOUT command to be stored first (the
gateway does so), so no other gateway appends anything for the session before its end. When the session
ended by a Logout, its answer waits for the release (the gateway's `release_session`, up to the
acceptor's bound), so a Logon at another gateway as soon as the client has it gets in; after a dropped
connection a Logon elsewhere in the release's first milliseconds is refused naming this gateway, and the
client's retry gets in (at the same gateway the claim waits for the release). Claims and releases of one
session run one at a time, in the order they started: a client that logs out and straight back in at the
same gateway gets the lease back once the release under way is done (before, the two raced on one lease
object: the Logon was refused or served with the lease released). A Logon the acceptor binds without a
claim (its take-over of the session's own stale connection) takes the lease again through `keep`. A
gateway killed with SIGKILL stops renewing: after the takeover time another gateway may take the session
(a client retrying its Logon gets in then), and marks it `orphaned`: the dead gateway never appended the
session's end, so the new one does, first.

After releasing, the gateway keeps receiving the session's outputs (its FIX store keeps them for a
resend, as in `serve`) until it sees another gateway holding the session; then it stops. While
renewals go unanswered (a NATS node lost, the bucket electing a leader) it keeps serving, since no
other gateway can take the lease then either; only when the key names another gateway does it end
the session's connection.

Not here: the FIX store's contents, which stay on the gateway's disk (docs/scale-out.md says what a
client moving gateway must do).
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any, Callable

import nats

from router.records.lease import KvLease, open_lease

__all__ = ["SessionLeases"]

log = logging.getLogger("gold_router.cluster")


def lease_name(session: str) -> str:
    return "session_" + re.sub(r"[^A-Za-z0-9_-]", "_", session)


class SessionLeases:
    def __init__(self, nc: Any, owner: str, *, takeover: float = 3.0, replicas: int = 3,
                 on_lost: Callable[[str], None] | None = None, on_moved: Callable[[str], Any] | None = None) -> None:
        self.nc = nc
        self.owner = owner
        self.takeover = takeover
        self.replicas = replicas
        self.on_lost = on_lost          # fn(session): a held lease was lost
        self.on_moved = on_moved        # fn(session): another gateway holds it now (after our release)
        self.leases: dict[str, KvLease] = {}
        self.tasks: dict[str, asyncio.Task] = {}
        self.locks: dict[str, asyncio.Lock] = {}    # one claim or release at a time per session
        self.stats = {"taken": 0, "refused": 0, "lost": 0}
        self.orphaned: set[str] = set()     # sessions taken from a dead gateway: their disconnect is owed

    def holding(self, session: str) -> bool:
        lease = self.leases.get(session)
        return lease is not None and lease.holding()

    def _lock(self, session: str) -> asyncio.Lock:
        return self.locks.setdefault(session, asyncio.Lock())

    async def claim(self, session: str) -> str | None:
        """Take the session's lease: None when ours, else why not (for the Logout's text)."""
        async with self._lock(session):     # after a release still under way for this session
            return await self._claim(session)

    async def keep(self, session: str) -> None:
        """The session was bound here without a claim (the acceptor let a new Logon take over the session's
        own stale connection, whose end released the lease): take the lease again. If that is refused,
        renew as for a held lease: the session ends here if another gateway holds it, else the tries go
        on. Nothing to do while the lease is held (after `claim`)."""
        async with self._lock(session):     # after the release that the old connection's end started
            lease = self.leases.get(session)
            if lease is not None and lease.holding():
                return
            if await self._claim(session) is not None:
                self._run(session, self._renew(session, self.leases[session]))

    async def _claim(self, session: str) -> str | None:
        lease = self.leases.get(session)
        if lease is None:
            lease = await open_lease(self.nc, lease_name(session), self.owner, self.takeover, replicas=self.replicas)
            self.leases[session] = lease
        acquired = lease.changes["acquired"]
        held = await lease.step()
        if not held and self._seen_owner(lease) in ("", self.owner):
            # Refused with no other gateway named (a read or write left unanswered, our own earlier
            # write): one more round on a fresh read before telling the client.
            held = await lease.step()
        if not held:
            return self._refused(session, self._seen_owner(lease))
        self.stats["taken"] += 1
        taken_from = self._seen_owner(lease)   # what this acquisition read (stale while we hold it)
        if lease.changes["acquired"] > acquired and taken_from not in ("", self.owner):
            # Taken from a gateway that stopped renewing (killed): its client's connection is gone.
            self.orphaned.add(session)
            log.info("session %s: taken over by gateway %s from gateway %s, which stopped renewing", session,
                     self.owner, taken_from)
        self._run(session, self._renew(session, lease))
        return None

    def _refused(self, session: str, holder: str) -> str:
        self.stats["refused"] += 1
        if holder in ("", self.owner):
            log.info("session %s: logon refused here (%s): the session's lease could not be taken now", session,
                     self.owner)
            return "session lease not available now; retry the logon"
        log.info("session %s: logon refused here (%s): the session is served by %s", session, self.owner, holder)
        return f"session served by gateway {holder}"

    @staticmethod
    def _seen_owner(lease: KvLease) -> str:
        seen = getattr(lease.core, "_seen", None)
        return seen.owner if seen is not None else ""

    async def release(self, session: str, after: asyncio.Future | None = None) -> None:
        """The session ended here: give the lease up, then watch who takes it. With `after` (the future of
        the session's LOGOUT command), once that is done: no other gateway appends for the session first."""
        async with self._lock(session):     # a Logon that follows waits for this (claim takes the lock)
            if after is not None:
                await asyncio.wait({after})     # never raises: a publisher that gave up or closed releases too
                if after.cancelled() or after.exception() is not None:
                    log.info("session %s: its end was not confirmed by the stream; gateway %s releases the "
                             "lease anyway", session, self.owner)
            lease = self.leases.get(session)
            if lease is None:
                return
            # Renewals stop first: one racing the release's write would make one of the two fail.
            self._run(session, None)
            await lease.release()
            self._run(session, self._watch(session, lease))

    def _run(self, session: str, coro: Any) -> None:
        """The session's one background task (renewing or watching) is now `coro` (None: none)."""
        old = self.tasks.pop(session, None)
        if old is not None:
            old.cancel()
        if coro is not None:
            self.tasks[session] = asyncio.get_running_loop().create_task(coro)

    async def _renew(self, session: str, lease: KvLease) -> None:
        unconfirmed = False
        while True:
            await asyncio.sleep(lease.poll)
            if await lease.step():
                if unconfirmed:
                    log.info("session %s: lease renewed again by gateway %s", session, self.owner)
                unconfirmed = False
                continue
            holder = await self._holder(lease)
            if holder in (None, "", self.owner):
                # Renewals unanswered (a NATS node lost, a leader election) but nobody else holds it:
                # no other gateway can take it while the bucket cannot store; keep serving, keep trying.
                if not unconfirmed:
                    log.info("session %s: lease renewal not acknowledged; gateway %s keeps serving and retries",
                             session, self.owner)
                unconfirmed = True
                continue
            self.stats["lost"] += 1
            log.info("session %s: lease taken by gateway %s; gateway %s ends the session here", session, holder,
                     self.owner)
            if self.on_lost is not None:
                self.on_lost(session)
            return

    @staticmethod
    async def _holder(lease: KvLease) -> str | None:
        """The owner the lease's key names now, or None if it cannot be read."""
        try:
            entry = await lease.kv.get(lease.key)
            return str(json.loads(entry.value or b"{}").get("owner") or "")
        except Exception:
            return None

    async def _watch(self, session: str, lease: KvLease) -> None:
        while True:
            await asyncio.sleep(lease.poll)
            try:
                entry = await lease.kv.get(lease.key)
            except (asyncio.TimeoutError, nats.errors.Error, Exception):
                continue
            try:
                owner = str(json.loads(entry.value or b"{}").get("owner") or "")
            except ValueError:
                continue
            if owner not in ("", self.owner):
                log.info("session %s: now served by another gateway; gateway %s stops taking its outputs",
                         session, self.owner)
                if self.on_moved is not None:
                    await self.on_moved(session)
                return

    async def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        for session, lease in self.leases.items():
            if lease.core.holding:
                await lease.release()
