"""The command journal: one contract over both implementations, then the file journal's recovery.

Real files in tmp_path throughout; the crash test kills a real writer process with SIGKILL.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from router.records.journal import (
    Command, CommandKind, FileJournal, JournalCorrupt, JournalError, MemoryJournal,
)
from router.records.journal_format import INDEX_EVERY, PREFIX, encode_command, live_command

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_225_600_000_000_000
DAY1, DAY2 = "2026-12-03", "2026-12-04"


def cmd(seq: int, size: int = 150) -> Command:
    kinds = list(CommandKind)
    payload = (f"8=FIX.4.4|35=D|11=C{seq}|".encode() * 20)[:size]
    return Command(seq, T0 + seq * 1000, kinds[seq % len(kinds)], f"SESSION{seq % 3}", payload)


def cmds(first: int, last: int) -> list[Command]:
    return [cmd(s) for s in range(first, last + 1)]


@pytest.fixture(params=["memory", "file-none", "file-batch"])
def journal(request, tmp_path):
    if request.param == "memory":
        j = MemoryJournal()
    else:
        j = FileJournal(tmp_path / "journal", fsync=request.param.split("-")[1], trading_day=DAY1)
    yield j
    j.close()


# -- the contract, both implementations ------------------------------------------------------------------------

def test_round_trip_in_batches(journal):
    assert journal.last_seq == 0 and list(journal.read()) == []
    journal.append(cmds(1, 1))
    journal.append(cmds(2, 17))
    journal.append([])
    journal.append(cmds(18, 273))
    assert journal.last_seq == 273
    assert list(journal.read()) == cmds(1, 273)
    assert [c.seq for c in journal.read(from_seq=200)] == list(range(200, 274))
    assert list(journal.read(from_seq=274)) == []


def test_a_gap_or_a_repeat_is_refused_and_nothing_is_written(journal):
    journal.append(cmds(1, 3))
    with pytest.raises(JournalError, match="seq 5 leaves a gap before the expected 4"):
        journal.append(cmds(5, 6))
    with pytest.raises(JournalError, match="seq 3 repeats the expected 4"):
        journal.append(cmds(3, 4))
    with pytest.raises(JournalError, match="seq 6 leaves a gap"):  # bad in the middle: the whole batch is refused
        journal.append([cmd(4), cmd(6)])
    assert journal.last_seq == 3
    journal.append(cmds(4, 4))
    assert [c.seq for c in journal.read()] == [1, 2, 3, 4]


def test_bad_commands_and_arguments_are_named(journal):
    with pytest.raises(TypeError, match="payload must be bytes"):
        journal.append([Command(1, T0, CommandKind.ADMIN, "admin", "text")])
    with pytest.raises(TypeError, match="Command values, not tuple"):
        journal.append([(1, T0)])
    with pytest.raises(ValueError, match="from_seq must be a positive integer"):
        list(journal.read(from_seq=0))
    assert journal.last_seq == 0


def test_a_closed_journal_refuses_appends(journal):
    journal.append(cmds(1, 2))
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        journal.append(cmds(3, 3))


# -- the file journal --------------------------------------------------------------------------------------------

def only_file(directory: Path) -> Path:
    (path,) = sorted(directory.glob("*.journal"))
    return path


def test_unknown_fsync_policy_names_the_key(tmp_path):
    with pytest.raises(ValueError, match="journal.fsync must be one of 'none', 'batch', not 'always'"):
        FileJournal(tmp_path, fsync="always")


def test_reopen_continues_and_first_append_needs_a_day(tmp_path):
    j = FileJournal(tmp_path)
    with pytest.raises(JournalError, match="no trading day: call rotate"):
        j.append(cmds(1, 1))
    with pytest.raises(ValueError, match="trading_day must be"):
        j.rotate("../etc")
    j.rotate(DAY1)
    j.append(cmds(1, 10))
    j.close()
    j = FileJournal(tmp_path)
    assert j.last_seq == 10 and j.trading_day == DAY1
    j.append(cmds(11, 12))
    j.close()
    assert list(FileJournal(tmp_path).read()) == cmds(1, 12)


def test_torn_tail_is_truncated_with_a_warning(tmp_path, caplog):
    with FileJournal(tmp_path, trading_day=DAY1) as j:
        j.append(cmds(1, 5))
        good = os.path.getsize(only_file(tmp_path))
        j.append(cmds(6, 6))
    path = only_file(tmp_path)
    os.truncate(path, good + PREFIX.size + 20)  # the crash cut the last record mid-body
    with caplog.at_level(logging.WARNING, logger="router.records.journal"):
        j = FileJournal(tmp_path)
    assert j.last_seq == 5 and list(j.read()) == cmds(1, 5)
    assert os.path.getsize(path) == good
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(path) in m and f"offset {good}" in m and "torn" in m for m in warning), warning
    j.append(cmds(6, 7))  # appends continue where the valid records end
    j.close()
    assert list(FileJournal(tmp_path).read()) == cmds(1, 7)


def test_zero_filled_tail_counts_as_torn(tmp_path):
    with FileJournal(tmp_path, trading_day=DAY1) as j:
        j.append(cmds(1, 3))
    with open(only_file(tmp_path), "ab") as f:
        f.write(b"\0" * 4096)  # what a power cut can leave after the file was extended
    assert [c.seq for c in FileJournal(tmp_path).read()] == [1, 2, 3]


def _flip_byte_in_record(tmp_path: Path, seq_to_damage: int) -> tuple[Path, int]:
    """Write 1..20, flip one body byte of record seq_to_damage; return (file, that record's offset)."""
    with FileJournal(tmp_path, trading_day=DAY1) as j:
        j.append(cmds(1, seq_to_damage - 1))
        offset = os.path.getsize(only_file(tmp_path))
        j.append(cmds(seq_to_damage, 20))
    path = only_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[offset + PREFIX.size + 40] ^= 0x01
    path.write_bytes(bytes(data))
    return path, offset


def test_a_flipped_byte_in_the_middle_is_refused_with_file_and_offset(tmp_path):
    path, offset = _flip_byte_in_record(tmp_path, 8)
    with pytest.raises(JournalCorrupt) as err:
        FileJournal(tmp_path)
    assert str(path) in str(err.value) and f"offset {offset}:" in str(err.value)
    assert "CRC mismatch" in str(err.value)
    assert path.stat().st_size > offset  # nothing was cut


def test_truncate_at_corruption_accepts_the_loss(tmp_path, caplog):
    path, offset = _flip_byte_in_record(tmp_path, 8)
    with caplog.at_level(logging.WARNING, logger="router.records.journal"):
        j = FileJournal(tmp_path, truncate_at_corruption=True)
    assert j.last_seq == 7 and list(j.read()) == cmds(1, 7)
    assert path.stat().st_size == offset
    assert any("corruption" in r.getMessage() and f"offset {offset}" in r.getMessage() for r in caplog.records)
    j.append(cmds(8, 9))
    assert [c.seq for c in j.read(from_seq=7)] == [7, 8, 9]
    j.close()


def test_a_damaged_file_header_is_refused(tmp_path):
    with FileJournal(tmp_path, trading_day=DAY1) as j:
        j.append(cmds(1, 2))
    path = only_file(tmp_path)
    path.write_bytes(b"NOTAJRNL" + path.read_bytes()[8:])
    with pytest.raises(JournalCorrupt, match=r"offset 0: not a gold-router journal"):
        FileJournal(tmp_path)


def test_rotation_across_two_trading_days(tmp_path):
    j = FileJournal(tmp_path, fsync="batch", trading_day=DAY1)
    j.append(cmds(1, 100))
    j.rotate(DAY1)  # same day: nothing happens
    j.rotate(DAY2)
    assert j.trading_day == DAY2
    j.append(cmds(101, 150))
    assert [Path(p).name for p in j.files()] == [f"{DAY1}.journal", f"{DAY2}.journal"]
    assert [c.seq for c in j.read(from_seq=95)] == list(range(95, 151))
    with pytest.raises(JournalError, match="days only move forward"):
        j.rotate(DAY1)
    j.close()
    j = FileJournal(tmp_path)
    assert j.trading_day == DAY2 and j.last_seq == 150
    assert list(j.read()) == cmds(1, 150)
    assert [c.seq for c in j.read(from_seq=120)] == list(range(120, 151))  # the first file is skipped
    j.close()


def test_a_missing_days_file_is_a_gap(tmp_path):
    with FileJournal(tmp_path, trading_day=DAY1) as j:
        j.append(cmds(1, 5))
        j.rotate(DAY2)
        j.append(cmds(6, 9))
        j.rotate("2026-12-07")
        j.append(cmds(10, 12))
    os.unlink(tmp_path / f"{DAY2}.journal")
    with pytest.raises(JournalCorrupt, match=r"2026-12-07.journal: offset 0: file starts at seq 10 but the "
                                              r"previous file ends at 5"):
        FileJournal(tmp_path)


def test_a_torn_tail_before_later_days_is_corruption(tmp_path):
    with FileJournal(tmp_path, trading_day=DAY1) as j:
        j.append(cmds(1, 5))
        j.rotate(DAY2)
        j.append(cmds(6, 9))
    first = tmp_path / f"{DAY1}.journal"
    os.truncate(first, first.stat().st_size - 3)
    with pytest.raises(JournalCorrupt, match=f"{DAY1}.journal: offset"):
        FileJournal(tmp_path)


WRITER = textwrap.dedent("""
    import sys
    from router.records.journal import Command, CommandKind, FileJournal
    j = FileJournal(sys.argv[1], fsync=sys.argv[2], trading_day="2026-12-03")
    seq = 0
    n = 0
    while True:
        size = (1, 16, 256)[n % 3]
        batch = [Command(s, s * 7, CommandKind.FIX_IN, "CLIENT", (b"%d:" % s) * 40)
                 for s in range(seq + 1, seq + size + 1)]
        j.append(batch)
        seq += size
        n += 1
        print(seq, flush=True)
""")


@pytest.mark.parametrize("fsync", ["none", "batch"])
def test_every_reported_batch_survives_kill_9(tmp_path, fsync):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), fsync], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True, cwd=ROOT)
    reported = 0
    deadline = time.monotonic() + 30
    try:
        for line in proc.stdout:
            reported = int(line)
            if reported >= 20_000 or time.monotonic() > deadline:
                break
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-run: the writer is still appending
        _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err
    assert reported > 0
    j = FileJournal(tmp_path)
    assert j.last_seq >= reported
    back = list(j.read())
    assert [c.seq for c in back] == list(range(1, j.last_seq + 1))
    assert all(c.payload == (b"%d:" % c.seq) * 40 and c.time_ns == c.seq * 7 for c in back)
    j.close()


# -- reading from a sequence number after a reopen -------------------------------------------------------------

def test_a_reopened_journal_reads_from_any_seq_through_the_offsets_its_scan_kept(tmp_path):
    """The scan at open keeps every INDEX_EVERY-th record's offset; a read from a sequence number
    starts at the nearest one before it: the same commands as a read from the start, across files
    and past what was appended after the open."""
    j = FileJournal(tmp_path, trading_day=DAY1)
    j.append(cmds(1, 2 * INDEX_EVERY + 100))
    j.rotate(DAY2)
    j.append(cmds(2 * INDEX_EVERY + 101, 3 * INDEX_EVERY + 500))
    j.close()
    j = FileJournal(tmp_path)
    last = 3 * INDEX_EVERY + 500
    j.append(cmds(last + 1, last + 50))
    last += 50
    everything = list(j.read())
    assert everything == cmds(1, last) and all(type(c.kind) is CommandKind for c in everything)
    edges = {1, 2, INDEX_EVERY - 1, INDEX_EVERY, INDEX_EVERY + 1, INDEX_EVERY + 2, 2 * INDEX_EVERY + 100,
             2 * INDEX_EVERY + 101, 3 * INDEX_EVERY + 101, 3 * INDEX_EVERY + 500, last - 1, last, last + 1}
    for from_seq in sorted(edges):
        assert list(j.read(from_seq)) == everything[from_seq - 1:], from_seq
    j.close()


def test_a_read_from_a_seq_skips_the_records_before_its_offset_but_checks_those_it_reads(tmp_path):
    """Damage made after the open (so the scan did not see it): a read from past the next kept offset
    never touches it; a read from the start reports it with file and offset."""
    j = FileJournal(tmp_path, trading_day=DAY1)
    j.append(cmds(1, INDEX_EVERY + 10))
    j.close()
    j = FileJournal(tmp_path)
    path = only_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 4] ^= 0xFF             # inside a record well before seq INDEX_EVERY + 1
    path.write_bytes(bytes(data))
    assert [c.seq for c in j.read(INDEX_EVERY + 1)] == list(range(INDEX_EVERY + 1, INDEX_EVERY + 11))
    with pytest.raises(JournalCorrupt, match=rf"{path.name}: offset \d+: "):
        list(j.read(1))
    j.close()


def test_live_command_is_the_same_frozen_value():
    # The sequencer builds every command through the slots' setters; it must be the Command the
    # constructor makes: equal, hashed alike, encoded alike, and frozen.
    made = live_command(7, 1_700_000_000_000_000_000, CommandKind.FIX_IN, "SHCLIENT1", b"8=FIX.4.4\x01")
    built = Command(7, 1_700_000_000_000_000_000, CommandKind.FIX_IN, "SHCLIENT1", b"8=FIX.4.4\x01")
    assert made == built and hash(made) == hash(built) and encode_command(made) == encode_command(built)
    assert made.kind is CommandKind.FIX_IN
    with pytest.raises(AttributeError):
        made.seq = 8  # type: ignore[misc]



@pytest.mark.parametrize("batch", [1, 3])
def test_a_short_write_is_completed(tmp_path, monkeypatch, batch):
    j = FileJournal(tmp_path, "none", trading_day="2026-01-05")
    j.append(cmds(1, 2))
    real_write = os.write
    calls = []

    def short_write(fd, data):       # the kernel may write less than asked (a signal, a full pipe or disk)
        calls.append(len(data))
        return real_write(fd, bytes(data[:max(1, len(data) // 3)]))
    monkeypatch.setattr(os, "write", short_write)
    j.append(cmds(3, 2 + batch))
    monkeypatch.setattr(os, "write", real_write)
    assert len(calls) > 1
    j.append(cmds(3 + batch, 3 + batch))
    j.close()
    assert list(FileJournal(tmp_path, "none").read()) == cmds(1, 3 + batch)
