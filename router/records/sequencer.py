"""Write-ahead sequencing for the router application: every state-changing input becomes a numbered
`Command`, applied at once and journaled in batches before any of its outputs is sent; start-up
recovery; snapshots; the clean stop.

`Sequencer` is a mixin of the shell's `RouterApp` (it uses `journal`, `applier`, `flow`, `clock`,
`metrics`, `config`, `sessions_always_open`, `snapshots`, `snapshot_background`,
`background_snapshot`, `gateway` and `send` from it). Outputs are
held until `commit()` has appended the batch to the journal with one write (group commit): the
gateway calls `commit` before it writes anything to a FIX store or socket, and the mixin schedules
one itself for timer and admin input. `recover()` loads the newest snapshot and replays the
journal after it (`replay`), sending nothing; ExecutionReports a kill kept from the FIX store are
re-delivered once the gateway is attached. A clean stop journals a checkpoint of the state hashes
and writes a snapshot; it cancels working orders only when asked to.

Not here: what a command does (`commands.CommandApplier`), sockets, FIX sessions, the order flow.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import datetime, timezone
from typing import Any, Callable

from router.fix.encoding import WireBody
from router.orders.core_bridge import Out
from router.records import snapshot_fork
from router.records.commands import Applied, admin_payload, decode_admin
from router.records.journal import Command, CommandKind, JournalError, live_command
from router.records.replay import replay
from router.records.state_hash import state_hashes

__all__ = ["Sequencer", "config_digest"]

log = logging.getLogger("gold_router.app")


def config_digest(config: Any) -> str:
    """SHA-256 of the merged configuration tree (canonical JSON), recorded by the journal's first command."""
    text = json.dumps(config.raw, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _exec_id(body: Any) -> bytes | None:
    """A report's ExecID(17): read off an encoded body's wire (the order flow's reports; building the
    pairs of each cost most of a re-delivery), else from its pairs."""
    if body.__class__ is WireBody:
        return body.field(17)
    return dict(body).get(17)


def _tag(frame: bytes, marker: bytes) -> bytes | None:
    start = frame.find(marker)
    if start < 0:
        return None
    start += len(marker)
    return frame[start:frame.find(b"\x01", start)]



class Sequencer:
    """Mixin: numbering, write-ahead commit, recovery and snapshots (see the module docstring)."""

    def command(self, kind: CommandKind, session: str, payload: bytes, now_ns: int, msg: Any = None) -> Applied:
        """Number an input, apply it, and (with a journal) hold its outputs until `commit`."""
        self.seq += 1
        cmd = live_command(self.seq, now_ns, kind, session, payload)
        try:
            applied = self.applier.apply(cmd, msg)
        except Exception:
            # Journaled all the same: it may have changed state before failing, and a replay fails
            # the same way at the same point (replay logs it and goes on, as the caller does here).
            if self.journal is not None:
                self._pending.append(cmd)
                self._schedule_commit()
            raise
        if self.journal is None:
            self.send(applied.outs)
            return applied
        self._pending.append(cmd)
        if applied.outs:
            self._held.extend(applied.outs)
        self._schedule_commit()
        return applied

    def _schedule_commit(self) -> None:
        # Input the gateway is reading commits at the end of that read (its flush calls `commit`
        # before any store or socket write): nothing to schedule then, one call_soon per message less.
        if not self._commit_scheduled and not getattr(self.gateway, "reading", False):
            self._commit_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self.commit)
            except RuntimeError:      # no event loop (tools, tests): commit at once
                self.commit()

    def admin(self, op: str, now_ns: int, **args: Any) -> Applied:
        return self.command(CommandKind.ADMIN, "", admin_payload(op, **args), now_ns)

    def commit(self) -> None:
        """Append the pending commands to the journal in one write, then send their outputs."""
        self._commit_scheduled = False
        pending = self._pending
        if pending:
            t0 = self._perf()
            try:
                self._rotate(pending[0].time_ns)
                self.journal.append(pending)
            except Exception:
                # Nothing of this batch may reach a client; keep it and retry on the next commit.
                log.exception("journal write failed at command %d; %d commands and their outputs held",
                              pending[0].seq, len(pending))
                if self.metrics is not None:
                    self.metrics.journal_error()
                return
            if self.metrics is not None:
                self.metrics.journal_batch(len(pending), self._perf() - t0, pending[-1].seq)
            self._pending = []
            if (self.snapshot_every and self.snapshots is not None and not self._snapshot_scheduled
                    and self.seq - self.snapshot_seq >= self.snapshot_every):
                self._snapshot_scheduled = True
                # Later, not now: this batch's outputs first reach their FIX stores and sockets.
                try:
                    asyncio.get_running_loop().call_later(0.05, self.take_snapshot)
                except RuntimeError:
                    self.take_snapshot()
        if self._held:
            held, self._held = self._held, []
            self.send(held)

    def take_snapshot(self, background: bool = True) -> None:
        """Write the state after the last journaled command to the snapshot store: from a forked child
        while the event loop runs (`snapshot_fork`, the loop pauses only to fork), else synchronously
        (at a clean stop, without a running loop, or where fork does not exist)."""
        self._snapshot_scheduled = False
        if self.snapshots is None or self.seq == self.snapshot_seq:
            return
        self.commit()
        if self._pending:       # the journal refused the batch: a snapshot must not get ahead of it
            return
        if background and self._background_snapshot():
            return
        t0 = self._perf()
        try:
            snap = self.snapshots.write(self.seq, self.clock(), self.flow)
        except Exception:
            log.exception("snapshot at command %d failed; the journal still has every command", self.seq)
            return
        took = self._perf() - t0
        self.snapshot_seq = self.seq
        if self.metrics is not None:
            self.metrics.snapshot_taken(took, self.seq)
        log.info("snapshot %s: state after command %d in %.0f ms", snap.path, self.seq, took / 1e6)

    def _background_snapshot(self) -> bool:
        """Start a snapshot in a forked child; False when it must be written here and now instead."""
        if not snapshot_fork.supported() or not self.snapshot_background:
            return False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        bg = self.background_snapshot
        if bg.busy:                 # one at a time; the next commit past the interval asks again
            return True
        seq, now, store, flow = self.seq, self.clock(), self.snapshots, self.flow
        self._snapshot_scheduled = True      # until the child is done
        pause = bg.start(seq, lambda: store.write(seq, now, flow), self._snapshot_written)
        if self.metrics is not None:
            self.metrics.snapshot_forked(pause)
        log.info("snapshot at command %d: writing in background process %d (the event loop paused %.1f ms "
                 "to fork)", seq, bg.pid, pause / 1e6)
        return True

    def _snapshot_written(self, seq: int, ok: bool, seconds: float) -> None:
        self._snapshot_scheduled = False
        if not ok:
            log.error("background snapshot at command %d failed (its error is on stderr); the journal still "
                      "has every command", seq)
            return
        self.snapshot_seq = max(self.snapshot_seq, seq)
        if self.metrics is not None:
            self.metrics.snapshot_taken(int(seconds * 1e9), seq)
        log.info("snapshot at command %d written by the background process in %.0f ms", seq, seconds * 1e3)

    # The journal day of the calendar interval holding the last commit: (from ns, until ns, day text or
    # None while closed, the calendars). Within [from, until) the first book's (session state, trading
    # day) does not change (`Calendars.next_change`), so neither does the day; asking the calendars and
    # formatting the date per commit took ~1 us (benchmarks/README.md, "The journal's day per commit").
    _day_memo: tuple | None = None

    def _rotate(self, now_ns: int) -> None:
        """One journal file per trading day: the day of the first book's schedule (the mainland's),
        or the UTC date when no calendar says; a closed period stays in the current day's file."""
        rotate = getattr(self.journal, "rotate", None)
        if rotate is None:
            return
        calendars = self.flow.calendars
        memo = self._day_memo
        if memo is not None and memo[0] <= now_ns < memo[1] and memo[3] is calendars:
            day = memo[2]
        else:
            day = None
            if calendars is not None:
                schedule = self.flow.books[0].schedule
                got = calendars.trading_day(schedule, now_ns)
                day = None if got is None else str(got)
                until = calendars.next_change(schedule, now_ns)
                self._day_memo = None if until is None else (now_ns, until, day, calendars)
        current = self.journal.trading_day
        if day is None:
            if current is not None:
                return
            day = str(datetime.fromtimestamp(now_ns // 1_000_000_000, timezone.utc).date())
        if day != current:
            rotate(day)

    def recover(self, on_progress: Callable[[int], None] | None = None, *, freeze: bool = False) -> int:
        """Load the newest snapshot and replay the journal after it into the order flow (sending
        nothing); on an empty journal, record this run's id as its first command. Returns how many
        commands were replayed. `freeze`: see `replay` (the service's start)."""
        journal = self.journal
        if journal is None:
            return 0
        # Until the replay is done the flow holds a partial state: `shutdown` must not record it.
        self._recovery = "under way"
        done = replay(journal, self.applier, snapshots=self.snapshots, check_first=self._check_start,
                      on_progress=on_progress, freeze=freeze)
        self._tail_outs = done.tail_outs
        self.seq = self.snapshot_seq = journal.last_seq
        self._fresh_journal = self.seq == 0
        if self._fresh_journal:
            self.admin("start", self.clock(), run_id=self.flow.ids.run.decode(),
                       sessions_always_open=self.sessions_always_open, config_sha256=config_digest(self.config))
            self.commit()
        else:
            self._warn_config_change(done.commands)
        self._refresh_gauges()
        self.recovered_from = done.snapshot
        self._recovery = "done"
        return done.commands

    def _check_start(self, cmd: Command) -> None:
        """A replay is exact only under the settings the journal was written with: refuse a different
        session-hours mode (it changes which orders trade). A changed configuration is `_warn_config_change`."""
        if cmd.kind != CommandKind.ADMIN:
            return
        args = decode_admin(cmd.payload)
        if args.get("op") != "start":
            return
        if args.get("sessions_always_open") is not None and args["sessions_always_open"] != self.sessions_always_open:
            want = "with" if args["sessions_always_open"] else "without"
            raise JournalError(f"the journal in {getattr(self.journal, 'directory', 'memory')} was written {want} "
                               f"--sessions-always-open; start {want} it, or with another --journal-dir")

    def _warn_config_change(self, replayed: int) -> None:
        """Commands replayed after the snapshot ran live under the configuration of their run (the last
        start or restart command); replayed under another one they may not rebuild what clients saw."""
        was = getattr(self.flow, "config_sha256", None)
        now = config_digest(self.config)
        if was is not None and was != now and replayed:
            log.warning("journal: the %d commands replayed after the snapshot ran under configuration %s and "
                        "were replayed under %s; the state may differ from what clients saw (stop the router "
                        "cleanly before changing its configuration: the stop snapshots; `gold-router journal "
                        "verify` compares)", replayed, was[:12], now[:12])

    def record_restart(self) -> None:
        """Journal this start's configuration digest (the first start's `start` command holds it already),
        so every run's configuration is on record and the next replay knows which one applied."""
        if self.journal is None or getattr(self, "_fresh_journal", True):
            return
        was = getattr(self.flow, "config_sha256", None)
        now = config_digest(self.config)
        self.admin("restart", self.clock(), config_sha256=now)
        self.commit()
        log.info("journal: restart at command %d, configuration %s%s", self.seq, now[:12],
                 "" if was in (None, now) else f" (changed since the last run: was {was[:12]})")

    def shutdown(self, cancel_working: bool) -> None:
        """Before the gateway logs everyone out: optionally cancel every working order (journaled and
        sent before the Logouts), then stop treating session ends as disconnects: a restart of the
        router is not a client disconnect, so GTC and DAY orders survive it.

        After a start whose recovery failed (a snapshot refused, a checkpoint that does not match) it
        writes nothing: the flow holds a partial state, and a checkpoint and snapshot of it would be
        loaded by the next start as if it were the journal's, losing every command before it."""
        if getattr(self, "_recovery", "done") != "done":
            log.warning("journal: the start's recovery did not finish; nothing written at shutdown (no checkpoint, "
                        "no snapshot), the journal and its snapshots are as they were")
            self.shutting_down = True
            return
        if cancel_working:
            self.admin("cancel_all", self.clock(), text="cancelled at router shutdown")
        if self.journal is not None:
            hashes = state_hashes(self.flow)
            self.admin("checkpoint", self.clock(), **hashes)
            log.info("journal checkpoint at seq %d: core state %s, order flow state %s", self.seq,
                     hashes["core"][:16], hashes["flow"][:16])
        self.commit()
        self.take_snapshot(background=False)
        self.shutting_down = True

    def _redeliver(self, outs: list[tuple[int, Out]]) -> None:
        """A kill between a batch's journal write and its FIX store write keeps its ExecutionReports
        from the store; the replay produced them again. Send those whose ExecID the session's store
        does not hold (only those made since the store's current run of sequence numbers began)."""
        gateway = self.gateway
        drop_copy = getattr(self, "drop_copy", None)
        names = {out.session for _, out in outs} | (drop_copy.names if drop_copy else frozenset())
        epochs = [h.sequence_epoch for h in map(gateway.handle, names) if h is not None]
        if not epochs:
            return
        # A report made before every session's current run of sequence numbers began goes to none of
        # them: dropped before its drop copies are made (after a sequence reset, all of the tail's).
        oldest = min(epochs)
        outs = [(when, out) for when, out in outs if when >= oldest and out.msg_type == b"8"]
        if drop_copy is not None:        # the drop-copy sessions' copies of the same reports
            outs = [(when, o) for when, out in outs for o in drop_copy.expand([out], count=False)]
        by_session: dict[str, list[tuple[int, Out]]] = {}
        for when, out in outs:
            by_session.setdefault(out.session, []).append((when, out))
        for session, reports in by_session.items():
            h = gateway.handle(session)
            if h is None:
                continue
            stored = {_tag(frame, b"\x0117=") for _, frame in h.stored_messages()}
            epoch = h.sequence_epoch
            missing = [o for when, o in reports if when >= epoch and _exec_id(o.body) not in stored]
            for o in missing:
                h.send(o.msg_type, o.body)
            if missing:
                log.info("journal recovery: re-delivered %d execution reports to %s that the FIX store had "
                         "not kept (the process stopped between the journal write and the store write)",
                         len(missing), session)

