"""Snapshots of a cluster core, its start from the newest one, and the cores' state-hash comparison.

A core snapshots as the local journal does, with the same code (`router.records.snapshot`: the
order flow pickled, the matching core's arena, the two state hashes, a CRC; written by a forked
child, `snapshot_fork`, so the core keeps applying commands meanwhile). The stream is the journal:
a snapshot is the state after stream command S, taken at every command whose sequence is a
multiple of `[journal] snapshot_every`, so every core snapshots at the same commands. Beside the
flow it keeps what the core itself numbers (each session's output count, the recent outputs it
re-publishes on taking the lead, the last command time) and a digest of command S as the stream
holds it.

Snapshots are local files, one directory per core (`<journal.dir>/core-<name>/`), not a JetStream
object store: each core writes its own at the same commands anyway, a snapshot is megabytes that
R3 would copy three times more for nothing, and the fork-based writer needs a file. The price: a
core on a new machine starts from command 1 once.

At start `restore(last_seq)` loads the newest snapshot not newer than the stream whose command S
still has the recorded digest (a snapshot of another stream, e.g. after the stream was deleted
and made again, is skipped with a warning); the core then reads the stream from S + 1. A snapshot
whose state hashes do not match after loading stops the start, as in `serve`.

Hash comparison: after writing a snapshot a core publishes `{core, seq, hashes}` on
`goldrouter.cluster.hashes`; every core compares what it hears with its own hashes at the same
command (kept for the last 64 snapshot points). A mismatch is logged at ERROR and counted
(`checks["mismatch"]`); the leader and the standby each count their own comparisons.

Not here: applying commands or publishing outputs (`core`), the snapshot format (`snapshot`).
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import logging
import os
import time
from typing import Any

import nats

from router.cluster.wire import STREAM
from router.records import snapshot_fork
from router.records.journal_format import JournalError
from router.records.snapshot import SnapshotError, SnapshotStore

__all__ = ["CoreSnapshots", "HASH_SUBJECT", "command_digest"]

log = logging.getLogger("gold_router.cluster")
HASH_SUBJECT = "goldrouter.cluster.hashes"
KEEP_POINTS = 64


def command_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


class CoreSnapshots:
    """One core's snapshot store, its start from the newest snapshot, and the hash comparison."""

    def __init__(self, core: Any, directory: str, every: int, keep: int = 3, background: bool = True) -> None:
        self.core = core
        self.store = SnapshotStore(directory, keep)
        self.directory = directory
        self.every = every
        self.background = background and snapshot_fork.supported()
        self.fork = snapshot_fork.BackgroundSnapshot()
        self.last_seq = 0                 # the newest snapshot written or loaded
        self.loaded_from = 0              # the snapshot this start loaded (0: from command 1)
        self.load_seconds = 0.0
        self.taken = 0
        self.skipped = 0                  # snapshot points passed while the previous one was still writing
        self.checks = {"match": 0, "mismatch": 0}
        self.mine: collections.OrderedDict[int, dict] = collections.OrderedDict()
        self.heard: dict[int, dict[str, dict]] = {}
        self._sub: Any = None

    # -- start -----------------------------------------------------------------------------------------
    async def restore(self, last_seq: int) -> int:
        """Load the newest usable snapshot into the core; returns its command (0: none)."""
        js = self.core.nc.jetstream()
        for path in self.store.candidates(last_seq):
            try:
                snap, _ = self.store.read(path)
            except (SnapshotError, OSError) as exc:
                log.warning("%s; trying an older snapshot (the stream has every command)", exc)
                continue
            t0 = time.monotonic()
            try:
                stored = await js.get_msg(STREAM, snap.seq)
            except (nats.errors.Error, nats.js.errors.Error) as exc:
                log.warning("snapshot %s: command %d not readable from stream %s (%r); trying an older one",
                            path, snap.seq, STREAM, exc)
                continue
            try:
                snap = self.store.load_into(path, self.core.app.flow)
            except SnapshotError as exc:
                raise JournalError(f"{exc}; refusing to serve (move the snapshot away to replay the whole "
                                   "stream, and keep it for a bug report)") from None
            extra = snap.extra or {}
            if extra.get("digest") != command_digest(stored.data or b""):
                # Checked after loading (the digest is in the pickled part): the flow is now that
                # snapshot's, so a mismatch cannot fall back to an older one in this process.
                raise JournalError(f"snapshot {path}: command {snap.seq} in stream {STREAM} is not the one the "
                                   "snapshot was taken after (a different stream?); move the core's snapshot "
                                   f"directory {self.directory} away to replay the stream from command 1")
            self.core.resume(snap.seq, extra)
            self.loaded_from = self.last_seq = snap.seq
            self.load_seconds = time.monotonic() - t0
            self._remember(snap.seq, snap.hashes)
            log.info("core %s: snapshot %s loaded in %.2f s: state after command %d; reading the stream from "
                     "command %d", self.core.name, path, self.load_seconds, snap.seq, snap.seq + 1)
            return snap.seq
        return 0

    async def listen(self) -> None:
        self._sub = await self.core.nc.subscribe(HASH_SUBJECT, cb=self._heard)

    async def close(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except nats.errors.Error:
                pass

    # -- taking snapshots ------------------------------------------------------------------------------
    def after(self, seq: int, data: bytes) -> None:
        """Called after command `seq` (stored as `data`) was applied: snapshot at the agreed points."""
        if self.every and seq % self.every == 0 and seq > self.last_seq:
            self.take(seq, data)

    def take(self, seq: int, data: bytes, background: bool = True) -> None:
        core, store, flow = self.core, self.store, self.core.app.flow
        when = core.last_time
        extra = lambda: {"digest": command_digest(data), **core.resume_state()}  # noqa: E731  evaluated at fork
        if background and self.background:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                background = False
        if background and self.background:
            if self.fork.busy:
                self.skipped += 1
                log.info("core %s: snapshot point %d passed while the previous snapshot is still being "
                         "written; next point in %d commands", core.name, seq, self.every)
                return
            self.last_seq = seq
            self.fork.start(seq, lambda: store.write(seq, when, flow, extra()), self._written)
            return
        t0 = time.monotonic()
        try:
            snap = store.write(seq, when, flow, extra())
        except Exception:
            log.exception("core %s: snapshot at command %d failed; the stream still has every command",
                          core.name, seq)
            return
        self.last_seq = seq
        self._done(seq, snap.hashes, time.monotonic() - t0)

    def _written(self, seq: int, ok: bool, seconds: float) -> None:
        if not ok:
            log.error("core %s: background snapshot at command %d failed (its error is on stderr); the stream "
                      "still has every command", self.core.name, seq)
            return
        path = os.path.join(self.directory, f"{seq:012d}.snapshot")
        try:
            snap, _ = self.store.read(path)
        except (SnapshotError, OSError) as exc:
            log.error("core %s: snapshot at command %d unreadable after writing: %s", self.core.name, seq, exc)
            return
        self._done(seq, snap.hashes, seconds)

    def _done(self, seq: int, hashes: dict, seconds: float) -> None:
        self.taken += 1
        log.info("core %s: snapshot at command %d in %.0f ms: core state %s, order flow state %s",
                 self.core.name, seq, seconds * 1e3, hashes["core"][:16], hashes["flow"][:16])
        self._remember(seq, hashes)
        for name, theirs in self.heard.pop(seq, {}).items():
            self._compare(seq, name, theirs)
        body = json.dumps({"core": self.core.name, "seq": seq, "hashes": hashes}).encode()
        try:
            asyncio.get_running_loop().create_task(self._announce(body))
        except RuntimeError:
            pass

    async def _announce(self, body: bytes) -> None:
        try:
            await self.core.nc.publish(HASH_SUBJECT, body)
        except (nats.errors.Error, OSError) as exc:
            log.info("core %s: state hashes not announced (%r)", self.core.name, exc)

    # -- comparing -------------------------------------------------------------------------------------
    def _remember(self, seq: int, hashes: dict) -> None:
        self.mine[seq] = hashes
        while len(self.mine) > KEEP_POINTS:
            self.mine.popitem(last=False)

    async def _heard(self, msg: Any) -> None:
        try:
            data = json.loads(msg.data)
            name, seq, hashes = str(data["core"]), int(data["seq"]), dict(data["hashes"])
        except (ValueError, KeyError, TypeError):
            return
        if name == self.core.name:
            return
        if seq in self.mine:
            self._compare(seq, name, hashes)
        elif seq > self.last_seq or self.fork.busy:          # not there yet: compare when we are
            self.heard.setdefault(seq, {})[name] = hashes
            for old in sorted(self.heard)[:-KEEP_POINTS]:
                del self.heard[old]

    def _compare(self, seq: int, name: str, theirs: dict) -> None:
        mine = self.mine[seq]
        if mine == theirs:
            self.checks["match"] += 1
            log.info("core %s: state hashes at command %d equal those of core %s", self.core.name, seq, name)
            return
        self.checks["mismatch"] += 1
        log.error("core %s: state hashes at command %d differ from core %s: core %s vs %s, order flow %s vs %s",
                  self.core.name, seq, name, mine.get("core", "")[:16], str(theirs.get("core"))[:16],
                  mine.get("flow", "")[:16], str(theirs.get("flow"))[:16])

    def view(self) -> dict:
        return {"every": self.every, "last": self.last_seq, "loaded_from": self.loaded_from,
                "load_seconds": round(self.load_seconds, 3), "taken": self.taken, "skipped": self.skipped,
                "checks": dict(self.checks)}
