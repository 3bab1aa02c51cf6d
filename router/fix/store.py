"""FIX message store: the session's sequence numbers and the application messages it sent, for resend.

Two implementations of one seam (`MessageStore`):

* `FileStore` — persistent, the default.  One append-only log per session under the store directory.
  Writes go to a buffered file object and reach the kernel on `flush()`, which the gateway calls once
  per batch (one event-loop turn), so a process killed with SIGKILL loses nothing that was flushed:
  the page cache survives the process.  `fsync=True` adds an `os.fsync` per flush for power loss.
  Sent messages stay in the log only: memory holds each one's sequence number and place in the file
  (16 bytes), and a resend reads the frames back, so a long-running session costs disk, not memory.
* `MemoryStore` — the same behaviour in memory, for tests and `store = "memory"`.

Log records (ASCII header line, then for `M` the raw frame):
    ``S <n>``            next sender MsgSeqNum is n (after an admin message was sent)
    ``T <n>``            next target MsgSeqNum is n
    ``M <seq> <len>``    an application message was sent with MsgSeqNum seq; next sender is seq+1
    ``C <ns>``           store created / reset at ns since the epoch (first record of a log)
    ``D <seq>``          a daily session boundary passed when the next sender MsgSeqNum was seq
Rotation (`roll_day`, at each daily session boundary): messages sent before the last
`retention_days` boundaries are dropped (the log rewritten atomically), so a session that never
resets its sequence numbers keeps a bounded store; a resend of a dropped message is gap-filled.
A torn tail (a record cut by a crash mid-buffer) is dropped and truncated away at open, and a log
with many superseded sequence-number records is compacted at open (atomically, via rename).

What this module does NOT do: decide what to resend (the session does), encode or parse FIX,
or keep admin messages (they are gap-filled on resend, as the session rules allow).
"""
from __future__ import annotations

import fcntl
import os
from array import array
from bisect import bisect_left
from typing import Protocol

__all__ = ["MessageStore", "MemoryStore", "FileStore", "StoreInUse", "open_store"]


class StoreInUse(OSError):
    """Another open FileStore (this process or another) holds the session's log."""

# Sequence-number records superseded by later ones only slow the next start; past this many the log
# is rewritten at open (messages kept, one S and one T record).
COMPACT_AFTER = 100_000


class MessageStore(Protocol):
    """What a session needs to survive a reconnect or a restart."""

    next_sender_seq: int
    next_target_seq: int
    creation_ns: int

    def set_next_sender_seq(self, seq: int) -> None: ...
    def set_next_target_seq(self, seq: int) -> None: ...
    def save_sent(self, seq: int, frame: bytes) -> None: ...
    def get_range(self, begin: int, end: int) -> list[tuple[int, bytes]]: ...
    def reset(self, now_ns: int) -> None: ...
    def roll_day(self, now_ns: int, retention_days: int) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class MemoryStore:
    """Non-persistent store; identical semantics to `FileStore` within one process."""

    def __init__(self, now_ns: int = 0) -> None:
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self.creation_ns = now_ns
        self._seqs: list[int] = []
        self._frames: list[bytes] = []
        self.day_marks: list[int] = []

    def __len__(self) -> int:
        return len(self._seqs)

    def set_next_sender_seq(self, seq: int) -> None:
        self.next_sender_seq = seq

    def roll_day(self, now_ns: int, retention_days: int) -> int:
        """A daily session boundary passed: drop what was sent before the last `retention_days` ones."""
        return _roll(self, retention_days)

    def set_next_target_seq(self, seq: int) -> None:
        self.next_target_seq = seq

    def save_sent(self, seq: int, frame: bytes) -> None:
        _append_sorted(self._seqs, self._frames, seq, frame)
        self.next_sender_seq = seq + 1

    def get_range(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        return _range(self._seqs, self._frames, begin, end)

    def reset(self, now_ns: int) -> None:
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self.creation_ns = now_ns
        self._seqs.clear()
        self._frames.clear()
        self.day_marks.clear()

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


# A FileStore frame's place in its log as one int64: offset << _LEN_BITS | length.
_LEN_BITS = 24
STORE_BUFFER = 64 * 1024
_LEN_MASK = (1 << _LEN_BITS) - 1


def _span(offset: int, length: int) -> int:
    if length > _LEN_MASK:
        raise ValueError(f"a {length}-byte FIX message is too long for the store (at most {_LEN_MASK})")
    return offset << _LEN_BITS | length


def _append_sorted(seqs, frames, seq: int, frame) -> None:
    # Sequence numbers normally only grow, so the append is the fast path; a lower one can only
    # follow a reset that the caller did not route through reset(), and then the newer frame wins.
    if not seqs or seq > seqs[-1]:
        seqs.append(seq)
        frames.append(frame)
        return
    i = bisect_left(seqs, seq)
    if i < len(seqs) and seqs[i] == seq:
        frames[i] = frame
    else:
        seqs.insert(i, seq)
        frames.insert(i, frame)


def _roll(store: "MemoryStore | FileStore", retention_days: int) -> int:
    """Mark a daily boundary; drop messages older than the last `retention_days` marks; how many went."""
    marks = store.day_marks
    marks.append(store.next_sender_seq)
    if len(marks) <= retention_days:
        return 0
    del marks[:-retention_days]
    keep_from = marks[0]
    cut = bisect_left(store._seqs, keep_from)
    del store._seqs[:cut]
    del store._frames[:cut]
    return cut


def _range(seqs, frames, begin: int, end: int) -> list:
    lo = bisect_left(seqs, begin)
    hi = bisect_left(seqs, end + 1)
    return list(zip(seqs[lo:hi], frames[lo:hi]))


class FileStore:
    """Append-only persistent store for one session: `<directory>/<name>.log`."""

    def __init__(self, directory: str, name: str, now_ns: int, *, fsync: bool = False) -> None:
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, _safe_name(name) + ".log")
        self._fsync = fsync
        # Two writers appending to one log would interleave records: one holder at a time.
        self._lock = open(self.path + ".lock", "ab")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise StoreInUse(f"FIX store {self.path} is in use by another gateway") from None
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self.creation_ns = now_ns
        # sent messages: sequence numbers and, in step, where each frame is in the log (see _span)
        self._seqs: array = array("q")
        self._frames: array = array("q")
        self.day_marks: list[int] = []
        self.recovered_bytes_dropped = 0
        if os.path.exists(self.path):
            seq_records = self._load()
            if seq_records > COMPACT_AFTER:
                self._rewrite()
            self._open_append()
        else:
            self._open_append()
            self._write(b"C %d\n" % now_ns)
            self.flush()

    def _open_append(self) -> None:
        # A batch of outgoing messages in one write: the store is flushed once per batch, before the
        # batch reaches a socket (router.fix.transport), not once per 8 KiB.
        self._file = open(self.path, "ab", buffering=STORE_BUFFER)
        self._size = self._file.tell()

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._size += len(data)

    def _load(self) -> int:
        """Replay the log; returns how many sequence-number records it held."""
        with open(self.path, "rb") as f:
            data = f.read()
        pos = 0
        good = 0
        seq_records = 0
        n = len(data)
        while pos < n:
            eol = data.find(b"\n", pos)
            if eol < 0:
                break
            parts = data[pos:eol].split(b" ")
            try:
                kind = parts[0]
                if kind == b"T":
                    self.next_target_seq = int(parts[1])
                    seq_records += 1
                elif kind == b"S":
                    self.next_sender_seq = int(parts[1])
                    seq_records += 1
                elif kind == b"M":
                    seq, length = int(parts[1]), int(parts[2])
                    end = eol + 1 + length
                    if end > n:
                        break
                    _append_sorted(self._seqs, self._frames, seq, _span(eol + 1, length))
                    self.next_sender_seq = seq + 1
                    eol = end - 1
                elif kind == b"C":
                    self.creation_ns = int(parts[1])
                elif kind == b"D":
                    self.day_marks.append(int(parts[1]))
                else:
                    break
            except (IndexError, ValueError):
                break
            pos = eol + 1
            good = pos
        if good < n:
            # A torn record can only be the last one written before a crash; drop it so that
            # appends continue from a clean record boundary.
            self.recovered_bytes_dropped = n - good
            with open(self.path, "r+b") as f:
                f.truncate(good)
        return seq_records

    def _rewrite(self) -> None:
        """Replace the log by an equivalent one without superseded sequence-number records (nor the
        messages rotation dropped); the kept frames are copied from the old log."""
        tmp = self.path + ".tmp"
        moved = array("q")
        with open(tmp, "wb") as f, open(self.path, "rb") as old:
            f.write(b"C %d\n" % self.creation_ns)
            for seq, span in zip(self._seqs, self._frames):
                frame = os.pread(old.fileno(), span & _LEN_MASK, span >> _LEN_BITS)
                f.write(b"M %d %d\n" % (seq, len(frame)))
                moved.append(_span(f.tell(), len(frame)))
                f.write(frame)
            for mark in self.day_marks:
                f.write(b"D %d\n" % mark)
            f.write(b"S %d\nT %d\n" % (self.next_sender_seq, self.next_target_seq))
            f.flush()
            if self._fsync:
                os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._frames = moved

    def set_next_sender_seq(self, seq: int) -> None:
        self.next_sender_seq = seq
        self._write(b"S %d\n" % seq)

    def set_next_target_seq(self, seq: int) -> None:
        self.next_target_seq = seq
        self._write(b"T %d\n" % seq)

    def save_sent(self, seq: int, frame: bytes) -> None:
        # One record, one buffered write: every outgoing message of every session passes here.
        n = len(frame)
        record = b"M %d %d\n%b" % (seq, n, frame)
        size = self._size + len(record)
        span = _span(size - n, n)
        seqs = self._seqs
        if seqs and seq <= seqs[-1]:
            _append_sorted(seqs, self._frames, seq, span)
        else:
            seqs.append(seq)
            self._frames.append(span)
        self.next_sender_seq = seq + 1
        self._file.write(record)
        self._size = size

    def get_range(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        """The kept messages with begin <= MsgSeqNum <= end, read back from the log."""
        spans = _range(self._seqs, self._frames, begin, end)
        if not spans:
            return []
        self._file.flush()
        with open(self.path, "rb") as f:
            fd = f.fileno()
            return [(seq, os.pread(fd, span & _LEN_MASK, span >> _LEN_BITS)) for seq, span in spans]

    def __len__(self) -> int:
        return len(self._seqs)

    def roll_day(self, now_ns: int, retention_days: int) -> int:
        """A daily session boundary passed: drop what was sent before the last `retention_days` ones;
        the log is rewritten (atomically) when something was dropped, else the mark is appended."""
        dropped = _roll(self, retention_days)
        if dropped:
            self._file.close()
            self._rewrite()
            self._open_append()
        else:
            self._write(b"D %d\n" % self.day_marks[-1])
            self.flush()
        return dropped

    def reset(self, now_ns: int) -> None:
        """Start a new log (sequence numbers 1/1, no messages); the swap is atomic via rename."""
        self._file.close()
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(b"C %d\n" % now_ns)
            f.flush()
            if self._fsync:
                os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._open_append()
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self.creation_ns = now_ns
        self._seqs = array("q")
        self._frames = array("q")
        self.day_marks.clear()

    def flush(self) -> None:
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()
        if not self._lock.closed:
            self._lock.close()  # closing the descriptor releases the flock


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def open_store(kind: str, directory: str, name: str, now_ns: int, *, fsync: bool = False) -> MessageStore:
    """The store named by the `fix.store` setting ("file" or "memory")."""
    if kind == "memory":
        return MemoryStore(now_ns)
    return FileStore(directory, name, now_ns, fsync=fsync)
