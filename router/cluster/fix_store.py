"""The FIX store in JetStream: a session's sequence numbers and sent messages follow it to another
gateway, so its client moves without resetting sequence numbers.

Each gateway keeps its sessions' stores on its own disk as in `serve` (`router.fix.store`); here
every change to a store is also appended to the R3 stream `GOLDROUTER_FIXSTORE`, one subject per
session (`goldrouter.fixstore.<session>`), as a small record: `C <ns>` (created or reset), `S <n>`
(next sender number), `T <n>` (next target number), `M <seq> ` + the frame (a message sent), `D
<ns> <days>` (a daily boundary rolled). `ReplicatedStore` wraps the local store: the session writes
to it as to any store, and its `flush()` (called by the session before anything reaches the socket)
hands the records written since to `StoreRecords`, which publishes them in order, acknowledged by
the stream, in the background.

When a gateway takes a session (`load`, from the gateway's `claim_session`, after the session's
lease is ours and before the Logon is bound) and the session's last record in the stream was not
written by this gateway process, it rebuilds its local store from the stream: the records from
the last `C` on, applied to the local store (not published again). The client then logs on with
the sequence numbers it has, and a ResendRequest is answered from the rebuilt store.

Limits, plainly: the records are written behind the socket, not before it. A gateway killed with
SIGKILL can have sent a client frames whose records the stream does not have yet (the ones of its
last few milliseconds); a client that then sees a MsgSeqNum lower than it expects must log on
again with ResetSeqNumFlag=Y, as before. The stream keeps every record from a session's last
reset on; nothing compacts it yet (a session that never resets grows it by every frame sent).
Records begin with the first change after a gateway with this code served the session: messages
sent before that are not in the stream and are gap-filled if asked for again from another gateway.

Not here: the FIX session layer, leases (`sessions`), outputs (`gateway`).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import nats
from nats.js import api
from nats.js.errors import NotFoundError

from router.records.jetstream import retry_transient

__all__ = ["STORE_STREAM", "ReplicatedStore", "StoreRecords", "apply_records"]

log = logging.getLogger("gold_router.cluster")
STORE_STREAM = "GOLDROUTER_FIXSTORE"
STORE_PREFIX = "goldrouter.fixstore"
WRITER = "Gr-Writer"
BATCH = 256


def store_subject(session: str) -> str:
    return f"{STORE_PREFIX}.{session}"


class ReplicatedStore:
    """A session's local store whose changes are also recorded for the stream (see the docstring)."""

    def __init__(self, inner: Any, session: str, records: "StoreRecords") -> None:
        self.inner = inner
        self.session = session
        self.records = records
        self._pending: list[bytes] = []

    next_sender_seq = property(lambda self: self.inner.next_sender_seq)
    next_target_seq = property(lambda self: self.inner.next_target_seq)
    creation_ns = property(lambda self: self.inner.creation_ns)

    def __len__(self) -> int:
        return len(self.inner)

    def set_next_sender_seq(self, seq: int) -> None:
        self.inner.set_next_sender_seq(seq)
        self._pending.append(b"S %d" % seq)

    def set_next_target_seq(self, seq: int) -> None:
        self.inner.set_next_target_seq(seq)
        self._pending.append(b"T %d" % seq)

    def save_sent(self, seq: int, frame: bytes) -> None:
        self.inner.save_sent(seq, frame)
        self._pending.append(b"M %d " % seq + bytes(frame))

    def get_range(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        return self.inner.get_range(begin, end)

    def reset(self, now_ns: int) -> None:
        self.inner.reset(now_ns)
        self._pending.append(b"C %d" % now_ns)

    def roll_day(self, now_ns: int, retention_days: int) -> int:
        dropped = self.inner.roll_day(now_ns, retention_days)
        self._pending.append(b"D %d %d" % (now_ns, retention_days))
        return dropped

    def flush(self) -> None:
        self.inner.flush()
        if self._pending:
            pending, self._pending = self._pending, []
            self.records.put(self.session, pending)

    def close(self) -> None:
        self.flush()
        self.inner.close()


def apply_records(store: Any, records: list[bytes]) -> None:
    """Rebuild `store` (a local store) from a session's records, oldest first, from its last reset.
    Between resets the sequence numbers only grow, so the highest recorded wins: a record re-sent
    after a lost acknowledgement and stored late changes nothing."""
    start = max((i for i, r in enumerate(records) if r.startswith(b"C ")), default=None)
    created = int(records[start][2:]) if start is not None else store.creation_ns   # no reset recorded yet
    store.reset(created)
    sender = target = 1
    for r in records[start + 1 if start is not None else 0:]:
        kind, rest = r[:1], r[2:]
        if kind == b"S":
            sender = max(sender, int(rest))
        elif kind == b"T":
            target = max(target, int(rest))
        elif kind == b"M":
            seq, _, frame = rest.partition(b" ")
            store.save_sent(int(seq), frame)
            sender = max(sender, int(seq) + 1)
        elif kind == b"D":
            now, days = rest.split()
            store.roll_day(int(now), int(days))
    store.set_next_sender_seq(sender)
    store.set_next_target_seq(target)
    store.flush()


class StoreRecords:
    """Publishes the records of this gateway's stores in order (acknowledged), and rebuilds a
    store from the stream when the gateway takes a session another process served."""

    def __init__(self, nc: Any, writer: str, *, replicas: int = 3) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.writer = writer
        self.replicas = replicas
        self.queue: list[tuple[int, str, bytes]] = []
        self._n = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.stats = {"published": 0, "rebuilt": 0}

    def view(self) -> dict:
        return {**self.stats, "queued": len(self.queue)}

    async def start(self) -> None:
        try:
            await retry_transient(lambda: self.js.stream_info(STORE_STREAM), f"stream info of {STORE_STREAM}", 30)
        except NotFoundError:
            config = api.StreamConfig(name=STORE_STREAM, subjects=[f"{STORE_PREFIX}.>"], num_replicas=self.replicas,
                                      storage=api.StorageType.FILE, retention=api.RetentionPolicy.LIMITS)
            await retry_transient(lambda: self.js.add_stream(config), f"creating stream {STORE_STREAM}", 30)
            log.info("FIX store stream %s created (R%d)", STORE_STREAM, self.replicas)
        self._task = asyncio.get_running_loop().create_task(self._drain())

    def put(self, session: str, records: list[bytes]) -> None:
        subject = store_subject(session)
        for r in records:
            self._n += 1
            self.queue.append((self._n, subject, r))
        self._wake.set()

    async def _drain(self) -> None:
        """Publish queued records back to back (each acknowledged by the stream, de-duplicated by
        Nats-Msg-Id); what failed stays queued, in order, and is sent again."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.queue:
                batch = self.queue[:BATCH]
                results = await asyncio.gather(*(self._publish(n, subject, record) for n, subject, record in batch),
                                               return_exceptions=True)
                failed = [item for item, r in zip(batch, results) if isinstance(r, BaseException)]
                self.stats["published"] += len(batch) - len(failed)
                self.queue[:len(batch)] = failed
                if failed:
                    log.info("FIX store stream: %d records not stored yet (%r); sending them again", len(failed),
                             next(r for r in results if isinstance(r, BaseException)))
                    await asyncio.sleep(0.5)

    def _publish(self, n: int, subject: str, record: bytes):
        return self.js.publish(subject, record, timeout=5,
                               headers={WRITER: self.writer, "Nats-Msg-Id": f"{self.writer}-{n}"})

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until every queued record is stored (a clean stop, a test)."""
        deadline = time.monotonic() + timeout
        while self.queue and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def load(self, session: str, store: Any) -> bool:
        """Rebuild `store` (the local store under a ReplicatedStore) from the stream unless this process
        wrote the session's last record; True if rebuilt."""
        subject = store_subject(session)
        try:
            last = await self.js.get_msg(STORE_STREAM, subject=subject)
        except NotFoundError:
            return False                          # the session has no records yet
        if (last.headers or {}).get(WRITER) == self.writer:
            return False
        records = await self._read(subject, last.seq)
        apply_records(store, records)
        self.stats["rebuilt"] += 1
        log.info("FIX store of %s rebuilt from stream %s (%d records): next sender %d, next target %d, %d "
                 "messages for resend", session, STORE_STREAM, len(records), store.next_sender_seq,
                 store.next_target_seq, len(store))
        return True

    async def _read(self, subject: str, last_seq: int) -> list[bytes]:
        config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL, filter_subject=subject)
        sub = await self.js.subscribe(subject, stream=STORE_STREAM, ordered_consumer=True, config=config)
        out: list[bytes] = []
        try:
            while True:
                msg = await sub.next_msg(timeout=10)
                out.append(msg.data)
                if msg.metadata.sequence.stream >= last_seq:
                    return out
        finally:
            await sub.unsubscribe()

    async def close(self) -> None:
        await self.idle(5.0)
        if self._task is not None:
            self._task.cancel()
