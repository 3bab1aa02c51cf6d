"""FIX tag=value framing, field splitting and encoding for the gateway's hot path.

Job: cut a TCP byte stream into FIX frames (BodyLength(9) framing, CheckSum(10)
check, strict 8/9/35 header order, a size limit, resynchronisation at the next
``8=FIX`` after garbage), split each good frame into ``(tag, raw bytes)`` pairs in
wire order. Encoding outgoing messages (BodyLength and CheckSum filled in) and the checksum live in
``router.fix.encoding``, UTCTimestamps in ``router.fix.timestamps`` (both re-exported here), the
careful split of bodies the one-call split refuses (raw data, odd tags) in ``router.fix.split_slow``.

Speed: a peer repeats the same tag sequence ("shape") message after message.
From its second sighting a shape is compiled into one regex that captures every
value, so splitting is one ``fullmatch``; ``router.fix.validate`` may attach a
typed version of that regex which also proves the values valid (``valid_for``).

Not its job: checking message *content* against the data dictionary (that is
``router.fix.validate``), sequence numbers, sessions, or decoding values into
prices and quantities. A frame that is well formed but semantically wrong is a
``FixMessage``; only a frame the session must silently drop is ``Garbled``.
"""
from __future__ import annotations

import re
from typing import Sequence

from router.fix.encoding import _checksum, encode  # noqa: F401  (encode re-exported)
from router.fix.picks import picker
from router.fix.split_slow import RAW_DATA_PAIRS, _split_slow  # noqa: F401  (RAW_DATA_PAIRS re-exported)
from router.fix.timestamps import parse_utc_timestamp, utc_timestamp  # noqa: F401  (re-exported)

SOH = b"\x01"
_BEGIN = b"8=FIX"
_DEFAULT_MAX = 65536

# Canonical tag texts the fast path accepts; a dict hit is about three times
# cheaper than int(). Raw-data length tags are left out on purpose so that
# meeting one diverts the frame to the length-aware slow path.
_TAG_INT: dict[bytes, int] = {b"%d" % t: t for t in range(1, 10000)}
_FAST_TAGS = frozenset(k for k, v in _TAG_INT.items() if v not in RAW_DATA_PAIRS)
_TAG_TEXT: list[bytes] = [b"%d" % t for t in range(10000)]


class Garbled:
    """A frame the session must drop (and log) without rejecting or counting it."""

    __slots__ = ("raw", "reason")

    def __init__(self, raw: bytes, reason: str) -> None:
        self.raw = raw
        self.reason = reason

    def __repr__(self) -> str:
        return f"Garbled({self.reason!r}, {self.raw[:60]!r})"


def _text_of(tag: int) -> bytes:
    return _TAG_TEXT[tag] if 0 < tag < 10000 else b"%d" % tag


class FixMessage:
    """One well-framed FIX message; values stay raw bytes, repeated tags stay in order.

    Internally the body (35 up to the field before 10) is kept as two parallel
    sequences with tags as canonical ``bytes``: building int tuples for every
    field costs more than the rest of the parse, and the validator works on the
    raw body. ``fields`` and the index behind ``get`` are built on first use.
    """

    __slots__ = ("raw", "msg_type", "tags", "values", "body_start", "shape", "valid_for",
                 "_fields", "_first")

    bad_tag: bytes | None = None  # see BadTagMessage

    def __init__(self, raw: bytes, tags: Sequence[bytes], values: Sequence[bytes],
                 body_start: int, shape: "_Shape | None" = None, valid_for: object = None) -> None:
        self.raw = raw
        self.tags = tags          # body tags in wire order, canonical bytes (b"35", ...)
        self.values = values      # the matching raw values
        self.msg_type = values[0]
        self.body_start = body_start  # offset of "35=" in raw
        # The compiled tag sequence this message matched (shared by all such messages).
        self.shape = shape
        # Token of the validator tables that already proved this message valid.
        self.valid_for = valid_for
        self._fields: list[tuple[int, bytes]] | None = None
        self._first: dict[bytes, bytes] | None = None

    @property
    def begin(self) -> bytes:
        return self.raw[2:self.raw.find(SOH)]

    @property
    def body_length(self) -> bytes:
        return self.raw[self.raw.find(SOH) + 3:self.body_start - 1]

    @property
    def checksum(self) -> bytes:
        return self.raw[-4:-1]

    @property
    def fields(self) -> list[tuple[int, bytes]]:
        fields = self._fields
        if fields is None:
            get = _TAG_INT.get
            fields = [(8, self.begin), (9, self.body_length)]
            fields += zip([get(t) or int(t) for t in self.tags], self.values)
            fields.append((10, self.checksum))
            self._fields = fields
        return fields

    def index(self) -> dict[bytes, bytes]:
        """bytes tag -> value of its first occurrence (8, 9 and 10 included)."""
        first = self._first
        if first is None:
            # Later keys overwrite earlier ones, so feeding the pairs backwards
            # leaves the *first* occurrence of each tag.
            first = dict(zip(reversed(self.tags), reversed(self.values)))
            raw = self.raw
            soh = raw.find(SOH)         # begin, body_length and checksum without a property call each
            if b"10" not in first:
                first[b"10"] = raw[-4:-1]
            first[b"9"] = raw[soh + 3:self.body_start - 1]
            first[b"8"] = raw[2:soh]
            self._first = first
        return first

    def pick(self, tags: tuple[bytes, ...]) -> tuple:
        """The values of body `tags` (canonical texts) at their first occurrences, None where absent: by
        position in a compiled shape (`router.fix.picks`), else from the index."""
        shape = self.shape
        if shape is not None:
            get = shape.picks.get(tags)
            if get is None:
                get = shape.picks[tags] = picker(shape.first, tags)
            return get(self.values)
        first = self._first or self.index()
        return tuple([first.get(t) for t in tags])

    def get(self, tag: int, default: bytes | None = None) -> bytes | None:
        return (self._first or self.index()).get(_text_of(tag), default)

    def has(self, tag: int) -> bool:
        return _text_of(tag) in (self._first or self.index())

    def get_int(self, tag: int) -> int | None:
        value = (self._first or self.index()).get(_text_of(tag))
        if value is None:
            return None
        # isdigit() refuses the spaces, '+' and '_' that int() would accept.
        if value.isdigit():
            return int(value)
        if value[:1] == b"-" and value[1:].isdigit():
            return int(value)
        return None

    @property
    def seq_num(self) -> int:
        shape = self.shape
        if shape is not None:       # by position: no index built for it
            pos = shape.first.get(b"34")
            value = self.values[pos] if pos is not None else None
        else:
            value = (self._first or self.index()).get(b"34")
        return int(value) if value is not None and value.isdigit() else 0

    def __repr__(self) -> str:
        return f"FixMessage({self.raw.replace(SOH, b'|')!r})"


class BadTagMessage(FixMessage):
    """A well-framed message with a tag that is a number but no valid tag number (zero,
    negative or with leading zeros): the session answers it with a Reject (373=0).

    ``bad_tag`` is that tag's text as sent; its bytes never equal a canonical tag's, so
    ``get`` cannot confuse ``055`` with 55. Plain ``FixMessage`` has ``bad_tag = None``
    as a class attribute, so the fast path pays nothing for this check.
    """

    __slots__ = ("bad_tag",)

    def __init__(self, raw: bytes, tags: Sequence[bytes], values: Sequence[bytes],
                 body_start: int, bad_tag: bytes) -> None:
        super().__init__(raw, tags, values, body_start)
        self.bad_tag = bad_tag

    @property
    def bad_tag_number(self) -> int | None:
        """The bad tag as RefTagID(371) when that means something (a positive number), else None."""
        number = int(self.bad_tag)
        return number if number > 0 else None


_NOT_SEPARATOR = bytes(b for b in range(256) if b not in (1, 61))
_ALTERNATING = b"=\x01" * 40000


def _split_fast(body: bytes) -> tuple[list[bytes], list[bytes]] | None:
    # The separators must alternate '=' SOH '=' ... '=' (each field has exactly
    # one '='); then one replace+split gives tag, value, tag, value...
    seps = body.translate(None, _NOT_SEPARATOR)
    if len(seps) & 1 and _ALTERNATING.startswith(seps):
        parts = body.replace(b"=", SOH).split(SOH)
        tags = parts[0::2]
        if _FAST_TAGS.issuperset(tags):
            return tags, parts[1::2]
    return None


class _Shape:
    """A tag sequence seen before, compiled to a regex capturing every value."""

    __slots__ = ("regex", "tags", "key", "typed", "on_behalf", "routes", "first", "picks")

    def __init__(self, tags: list[bytes], key: bytes) -> None:
        # (token, regex) set by router.fix.validate: the same split with every
        # value's format and enumeration built in, tried first.
        self.typed: tuple[object, re.Pattern[bytes]] | None = None
        # Tags are literal, values are "anything but SOH": a full match splits
        # exactly as the plain split would, in one C call instead of five.
        self.regex = re.compile(b"".join(re.escape(t) + b"=([^\x01]*)\x01" for t in tags))
        self.tags = tuple(tags)
        self.key = key
        # Each tag's first position, and the readers `FixMessage.pick` made of them (bounded by its callers).
        self.first = {t: n for n, t in reversed(list(enumerate(tags)))}
        self.picks: dict[tuple[bytes, ...], object] = {}
        # Whether its messages carry OnBehalfOfCompID(115), or 115 or DeliverToCompID(128): the session's
        # and the gateway's routing checks (router.fix.onbehalf) read these, not a search of each frame.
        self.on_behalf = b"115" in tags
        self.routes = self.on_behalf or b"128" in tags


# A good frame's head in one C call: BeginString(8) "FIX..." ending within 20 bytes, BodyLength(9) of
# 1-9 digits, MsgType(35) third. Anything else goes to `_frame_at`, which says what is wrong.
_HEAD = re.compile(b"8=FIX[^\x01]{0,14}\x019=([0-9]{1,9})\x0135=([^\x01]*)\x01")
_SHAPES: dict[bytes, _Shape | int] = {}  # joined tags -> compiled shape, or times seen
_SHAPE_LIMIT = 4096
_SHAPE_MAX_FIELDS = 200
_RECENT_SHAPES = 4  # per MsgType and decoder
_RECENT_TYPES = 64


def _shape_for(msg_type: bytes, tags: list[bytes]) -> _Shape | None:
    """The compiled shape for tags from their second sighting on (one-offs are not compiled)."""
    if len(tags) > _SHAPE_MAX_FIELDS:
        return None
    # MsgType is part of the key: one tag sequence may serve two message types
    # with different rules, and the validator attaches its checks per shape.
    key = msg_type + b"\x00" + b"\x01".join(tags)
    entry = _SHAPES.get(key)
    if entry is None:
        if len(_SHAPES) >= _SHAPE_LIMIT:
            _SHAPES.clear()  # a peer inventing shapes endlessly gets the plain split
        _SHAPES[key] = 1
        return None
    if entry.__class__ is int:
        entry = _SHAPES[key] = _Shape(tags, key)
    return entry  # type: ignore[return-value]


def _prefix_len_of_begin(buf: bytes) -> int:
    """Length of the longest suffix of buf that could start a later ``8=FIX``."""
    for k in (4, 3, 2, 1):
        if buf.endswith(_BEGIN[:k]):
            return k
    return 0


class FrameDecoder:
    """Incremental FIX framer: feed bytes, get complete messages and garbled frames."""

    __slots__ = ("max_message_size", "_buf", "_recent")

    def __init__(self, max_message_size: int = _DEFAULT_MAX) -> None:
        self.max_message_size = max_message_size
        self._buf = b""
        self._recent: dict[bytes, list[_Shape]] = {}  # MsgType -> shapes this peer used lately

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[FixMessage | Garbled]:
        buf = self._buf + data if self._buf else bytes(data)
        out: list[FixMessage | Garbled] = []
        n = len(buf)
        pos = 0
        limit = self.max_message_size
        while pos < n:
            start = buf.find(_BEGIN, pos)
            if start < 0:
                keep = n - _prefix_len_of_begin(buf[max(pos, n - 4):])
                if keep > pos:
                    out.append(Garbled(buf[pos:keep], "garbage outside a frame"))
                self._buf = buf[keep:]
                return out
            if start > pos:
                out.append(Garbled(buf[pos:start], "garbage outside a frame"))
            pos = start
            head = _HEAD.match(buf, start)
            if head is not None:
                trailer = head.start(2) - 3 + int(head[1])
                frame_end = trailer + 7
                if (frame_end <= n and frame_end - start <= limit
                        and buf[trailer - 1:trailer + 3] == b"\x0110=" and buf[frame_end - 1] == 1
                        and buf[trailer + 3:trailer + 6].isdigit()
                        and int(buf[trailer + 3:trailer + 6]) == _checksum(buf, start, trailer)):
                    frame = buf[start:frame_end] if start or frame_end != n else buf
                    out.append(self._split(frame, head.start(2) - 3 - start, head[2]))
                    pos = frame_end
                    continue
            verdict = self._frame_at(buf, start, n, limit)
            if verdict is None:  # incomplete: wait for more bytes
                self._buf = buf[start:]
                return out
            if isinstance(verdict, int):
                frame_end = verdict
                item = self._parse(buf, start, frame_end)
                out.append(item)
                pos = frame_end
                continue
            # A bad frame: drop everything up to the next plausible BeginString so
            # a valid message right behind it is still delivered.
            nxt = buf.find(_BEGIN, start + 1)
            if nxt < 0:
                keep = n - _prefix_len_of_begin(buf[max(start + 1, n - 4):])
                out.append(Garbled(buf[start:keep], verdict))
                self._buf = buf[keep:]
                return out
            out.append(Garbled(buf[start:nxt], verdict))
            pos = nxt
        self._buf = b""
        return out

    def parse_one(self, frame: bytes) -> FixMessage | Garbled:
        """`parse_frame` through this decoder, so the shapes of recent messages are reused (the
        journal replay parses every command this way: ×1.6 per frame); nothing is held back."""
        items = self.feed(frame)
        self._buf = b""
        return _exactly_one(frame, items)

    def parse_journaled(self, frame: bytes) -> FixMessage | Garbled:
        """`parse_one` for a frame read back from the command journal, whose CRC proves the bytes are the
        ones the live router accepted: the framing is checked (BeginString, BodyLength against the
        frame's length, MsgType third, the trailer, the size limit) but the CheckSum(10) sum is not
        recomputed. Anything else goes through `parse_one`, so a frame that would be refused still
        is. ~1.2 µs less per replayed frame (benchmarks/README.md, "Reading the journal at a start")."""
        n = len(frame)
        soh1 = frame.find(SOH, 0, 20)
        soh2 = frame.find(SOH, soh1 + 3, soh1 + 13) if soh1 > 0 else -1
        if (soh2 > 0 and n <= self.max_message_size and frame.startswith(_BEGIN) and frame[-1] == 1
                and frame.startswith(b"9=", soh1 + 1) and frame.startswith(b"35=", soh2 + 1)
                and frame.startswith(b"\x0110=", n - 8) and frame[soh1 + 3:soh2] == b"%d" % (n - 8 - soh2)):
            # `_parse(frame, 0, n)` without finding the body's start and MsgType's end again.
            return self._split(frame, soh2 + 1, frame[soh2 + 4:frame.find(SOH, soh2 + 4)])
        return self.parse_one(frame)

    @staticmethod
    def _frame_at(buf: bytes, start: int, n: int, limit: int) -> int | str | None:
        """End offset of a good frame at start, a reason if it is bad, None if incomplete."""
        soh1 = buf.find(SOH, start, start + 20)
        if soh1 < 0:
            return None if n - start < 20 else "BeginString too long"
        if n < soh1 + 3:
            return None
        if buf[soh1 + 1:soh1 + 3] != b"9=":
            return "BodyLength(9) is not the second field"
        soh2 = buf.find(SOH, soh1 + 3, soh1 + 13)
        if soh2 < 0:
            return None if n - soh1 < 13 else "BodyLength(9) too long"
        length = buf[soh1 + 3:soh2]
        if not length.isdigit():
            return "BodyLength(9) not a number"
        body_start = soh2 + 1
        trailer = body_start + int(length)
        frame_end = trailer + 7
        if frame_end - start > limit:
            return f"message longer than {limit} bytes"
        if frame_end > n:
            # A declared length running past a complete-looking frame that is
            # followed by a new message means BodyLength lies; do not stall on it.
            nxt = buf.find(_BEGIN, body_start)
            if nxt > 0 and buf[nxt - 8:nxt - 4] == b"\x0110=" and buf[nxt - 1] == 1:
                return "BodyLength(9) does not match the frame"
            return None
        if buf[trailer - 1] != 1 or buf[trailer:trailer + 3] != b"10=" or buf[frame_end - 1] != 1:
            return "BodyLength(9) does not match the frame"
        checksum = buf[trailer + 3:trailer + 6]
        if not checksum.isdigit():
            return "CheckSum(10) not three digits"
        if int(checksum) != _checksum(buf, start, trailer):
            return "CheckSum(10) mismatch"
        if buf[body_start:body_start + 3] != b"35=":
            return "MsgType(35) is not the third field"
        return frame_end

    def _parse(self, buf: bytes, start: int, frame_end: int) -> FixMessage | Garbled:
        frame = buf[start:frame_end] if start or frame_end != len(buf) else buf
        body_start = frame.find(SOH, frame.find(SOH) + 1) + 1
        return self._split(frame, body_start, frame[body_start + 3:frame.find(SOH, body_start)])

    def _split(self, frame: bytes, body_start: int, msg_type: bytes) -> FixMessage | Garbled:
        trailer = len(frame) - 7
        recent = self._recent.get(msg_type)
        if recent is not None:
            for shape in recent:
                typed = shape.typed
                if typed is not None:
                    match = typed[1].fullmatch(frame, body_start, trailer)
                    if match is not None:
                        return FixMessage(frame, shape.tags, match.groups(), body_start, shape, typed[0])
                match = shape.regex.fullmatch(frame, body_start, trailer)
                if match is not None:
                    return FixMessage(frame, shape.tags, match.groups(), body_start, shape)
        body = frame[body_start:trailer - 1]
        split = _split_fast(body)
        shape = None
        if split is not None:
            shape = _shape_for(msg_type, split[0])
            if shape is not None:
                if recent is None:
                    if len(self._recent) >= _RECENT_TYPES:
                        self._recent.clear()  # MsgTypes are the peer's choice: keep this bounded
                    recent = self._recent[msg_type] = []
                recent.insert(0, shape)
                del recent[_RECENT_SHAPES:]
        else:
            slow = _split_slow(body)
            if slow.__class__ is str:
                return Garbled(frame, slow)  # type: ignore[arg-type]
            tags, values, bad = slow  # type: ignore[misc]
            if bad is not None:
                return BadTagMessage(frame, tags, values, body_start, bad)
            return FixMessage(frame, tags, values, body_start)
        tags, values = split
        return FixMessage(frame, tags, values, body_start, shape)


def parse_frame(frame: bytes, max_message_size: int = _DEFAULT_MAX) -> FixMessage | Garbled:
    """Decode exactly one complete frame (tests, tools, the message store)."""
    return _exactly_one(frame, FrameDecoder(max_message_size).feed(frame))


def _exactly_one(frame: bytes, items: list) -> FixMessage | Garbled:
    if len(items) == 1:
        return items[0]
    if not items:
        return Garbled(frame, "incomplete frame")
    bad = next((i for i in items if isinstance(i, Garbled)), None)
    return bad if bad is not None else Garbled(frame, "more than one frame")
