"""The journal's bytes on disk: the file header, length-prefixed CRC'd records, and the recovery scan.

File: a header (magic, format version, the first sequence number the file may hold, the trading
day, a CRC32 of those), then records. Record: `length u32, ~length u32, crc32 u32` then `length`
bytes of body `seq u64, time_ns i64, kind u8, session length u16, session, payload`; the CRC covers
the length word and the body. The complemented length tells a damaged length (corruption) from a
record cut short by a crash (a torn tail never alters the bytes it did write). All little-endian.

`scan` walks one file and reports where its valid records end and, if they stop early, why (torn
tail or corruption); deciding what to do about it (truncate, refuse) is `journal.FileJournal`'s job.
Not here: file naming, rotation, fsync.
"""
from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass, field
from typing import Iterator

MAGIC = b"GRJOURNL"
VERSION = 1
HEADER = struct.Struct("<8sHHQ")  # magic, version, day length, first seq; then the day, then crc32
PREFIX = struct.Struct("<III")  # length, ~length, crc32 (over the length word and the body)
BODY = struct.Struct("<QqBH")  # seq, time_ns, kind, session length; then session, payload
_SEQ = struct.Struct("<Q")
MAX_BODY = 16 * 1024 * 1024
MAX_DAY = 32
READ_CHUNK = 1 << 20
INDEX_EVERY = 1024  # records between two offsets kept by the scan (ScanResult.marks)


class CommandKind(enum.IntEnum):
    """What produced a command (the payload's meaning depends on it)."""

    FIX_IN = 1
    LOGON = 2
    LOGOUT = 3
    TIMER = 4
    ADMIN = 5


@dataclass(frozen=True, slots=True)
class Command:
    """One state-changing input, numbered: the unit the journal stores and replays."""

    seq: int
    time_ns: int
    kind: CommandKind
    session: str
    payload: bytes


class JournalError(Exception):
    """The journal cannot do what was asked (a sequence gap, a closed journal, a bad trading day)."""


class JournalCorrupt(JournalError):
    """Bytes on disk that are not a valid journal: names the file and byte offset."""


def encode_header(first_seq: int, trading_day: str) -> bytes:
    day = trading_day.encode("ascii")
    head = HEADER.pack(MAGIC, VERSION, len(day), first_seq) + day
    return head + struct.pack("<I", zlib.crc32(head))


def decode_header(data: bytes, path: str) -> tuple[int, str, int]:
    """(first_seq, trading_day, header length) of a file's leading bytes, or JournalCorrupt."""
    if len(data) < HEADER.size + 4:
        raise JournalCorrupt(f"{path}: offset 0: file header cut short ({len(data)} bytes)")
    magic, version, day_len, first_seq = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise JournalCorrupt(f"{path}: offset 0: not a gold-router journal (magic {magic!r})")
    if version != VERSION:
        raise JournalCorrupt(f"{path}: offset 8: journal format version {version}, this build reads {VERSION}")
    end = HEADER.size + day_len
    if day_len > MAX_DAY or len(data) < end + 4:
        raise JournalCorrupt(f"{path}: offset 10: file header cut short or damaged (day length {day_len})")
    (crc,) = struct.unpack_from("<I", data, end)
    if crc != zlib.crc32(data[:end]):
        raise JournalCorrupt(f"{path}: offset {end}: file header CRC mismatch")
    return first_seq, data[HEADER.size:end].decode("ascii", "replace"), end + 4


_KIND_BYTE = {kind: kind.value for kind in CommandKind}
_PACK_BODY = BODY.pack
_PACK_PREFIX = PREFIX.pack
_TIME_MIN, _TIME_MAX = -(1 << 63), (1 << 63) - 1


def encode_command(cmd: Command) -> bytes:
    """The record bytes of one command; TypeError/ValueError naming the bad field.

    Every command of the service passes here once, before its outputs may leave: the usual
    command (a `Command` with bytes payload, a known kind, a short session name) takes the
    straight path; anything else gets the checks that name what is wrong."""
    payload = cmd.payload if cmd.__class__ is Command else None
    kind = _KIND_BYTE.get(cmd.kind) if payload is not None else None
    session = cmd.session.encode("utf-8") if kind is not None and cmd.session.__class__ is str else None
    if (session is None or payload.__class__ is not bytes or len(session) > 0xFFFF
            or not _TIME_MIN <= cmd.time_ns <= _TIME_MAX):
        return _encode_checked(cmd)
    body = _PACK_BODY(cmd.seq, cmd.time_ns, kind, len(session)) + session + payload
    n = len(body)
    if n > MAX_BODY:
        raise ValueError(f"command {cmd.seq}: record of {n} bytes exceeds {MAX_BODY}")
    return _PACK_PREFIX(n, n ^ 0xFFFFFFFF, zlib.crc32(body, zlib.crc32(n.to_bytes(4, "little")))) + body


def _encode_checked(cmd: Command) -> bytes:
    if not isinstance(cmd, Command):
        raise TypeError(f"journal records Command values, not {type(cmd).__name__}")
    if not isinstance(cmd.payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"command {cmd.seq}: payload must be bytes, not {type(cmd.payload).__name__}")
    session = cmd.session.encode("utf-8")
    if len(session) > 0xFFFF:
        raise ValueError(f"command {cmd.seq}: session name longer than 65535 bytes")
    if not -(1 << 63) <= cmd.time_ns < (1 << 63):
        raise ValueError(f"command {cmd.seq}: time_ns {cmd.time_ns} outside a signed 64-bit integer")
    body = BODY.pack(cmd.seq, cmd.time_ns, CommandKind(cmd.kind), len(session)) + session + bytes(cmd.payload)
    if len(body) > MAX_BODY:
        raise ValueError(f"command {cmd.seq}: record of {len(body)} bytes exceeds {MAX_BODY}")
    word = len(body).to_bytes(4, "little")
    return PREFIX.pack(len(body), len(body) ^ 0xFFFFFFFF, zlib.crc32(body, zlib.crc32(word))) + body


def decode_body(body: bytes | memoryview) -> Command:
    seq, time_ns, kind, session_len = BODY.unpack_from(body, 0)
    start = BODY.size
    session = bytes(body[start:start + session_len]).decode("utf-8")
    return Command(seq, time_ns, CommandKind(kind), session, bytes(body[start + session_len:]))


# A replayed start builds one `Command` per record: the slots' own setters are ~2x cheaper than the
# frozen dataclass's __init__ and a dict lookup ~8x cheaper than `CommandKind(kind)` (benchmarks/README.md,
# "Reading the journal at a start"). The result is the same frozen value.
_SETTERS = tuple(Command.__dict__[name].__set__ for name in ("seq", "time_ns", "kind", "session", "payload"))
_KIND_OF = {kind.value: kind for kind in CommandKind}


def _command(seq: int, time_ns: int, kind: int, session: str, payload: bytes,
             _new=object.__new__, _setters=_SETTERS) -> Command:
    cmd = _new(Command)
    set_seq, set_time, set_kind, set_session, set_payload = _setters
    set_seq(cmd, seq)
    set_time(cmd, time_ns)
    set_kind(cmd, _KIND_OF.get(kind) or CommandKind(kind))
    set_session(cmd, session)
    set_payload(cmd, payload)
    return cmd


def live_command(seq: int, time_ns: int, kind: CommandKind, session: str, payload: bytes,
                 _new=object.__new__, _setters=_SETTERS) -> Command:
    """`Command(seq, time_ns, kind, session, payload)` through the slots' setters, as `_command`, for
    the live path (`Sequencer.command`, once per input) where `kind` is already a `CommandKind`:
    ~0.55 -> ~0.28 us per command, the same frozen value."""
    cmd = _new(Command)
    set_seq, set_time, set_kind, set_session, set_payload = _setters
    set_seq(cmd, seq)
    set_time(cmd, time_ns)
    set_kind(cmd, kind)
    set_session(cmd, session)
    set_payload(cmd, payload)
    return cmd


class Stop(enum.Enum):
    END = "end"  # every byte was a valid record
    TORN = "torn"  # the last record is cut short (or zero-filled): a crash mid-write
    CORRUPT = "corrupt"  # a damaged record with more data after it


@dataclass
class ScanResult:
    first_seq: int
    trading_day: str
    header_len: int
    last_seq: int  # first_seq - 1 when the file holds no record
    valid_end: int  # byte offset just past the last valid record
    size: int
    stop: Stop
    reason: str = ""
    # marks[i]: byte offset of the record numbered first_seq + i * INDEX_EVERY, so a read from a
    # sequence number starts near it instead of walking the file from its first record.
    marks: list[int] = field(default_factory=list)


def _check_records(data: bytes, offset: int, end: int, last: int, marks: list[int]) -> tuple[int, int, str]:
    """Walk the records from `offset`, each numbered after `last`: (offset just past the last good
    record, its seq, "" or why the next one is bad), appending every INDEX_EVERY-th record's offset
    to `marks`. One loop with no generator: it runs once per record of the day at every start."""
    view = memoryview(data)
    unpack_prefix, unpack_seq, crc32 = PREFIX.unpack_from, _SEQ.unpack_from, zlib.crc32
    lowest, prefix = BODY.size, PREFIX.size
    first = last + 1
    while offset < end:
        if end - offset < prefix:
            return offset, last, "record prefix cut short"
        length, check, crc = unpack_prefix(data, offset)
        if length ^ 0xFFFFFFFF != check or not lowest <= length <= MAX_BODY:
            return offset, last, f"damaged record length ({length})"
        start = offset + prefix
        stop = start + length
        if stop > end:
            return offset, last, f"record of {length} bytes cut short at end of file"
        if crc32(view[start:stop], crc32(view[offset:offset + 4])) != crc:
            return offset, last, "record CRC mismatch"
        seq = unpack_seq(data, start)[0]
        if seq != last + 1:
            return offset, last, f"sequence {seq} follows {last}"
        if not (seq - first) % INDEX_EVERY:
            marks.append(offset)
        last = seq
        offset = stop
    return offset, last, ""


def scan(path: str) -> ScanResult:
    """Validate one journal file record by record (CRCs, lengths, sequence continuity)."""
    with open(path, "rb") as f:
        data = f.read()
    first_seq, day, header_len = decode_header(data, path)
    size = len(data)
    marks: list[int] = []
    offset, last, reason = _check_records(data, header_len, size, first_seq - 1, marks)
    if not reason:
        return ScanResult(first_seq, day, header_len, last, size, size, Stop.END, marks=marks)
    if reason.startswith("sequence"):
        return ScanResult(first_seq, day, header_len, last, offset, size, Stop.CORRUPT, reason, marks)
    cut_short = "cut short" in reason
    last_record = reason == "record CRC mismatch" and offset + PREFIX.size + PREFIX.unpack_from(data, offset)[0] == size
    torn = cut_short or last_record or not data[offset:].strip(b"\0")
    return ScanResult(first_seq, day, header_len, last, offset, size, Stop.TORN if torn else Stop.CORRUPT, reason,
                      marks)


def read_records(path: str, start: int, end: int, from_seq: int, fields: bool = False) -> Iterator[Command]:
    """Commands with seq >= from_seq from the records in [start, end) of a file, read in chunks; with
    `fields`, each as the tuple (seq, time_ns, kind value, session, payload) instead of a `Command`
    (the replay's loop: no object to build and read back per record)."""
    with open(path, "rb") as f:
        f.seek(start)
        pending = b""
        pos = start  # file offset of pending[0]
        sessions: dict[bytes, str] = {}
        while pos < end:
            chunk = f.read(min(READ_CHUNK, end - pos - len(pending)))
            if not chunk:
                if not pending:
                    return
                raise JournalCorrupt(f"{path}: offset {pos}: file shorter than the journal recorded ({end})")
            data = pending + chunk if pending else chunk
            used = yield from _decode_records(data, from_seq, sessions, path, pos, fields)
            pending = data[used:]
            pos += used


def _decode_records(data: bytes, from_seq: int, sessions: dict[bytes, str], path: str, pos: int,
                    fields: bool = False):
    """Yield the commands of the whole records at the start of `data` (seq >= from_seq); return how
    many bytes they take (a record cut short waits for the next chunk). The CRC is checked again:
    the bytes are read anew, and the check costs a fraction of a microsecond per record."""
    view = memoryview(data)
    unpack_prefix, unpack_body, crc32 = PREFIX.unpack_from, BODY.unpack_from, zlib.crc32
    lowest, prefix, head = BODY.size, PREFIX.size, PREFIX.size + BODY.size
    offset, end = 0, len(data)
    while end - offset >= prefix:
        length, check, crc = unpack_prefix(data, offset)
        if length ^ 0xFFFFFFFF != check or not lowest <= length <= MAX_BODY:
            raise JournalCorrupt(f"{path}: offset {pos + offset}: damaged record length ({length})")
        stop = offset + prefix + length
        if stop > end:
            break
        if crc32(view[offset + prefix:stop], crc32(view[offset:offset + 4])) != crc:
            raise JournalCorrupt(f"{path}: offset {pos + offset}: record CRC mismatch")
        seq, time_ns, kind, session_len = unpack_body(data, offset + prefix)
        if seq >= from_seq:
            at = offset + head
            name = data[at:at + session_len]
            session = sessions.get(name)
            if session is None:
                session = sessions[name] = name.decode("utf-8")
            if fields:
                yield seq, time_ns, kind, session, data[at + session_len:stop]
            else:
                yield _command(seq, time_ns, kind, session, data[at + session_len:stop])
        offset = stop
    return offset
