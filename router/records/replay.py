"""Start-up recovery: the newest usable snapshot, then the journal's commands after it, applied in
order with nothing sent, checking on the way that the state is the one the live router had.

`replay` loads the newest snapshot not newer than the journal (a damaged one, by CRC, is skipped
for an older one; one whose state hashes do not match after loading stops the start: a forked
child computes them on the second core while this process replays the tail), replays
the commands after it through the same `CommandApplier` the live router uses (building no
ExecutionReport body before the tail: `reports.quiet_report`), stops the start at
a checkpoint whose state hashes the replay does not reach, and keeps the outputs of the last
`tail` commands so the caller can re-deliver ExecutionReports a kill kept from the FIX store.

Not here: sending anything, building the order flow, deciding what a first command must say.
"""
from __future__ import annotations

import gc
import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from router.orders.reports import quiet_report
from router.records.commands import CommandApplier
from router.records.journal import Command, CommandKind, Journal, JournalError
from router.records import snapshot_fork
from router.records.snapshot import Snapshot, SnapshotError, SnapshotStore, check_hashes
from router.records.state_hash import hash_version, state_hashes

__all__ = ["Replayed", "replay", "REDELIVER_TAIL"]

log = logging.getLogger(__name__)
# Commands at the journal's end whose outputs recovery keeps for re-delivery: far more than one
# event-loop batch, the most a kill can catch between the journal write and the FIX store write.
REDELIVER_TAIL = 10_000


@dataclass
class Replayed:
    commands: int = 0
    snapshot: Snapshot | None = None
    tail_outs: list = field(default_factory=list)      # (command time, Out) of the last commands


def _load_snapshot(snapshots: SnapshotStore, last_seq: int, flow: Any) -> tuple[Snapshot, Callable[[], None]] | None:
    """The newest usable snapshot loaded into `flow`, and the check of its state hashes to call once
    the replay is done: the hashes are computed by a forked child on the state as loaded, beside
    the replay (a second of CPU at 20k known orders), or at once where there is no fork."""
    for path in snapshots.candidates(last_seq):
        try:
            read = snapshots.read(path)
        except (SnapshotError, OSError) as exc:
            log.warning("%s; trying an older snapshot (the journal has every command)", exc)
            continue
        forked = snapshot_fork.supported()
        snap = snapshots.load_into(path, flow, verify=not forked, read=read)
        log.info("snapshot %s loaded: state after command %d", path, snap.seq)
        if not forked:
            return snap, lambda: None
        version = hash_version(snap.hashes)
        pending = snapshot_fork.ForkedCheck(lambda: json.dumps(state_hashes(flow, version)).encode())
        return snap, lambda: check_hashes(snap, json.loads(pending.result()))
    return None


def _refuse_snapshot(exc: Exception) -> JournalError:
    return JournalError(f"{exc}; refusing to serve (move the snapshot away to replay the whole journal, and "
                        "keep it for a bug report)")


def replay(journal: Journal, applier: CommandApplier, *, snapshots: SnapshotStore | None = None,
           check_first: Callable[[Command], None] | None = None,
           on_progress: Callable[[int], None] | None = None, tail: int = REDELIVER_TAIL,
           pause_gc: bool = True, freeze: bool = False) -> Replayed:
    """Replay with the cyclic garbage collector paused (`pause_gc`): the replay builds the whole state
    and each generational pass would walk it again for nothing; one collection follows at the end
    (`benchmarks.recovery` measures the difference). With `freeze` (the service's start) the
    rebuilt state is frozen instead, like what `RouterApp.warm_up` froze: it is the process's
    long-lived state, the order flow leaves no cyclic garbage to find (a collection after the
    benchmark's 100k-command tail finds 0 objects) and the collection walked every object the
    replay made: 0.18 s of a start (benchmarks/README.md, "Reading the journal at a start"), and
    the collector's later passes while serving skip it too."""
    enabled = gc.isenabled()
    if pause_gc:
        gc.disable()
    try:
        return _replay(journal, applier, snapshots, check_first, on_progress, tail)
    finally:
        if pause_gc and enabled:
            gc.enable()
            if freeze:
                gc.freeze()
            else:
                gc.collect()


def _replay(journal: Journal, applier: CommandApplier, snapshots: SnapshotStore | None,
            check_first: Callable[[Command], None] | None, on_progress: Callable[[int], None] | None,
            tail: int) -> Replayed:
    out = Replayed()
    first = next(iter(journal.read(1)), None)
    if first is None:
        return out
    if check_first is not None:
        check_first(first)
    verify_snapshot = None
    if snapshots is not None:
        try:
            loaded = _load_snapshot(snapshots, journal.last_seq, applier.flow)
        except SnapshotError as exc:
            raise _refuse_snapshot(exc) from None
        if loaded is not None:
            out.snapshot, verify_snapshot = loaded
    start = out.snapshot.seq + 1 if out.snapshot is not None else 1
    with _metrics_detached(applier.flow):
        n = _apply_all(journal, applier, start, journal.last_seq - tail, out, on_progress)
    out.commands = n
    if verify_snapshot is not None:
        try:
            verify_snapshot()
        except (SnapshotError, RuntimeError) as exc:
            raise _refuse_snapshot(exc) from None
    return out


class _Mismatch(Exception):
    """A checkpoint the replay reached with other state hashes (stops the start, unlike a command
    that failed live)."""


_FIX_IN = CommandKind.FIX_IN.value


def read_fields(journal: Journal, start: int) -> Iterator[tuple]:
    """The commands from `start` on as (seq, time_ns, kind value, session, payload): the file journal
    reads them so (no `Command` per record, ~0.6 µs each); any other journal's commands are taken apart."""
    fields = getattr(journal, "read_fields", None)
    if fields is not None:
        return fields(start)
    return ((c.seq, c.time_ns, c.kind.value, c.session, c.payload) for c in journal.read(start))


@contextmanager
def _metrics_detached(flow: Any) -> Iterator[None]:
    """Replayed commands are history, not this process's work: the flow and the parts of it that count
    into the same metrics (the ledger, trading status) count nothing while replaying, and skip their
    timings (×1.14 replay CPU with the one-decoder parse, benchmarks/README.md "Restart"). The caller
    sets the gauges from the rebuilt state afterwards (`RouterApp._refresh_gauges`)."""
    metrics = getattr(flow, "metrics", None)
    if metrics is None:
        yield
        return
    # The flow's parts from the objects it refers to, not `vars(flow)`: making an object's `__dict__`
    # slows its attribute reads for good on CPython 3.11 (router.records.snapshot._inline_state).
    parts = gc.get_referents(flow)
    parts += [v for d in parts if type(d) is dict for v in d.values()]
    holders = [flow] + [v for v in parts if v is not flow and getattr(v, "metrics", None) is metrics]
    perf = getattr(flow, "perf", None)
    for h in holders:
        h.metrics = None
    flow.perf = None
    try:
        yield
    finally:
        for h in holders:
            h.metrics = metrics
        flow.perf = perf


def _apply_all(journal: Journal, applier: CommandApplier, start: int, tail_from: int, out: Replayed,
               on_progress: Callable[[int], None] | None) -> int:
    """Apply the commands from `start` on; those up to `tail_from` build no ExecutionReport body (their
    outputs are dropped), the rest keep their outputs for re-delivery."""
    flow = applier.flow
    quiet = start <= tail_from and hasattr(type(flow), "exec_report")
    if quiet:
        flow.exec_report = quiet_report
    apply, apply_fix_in = applier.apply, applier.apply_fix_in
    n = 0
    try:
        for seq, time_ns, kind, session, payload in read_fields(journal, start):
            if quiet and seq > tail_from:
                del flow.exec_report
                quiet = False
            try:
                if kind == _FIX_IN:
                    outs = apply_fix_in(seq, session, payload, time_ns)
                else:
                    applied = apply(Command(seq, time_ns, CommandKind(kind), session, payload))
                    if applied.reason == "state_mismatch":
                        raise _Mismatch(applied.detail)
                    outs = applied.outs
            except _Mismatch as exc:
                raise JournalError(f"replaying the journal to command {seq} did not rebuild the state the "
                                   f"router had there: {exc}; refusing to serve "
                                   "(`gold-router journal verify` shows more)") from None
            except Exception:
                # The live router failed on this command too (it is journaled all the same) and went on.
                log.warning("command %d failed in the replay as it did live; going on", seq, exc_info=True)
                n += 1
                continue
            if seq > tail_from and outs:
                out.tail_outs.extend((time_ns, o) for o in outs)
            n += 1
            if on_progress is not None and n % 100_000 == 0:
                on_progress(n)
    finally:
        if quiet:
            del flow.exec_report
    return n
