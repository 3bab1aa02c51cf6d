"""Encoding outgoing FIX messages, and the CheckSum(10) arithmetic both directions share.

`encode(msg_type, sender, target, seq, sending_time, body)` builds a whole frame (8, 9, 35, 49,
56, 34, 52, extra header, body, 10) with BodyLength and CheckSum filled in; `_checksum` is the
byte sum mod 256 the decoder (`router.fix.codec`) checks incoming frames with.

A `WireBody` is a body held as its encoded fields, which reads as its (tag, value) pairs: the order
flow builds its ExecutionReports that way, from per-order pieces it keeps, and `encode` then joins
one bytes object instead of two per field (benchmarks/README.md, "Order flow: what was made
faster", has the figures).
"""
from __future__ import annotations

from typing import Any
from zlib import adler32

SOH = b"\x01"
# "<SOH>tag=" for encode; a dict rather than a list so that 0 and negative
# tags miss instead of indexing from the end.
_FIELD_PREFIX: dict[int, bytes] = {t: b"\x01%d=" % t for t in range(1, 10000)}
_TRAILER: list[bytes] = [b"10=%03d\x01" % c for c in range(256)]


def _checksum(buf: bytes, start: int, end: int) -> int:
    """Sum of buf[start:end] mod 256."""
    # Adler-32's A term, started at 0, is the plain byte sum while it stays below
    # 65521: true for any 256 bytes, or 515 ASCII bytes. It runs in C; sum() does not.
    size = end - start
    if size <= 515:
        chunk = buf[start:end] if start or end != len(buf) else buf
        if size <= 256 or chunk.isascii():
            return adler32(chunk, 0) & 0xFF
    total = 0
    with memoryview(buf) as view:
        for i in range(start, end, 256):
            total += adler32(view[i:min(i + 256, end)], 0) & 0xFFFF
    return total & 0xFF


def _prefix(tag: int) -> bytes:
    p = _FIELD_PREFIX.get(tag)
    if p is not None:
        return p
    if tag.__class__ is not int or tag <= 0:
        raise ValueError(f"FIX tag must be a positive int, not {tag!r}")
    return b"\x01%d=" % tag


def _as_bytes(value: bytes | str | int) -> bytes:
    if value.__class__ is bytes:
        return value  # type: ignore[return-value]
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):  # bool is an int; FIX booleans are Y/N
        return b"Y" if value else b"N"
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"FIX field value must be bytes, str or int, not {type(value).__name__}")


class WireBody:
    """An outgoing body held as its encoded fields: `wire` is b"<SOH>tag=value" per field, in order.

    It reads as the sequence of (tag, value) pairs it encodes (int tags, bytes values, parsed once
    on first use), so every reader that iterates a body (`dict(body)`, `[*body]`, `for tag, value in
    body`) sees what a list of pairs would give; `encode` joins `wire` as it is. It is not a list and
    cannot be changed in place, so a stale encoding can never be sent: `add_fields` appends fields
    to both views, `copy_with` makes a new body with one field more."""

    __slots__ = ("wire", "_pairs")

    def __init__(self, wire: bytes) -> None:
        self.wire = wire
        self._pairs: list[tuple[int, bytes]] | None = None

    @classmethod
    def of(cls, pairs: Any) -> "WireBody":
        """The body of these (tag, value) pairs (values as `encode` writes them)."""
        return cls(b"".join([_prefix(t) + _as_bytes(v) for t, v in pairs]))

    def pairs(self) -> list[tuple[int, bytes]]:
        p = self._pairs
        if p is None:
            p = self._pairs = [(int(t), v) for t, _, v in
                               (f.partition(b"=") for f in self.wire.split(SOH)[1:])]
        return p

    def field(self, tag: int) -> bytes | None:
        """The first value of `tag`, read from the wire (None when absent)."""
        wire, key = self.wire, _prefix(tag)
        i = wire.find(key)
        if i < 0:
            return None
        i += len(key)
        j = wire.find(SOH, i)
        return wire[i:] if j < 0 else wire[i:j]

    def add_fields(self, pairs: Any) -> None:
        """Append fields (values as `encode` writes them)."""
        self.wire += b"".join([_prefix(t) + _as_bytes(v) for t, v in pairs])
        self._pairs = None

    def copy_with(self, tag: int, value: bytes) -> "WireBody":
        """A new body: these fields and one more (a drop copy's CopyMsgIndicator)."""
        return WireBody(self.wire + _prefix(tag) + value)

    def __iter__(self) -> Any:
        return iter(self.pairs())

    def __contains__(self, item: Any) -> bool:
        """`(tag, value) in body` as the pairs answer it, read from the wire for a bytes value
        without parsing every field (the send path asks each ExecutionReport whether it is a reject)."""
        if (item.__class__ is tuple and len(item) == 2 and item[0].__class__ is int and item[1].__class__ is bytes
                and b"\x01" not in item[1]):
            wire = self.wire
            key = b"\x01%d=%b" % item
            end = len(wire)
            i = wire.find(key)
            while i >= 0:
                j = i + len(key)
                if j == end or wire[j] == 1:
                    return True
                i = wire.find(key, j)
            return False
        return item in self.pairs()

    def __len__(self) -> int:
        return len(self.pairs())

    def __getitem__(self, index: Any) -> Any:
        return self.pairs()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, WireBody):
            return self.wire == other.wire
        if isinstance(other, (list, tuple)):
            return self.pairs() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other: Any) -> list:
        return [*self.pairs(), *other]

    def __radd__(self, other: Any) -> list:
        return [*other, *self.pairs()]

    def __repr__(self) -> str:
        return f"WireBody({self.pairs()!r})"

    def __reduce__(self) -> Any:
        return (WireBody, (self.wire,))


def _encode_wire(msg_type: bytes, sender: bytes, target: bytes, seq: int, sending_time: bytes, wire: bytes,
                 begin: bytes, extra_header: Any) -> bytes:
    head_fields = b"".join([_prefix(t) + _as_bytes(v) for t, v in extra_header]) if extra_header else b""
    payload = b"35=%b\x0149=%b\x0156=%b\x0134=%d\x0152=%b%b%b\x01" % (
        msg_type, sender, target, seq, sending_time, head_fields, wire)
    return _framed(begin, payload)


class SessionHeader:
    """One session's outgoing header fields that never change, formatted once: `frame(msg_type, seq,
    sending_time, wire)` is `encode(msg_type, sender, target, seq, sending_time, WireBody(wire),
    begin=begin)` byte for byte, in one call instead of three (every report the router sends, and
    its drop copy, is encoded here: `python -m benchmarks.ab_layers`, benchmarks/README.md "The FIX
    layers, measured alone")."""

    __slots__ = ("begin", "comp_ids", "length_field")

    def __init__(self, begin: bytes, sender: bytes, target: bytes) -> None:
        self.begin = begin
        self.comp_ids = b"\x0149=%b\x0156=%b\x0134=" % (sender, target)
        # The adler32 shortcut below needs an ASCII head; a BeginString that is not takes _framed.
        self.length_field = b"8=%b\x019=" % begin if begin.isascii() else None

    def frame(self, msg_type: bytes, seq: int, sending_time: bytes, wire: bytes) -> bytes:
        payload = b"35=%b%b%d\x0152=%b%b\x01" % (msg_type, self.comp_ids, seq, sending_time, wire)
        length_field = self.length_field
        if length_field is None or len(payload) > 480 or not payload.isascii():
            return _framed(self.begin, payload)
        head = b"%b%d\x01" % (length_field, len(payload))
        # As in _framed: under 515 ASCII bytes in all (head at most ~35), adler32's A term is the byte sum.
        return b"".join((head, payload, _TRAILER[adler32(payload, adler32(head, 0)) & 0xFF]))


def _framed(begin: bytes, payload: bytes) -> bytes:
    """BeginString and BodyLength before `payload` (35= to the last field's SOH), CheckSum after."""
    head = b"8=%b\x019=%d\x01" % (begin, len(payload))
    if len(head) + len(payload) <= 515 and payload.isascii() and head.isascii():
        # Continuing Adler-32 over head then payload keeps the exact byte sum
        # (under 515 ASCII bytes in all); see _checksum.
        checksum = adler32(payload, adler32(head, 0)) & 0xFF
    else:
        checksum = (adler32(head, 0) + _checksum(payload, 0, len(payload))) & 0xFF
    return b"".join((head, payload, _TRAILER[checksum]))


def encode(
    msg_type: bytes,
    sender: bytes,
    target: bytes,
    seq: int,
    sending_time: bytes,
    body: list[tuple[int, bytes | str | int]],
    *,
    begin: bytes = b"FIX.4.4",
    extra_header: list[tuple[int, bytes]] | tuple = (),
) -> bytes:
    """Whole frame: 8, 9, 35, 49, 56, 34, 52, extra_header, body, 10 (9 and 10 computed).

    Values may be bytes (fastest), str (UTF-8) or int; bool becomes Y/N. A `WireBody` with its
    `wire` is joined as it is.
    """
    if body.__class__ is WireBody:
        return _encode_wire(msg_type, sender, target, seq, sending_time, body.wire, begin, extra_header)
    parts = [b"35=", msg_type, b"\x0149=", sender, b"\x0156=", target,
             b"\x0134=%d\x0152=" % seq, sending_time]
    append = parts.append
    prefix = _FIELD_PREFIX
    try:
        for tag, value in extra_header:
            append(prefix[tag])
            append(value)
        for tag, value in body:
            append(prefix[tag])
            append(value)
    except KeyError:  # a tag outside 1-9999: the checked path
        del parts[8:]
        for tag, value in [*extra_header, *body]:
            append(_prefix(tag))
            append(value)
    append(SOH)
    try:
        # Values went in unchecked: join() itself rejects a non-bytes one, and
        # only then are values converted.
        payload = b"".join(parts)
    except TypeError:
        for i in range(9, len(parts) - 1, 2):
            if parts[i].__class__ is not bytes:
                parts[i] = _as_bytes(parts[i])
        payload = b"".join(parts)
    return _framed(begin, payload)
