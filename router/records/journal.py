"""The write-ahead command journal: numbered commands appended in batches and read back in order.

`Journal` is the whole interface the service will see (append a batch, read from a sequence
number, the last sequence number, close), so a replicated stream can stand in for the local file
later. `MemoryJournal` keeps commands in a list (tests, `--memory-store` style runs); `FileJournal`
keeps one file per trading day in a directory, writes each batch with one `os.write` (group
commit) and, with `fsync="batch"`, fsyncs it before `append` returns. Sequence numbers are
continuous: a gap or a repeat is refused before anything is written.

On open, `FileJournal` checks every file: a torn last record (a crash mid-write) is truncated with
a WARNING naming file and offset; a damaged record with data after it raises `JournalCorrupt`
unless `truncate_at_corruption=True`, which cuts the journal there (and drops any later file).

Not here: the byte format (`journal_format`), snapshots, replay into the order flow, or wiring
into `serve` (the service does not journal yet).
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Protocol, Sequence

from router.records.journal_format import (
    INDEX_EVERY, MAX_DAY, Command, CommandKind, JournalCorrupt, JournalError, Stop, encode_command, encode_header,
    live_command, read_records, scan,
)

__all__ = ["Command", "CommandKind", "FileJournal", "Journal", "JournalCorrupt", "JournalError",
           "MemoryJournal", "FSYNC_POLICIES", "live_command"]

log = logging.getLogger(__name__)
FSYNC_POLICIES = ("none", "batch")
SUFFIX = ".journal"
_DAY = re.compile(r"[A-Za-z0-9_-]+")


class Journal(Protocol):
    """What a journal offers: append batches of numbered commands, read them back in order."""

    @property
    def last_seq(self) -> int: ...

    def append(self, commands: Sequence[Command]) -> None: ...

    def read(self, from_seq: int = 1) -> Iterator[Command]: ...

    def close(self) -> None: ...


def check_batch(last_seq: int, commands: Sequence[Command]) -> None:
    """JournalError unless the batch numbers on from last_seq + 1 without a gap or a repeat."""
    expected = last_seq + 1
    for cmd in commands:
        if not isinstance(cmd, Command):
            raise TypeError(f"journal records Command values, not {type(cmd).__name__}")
        if cmd.seq != expected:
            what = "repeats" if cmd.seq < expected else "leaves a gap before"
            raise JournalError(f"command seq {cmd.seq} {what} the expected {expected} (journal at {expected - 1})")
        expected += 1


def _encoded(last_seq: int, commands: Sequence[Command]) -> bytes:
    """The batch's records, after `check_batch`'s checks in the same pass (a group commit's one loop)."""
    if len(commands) == 1:          # a read of one message: no list to join
        cmd = commands[0]
        if cmd.__class__ is not Command or cmd.seq != last_seq + 1:
            check_batch(last_seq, commands)
        return encode_command(cmd)
    records = []
    expected = last_seq + 1
    for cmd in commands:
        if cmd.__class__ is not Command or cmd.seq != expected:
            check_batch(last_seq, commands)     # raises, naming what is wrong
        records.append(encode_command(cmd))
        expected += 1
    return b"".join(records)


def _check_from(from_seq: int) -> None:
    if not isinstance(from_seq, int) or from_seq < 1:
        raise ValueError(f"from_seq must be a positive integer, not {from_seq!r}")


class MemoryJournal:
    """A journal in a list: same contract, nothing survives the process."""

    def __init__(self) -> None:
        self._commands: list[Command] = []
        self._closed = False

    @property
    def last_seq(self) -> int:
        return len(self._commands)

    def append(self, commands: Sequence[Command]) -> None:
        if self._closed:
            raise JournalError("journal is closed")
        commands = list(commands)
        check_batch(self.last_seq, commands)
        for cmd in commands:
            encode_command(cmd)  # the same field checks as the file journal
        self._commands.extend(commands)

    def read(self, from_seq: int = 1) -> Iterator[Command]:
        _check_from(from_seq)
        return iter(self._commands[from_seq - 1:])

    def close(self) -> None:
        self._closed = True


def check_fsync(policy: str) -> str:
    if policy not in FSYNC_POLICIES:
        raise ValueError(f"journal.fsync must be one of {', '.join(map(repr, FSYNC_POLICIES))}, not {policy!r}")
    return policy


def check_day(trading_day: str) -> str:
    if not isinstance(trading_day, str) or len(trading_day) > MAX_DAY or not _DAY.fullmatch(trading_day):
        raise ValueError(f"trading_day must be 1-{MAX_DAY} characters of letters, digits, '-' or '_', "
                         f"not {trading_day!r}")
    return trading_day


def _start_offset(f: "_File", from_seq: int) -> int:
    """Where in `f` to start reading for `from_seq`: the nearest offset the scan kept at or before it
    (a start from a snapshot skips the records before it without reading them)."""
    mark = (from_seq - f.first_seq) // INDEX_EVERY
    if mark <= 0 or not f.marks:
        return f.header_len
    return f.marks[min(mark, len(f.marks) - 1)]


@dataclass
class _File:
    path: str
    day: str
    first_seq: int
    last_seq: int
    header_len: int
    size: int
    marks: list[int] = field(default_factory=list)  # see journal_format.ScanResult.marks


class FileJournal:
    """A journal in `dir`: one `<trading_day>.journal` file per day, read across files in sequence order."""

    def __init__(self, directory: str | os.PathLike, fsync: str = "none", *, trading_day: str | None = None,
                 truncate_at_corruption: bool = False) -> None:
        self.fsync = check_fsync(fsync)
        self.directory = os.fspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self._files: list[_File] = []
        self._fd: int | None = None
        self._failed: str | None = None
        self._recover(truncate_at_corruption)
        if self._files:
            self._open_current()
        log.info("journal %s opened: %d file(s), last seq %d, fsync %s", self.directory, len(self._files),
                 self.last_seq, self.fsync)
        if trading_day is not None:
            self.rotate(trading_day)

    # -- recovery -------------------------------------------------------------------------------------------

    def _recover(self, truncate_at_corruption: bool) -> None:
        names = sorted(n for n in os.listdir(self.directory) if n.endswith(SUFFIX))
        results = [(os.path.join(self.directory, n), scan(os.path.join(self.directory, n))) for n in names]
        results.sort(key=lambda pr: pr[1].first_seq)
        for index, (path, res) in enumerate(results):
            later = results[index + 1:]
            if self._files and res.first_seq != self._files[-1].last_seq + 1:
                raise JournalCorrupt(f"{path}: offset 0: file starts at seq {res.first_seq} but the previous "
                                     f"file ends at {self._files[-1].last_seq}")
            problem = res.stop
            if problem is Stop.TORN and any(r.last_seq >= r.first_seq for _, r in later):
                problem = Stop.CORRUPT  # records follow in later files: not a crash at the tail
            if problem is Stop.TORN:
                log.warning("journal %s: torn last record at offset %d (%s): truncating %d bytes, journal ends "
                            "at seq %d", path, res.valid_end, res.reason, res.size - res.valid_end, res.last_seq)
                self._truncate(path, res.valid_end)
            elif problem is Stop.CORRUPT:
                if not truncate_at_corruption:
                    raise JournalCorrupt(f"{path}: offset {res.valid_end}: {res.reason} with data after it; "
                                         "refusing to open (`serve --journal-truncate-at-corruption` accepts losing the "
                                         "journal from here on)")
                log.warning("journal %s: corruption at offset %d (%s): truncating there as asked, dropping %d "
                            "bytes and %d later file(s); journal ends at seq %d", path, res.valid_end, res.reason,
                            res.size - res.valid_end, len(later), res.last_seq)
                self._truncate(path, res.valid_end)
                for later_path, _ in later:
                    os.unlink(later_path)
            self._files.append(_File(path, res.trading_day, res.first_seq, res.last_seq, res.header_len,
                                     res.valid_end, res.marks))
            if problem is Stop.CORRUPT:
                break

    def _truncate(self, path: str, size: int) -> None:
        with open(path, "r+b") as f:
            f.truncate(size)
            f.flush()
            os.fsync(f.fileno())

    def _open_current(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self._files[-1].path, os.O_WRONLY | os.O_APPEND)

    # -- the interface --------------------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self._files[-1].last_seq if self._files else 0

    @property
    def trading_day(self) -> str | None:
        return self._files[-1].day if self._files else None

    def files(self) -> list[str]:
        """The journal's files, oldest first."""
        return [f.path for f in self._files]

    def rotate(self, trading_day: str) -> None:
        """Append from now on to `trading_day`'s file (created here); a no-op if it is already the current day."""
        check_day(trading_day)
        self._check_usable()
        if self._files and self._files[-1].day == trading_day:
            return
        path = os.path.join(self.directory, trading_day + SUFFIX)
        if os.path.exists(path):
            raise JournalError(f"trading day {trading_day!r} already has a journal file {path} that is not the "
                               f"current one ({self.trading_day!r}); days only move forward")
        first = self.last_seq + 1
        header = encode_header(first, trading_day)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, header)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._fsync_dir()
        self._files.append(_File(path, trading_day, first, first - 1, len(header), len(header)))
        self._open_current()
        log.info("journal rotated to trading day %s: %s from seq %d", trading_day, path, first)

    def append(self, commands: Sequence[Command]) -> None:
        """Write the batch with one write (and one fsync under fsync="batch"); refuses a gap or a repeat."""
        if self._failed is not None:
            raise JournalError(self._failed)
        commands = commands if isinstance(commands, (list, tuple)) else list(commands)
        if not commands:
            return
        if not self._files:
            raise JournalError(f"journal {self.directory} has no trading day: call rotate(trading_day) first")
        current = self._files[-1]
        data = _encoded(current.last_seq, commands)
        try:
            written = os.write(self._fd, data)
            if written < len(data):         # a short write: the rest (a memoryview per call costs ~0.3 us)
                view = memoryview(data)[written:]
                while view:
                    view = view[os.write(self._fd, view):]
            if self.fsync == "batch":
                os.fsync(self._fd)
        except OSError as exc:
            self._failed = f"a write to {current.path} failed ({exc}); reopen the journal to recover"
            raise JournalError(self._failed) from exc
        current.size += len(data)
        current.last_seq = commands[-1].seq

    def read(self, from_seq: int = 1) -> Iterator[Command]:
        """Commands from from_seq on, across files, as they stand when the call is made."""
        _check_from(from_seq)
        return self._read(from_seq, [(f.path, _start_offset(f, from_seq), f.size, f.last_seq) for f in self._files])

    def read_fields(self, from_seq: int = 1) -> Iterator[tuple[int, int, int, str, bytes]]:
        """`read`, each command as the tuple (seq, time_ns, kind value, session, payload): what the
        replay's loop reads (`replay.read_fields`)."""
        _check_from(from_seq)
        return self._read(from_seq, [(f.path, _start_offset(f, from_seq), f.size, f.last_seq) for f in self._files],
                          True)

    @staticmethod
    def _read(from_seq: int, files: Iterable[tuple[str, int, int, int]], fields: bool = False) -> Iterator:
        for path, start, end, last in files:
            if last >= from_seq:
                yield from read_records(path, start, end, from_seq, fields)

    def close(self) -> None:
        if self._fd is not None:
            if self.fsync == "batch" and self._failed is None:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        self._failed = self._failed or "journal is closed"

    def _check_usable(self) -> None:
        if self._failed is not None:
            raise JournalError(self._failed)

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> "FileJournal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
