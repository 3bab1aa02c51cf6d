"""Appending commands to the cluster's command stream: pipelined, de-duplicated, retried in order.

`CommandStream.open(nc, replicas=3)` creates the stream (file storage, R3, a de-duplication
window) or checks an existing one. `CommandPublisher(nc, writer)` is one writer (a gateway, or a
core publishing its timer ticks): `submit(kind, session, payload, time_ns)` queues a command and
returns a future for its stream sequence. Commands are published back to back without waiting for
one another (group commit: everything queued while earlier commands are in flight goes out in the
next write, and the acknowledgements come back together), each with `Nats-Msg-Id:
<writer>-<n>`, so a command re-sent after a lost acknowledgement is stored once. An ack means the
command is on a quorum of the stream's nodes. Commands not acknowledged within `ack_wait` (a node
killed, a leader election) are re-sent, oldest first, until they are; each round is logged.

A limit, said plainly: when some commands of a writer are lost and later ones are stored, the
re-sent ones land after those later ones. The window is the time between a stream leader's loss
and the writer's next round, during which the stream stores nothing; a client that sends a cancel
then must have seen its order acknowledged first, because acknowledgements come from the core.

Not here: the command format (`wire`), applying commands (`core`), FIX.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

import nats
from nats.aio.client import Client
from nats.js import api
from nats.js.errors import NotFoundError

from router.cluster.wire import STREAM, SUBJECT, encode_command_record
from router.records.jetstream import retry_transient
from router.records.journal_format import CommandKind, JournalError

__all__ = ["open_stream", "CommandPublisher"]

log = logging.getLogger("gold_router.cluster")


async def open_stream(nc: Client, *, replicas: int = 3, duplicate_window: float = 120.0,
                      timeout: float = 30.0) -> api.StreamInfo:
    """Create the command stream, or check the one there; returns its info."""
    js = nc.jetstream()
    try:
        info = await retry_transient(lambda: js.stream_info(STREAM), f"stream info of {STREAM}", timeout)
    except NotFoundError:
        config = api.StreamConfig(name=STREAM, subjects=[SUBJECT], storage=api.StorageType.FILE,
                                  retention=api.RetentionPolicy.LIMITS, num_replicas=replicas,
                                  duplicate_window=duplicate_window, discard=api.DiscardPolicy.OLD)
        info = await retry_transient(lambda: js.add_stream(config), f"creating stream {STREAM}", timeout)
        log.info("command stream %s created: subject %s, R%d", STREAM, SUBJECT, replicas)
        return info
    cfg = info.config
    if list(cfg.subjects or []) != [SUBJECT]:
        raise JournalError(f"stream {STREAM} exists with subjects {cfg.subjects} (want [{SUBJECT!r}])")
    if (cfg.num_replicas or 1) != replicas:
        raise JournalError(f"stream {STREAM} exists as R{cfg.num_replicas or 1} (want R{replicas})")
    return info


@dataclass
class _Pending:
    n: int
    record: bytes
    future: asyncio.Future
    sent: float = 0.0


@dataclass
class PublisherStats:
    submitted: int = 0
    acked: int = 0
    duplicates: int = 0
    resent: int = 0


class CommandPublisher:
    """One writer of the command stream (see the module docstring). `start()` then `submit(...)`."""

    def __init__(self, nc: Client, writer: str, *, ack_wait: float = 2.0, on_ack=None) -> None:
        self.nc = nc
        self.writer = writer
        self.ack_wait = ack_wait
        self.on_ack = on_ack                 # fn(seconds from first send to ack), for metrics
        self.stats = PublisherStats()
        self._n = 0
        self._queue: list[_Pending] = []
        self._inflight: dict[int, _Pending] = {}
        self._wake = asyncio.Event()
        self._prefix = ""
        self._sub = None
        self._tasks: list[asyncio.Task] = []
        self._closed = False

    async def start(self) -> None:
        self._prefix = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(f"{self._prefix}.*", cb=self._ack)
        self._tasks = [asyncio.create_task(self._writer()), asyncio.create_task(self._resender())]

    def submit(self, kind: CommandKind, session: str, payload: bytes, time_ns: int) -> asyncio.Future:
        """Queue a command; the future resolves to its stream sequence once the stream has it."""
        self._n += 1
        fut = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(self._n, encode_command_record(kind, session, payload, time_ns), fut))
        self.stats.submitted += 1
        self._wake.set()
        return fut

    @property
    def in_flight(self) -> int:
        return len(self._inflight) + len(self._queue)

    async def _writer(self) -> None:
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            now = time.monotonic()
            for p in batch:
                p.sent = now
                self._inflight[p.n] = p
            await self._publish(batch)

    async def _publish(self, batch: list[_Pending]) -> None:
        publish = self.nc.publish
        for p in batch:
            try:
                await publish(SUBJECT, p.record, reply=f"{self._prefix}.{p.n}",
                              headers={"Nats-Msg-Id": f"{self.writer}-{p.n}"})
            except (nats.errors.Error, OSError) as exc:      # disconnected: the resender tries again
                log.info("command stream: publish of %s-%d failed (%r); will re-send", self.writer, p.n, exc)
                p.sent = 0.0

    async def _ack(self, msg) -> None:
        try:
            n = int(msg.subject.rpartition(".")[2])
        except ValueError:
            return
        p = self._inflight.get(n)
        if p is None:
            return
        try:
            ack = json.loads(msg.data) if msg.data else {}
        except ValueError:
            ack = {}
        seq = ack.get("seq")
        if "error" in ack or not seq:
            p.sent = 0.0          # refused for now (no leader, no responders): re-send in the next round
            return
        del self._inflight[n]
        self.stats.acked += 1
        if ack.get("duplicate"):
            self.stats.duplicates += 1
        if self.on_ack is not None:
            self.on_ack(p)
        if not p.future.done():
            p.future.set_result(int(seq))

    async def _resender(self) -> None:
        period = max(self.ack_wait / 4, 0.05)
        while not self._closed:
            await asyncio.sleep(period)
            now = time.monotonic()
            due = [p for p in self._inflight.values() if now - p.sent >= self.ack_wait or p.sent == 0.0]
            if not due:
                continue
            due.sort(key=lambda p: p.n)
            # Everything not yet acknowledged from the oldest due one on, in order.
            first = due[0].n
            batch = sorted((p for p in self._inflight.values() if p.n >= first), key=lambda p: p.n)
            self.stats.resent += len(batch)
            log.info("command stream: re-sending %d commands of %s from %d (no acknowledgement within %.1f s)",
                     len(batch), self.writer, first, self.ack_wait)
            for p in batch:
                p.sent = now
            await self._publish(batch)

    async def close(self) -> None:
        self._closed = True
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except nats.errors.Error:
                pass
