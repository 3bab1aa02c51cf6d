"""The codec's careful field split, for bodies its one-call split refuses: raw-data fields, odd tags.

Job: cut a FIX body (35 up to the field before 10) into tags and values where a value may contain
SOH (a raw-data field, cut by the length its length field gave) and where a tag may be a number
that is no tag number (zero, negative, leading zeros: the session rejects those with 373=0), and say
when the body cannot be split at all (a field without '=', a tag that is no number, a data field
not matching its length). `router.fix.codec` calls it only when its fast split fails.
Not its job: framing (BodyLength, CheckSum), compiled shapes, or the dictionary's rules.
"""
from __future__ import annotations

SOH = b"\x01"

# Length field -> data field pairs (FIX 4.4). A data value may contain SOH, so
# the field after one of these length tags is cut by length, not by delimiter.
RAW_DATA_PAIRS: dict[int, int] = {
    90: 91, 93: 89, 95: 96, 212: 213, 348: 349, 350: 351, 352: 353, 354: 355,
    356: 357, 358: 359, 360: 361, 362: 363, 364: 365, 445: 446, 618: 619, 621: 622,
}


def _split_slow(body: bytes) -> tuple[list[bytes], list[bytes], bytes | None] | str:
    """Length-aware field split: (tags, values, first invalid tag text or None), or a reason
    string when the body cannot be split at all."""
    tags: list[bytes] = []
    values: list[bytes] = []
    pos = 0
    end = len(body)
    data_len: tuple[int, int] | None = None  # (data tag expected next, its length)
    bad: bytes | None = None  # the first tag text that is a number but no valid tag
    while pos < end:
        eq = body.find(b"=", pos)
        stop = body.find(SOH, pos)
        if eq < 0 or (0 <= stop < eq):
            return "field without '='"
        text = body[pos:eq]
        if not text.isdigit() or text[0] == 48:
            # A number that is no valid tag (0, negative, leading zeros) is a well-framed
            # message with an invalid tag: the session rejects it (373=0). Anything else
            # in the tag position is garbage.
            if not (text.isdigit() or (text[:1] == b"-" and text[1:].isdigit())):
                return f"tag not a number: {text[:20]!r}"
            if bad is None:
                bad = text
        tag = int(text)
        if data_len is not None and data_len[0] == tag:
            stop = eq + 1 + data_len[1]
            if stop > end or (stop < end and body[stop] != 1):
                return f"data field {tag} does not match its length"
        elif stop < 0:
            stop = end
        value = body[eq + 1:stop]
        tags.append(text)
        values.append(value)
        data_len = None
        if tag in RAW_DATA_PAIRS and value.isdigit():
            data_len = (RAW_DATA_PAIRS[tag], int(value))
        pos = stop + 1
    return tags, values, bad
