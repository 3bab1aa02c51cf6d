"""The command journal on a replicated NATS JetStream stream: the `Journal` contract, asynchronously.

`JetStreamJournal.open(nc, stream=..., subject=..., replicas=3)` creates the stream (file storage,
limits retention, a de-duplication window) or verifies that an existing one has the same subject,
storage and replica count, then reads where it ends. The stream sequence *is* the command
sequence: command `seq` is stored as stream message `seq`, so a core replaying the stream needs no
second sequencer. Each message is the same record bytes as a `FileJournal` record
(`journal_format.encode_command`, CRC included), so a reader checks integrity end to end.

`append(batch)` publishes the whole batch back to back (pipelined: one flush, then the acks are
awaited together, not one round trip per command) with two headers per message:
`Nats-Msg-Id: <seq>` (the stream drops a re-sent copy inside its duplicate window and acks it as
a duplicate) and `Nats-Expected-Last-Sequence: <seq - 1>` (the stream refuses the message unless
it would be stored as exactly `seq`). A command counts as stored when its ack names stream sequence
`seq`; a duplicate ack, or a refusal that may only mean a predecessor was lost, is settled by
reading message `seq` back: the same bytes mean stored (a retry after a lost ack), other bytes
mean another writer got there first, and the append raises `JournalFenced`. Lost acks (a node
killed, a leader election) are retried from the first unsettled command until `append_timeout`.

Mapping to `journal.Journal`: same names and meaning, but `append`, `read` and `close` are
coroutines (`read` is an async iterator) because the client is asyncio; `last_seq` is a property
(the last sequence this writer stored or found on open). Exactly one writer per stream is the
deployment rule (the lease in `router.records.lease` decides who); the expected-sequence check
makes a second writer fail loudly instead of interleaving. The stream-wide expected sequence is
checked by the stream leader against its in-flight sequence, so it holds for concurrent writers
too, except for command 1 (nats-server does not check an expected sequence of 0): two writers
racing to write the very first command are caught by the ack naming the wrong stream sequence,
after the fact, and `open` then refuses the stream.

Not here: who may write (the lease), snapshots, replay into the order flow, metrics export
(`stats` holds the counters for `router.ops`), or the wiring into `serve`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from dataclasses import dataclass
from typing import AsyncIterator, Sequence

import nats
from nats.aio.client import Client
from nats.js import api
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError

from router.records.journal import check_batch
from router.records.journal_format import (
    BODY, PREFIX, Command, JournalCorrupt, JournalError, decode_body, encode_command,
)

__all__ = ["JetStreamJournal", "JournalFenced", "connect", "decode_record", "retry_transient"]

log = logging.getLogger(__name__)
WRONG_LAST_SEQUENCE = 10071  # JetStream's err_code for a failed Nats-Expected-Last-Sequence
READ_BATCH = 512
# What a node's death or a leader election looks like to a request: ask again shortly.
TRANSIENT = (asyncio.TimeoutError, nats.errors.NoRespondersError, ServiceUnavailableError)


class JournalFenced(JournalError):
    """Another writer stored a different command at a sequence this writer meant to use."""


async def connect(servers: str | Sequence[str], name: str = "gold-router", on_reconnect: list | None = None) -> Client:
    """A NATS connection that reconnects for ever (logging each drop and return at INFO); after each
    reconnection it awaits every coroutine function in `on_reconnect` (a list the caller may fill later)."""
    urls = [u.strip() for u in servers.split(",")] if isinstance(servers, str) else list(servers)

    async def disconnected() -> None:
        log.info("nats: disconnected from %s", nc.connected_url.netloc if nc.connected_url else "?")

    async def reconnected() -> None:
        log.info("nats: reconnected to %s", nc.connected_url.netloc if nc.connected_url else "?")
        for fn in on_reconnect or ():
            try:
                await fn()
            except Exception:
                log.exception("nats: a reconnection hook failed")

    async def error(exc: Exception) -> None:
        log.info("nats: %s", exc)

    nc = await nats.connect(servers=urls, name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.2,
                            connect_timeout=2, disconnected_cb=disconnected, reconnected_cb=reconnected,
                            error_cb=error)
    log.info("nats: connected to %s (%d server URL(s) known)", nc.connected_url.netloc, len(urls))
    return nc


def decode_record(data: bytes) -> Command:
    """A stream message's bytes back to a Command, checking the length words and CRC."""
    if len(data) < PREFIX.size + BODY.size:
        raise JournalCorrupt(f"stream message of {len(data)} bytes is too short for a command record")
    length, check, crc = PREFIX.unpack_from(data, 0)
    if length ^ 0xFFFFFFFF != check or PREFIX.size + length != len(data):
        raise JournalCorrupt(f"stream message length words damaged ({length}, message {len(data)} bytes)")
    body = memoryview(data)[PREFIX.size:]
    if zlib.crc32(body, zlib.crc32(data[:4])) != crc:
        raise JournalCorrupt("stream message CRC mismatch")
    return decode_body(body)


async def retry_transient(call, what: str, timeout: float):
    """`await call()` again while JetStream has no leader to answer or is too slow to (until `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except TRANSIENT as exc:
            if time.monotonic() >= deadline:
                raise
            log.info("%s failed (%r); trying again", what, exc)
            await asyncio.sleep(0.2)


@dataclass
class JournalStats:
    appends: int = 0
    commands: int = 0
    retries: int = 0  # rounds re-sent after a lost ack or a leaderless stream
    duplicates: int = 0  # commands the stream already held (a re-sent batch)


class JetStreamJournal:
    """A command journal on one JetStream stream; build it with `await JetStreamJournal.open(...)`."""

    def __init__(self, nc: Client, stream: str, subject: str, last_seq: int, *, ack_wait: float,
                 append_timeout: float) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=max(ack_wait, 1.0))  # a leaderless stream answers nothing: ask again soon
        self.stream = stream
        self.subject = subject
        self._last_seq = last_seq
        self.ack_wait = ack_wait
        self.append_timeout = append_timeout
        self.stats = JournalStats()
        self._closed = False
        self._lock = asyncio.Lock()
        self._rounds = 0
        self._ack_sub = None
        self._ack_prefix = ""
        self._waiting: dict[int, tuple[dict[int, dict], int, asyncio.Future]] = {}

    @classmethod
    async def open(cls, nc: Client, *, stream: str = "GOLDROUTER_COMMANDS", subject: str = "goldrouter.commands",
                   replicas: int = 3, duplicate_window: float = 120.0, ack_wait: float = 2.0,
                   append_timeout: float = 15.0) -> "JetStreamJournal":
        js = nc.jetstream()
        try:
            info = await retry_transient(lambda: js.stream_info(stream), f"stream info of {stream}", append_timeout)
        except NotFoundError:
            config = api.StreamConfig(name=stream, subjects=[subject], storage=api.StorageType.FILE,
                                      retention=api.RetentionPolicy.LIMITS, num_replicas=replicas,
                                      duplicate_window=duplicate_window, discard=api.DiscardPolicy.OLD)
            # Adding a stream with the same configuration again is accepted, so a lost answer is retried.
            info = await retry_transient(lambda: js.add_stream(config), f"creating stream {stream}", append_timeout)
            log.info("journal stream %s created: subject %s, R%d, duplicate window %.0f s", stream, subject,
                     replicas, duplicate_window)
        else:
            cfg = info.config
            problems = []
            if list(cfg.subjects or []) != [subject]:
                problems.append(f"subjects {cfg.subjects} (want [{subject!r}])")
            if (cfg.num_replicas or 1) != replicas:
                problems.append(f"R{cfg.num_replicas or 1} (want R{replicas})")
            if cfg.storage not in (None, api.StorageType.FILE):
                problems.append(f"storage {cfg.storage} (want file)")
            if problems:
                raise JournalError(f"stream {stream} exists with a different configuration: {'; '.join(problems)}")
        state = info.state
        journal = cls(nc, stream, subject, state.last_seq, ack_wait=ack_wait, append_timeout=append_timeout)
        if state.messages and state.first_seq != 1:
            raise JournalError(f"stream {stream} starts at sequence {state.first_seq}: the command journal "
                               "must hold every command from 1 (was it purged or given limits?)")
        if state.last_seq:
            last = await journal._retry(lambda: journal._stored(state.last_seq), "reading the last message")
            if last is None or decode_record(last).seq != state.last_seq:
                raise JournalCorrupt(f"stream {stream}: message {state.last_seq} does not hold command "
                                     f"{state.last_seq}")
        log.info("journal stream %s opened: last seq %d", stream, state.last_seq)
        return journal

    @property
    def last_seq(self) -> int:
        return self._last_seq

    # -- append ---------------------------------------------------------------------------------------------

    async def append(self, commands: Sequence[Command]) -> None:
        """Store the batch (pipelined); returns once every command is acknowledged by the stream's quorum."""
        if self._closed:
            raise JournalError("journal is closed")
        commands = commands if isinstance(commands, (list, tuple)) else list(commands)
        if not commands:
            return
        async with self._lock:
            check_batch(self._last_seq, commands)
            records = {c.seq: encode_command(c) for c in commands}
            await self._store(records, commands[0].seq, commands[-1].seq)
            self._last_seq = commands[-1].seq
            self.stats.appends += 1
            self.stats.commands += len(commands)

    async def _store(self, records: dict[int, bytes], first: int, last: int) -> None:
        deadline = time.monotonic() + self.append_timeout
        pending = first  # the first command not yet known to be stored
        while True:
            acks = await self._publish_round(records, pending, last)
            for seq in range(pending, last + 1):
                ack = acks.get(seq)
                if ack is not None and ack.get("seq") == seq and "error" not in ack:
                    if ack.get("duplicate"):
                        await self._settle(seq, records[seq], must_exist=True)
                        self.stats.duplicates += 1
                    pending = seq + 1
                    continue
                if ack is not None and "error" in ack and ack["error"].get("err_code") != WRONG_LAST_SEQUENCE:
                    if ack["error"].get("code") != 503:
                        raise JournalError(f"stream {self.stream} refused command {seq}: "
                                           f"{ack['error'].get('description')}")
                if ack is not None and "error" not in ack:
                    raise JournalError(f"stream {self.stream} stored command {seq} as message {ack.get('seq')}: "
                                       "another writer's commands are in the stream")
                # Lost, leaderless, or refused for its position: read the stream to decide.
                try:
                    if await self._settle(seq, records[seq], must_exist=False):
                        pending = seq + 1
                        continue
                except (asyncio.TimeoutError, nats.errors.Error):
                    pass  # no stream leader to ask just now: re-send after a pause
                break
            if pending > last:
                return
            if time.monotonic() >= deadline:
                raise JournalError(f"stream {self.stream}: commands {pending}-{last} not acknowledged within "
                                   f"{self.append_timeout:.0f} s")
            self.stats.retries += 1
            log.info("journal stream %s: re-sending commands %d-%d (no acknowledgement yet)", self.stream,
                     pending, last)
            await asyncio.sleep(0.1)

    async def _acks(self) -> str:
        """The reply-subject prefix of this journal's one ack subscription (made on first use)."""
        if self._ack_sub is None:
            self._ack_prefix = self._nc.new_inbox()
            self._ack_sub = await self._nc.subscribe(f"{self._ack_prefix}.>", cb=self._on_ack)
        return self._ack_prefix

    async def _on_ack(self, msg) -> None:
        try:
            _, round_no, seq = msg.subject.rsplit(".", 2)
            waiting = self._waiting.get(int(round_no))
            seq = int(seq)
        except ValueError:
            return
        if waiting is None:
            return  # a late ack of an abandoned round: that round's commands are settled by reading
        acks, want, done = waiting
        if not msg.data or (msg.headers and msg.headers.get("Status") == "503"):
            acks[seq] = {"error": {"code": 503, "description": "no responders"}}
        else:
            try:
                acks[seq] = json.loads(msg.data)
            except ValueError:
                acks[seq] = {"error": {"code": 500, "description": f"unreadable ack {msg.data[:80]!r}"}}
        if len(acks) >= want and not done.done():
            done.set_result(None)

    async def _publish_round(self, records: dict[int, bytes], first: int, last: int) -> dict[int, dict]:
        """Publish records first..last back to back; the acks that arrive within ack_wait, by seq."""
        prefix = await self._acks()
        self._rounds += 1
        round_no = self._rounds
        done = asyncio.get_running_loop().create_future()
        acks: dict[int, dict] = {}
        self._waiting[round_no] = (acks, last - first + 1, done)
        try:
            publish = self._nc.publish
            for seq in range(first, last + 1):
                headers = {"Nats-Msg-Id": str(seq), "Nats-Expected-Last-Sequence": str(seq - 1)}
                await publish(self.subject, records[seq], reply=f"{prefix}.{round_no}.{seq}", headers=headers)
            await asyncio.wait_for(done, self.ack_wait)
        except (asyncio.TimeoutError, nats.errors.Error):
            pass  # whatever was acked is in `acks`; the caller settles the rest
        finally:
            del self._waiting[round_no]
        return acks

    async def _settle(self, seq: int, record: bytes, *, must_exist: bool) -> bool:
        """True if message `seq` holds `record`; False if the stream does not hold `seq` yet; else JournalFenced."""
        stored = await self._stored(seq)
        if stored is None:
            if must_exist:
                raise JournalError(f"stream {self.stream} acked command {seq} as a duplicate but has no message {seq}")
            return False
        if stored != record:
            raise JournalFenced(f"stream {self.stream}: message {seq} holds another writer's command; this writer "
                                f"(at seq {self._last_seq}) is fenced off and must reload from the stream")
        return True

    async def _stored(self, seq: int) -> bytes | None:
        try:
            msg = await self._js.get_msg(self.stream, seq)
        except NotFoundError:
            return None
        except APIError as exc:
            if exc.code == 404:
                return None
            raise
        return msg.data or b""

    # -- read -----------------------------------------------------------------------------------------------

    async def read(self, from_seq: int = 1) -> AsyncIterator[Command]:
        """Commands from from_seq to the stream's end as it stands when the call is made.

        A consumer lost to a node's death or a leader election is recreated from the next command
        (until `append_timeout` passes without progress)."""
        if not isinstance(from_seq, int) or from_seq < 1:
            raise ValueError(f"from_seq must be a positive integer, not {from_seq!r}")
        end = (await self._retry(lambda: self._js.stream_info(self.stream), "stream info")).state.last_seq
        expected = from_seq
        deadline = time.monotonic() + self.append_timeout
        while expected <= end:
            config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=expected,
                                        ack_policy=api.AckPolicy.NONE, inactive_threshold=30.0,
                                        mem_storage=True, num_replicas=1)
            sub = None
            try:
                sub = await self._js.pull_subscribe(self.subject, stream=self.stream, config=config)
                while expected <= end:
                    for msg in await sub.fetch(min(READ_BATCH, end - expected + 1), timeout=2):
                        cmd = decode_record(msg.data)
                        if cmd.seq != expected or msg.metadata.sequence.stream != expected:
                            raise JournalCorrupt(f"stream {self.stream}: message {msg.metadata.sequence.stream} "
                                                 f"holds command {cmd.seq}, expected {expected}")
                        expected += 1
                        deadline = time.monotonic() + self.append_timeout
                        yield cmd
            except (asyncio.TimeoutError, nats.errors.Error) as exc:
                if time.monotonic() >= deadline:
                    raise JournalError(f"stream {self.stream}: reading from command {expected} failed ({exc!r})") from exc
                log.info("journal stream %s: reading again from command %d (%r)", self.stream, expected, exc)
                await asyncio.sleep(0.2)
            finally:
                if sub is not None:
                    try:
                        await sub.unsubscribe()
                    except nats.errors.Error:
                        pass

    async def _retry(self, call, what: str):
        return await retry_transient(call, f"journal stream {self.stream}: {what}", self.append_timeout)

    async def close(self) -> None:
        """Stop using the journal (the connection belongs to the caller and stays open)."""
        self._closed = True
        if self._ack_sub is not None:
            try:
                await self._ack_sub.unsubscribe()
            except nats.errors.Error:
                pass
            self._ack_sub = None
