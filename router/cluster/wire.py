"""What travels between gateways and cores: the command stream's settings and record format, the
output messages, and the gateway's rule for dropping duplicate and stale outputs.

Commands on the stream are journal records (`journal_format.encode_command`, CRC included) whose
sequence field is 0: a gateway cannot know the next number, the stream gives it (stream sequence =
command sequence, read from the message metadata by `decode_command`).

An output is one FIX application message for one session, published by the leading core on
`goldrouter.cluster.out.<session>`: a fixed header (lease epoch, command sequence, the session's
output number) then the message type and its fields as `tag=value<SOH>`. Output numbers count every
output a session was ever given, in stream order, so every core computes the same numbers and a
gateway can tell a duplicate (a number it has delivered) from a gap.

Not here: NATS connections, publishing, FIX sessions (see `publisher`, `core`, `gateway`).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from router.fix.encoding import _as_bytes
from router.records.jetstream import decode_record
from router.records.journal_format import Command, CommandKind, encode_command

__all__ = ["STREAM", "SUBJECT", "OUT_PREFIX", "encode_command_record", "decode_command", "Output",
           "encode_output", "decode_output", "out_subject", "OutputFilter"]

STREAM = "GOLDROUTER_CLUSTER"
SUBJECT = "goldrouter.cluster.commands"
OUT_PREFIX = "goldrouter.cluster.out"
CORE_LEASE = "core"
_OUT_HEAD = struct.Struct("<QQQB")   # epoch, command seq, session output number, msg type length


def encode_command_record(kind: CommandKind, session: str, payload: bytes, time_ns: int) -> bytes:
    """A command as the stream stores it (unnumbered: the stream numbers it)."""
    return encode_command(Command(0, time_ns, kind, session, payload))


def decode_command(data: bytes, stream_seq: int) -> Command:
    """A stream message back to a Command numbered by its stream sequence (CRC checked)."""
    cmd = decode_record(data)
    return Command(stream_seq, cmd.time_ns, cmd.kind, cmd.session, cmd.payload)


def out_subject(session: str) -> str:
    return f"{OUT_PREFIX}.{session}"


@dataclass(frozen=True, slots=True)
class Output:
    epoch: int
    seq: int          # the command that produced it
    number: int       # the session's output number (1, 2, ... over the stream's whole history)
    msg_type: bytes
    body: list        # [(tag, bytes)]


def encode_output(epoch: int, seq: int, number: int, msg_type: bytes, body: list[tuple[int, Any]]) -> bytes:
    fields = b"".join(b"%d=%s\x01" % (tag, _as_bytes(value)) for tag, value in body)
    return _OUT_HEAD.pack(epoch, seq, number, len(msg_type)) + msg_type + fields


def decode_output(data: bytes) -> Output:
    epoch, seq, number, n = _OUT_HEAD.unpack_from(data, 0)
    start = _OUT_HEAD.size
    msg_type = bytes(data[start:start + n])
    body = []
    for field in bytes(data[start + n:]).split(b"\x01"):
        if field:
            tag, _, value = field.partition(b"=")
            body.append((int(tag), value))
    return Output(epoch, seq, number, msg_type, body)


class OutputFilter:
    """Per session: deliver each output number once, and nothing from an epoch older than the
    newest seen. Pure: the gateway asks `verdict(session, output)` for every output it receives."""

    def __init__(self) -> None:
        self.epoch = 0
        self.last: dict[str, int] = {}        # session -> highest output number delivered
        self.dropped = {"stale": 0, "duplicate": 0}
        self.gaps = 0

    def verdict(self, session: str, out: Output, floor: int = 0) -> str:
        """'deliver', 'stale' (an older leader) or 'duplicate' (delivered already). `floor`: the
        command at which this gateway took the session; before its first delivery, outputs of
        earlier commands (a new leader re-publishing its recent outputs) are not this gateway's."""
        if out.epoch < self.epoch:
            self.dropped["stale"] += 1
            return "stale"
        self.epoch = out.epoch
        last = self.last.get(session)
        if (last is not None and out.number <= last) or (last is None and out.seq < floor):
            self.dropped["duplicate"] += 1
            return "duplicate"
        if last is not None and out.number > last + 1:
            self.gaps += 1
        self.last[session] = out.number
        return "deliver"
