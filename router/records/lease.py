"""A leader lease with an epoch in a JetStream key-value bucket: exactly one holder, a standby takes over.

One key per role (`core`, or one per FIX session later) holds `{"owner": ..., "epoch": n}`. The
first contender `create`s it (epoch 1; `create` refuses a second one). The holder renews by a
revision-checked `update` every `renew_every` (default ttl / 3). A contender that sees the key's
revision unchanged for `ttl` (counted on its own monotonic clock from the moment it
first saw that revision) takes it over with a revision-checked `update` to epoch + 1; two
contenders racing for it cannot both win, since only one update can match the revision. A holder
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
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError

__all__ = ["DEFAULT_TAKEOVER", "Action", "KvLease", "LeaseCore", "Observed", "open_bucket"]

log = logging.getLogger(__name__)
DEFAULT_TAKEOVER = 3.0  # seconds from a holder's last renewal until a polling contender holds the lease


class Action(enum.Enum):
    WAIT = "wait"  # someone else holds it and is renewing (or not long enough silent)
    CREATE = "create"  # no key yet: create it at epoch 1
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


async def open_bucket(nc: Client, bucket: str = "goldrouter_leases", replicas: int = 3):
    """The lease bucket (created with history 1 and `replicas` if absent)."""
    js = nc.jetstream()
    try:
        return await js.key_value(bucket)
    except (NotFoundError, nats.js.errors.BucketNotFoundError):
        kv = await js.create_key_value(api.KeyValueConfig(bucket=bucket, history=1, replicas=replicas,
                                                          storage=api.StorageType.FILE))
        log.info("lease bucket %s created (R%d)", bucket, replicas)
        return kv


class KvLease:
    """One contender for one key of the lease bucket; `run()` it (or call `step()` every `poll` seconds).

    `takeover` is the configured failover time: a contender polling every `poll` = takeover / 10
    waits for `ttl` = takeover * 0.8 of silence, so it holds the lease within ttl + 2 * poll =
    `takeover` of the holder's last renewal; the holder renews every ttl / 3."""

    def __init__(self, kv, key: str, owner: str, takeover: float = DEFAULT_TAKEOVER, *, clock=time.monotonic) -> None:
        if takeover <= 0:
            raise ValueError(f"lease takeover time must be positive, not {takeover!r}")
        self.kv = kv
        self.key = key
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
        try:
            entry = await self.kv.get(self.key)
            seen = _decode(entry.revision, entry.value)
        except KeyNotFoundError as exc:  # absent, or deleted by hand
            entry = getattr(exc, "entry", None)
            seen = None if entry is None else Observed(entry.revision, "", core.epoch)
        except (asyncio.TimeoutError, nats.errors.Error) as exc:
            log.debug("lease %s: read failed (%r)", self.key, exc)
            return False
        action = core.decide(now, seen)
        if action is Action.CREATE:
            await self._write(action, 0, 1)
        elif action is Action.TAKE:
            await self._write(action, seen.revision, max(seen.epoch, core.epoch) + 1)
        elif action is Action.RENEW:
            await self._write(action, seen.revision, seen.epoch)
        return self.holding()

    async def _write(self, action: Action, revision: int, epoch: int) -> None:
        sent = self.clock()
        value = _encode(self.core.owner, epoch)
        try:
            if action is Action.CREATE:
                new_revision = await self.kv.create(self.key, value)
            else:
                new_revision = await self.kv.update(self.key, value, last=revision)
        except KeyWrongLastSequenceError:
            if self.core.holding:
                self._lost("another contender wrote the key")
            return
        except (asyncio.TimeoutError, nats.errors.Error) as exc:
            log.debug("lease %s: %s failed (%r)", self.key, action.value, exc)
            return
        if self.core.wrote(sent, new_revision, epoch):
            self.changes["acquired"] += 1
            how = {Action.CREATE: "first holder", Action.TAKE: "taken over", Action.RENEW: "still ours"}[action]
            log.info("lease %s acquired by %s at epoch %d (%s)", self.key, self.core.owner, epoch, how)

    def _lost(self, why: str) -> None:
        if self.core.lost():
            self.changes["lost"] += 1
            log.info("lease %s lost by %s at epoch %d: %s", self.key, self.core.owner, self.core.epoch, why)

    async def release(self) -> None:
        """Give the lease up now (a clean stop): the key keeps its epoch and loses its owner."""
        if not self.core.holding:
            return
        try:
            await self.kv.update(self.key, _encode("", self.core.epoch), last=self.core.revision)
        except (asyncio.TimeoutError, nats.errors.Error) as exc:
            log.info("lease %s: release failed (%r); it expires in %g s", self.key, exc, self.core.ttl)
        self.core.lost()
        log.info("lease %s released by %s at epoch %d", self.key, self.core.owner, self.core.epoch)

    async def run(self, stop: asyncio.Event) -> None:
        """Step every `poll` seconds until `stop` is set."""
        while not stop.is_set():
            await self.step()
            try:
                await asyncio.wait_for(stop.wait(), self.poll)
            except asyncio.TimeoutError:
                pass
