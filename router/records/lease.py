"""A leader lease with an epoch in a JetStream key-value bucket: exactly one holder, a standby takes over.

One bucket per lease (`core`; one per FIX session later) holds one key, `{"owner": ..., "epoch": n}`.
An empty bucket is first marked free (owner "", epoch 0); a free lease is taken at once by a
revision-checked write to epoch + 1, so the first holder gets epoch 1. The holder renews by a
revision-checked write every `renew_every` (default ttl / 3). A contender that sees the key's
revision unchanged for `ttl` (counted on its own monotonic clock from the moment it first saw
that revision) takes it over with a revision-checked write to epoch + 1; two contenders racing
for it cannot both win, since only one write can match the revision (see `KvLease` for why the
check is the stream-wide sequence and not KV `create`/`update` on this server version). A holder
whose last successful renewal was *sent* more than `ttl` ago stops counting itself as holder, so
it gives up no later than any contender can take over (given clocks that run at the same rate).
`release()` writes the key with no owner, which a contender takes at once. `KvLease` derives ttl
and its polling from one configured `takeover` time (default 3 s): the bound from the holder's
last renewal to a contender holding the lease.

`LeaseCore` is the decision logic, synchronous, with time passed in (unit-testable without a
server); `KvLease` is the asyncio edge that reads and writes the bucket and logs every change of
holder at INFO. The epoch is what a consumer of a leader's output compares: outputs tagged with an
older epoch than the newest seen are stale.

Not here: what a leader does with the lease (publishing, fencing its journal writes), or metrics
export (`KvLease.changes` counts acquisitions and losses for `router.ops`).
"""
from __future__ import annotations

import asyncio
import enum
import json
import logging
import time
from dataclasses import dataclass

import nats
from nats.aio.client import Client
from nats.js import api
from nats.js.errors import APIError, KeyNotFoundError, NotFoundError

from router.records.jetstream import retry_transient

__all__ = ["DEFAULT_TAKEOVER", "Action", "KvLease", "LeaseCore", "Observed", "open_lease"]

log = logging.getLogger(__name__)
WRONG_LAST_SEQUENCE = 10071
DEFAULT_TAKEOVER = 3.0  # seconds from a holder's last renewal until a polling contender holds the lease


class Action(enum.Enum):
    WAIT = "wait"  # someone else holds it and is renewing (or not long enough silent)
    CREATE = "create"  # no key yet: mark the lease free (then take it)
    TAKE = "take"  # free, or silent for ttl: update at the seen revision to epoch + 1
    RENEW = "renew"  # ours: update at our revision, same epoch


@dataclass(frozen=True)
class Observed:
    """The key as read: its revision, owner ('' when released) and epoch."""

    revision: int
    owner: str
    epoch: int


class LeaseCore:
    """What a contender should do next, from what it last read and the time now (monotonic seconds)."""

    def __init__(self, owner: str, ttl: float, renew_every: float | None = None) -> None:
        if not owner:
            raise ValueError("a lease owner needs a non-empty name")
        if ttl <= 0:
            raise ValueError(f"lease ttl must be positive, not {ttl!r}")
        self.owner = owner
        self.ttl = ttl
        self.renew_every = renew_every if renew_every is not None else ttl / 3
        if not 0 < self.renew_every < ttl:
            raise ValueError(f"renew_every must be between 0 and ttl ({ttl}), not {self.renew_every!r}")
        self.epoch = 0  # the epoch we hold (or last held)
        self.revision = 0  # the key's revision after our last successful write
        self.holding = False
        self._valid_until = 0.0
        self._renew_due = 0.0
        self._seen: Observed | None = None
        self._seen_since = 0.0

    def is_valid(self, now: float) -> bool:
        """Holding, and the last successful renewal was sent less than ttl ago."""
        return self.holding and now < self._valid_until

    def decide(self, now: float, seen: Observed | None) -> Action:
        """The next action given the key as just read (None: no such key). Not needed while holding."""
        if seen is None:
            return Action.CREATE
        if seen != self._seen:
            self._seen, self._seen_since = seen, now
        if seen.owner == self.owner and seen.epoch == self.epoch and self.epoch:
            self.revision = seen.revision  # our own write whose ack we missed
            return Action.RENEW
        if not seen.owner or now - self._seen_since >= self.ttl:
            return Action.TAKE
        return Action.WAIT

    def renew_due(self, now: float) -> bool:
        return self.holding and now >= self._renew_due

    def wrote(self, sent_at: float, revision: int, epoch: int) -> bool:
        """Record a successful create/take/renew sent at `sent_at`; True if this acquired the lease."""
        acquired = not self.holding or epoch != self.epoch
        self.holding, self.epoch, self.revision = True, epoch, revision
        self._valid_until = sent_at + self.ttl
        self._renew_due = sent_at + self.renew_every
        return acquired

    def lost(self) -> bool:
        """Record that the lease is not ours (a refused write, or expiry); True if we held it."""
        was = self.holding
        self.holding = False
        return was


def _encode(owner: str, epoch: int) -> bytes:
    return json.dumps({"owner": owner, "epoch": epoch}, separators=(",", ":")).encode()


def _decode(revision: int, value: bytes | None) -> Observed:
    try:
        data = json.loads(value or b"{}")
        return Observed(revision, str(data.get("owner") or ""), int(data.get("epoch") or 0))
    except (ValueError, TypeError):
        return Observed(revision, "", 0)  # not ours to interpret: treat as free, at epoch 0


async def open_lease(nc: Client, name: str, owner: str, takeover: float = DEFAULT_TAKEOVER, *,
                     replicas: int = 3, clock=time.monotonic) -> "KvLease":
    """A contender `owner` for lease `name`: its own bucket `goldrouter_lease_<name>` (history 1,
    `replicas`), created if absent."""
    js = nc.jetstream()
    bucket = f"goldrouter_lease_{name}"
    try:
        kv = await retry_transient(lambda: js.key_value(bucket), f"lease bucket {bucket}", 15.0)
    except (NotFoundError, nats.js.errors.BucketNotFoundError):
        config = api.KeyValueConfig(bucket=bucket, history=1, replicas=replicas, storage=api.StorageType.FILE)
        kv = await retry_transient(lambda: js.create_key_value(config), f"creating lease bucket {bucket}", 15.0)
        log.info("lease bucket %s created (R%d)", bucket, replicas)
    return KvLease(js, kv, bucket, owner, takeover, clock=clock)


class KvLease:
    """One contender for one lease (a bucket holding the one key `holder`); `run()` it (or call
    `step()` every `poll` seconds). Build it with `open_lease`.

    `takeover` is the configured failover time: a contender polling every `poll` = takeover / 10
    waits for `ttl` = takeover * 0.8 of silence, so it holds the lease within ttl + 2 * poll =
    `takeover` of the holder's last renewal; the holder renews every ttl / 3.

    Why one key per bucket: nats-server without the fix for its issue 4320 (2023; Debian ships
    2.9.10) checks `Nats-Expected-Last-Subject-Sequence` (what KV `create`/`update` send) only
    before proposing the write to the stream's RAFT group, so concurrent writers with the same
    expected revision can all succeed (measured here: 139 of 150 concurrent pairs both won). The stream-wide
    `Nats-Expected-Last-Sequence` is checked against the leader's in-flight sequence and does
    serialise them (0 of 150). With one key in the bucket, the key's revision *is* the stream's
    last sequence, so every write carries both. The first write of an empty bucket (expected
    sequence 0, which the server does not check) only marks the lease free (de-duplicated by
    `Nats-Msg-Id`); acquiring always updates a revision >= 1."""

    KEY = "holder"

    def __init__(self, js, kv, bucket: str, owner: str, takeover: float = DEFAULT_TAKEOVER, *,
                 clock=time.monotonic) -> None:
        if takeover <= 0:
            raise ValueError(f"lease takeover time must be positive, not {takeover!r}")
        self.js = js
        self.kv = kv
        self.bucket = bucket
        self.key = self.KEY
        self.subject = f"$KV.{bucket}.{self.KEY}"
        self.takeover = takeover
        self.core = LeaseCore(owner, takeover * 0.8)
        self.poll = takeover / 10
        self.clock = clock
        self.changes = {"acquired": 0, "lost": 0}

    @property
    def epoch(self) -> int:
        return self.core.epoch

    def holding(self) -> bool:
        """Whether this contender may act as the holder right now."""
        return self.core.is_valid(self.clock())

    async def step(self) -> bool:
        """Renew, take or wait as due; returns whether we hold the lease afterwards."""
        core, now = self.core, self.clock()
        if core.holding and not core.is_valid(now):
            self._lost(f"no renewal acknowledged for {core.ttl:g} s")
        if core.holding:
            if core.renew_due(now):
                await self._write(Action.RENEW, core.revision, core.epoch)
            return self.holding()
        for _ in range(2):  # a second round takes a lease the first round found absent and marked free
            if not await self._contend(now):
                break
        return self.holding()

    async def _contend(self, now: float) -> bool:
        """Read the key and act on it; True if it was absent (and is now marked free)."""
        core = self.core
        try:
            entry = await self.kv.get(self.key)
            seen = _decode(entry.revision, entry.value)
        except KeyNotFoundError as exc:  # absent, or deleted by hand
            entry = getattr(exc, "entry", None)
            seen = None if entry is None else Observed(entry.revision, "", core.epoch)
        except (asyncio.TimeoutError, nats.errors.Error) as exc:
            log.debug("lease %s: read failed (%r)", self.bucket, exc)
            return False
        action = core.decide(now, seen)
        if action is Action.CREATE:
            await self._write(action, 0, 0)
            return True
        if action is Action.TAKE:
            await self._write(action, seen.revision, max(seen.epoch, core.epoch) + 1)
        elif action is Action.RENEW:
            await self._write(action, seen.revision, seen.epoch)
        return False

    async def _write(self, action: Action, revision: int, epoch: int) -> None:
        sent = self.clock()
        try:
            if action is Action.CREATE:  # mark the lease free; the next step takes it like any free lease
                await self.js.publish(self.subject, _encode("", 0), headers={"Nats-Msg-Id": f"{self.bucket}-free"})
                return
            ack = await self.js.publish(self.subject, _encode(self.core.owner, epoch), headers={
                "Nats-Expected-Last-Sequence": str(revision), "Nats-Expected-Last-Subject-Sequence": str(revision)})
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                if self.core.holding:
                    self._lost("another contender wrote the key")
                return
            log.debug("lease %s: %s refused (%r)", self.bucket, action.value, exc)
            return
        except (asyncio.TimeoutError, nats.errors.Error) as exc:
            log.debug("lease %s: %s failed (%r)", self.bucket, action.value, exc)
            return
        if self.core.wrote(sent, ack.seq, epoch):
            self.changes["acquired"] += 1
            how = {Action.TAKE: "taken over", Action.RENEW: "still ours"}[action]
            log.info("lease %s acquired by %s at epoch %d (%s)", self.bucket, self.core.owner, epoch, how)

    def _lost(self, why: str) -> None:
        if self.core.lost():
            self.changes["lost"] += 1
            log.info("lease %s lost by %s at epoch %d: %s", self.bucket, self.core.owner, self.core.epoch, why)

    async def release(self) -> None:
        """Give the lease up now (a clean stop): the key keeps its epoch and loses its owner."""
        if not self.core.holding:
            return
        try:
            await self.js.publish(self.subject, _encode("", self.core.epoch), headers={
                "Nats-Expected-Last-Sequence": str(self.core.revision),
                "Nats-Expected-Last-Subject-Sequence": str(self.core.revision)})
        except (asyncio.TimeoutError, nats.errors.Error) as exc:
            log.info("lease %s: release failed (%r); it expires in %g s", self.bucket, exc, self.core.ttl)
        self.core.lost()
        log.info("lease %s released by %s at epoch %d", self.bucket, self.core.owner, self.core.epoch)

    async def run(self, stop: asyncio.Event) -> None:
        """Step every `poll` seconds until `stop` is set."""
        while not stop.is_set():
            await self.step()
            try:
                await asyncio.wait_for(stop.wait(), self.poll)
            except asyncio.TimeoutError:
                pass
