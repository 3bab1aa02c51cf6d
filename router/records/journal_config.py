"""The `[journal]` configuration table: where the command journal lives and how durable it is.

Keys: `dir` (default "var/journal", beside the FIX store), `store` ("file" or "memory": memory
keeps nothing across a restart and is for tests, like the FIX store's), `fsync` ("none": a batch
is in the page cache before any of its outputs is sent, which survives a kill -9 of the process;
"batch": each batch is also fsynced, which survives power loss at the cost of a disk flush per
batch), `cancel_on_shutdown` (false: a clean stop leaves working orders working, to be recovered
at the next start; true: a clean stop cancels them, and the cancels are sent before the Logouts),
`snapshot_every` (commands between state snapshots, default 100,000; 0: only at a clean stop),
`snapshot_background` (default true: a forked process writes each periodic snapshot while the
router keeps trading; false: the event loop writes it and every session waits) and
`snapshots_kept` (default 3; snapshots live in `<dir>/snapshots/`).

Not here: opening the journal (`router.service`) or its format (`journal_format`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router.domain.config_checks import Table
from router.domain.errors import ConfigError
from router.records.journal import FSYNC_POLICIES

__all__ = ["JournalConfig", "parse_journal_config"]

KEYS = {"dir", "store", "fsync", "cancel_on_shutdown", "snapshot_every", "snapshots_kept", "snapshot_background"}
STORES = ("file", "memory")


@dataclass(frozen=True)
class JournalConfig:
    dir: str = "var/journal"
    store: str = "file"
    fsync: str = "none"
    cancel_on_shutdown: bool = False
    snapshot_every: int = 100_000
    snapshots_kept: int = 3
    snapshot_background: bool = True


def parse_journal_config(raw: Any) -> JournalConfig:
    t = Table(raw if raw is not None else {}, "journal", KEYS)
    directory = t.str("dir", "var/journal")
    if not directory:
        raise ConfigError("journal.dir", "must name a directory, got an empty string")
    store = t.str("store", "file")
    if store not in STORES:
        raise ConfigError("journal.store", f"must be \"file\" or \"memory\", got {store!r}")
    fsync = t.str("fsync", "none")
    if fsync not in FSYNC_POLICIES:
        raise ConfigError("journal.fsync", f"must be one of {', '.join(map(repr, FSYNC_POLICIES))}, got {fsync!r}")
    every = t.int("snapshot_every", 100_000)
    if every < 0:
        raise ConfigError("journal.snapshot_every", f"must be 0 (only at a clean stop) or a number of commands, got {every}")
    kept = t.int("snapshots_kept", 3)
    if kept < 1:
        raise ConfigError("journal.snapshots_kept", f"must be at least 1, got {kept}")
    return JournalConfig(directory, store, fsync, t.bool("cancel_on_shutdown", False), every, kept,
                         t.bool("snapshot_background", True))
