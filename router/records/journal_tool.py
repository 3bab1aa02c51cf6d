"""Reading a journal directory without changing it: `gold-router journal dump | verify | stats`.

`check_files` scans every file (header, record lengths and CRCs, sequence continuity within and
across files) and reports problems as text naming file and offset; unlike opening a `FileJournal`
it never truncates anything. `commands` reads the valid records in order, `describe` makes one
line per command (seq, time, session, kind, the fields an operator looks for), and `verify`
replays the commands into a scratch order flow the caller builds, checks every checkpoint the
live router journaled (its state hashes at a clean stop) and every snapshot in `<dir>/snapshots/`
against the replay's state at its sequence number, and returns the final state hashes.

Not here: argument parsing (`router.cli`), building the order flow (the caller passes a factory).
"""
from __future__ import annotations

import collections
import os
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from router.fix.codec import FixMessage, parse_frame
from router.records.commands import CommandApplier, decode_admin
from router.records.journal import SUFFIX
from router.records.journal_format import Command, CommandKind, ScanResult, Stop, read_records, scan
from router.records.snapshot import SnapshotError, SnapshotStore
from router.records.state_hash import hash_version, state_hashes

__all__ = ["check_files", "commands", "describe", "stats", "verify"]

KEY_TAGS = ((11, "ClOrdID"), (41, "OrigClOrdID"), (55, "Symbol"), (54, "Side"), (38, "OrderQty"), (44, "Price"),
            (59, "TimeInForce"))


def _files(directory: str) -> list[tuple[str, ScanResult]]:
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"no journal directory {directory}")
    names = sorted(n for n in os.listdir(directory) if n.endswith(SUFFIX))
    found = [(os.path.join(directory, n), scan(os.path.join(directory, n))) for n in names]
    return sorted(found, key=lambda pr: pr[1].first_seq)


def check_files(directory: str) -> tuple[list[tuple[str, ScanResult]], list[str]]:
    """The files in sequence order and every problem found (empty when the journal is sound)."""
    files = _files(directory)
    problems = []
    last = 0
    for path, res in files:
        if res.first_seq != last + 1:
            problems.append(f"{path}: offset 0: starts at seq {res.first_seq}, expected {last + 1}")
        if res.stop is Stop.TORN:
            problems.append(f"{path}: offset {res.valid_end}: torn last record ({res.reason}); the next start "
                            f"truncates {res.size - res.valid_end} bytes")
        elif res.stop is Stop.CORRUPT:
            problems.append(f"{path}: offset {res.valid_end}: {res.reason} with data after it")
        last = res.last_seq
    return files, problems


def commands(directory: str, from_seq: int = 1) -> Iterator[Command]:
    files, _ = check_files(directory)
    for path, res in files:
        if res.last_seq >= from_seq:
            yield from read_records(path, res.header_len, res.valid_end, from_seq)
        if res.stop is not Stop.END:
            return


def describe(cmd: Command) -> str:
    when = datetime.fromtimestamp(cmd.time_ns // 1_000_000_000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    when += f".{cmd.time_ns % 1_000_000_000 // 1000:06d}Z"
    head = f"{cmd.seq:>10} {when} {cmd.session or '-':<12} {cmd.kind.name:<7}"
    if cmd.kind == CommandKind.FIX_IN:
        msg = parse_frame(cmd.payload)
        if not isinstance(msg, FixMessage):
            return f"{head} unparsable frame: {msg.reason}"
        fields = " ".join(f"{name}={msg.get(tag).decode(errors='replace')}" for tag, name in KEY_TAGS
                          if msg.get(tag) is not None)
        return f"{head} 35={msg.msg_type.decode()} seq={msg.seq_num} {fields}".rstrip()
    if cmd.kind == CommandKind.ADMIN:
        args = decode_admin(cmd.payload)
        op = args.pop("op", "?")
        return f"{head} {op} " + " ".join(f"{k}={v}" for k, v in sorted(args.items()))
    return head.rstrip()


def stats(directory: str) -> dict[str, Any]:
    files, problems = check_files(directory)
    kinds: collections.Counter = collections.Counter()
    first_time = last_time = None
    for cmd in commands(directory):
        kinds[cmd.kind.name] += 1
        first_time = cmd.time_ns if first_time is None else first_time
        last_time = cmd.time_ns
    return {"directory": os.path.abspath(directory),
            "files": [{"path": p, "trading_day": r.trading_day, "first_seq": r.first_seq, "last_seq": r.last_seq,
                       "bytes": r.size} for p, r in files],
            "commands": sum(kinds.values()), "by_kind": dict(sorted(kinds.items())),
            "last_seq": files[-1][1].last_seq if files else 0,
            "first_time_ns": first_time, "last_time_ns": last_time, "problems": problems}


def _snapshot_hashes(directory: str) -> tuple[dict[int, tuple[str, dict]], list[str]]:
    store = SnapshotStore(os.path.join(directory, "snapshots"))
    found, problems = {}, []
    for path in store.candidates(1 << 62):
        try:
            snap, _ = store.read(path)
        except SnapshotError as exc:
            problems.append(str(exc))
            continue
        found[snap.seq] = (path, snap.hashes)
    return found, problems


def verify(directory: str, make_applier: Callable[[], CommandApplier]) -> tuple[int, dict[str, str], list[str]]:
    """Replay every valid command through `make_applier()` (a fresh order flow with the service's
    admin operations registered), comparing the state with each snapshot's recorded hashes where
    the replay passes its sequence number; (commands replayed, state hashes, problems)."""
    _, problems = check_files(directory)
    snapshots, snapshot_problems = _snapshot_hashes(directory)
    problems.extend(snapshot_problems)
    applier = make_applier()
    flow = applier.flow
    n = 0
    try:
        for cmd in commands(directory):
            applied = applier.apply(cmd)
            if applied.reason == "state_mismatch":
                problems.append(f"command {cmd.seq} (checkpoint): {applied.detail}")
            if cmd.seq in snapshots:
                path, recorded = snapshots[cmd.seq]
                if state_hashes(flow, hash_version(recorded)) != recorded:
                    problems.append(f"{path}: the replay's state after command {cmd.seq} differs from the snapshot's")
            n += 1
    except Exception as exc:        # the report says where replay stopped and why
        problems.append(f"replay failed at command {n + 1}: {type(exc).__name__}: {exc}")
    return n, state_hashes(flow), problems
