"""Check a framed FIX message against the data dictionary; say why it is invalid, as a value.

Job: given a ``FixMessage`` and a ``Dictionary``, return ``None`` when the message
is valid or an ``Invalid`` carrying the FIX 4.4 SessionRejectReason (tag 373),
the offending tag and a short text: unknown MsgType, undefined tags, tags not
defined for the message type, header/body/trailer order, duplicates, required
tags (also inside repeating groups), group delimiter/order and NumInGroup counts,
empty values, data formats and enumerations.

Not its job: BeginString, CompIDs, SendingTime accuracy and sequence numbers
(the session layer owns those and the reasons 9 and 10), and business checks.

Speed: messages from one counterparty repeat the same tag sequence ("shape").
The first message of a shape gets the full structural check (cached per shape)
and the per-field value pass; when a valid shape repeats it is compiled into one
regular expression over the raw body that checks every value's format and
enumeration and captures every value. It is handed to the
codec's shape, so later messages of that shape are split *and* validated by a
single ``fullmatch`` in the codec (``msg.valid_for``), and ``validate`` returns at
once. When the regex fails, the precise per-field pass finds the reason. Shapes
holding raw-data fields always take the precise pass.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from router.fix.codec import FixMessage
from router.fix.dictionary import (
    DECIMAL_TYPES,
    INT_TYPES,
    UNSIGNED_TYPES,
    Dictionary,
    FieldDef,
    GroupDef,
    MessageDef,
)


class SessionRejectReason(IntEnum):
    """FIX 4.4 SessionRejectReason (373) values the gateway can produce."""

    INVALID_TAG_NUMBER = 0
    REQUIRED_TAG_MISSING = 1
    TAG_NOT_DEFINED_FOR_MESSAGE_TYPE = 2
    UNDEFINED_TAG = 3
    TAG_SPECIFIED_WITHOUT_VALUE = 4
    VALUE_IS_INCORRECT = 5
    INCORRECT_DATA_FORMAT = 6
    COMPID_PROBLEM = 9
    SENDING_TIME_ACCURACY_PROBLEM = 10
    INVALID_MSG_TYPE = 11
    TAG_APPEARS_MORE_THAN_ONCE = 13
    TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER = 14
    REPEATING_GROUP_FIELDS_OUT_OF_ORDER = 15
    INCORRECT_NUM_IN_GROUP_COUNT = 16
    OTHER = 99

    @property
    def label(self) -> str:
        """Stable lower_snake metric label (dashboards key on it)."""
        return self.name.lower()


R = SessionRejectReason


@dataclass(frozen=True, slots=True)
class Invalid:
    reason: SessionRejectReason
    ref_tag: int | None
    text: str


_FRAME_TAGS = frozenset({8, 9, 10})  # the codec consumed the real ones; these are extras
# Tags above this are not tag numbers at all, rather than merely undefined ones.
MAX_TAG = 49999
_SHAPE_CACHE_LIMIT = 4096

# Value grammars, shared by the per-shape regex and the per-field precise check
# so both always agree.
_TIME = rb"(?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)(?:\.\d{3}|\.\d{6}|\.\d{9})?"
_LEAP_YEAR = rb"(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
_DATE = (rb"(?:\d{4}(?:(?:0[13578]|1[02])(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)(?:0[1-9]|[12]\d|30)"
         rb"|02(?:0[1-9]|1\d|2[0-8]))|" + _LEAP_YEAR + rb"0229)")
_TEXT = rb"[^\x01]+"
_TYPE_PATTERNS: dict[str, bytes] = {
    "UTCTIMESTAMP": _DATE + rb"-" + _TIME,
    "UTCDATEONLY": _DATE,
    "UTCDATE": _DATE,
    "LOCALMKTDATE": _DATE,
    "UTCTIMEONLY": _TIME,
    "MONTHYEAR": rb"\d{4}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]|w[1-5])?",
    "CHAR": rb"[^\x01]",
    "BOOLEAN": rb"[YN]",
    "CURRENCY": rb"[A-Z]{3}",
}
for _t in INT_TYPES:
    _TYPE_PATTERNS[_t] = rb"-?\d+"
for _t in UNSIGNED_TYPES:
    _TYPE_PATTERNS[_t] = rb"\d+"
for _t in DECIMAL_TYPES:
    _TYPE_PATTERNS[_t] = rb"-?(?:\d+(?:\.\d*)?|\.\d+)"
_DATA_TYPES = frozenset({"DATA", "XMLDATA"})


def value_pattern(fdef: FieldDef) -> bytes:
    """Regex source (bytes) for one value of this field, format and enumeration together."""
    if fdef.values:
        one = b"(?:" + b"|".join(re.escape(v) for v in sorted(fdef.values, key=len, reverse=True)) + b")"
        return one + b"(?: " + one + b")*" if fdef.multi_value else one
    return _TYPE_PATTERNS.get(fdef.type, _TEXT)


class _Tables:
    """Per-dictionary compiled state: value regexes, tag sets and the shape cache."""

    def __init__(self, d: Dictionary) -> None:
        self.d = d
        self.header = frozenset(d.header) - {8, 9, 10}
        self.trailer = frozenset(d.trailer) - {10}
        self.header_required = d.header_required - {8, 9, 10}
        self.format = {t: re.compile(_TYPE_PATTERNS.get(f.type, _TEXT)) for t, f in d.fields.items()}
        self.pattern = {t: value_pattern(f) for t, f in d.fields.items()}
        # tag -> (format fullmatch or None for raw data, allowed values or None, multi-value, type)
        self.value_checks = {
            t: (None if f.type in _DATA_TYPES else self.format[t].fullmatch,
                f.values or None, f.multi_value, f.type)
            for t, f in d.fields.items()
        }
        self.group_members = {
            msg_type: _all_group_members(m.groups) for msg_type, m in d.messages.items()
        }
        self.shapes: dict[bytes, object] = {}  # MsgType NUL joined tags -> _Plan | Invalid | 1 (seen once)


def _all_group_members(groups) -> frozenset[int]:
    out: set[int] = set()
    for g in groups.values():
        out |= g.members
        out |= _all_group_members(g.groups)
    return frozenset(out)


def _tables(d: Dictionary) -> _Tables:
    tables = d.cache.get("fix_validate")
    if tables is None:
        tables = d.cache["fix_validate"] = _Tables(d)
    return tables


class _Plan:
    """What is known about one shape: its field checks, and the compiled regex once worth it."""

    __slots__ = ("regex", "layout")

    def __init__(self, regex: re.Pattern[bytes] | None, layout: list) -> None:
        self.regex = regex
        self.layout = layout


def validate(msg: FixMessage, d: Dictionary) -> Invalid | None:
    """None if msg conforms to d, else the first problem found."""
    tables = d.cache.get("fix_validate") or _tables(d)
    if msg.valid_for is tables:
        return None  # the codec matched this dictionary's typed shape regex
    if msg.bad_tag is not None:
        return _bad_tag(msg)
    mdef = d.messages.get(msg.msg_type)
    if mdef is None:
        return Invalid(R.INVALID_MSG_TYPE, 35, f"MsgType {msg.msg_type!r} not in the dictionary")
    shape = msg.shape
    key = shape.key if shape is not None else msg.msg_type + b"\x00" + b"\x01".join(msg.tags)
    plan = tables.shapes.get(key)
    if plan is None or plan.__class__ is int:
        plan = _learn_shape(tables, mdef, msg, key, plan)
    if plan.__class__ is Invalid:
        return plan  # type: ignore[return-value]
    regex = plan.regex  # type: ignore[union-attr]
    if regex is not None:
        if shape is not None and (shape.typed is None or shape.typed[0] is not tables):
            # Teach the codec's shape this dictionary's checks so the next message
            # of the shape is split and validated by the same regex.
            shape.typed = (tables, regex)
        raw = msg.raw
        if regex.fullmatch(raw, msg.body_start, len(raw) - 7) is not None:
            return None
    return _values(tables, msg, plan.layout)  # type: ignore[union-attr]


def _bad_tag(msg: FixMessage) -> Invalid:
    """A tag that is a number but no tag number (0, negative, leading zeros): 373=0."""
    bad = msg.bad_tag or b""
    number = int(bad)
    return Invalid(R.INVALID_TAG_NUMBER, number if number > 0 else None,
                   f"tag {bad[:20]!r} is not a valid tag number")


def _learn_shape(tables: _Tables, mdef: MessageDef, msg: FixMessage, key: bytes,
                 seen: int | None) -> object:
    layout = _structure(tables, mdef, msg)
    if layout.__class__ is Invalid:
        plan: object = layout  # structural faults do not depend on the values
    elif any(c.__class__ is int and tables.d.fields[c].type in _DATA_TYPES for c in layout):  # type: ignore
        plan = _Plan(None, layout)  # type: ignore[arg-type]
    elif seen is None:
        # First sighting: check this message field by field and only remember
        # the shape; compiling (about a millisecond) waits for a repeat, so a
        # peer sending endless one-off shapes costs the precise pass only.
        if len(tables.shapes) >= _SHAPE_CACHE_LIMIT:
            tables.shapes.clear()
        tables.shapes[key] = 1
        return _Plan(None, layout)  # type: ignore[arg-type]
    else:
        parts = []
        for tag, check in zip(msg.tags, layout):  # type: ignore[arg-type]
            if check == 35:
                value = re.escape(msg.msg_type)  # the shape belongs to this MsgType only
            elif check.__class__ is tuple:
                value = b"%d" % check[1]
            else:
                value = tables.pattern[check]
            # One capture per value: the codec uses this regex to split as well.
            parts.append(re.escape(tag) + b"=(" + value + b")\x01")
        plan = _Plan(re.compile(b"".join(parts), re.DOTALL), layout)  # type: ignore[arg-type]
    if len(tables.shapes) >= _SHAPE_CACHE_LIMIT:
        tables.shapes.clear()  # an unbounded variety of shapes means a hostile peer
    tables.shapes[key] = plan
    return plan


def _structure(tables: _Tables, mdef: MessageDef, msg: FixMessage) -> Invalid | list:
    """Check tag placement; return per-field checks: the tag, or (count tag, instances)."""
    d = tables.d
    fields = d.fields
    tags = [int(t) for t in msg.tags]
    layout: list = [None] * len(tags)
    seen: set[int] = set()
    body_tags = mdef.allowed
    in_groups = tables.group_members[mdef.msg_type]
    phase = 0  # 0 header, 1 body, 2 trailer
    i = 0
    n = len(tags)
    while i < n:
        tag = tags[i]
        if tag not in fields:
            # QuickFIX and the FIX session test case 14a answer a tag the dictionary does not define
            # with 373=0 (Invalid tag number), so counterparties certify against that, not 373=3.
            if tag > MAX_TAG:
                return Invalid(R.INVALID_TAG_NUMBER, tag, f"tag {tag} out of range")
            return Invalid(R.INVALID_TAG_NUMBER, tag, f"tag {tag} is not defined in the dictionary")
        if tag in seen:
            return Invalid(R.TAG_APPEARS_MORE_THAN_ONCE, tag, f"tag {tag} appears more than once")
        if tag in _FRAME_TAGS:
            return Invalid(R.TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER, tag, f"tag {tag} inside the message body")
        if tag in tables.header:
            if phase:
                return Invalid(R.TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER, tag,
                               f"header tag {tag} after the body")
            hdef = d.header_groups.get(tag) if d.header_groups else None
            if hdef is not None:       # a header repeating group, e.g. NoHops(627)
                seen.add(tag)
                result = _group(fields, hdef, tags, i + 1, layout)
                if result.__class__ is Invalid:
                    return result  # type: ignore[return-value]
                layout[i] = (tag, result[1])  # type: ignore[index]
                i = result[0]  # type: ignore[index]
                continue
        elif tag in tables.trailer:
            if phase == 2 and d.trailer.index(tag) < max(d.trailer.index(t) for t in seen & tables.trailer):
                return Invalid(R.TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER, tag, f"trailer tag {tag} out of order")
            phase = 2
        elif tag in body_tags:
            if phase == 2:
                return Invalid(R.TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER, tag, f"body tag {tag} after the trailer")
            phase = 1
            gdef = mdef.groups.get(tag)
            if gdef is not None:
                seen.add(tag)
                result = _group(fields, gdef, tags, i + 1, layout)
                if result.__class__ is Invalid:
                    return result  # type: ignore[return-value]
                layout[i] = (tag, result[1])  # type: ignore[index]
                i = result[0]  # type: ignore[index]
                continue
        elif tag in in_groups:
            return Invalid(R.TAG_NOT_DEFINED_FOR_MESSAGE_TYPE, tag,
                           f"tag {tag} belongs to a repeating group but is outside it")
        else:
            return Invalid(R.TAG_NOT_DEFINED_FOR_MESSAGE_TYPE, tag,
                           f"tag {tag} is not defined for MsgType {mdef.msg_type.decode()}")
        seen.add(tag)
        layout[i] = tag
        i += 1
    for required, order in ((tables.header_required, d.header), (mdef.required, mdef.order),
                            (d.trailer_required - {10}, d.trailer)):
        missing = required - seen
        if missing:
            first = next(t for t in order if t in missing)
            return Invalid(R.REQUIRED_TAG_MISSING, first, f"required tag {first} missing")
    return layout


def _group(fields, gdef: GroupDef, tags: list[int], i: int, layout: list) -> Invalid | tuple[int, int]:
    """Walk the instances of gdef starting at i; return (next index, instance count)."""
    members = gdef.members
    rank = {t: k for k, t in enumerate(gdef.order)}
    count = 0
    n = len(tags)
    while i < n and tags[i] in members:
        if tags[i] != gdef.delimiter:
            return Invalid(R.REPEATING_GROUP_FIELDS_OUT_OF_ORDER, tags[i],
                           f"group {gdef.count_tag} instance does not start with {gdef.delimiter}")
        count += 1
        last = -1
        present: set[int] = set()
        first_of_instance = True
        while i < n and tags[i] in members and (first_of_instance or tags[i] != gdef.delimiter):
            first_of_instance = False
            tag = tags[i]
            if tag in present:
                return Invalid(R.TAG_APPEARS_MORE_THAN_ONCE, tag, f"tag {tag} twice in one group instance")
            if rank[tag] < last:
                return Invalid(R.REPEATING_GROUP_FIELDS_OUT_OF_ORDER, tag,
                               f"tag {tag} out of order in group {gdef.count_tag}")
            last = rank[tag]
            present.add(tag)
            inner = gdef.groups.get(tag)
            if inner is not None:
                result = _group(fields, inner, tags, i + 1, layout)
                if result.__class__ is Invalid:
                    return result
                layout[i] = (tag, result[1])  # type: ignore[index]
                i = result[0]  # type: ignore[index]
                continue
            layout[i] = tag
            i += 1
        missing = gdef.required - present
        if missing:
            first = next(t for t in gdef.order if t in missing)
            return Invalid(R.REQUIRED_TAG_MISSING, first, f"required tag {first} missing in group {gdef.count_tag}")
    return i, count


def _values(tables: _Tables, msg: FixMessage, layout: list) -> Invalid | None:
    checks = tables.value_checks
    for value, check in zip(msg.values, layout):
        if check.__class__ is tuple:
            tag, count = check
            if not value:
                return Invalid(R.TAG_SPECIFIED_WITHOUT_VALUE, tag, f"tag {tag} has no value")
            if not value.isdigit():
                return Invalid(R.INCORRECT_DATA_FORMAT, tag, f"NumInGroup {tag} is not a count")
            if int(value) != count:
                return Invalid(R.INCORRECT_NUM_IN_GROUP_COUNT, tag,
                               f"NumInGroup {tag} says {int(value)}, message has {count}")
            continue
        if not value:
            return Invalid(R.TAG_SPECIFIED_WITHOUT_VALUE, check, f"tag {check} has no value")
        fmt, allowed, multi, ftype = checks[check]
        if fmt is None:
            continue  # raw data: any bytes, length already enforced by the codec
        # Format before enumeration, as QuickFIX orders them.
        if not multi and fmt(value) is None:
            return Invalid(R.INCORRECT_DATA_FORMAT, check, f"tag {check} value {value[:32]!r} is not {ftype}")
        if allowed is not None:
            if multi:
                bad = next((v for v in value.split(b" ") if v not in allowed), None)
            else:
                bad = None if value in allowed else value
            if bad is not None:
                return Invalid(R.VALUE_IS_INCORRECT, check, f"tag {check} value {bad[:32]!r} not allowed")
    return None


def validate_precise(msg: FixMessage, d: Dictionary) -> Invalid | None:
    """The field-by-field check alone, bypassing every cache (tests, diagnostics)."""
    tables = _tables(d)
    if msg.bad_tag is not None:
        return _bad_tag(msg)
    mdef = d.messages.get(msg.msg_type)
    if mdef is None:
        return Invalid(R.INVALID_MSG_TYPE, 35, f"MsgType {msg.msg_type!r} not in the dictionary")
    layout = _structure(tables, mdef, msg)
    return layout if layout.__class__ is Invalid else _values(tables, msg, layout)  # type: ignore
