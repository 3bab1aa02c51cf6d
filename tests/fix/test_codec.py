"""Framing, splitting, encoding and timestamps of router.fix.codec, with simplefix as the oracle."""
from __future__ import annotations

import calendar
import datetime as dt

import pytest
import simplefix
from hypothesis import given, settings, strategies as st
from simplefix.data import RAW_DATA_TAGS, RAW_LEN_TAGS

from router.fix.codec import (
    BadTagMessage,
    FixMessage,
    FrameDecoder,
    Garbled,
    encode,
    parse_frame,
    parse_utc_timestamp,
    utc_timestamp,
)

NOS_BODY = [
    (11, b"ORD-1"), (1, b"ACC1"), (55, b"SGE.AU9999"), (54, b"1"),
    (60, b"20261125-15:50:01.120"), (38, 100), (40, b"2"), (44, "560.25"), (59, b"0"),
]


def nos(seq: int = 1, body=NOS_BODY) -> bytes:
    return encode(b"D", b"CLIENT", b"GOLDROUTER", seq, b"20261125-15:50:01.123", body)


def only_messages(items) -> list[FixMessage]:
    return [i for i in items if isinstance(i, FixMessage)]


def reframe(frame: bytes, body_length: int | None = None, checksum: int | None = None) -> bytes:
    """Rewrite 9 and/or 10 of a frame to make deliberately broken inputs."""
    fields = frame[:-1].split(b"\x01")
    if body_length is not None:
        fields[1] = b"9=%d" % body_length
    if checksum is not None:
        fields[-1] = b"10=%03d" % checksum
    return b"\x01".join(fields) + b"\x01"


def with_checksum(without_trailer: bytes) -> bytes:
    return without_trailer + b"10=%03d\x01" % (sum(without_trailer) % 256)


def frame_from(fields: bytes) -> bytes:
    """Build 8, 9 (correct) and 10 (correct) around fields given as 'a=b|c=d|'."""
    body = fields.replace(b"|", b"\x01")
    return with_checksum(b"8=FIX.4.4\x019=%d\x01" % len(body) + body)


# --- encode -----------------------------------------------------------------

def test_encode_header_order_length_and_checksum():
    frame = encode(b"8", b"GR", b"C1", 7, b"20261125-15:50:01.123", [(17, b"E1"), (150, b"0")],
                   extra_header=[(43, b"Y"), (122, b"20261125-15:49:00.000")])
    tags = [f.split(b"=", 1)[0] for f in frame[:-1].split(b"\x01")]
    assert tags == [b"8", b"9", b"35", b"49", b"56", b"34", b"52", b"43", b"122", b"17", b"150", b"10"]
    body_start = frame.index(b"\x0135=") + 1
    trailer = frame.rindex(b"10=")
    assert int(frame.split(b"\x01")[1][2:]) == trailer - body_start
    assert int(frame[trailer + 3:trailer + 6]) == sum(frame[:trailer]) % 256


def test_encode_value_types():
    frame = encode(b"D", b"A", b"B", 1, b"20260101-00:00:00.000",
                   [(38, 250), (58, "naïve"), (44, b"1.5"), (1, bytearray(b"X")), (1000, True)])
    msg = parse_frame(frame)
    assert isinstance(msg, FixMessage)
    assert msg.get(38) == b"250"
    assert msg.get(58) == "naïve".encode()
    assert msg.get(1) == b"X"
    assert msg.get(1000) == b"Y"


def test_encode_matches_simplefix_on_a_long_message():
    body = [(58, "z" * 700), (11, b"A")]
    ours = encode(b"8", b"S", b"T", 99, b"20261125-00:00:00.000", body)
    ref = simplefix.FixMessage()
    for tag, value in [(8, b"FIX.4.4"), (35, b"8"), (49, b"S"), (56, b"T"), (34, b"99"),
                       (52, b"20261125-00:00:00.000")]:
        ref.append_pair(tag, value, header=True)
    for tag, value in body:
        ref.append_pair(tag, value)
    assert ours == ref.encode()


# --- framing ----------------------------------------------------------------

def test_one_message_and_accessors():
    msg = parse_frame(nos(seq=42))
    assert isinstance(msg, FixMessage)
    assert msg.msg_type == b"D"
    assert msg.seq_num == 42
    assert msg.get(55) == b"SGE.AU9999"
    assert msg.get_int(38) == 100
    assert msg.get_int(44) is None  # not an integer
    assert msg.get(9999) is None and msg.get(9999, b"d") == b"d"
    assert msg.has(40) and not msg.has(18)
    assert msg.get(8) == b"FIX.4.4" and msg.get(10) == msg.raw[-4:-1]
    assert msg.fields[:3] == [(8, b"FIX.4.4"), (9, msg.get(9)), (35, b"D")]
    assert msg.fields[-1][0] == 10
    assert msg.raw == nos(seq=42)


def test_seq_num_missing_or_bad_is_zero():
    assert parse_frame(frame_from(b"35=0|49=A|56=B|52=x|")).seq_num == 0
    assert parse_frame(frame_from(b"35=0|34=1x|")).seq_num == 0
    assert parse_frame(frame_from(b"35=0|34=-3|")).get_int(34) == -3


def test_split_across_feeds_byte_by_byte():
    stream = nos(1) + nos(2)
    dec = FrameDecoder()
    got = []
    for i in range(len(stream)):
        got += dec.feed(stream[i:i + 1])
    assert [m.seq_num for m in only_messages(got)] == [1, 2]
    assert len(got) == 2
    assert dec.pending == 0


def test_several_messages_in_one_feed_and_a_partial_tail():
    tail = nos(4)
    dec = FrameDecoder()
    got = dec.feed(nos(1) + nos(2) + nos(3) + tail[:30])
    assert [m.seq_num for m in got] == [1, 2, 3]
    assert dec.pending == 30
    assert [m.seq_num for m in dec.feed(tail[30:])] == [4]


def test_garbage_between_messages_is_reported_and_skipped():
    dec = FrameDecoder()
    got = dec.feed(b"junk" + nos(1) + b"\x00\xff8=FI garbage " + nos(2) + b"trailing8=F")
    assert [m.seq_num for m in only_messages(got)] == [1, 2]
    garbled = [g for g in got if isinstance(g, Garbled)]
    assert [g.raw for g in garbled] == [b"junk", b"\x00\xff8=FI garbage ", b"trailing"]
    # "8=F" might begin the next frame, so it is held back, not thrown away
    assert dec.pending == 3
    assert [m.seq_num for m in dec.feed(nos(3)[3:])] == [3]


def test_bad_checksum_dropped_next_message_kept():
    good = nos(1)
    bad = reframe(good, checksum=(int(good[-4:-1]) + 1) % 256)
    got = FrameDecoder().feed(bad + nos(2))
    assert isinstance(got[0], Garbled) and "CheckSum" in got[0].reason
    assert got[0].raw == bad
    assert [m.seq_num for m in only_messages(got)] == [2]


def test_non_digit_checksum_is_garbled():
    good = nos(1)
    bad = good[:-4] + b"1a3\x01"
    got = FrameDecoder().feed(bad)
    assert len(got) == 1 and isinstance(got[0], Garbled)


def test_body_length_too_short_or_too_long_recovers_next_message():
    good = nos(1)
    declared = int(good.split(b"\x01")[1][2:])
    for wrong in (declared - 1, declared + 1, declared + 40):
        bad = reframe(good, body_length=wrong)
        got = FrameDecoder().feed(bad + nos(2) + nos(3))
        assert isinstance(got[0], Garbled), wrong
        assert "BodyLength" in got[0].reason
        assert [m.seq_num for m in only_messages(got)] == [2, 3], wrong


def test_body_length_overshooting_the_buffer_does_not_stall_the_next_message():
    bad = reframe(nos(1), body_length=5000)
    dec = FrameDecoder()
    assert dec.feed(bad) == []  # might still be a large message arriving
    got = dec.feed(nos(2))
    assert isinstance(got[0], Garbled)
    assert [m.seq_num for m in only_messages(got)] == [2]


def test_body_length_not_numeric():
    bad = nos(1).replace(b"\x019=", b"\x019=x", 1)
    got = FrameDecoder().feed(bad + nos(2))
    assert isinstance(got[0], Garbled) and "BodyLength" in got[0].reason
    assert [m.seq_num for m in only_messages(got)] == [2]


def test_wrong_first_tags():
    no_length = with_checksum(b"8=FIX.4.4\x0135=0\x019=5\x01")
    got = FrameDecoder().feed(no_length + nos(2))
    assert isinstance(got[0], Garbled) and "second" in got[0].reason
    msg_type_late = frame_from(b"49=A|35=0|")
    got = FrameDecoder().feed(msg_type_late + nos(2))
    assert isinstance(got[0], Garbled) and "MsgType" in got[0].reason
    assert [m.seq_num for m in only_messages(got)] == [2]


def test_oversize_message_is_dropped():
    big = nos(1, NOS_BODY + [(58, "x" * 2000)])
    dec = FrameDecoder(max_message_size=1024)
    got = dec.feed(big + nos(2))
    assert isinstance(got[0], Garbled) and "longer" in got[0].reason
    assert [m.seq_num for m in only_messages(got)] == [2]
    assert only_messages(FrameDecoder(max_message_size=4096).feed(big))[0].seq_num == 1


def test_missing_checksum_field():
    good = nos(1)
    no_trailer = good[:good.rindex(b"10=")]
    # keep BodyLength honest: without 10 there is no trailer where it points
    got = FrameDecoder().feed(no_trailer + nos(2) + nos(3))
    assert isinstance(got[0], Garbled)
    assert [m.seq_num for m in only_messages(got)] == [2, 3]


def test_non_numeric_tag_is_garbled():
    got = FrameDecoder().feed(frame_from(b"35=0|4x=1|") + nos(2))
    assert isinstance(got[0], Garbled) and "tag" in got[0].reason
    assert [m.seq_num for m in only_messages(got)] == [2]
    assert isinstance(parse_frame(frame_from(b"35=0|novalue|")), Garbled)
    assert isinstance(parse_frame(frame_from(b"35=0|-=A|")), Garbled)
    assert isinstance(parse_frame(frame_from(b"35=0|=A|")), Garbled)


@pytest.mark.parametrize("text,ref", [(b"0", None), (b"-5", None), (b"055", 55), (b"049", 49)])
def test_numeric_but_invalid_tag_is_a_message_with_bad_tag(text, ref):
    # Zero, negative and zero-padded tags are framed messages the session rejects (373=0),
    # not garbage to drop; the padded text never shadows the real tag.
    got = FrameDecoder().feed(frame_from(b"35=0|34=2|" + text + b"=x|") + nos(3))
    assert isinstance(got[0], BadTagMessage)
    assert got[0].bad_tag == text and got[0].bad_tag_number == ref
    assert got[0].seq_num == 2 and got[0].get(49) is None
    assert got[1].bad_tag is None and got[1].seq_num == 3


def test_value_with_equals_and_empty_value():
    msg = parse_frame(frame_from(b"35=D|58=a=b=c|11=|55=X|"))
    assert isinstance(msg, FixMessage)
    assert msg.fields[2:5] == [(35, b"D"), (58, b"a=b=c"), (11, b"")]
    assert msg.get(55) == b"X"


def test_shape_path_keeps_values_with_equals_and_empty_values():
    dec = FrameDecoder()
    body = [(58, b"ab"), (11, b"X")]  # learnt from clean values (split() handles no "=")
    for _ in range(2):
        dec.feed(nos(1, NOS_BODY + body))
    msg = dec.feed(nos(2, NOS_BODY + [(58, b"k=v=w"), (11, b"")]))[0]
    assert msg.shape is not None  # went through the compiled shape
    assert msg.get(58) == b"k=v=w" and msg.get(11) == b"ORD-1"
    assert msg.fields[-3:-1] == [(58, b"k=v=w"), (11, b"")]


def test_raw_data_with_soh_inside():
    msg = parse_frame(frame_from(b"35=B|95=5|96=a\x01b=c|58=t|"))
    assert isinstance(msg, FixMessage)
    assert msg.get(96) == b"a\x01b=c"
    assert msg.get(58) == b"t"
    assert isinstance(parse_frame(frame_from(b"35=B|95=9|96=ab|")), Garbled)


def test_large_tag_numbers():
    msg = parse_frame(frame_from(b"35=D|20001=x|5000=y|"))
    assert isinstance(msg, FixMessage)
    assert msg.get(20001) == b"x" and msg.get(5000) == b"y"


def test_repeating_group_order_is_kept_and_get_returns_first():
    body = [(146, 2), (55, b"SGE.AU9999"), (15, b"CNY"), (55, b"HKGX.AU99TAEL"), (15, b"HKD")]
    msg = parse_frame(encode(b"y", b"A", b"B", 3, b"20261125-15:50:01.123", body))
    assert isinstance(msg, FixMessage)
    assert msg.fields[7:-1] == [(146, b"2"), (55, b"SGE.AU9999"), (15, b"CNY"),
                                (55, b"HKGX.AU99TAEL"), (15, b"HKD")]
    assert msg.get(55) == b"SGE.AU9999"


def test_fixt_begin_string_is_framed():
    msg = parse_frame(encode(b"0", b"A", b"B", 1, b"20261125-15:50:01.123", [], begin=b"FIXT.1.1"))
    assert isinstance(msg, FixMessage) and msg.get(8) == b"FIXT.1.1"


# --- differential against simplefix -----------------------------------------

# Framing tags and every raw-data pair simplefix knows (it knows FIX 5 ones too).
_SPECIAL = {8, 9, 10, 35} | set(RAW_LEN_TAGS) | set(RAW_DATA_TAGS)
tags = st.integers(1, 50000).filter(lambda t: t not in _SPECIAL)
values = st.binary(min_size=1, max_size=30).filter(lambda v: b"\x01" not in v)
bodies = st.lists(st.tuples(tags, values), max_size=25)
msg_types = st.sampled_from([b"0", b"A", b"D", b"8", b"V", b"W", b"y", b"AE", b"U1"])


def simplefix_frame(msg_type: bytes, body) -> bytes:
    m = simplefix.FixMessage()
    m.append_pair(8, b"FIX.4.4", header=True)
    m.append_pair(35, msg_type, header=True)
    for tag, value in body:
        m.append_pair(tag, value)
    return m.encode()


def simplefix_pairs(data: bytes) -> list[list[tuple[int, bytes]]]:
    parser = simplefix.FixParser()
    parser.append_buffer(data)
    out = []
    while (m := parser.get_message()) is not None:
        out.append([(int(t), v) for t, v in m.pairs])
    return out


@settings(max_examples=300, deadline=None)
@given(msg_types, bodies, st.lists(st.integers(1, 400), max_size=4))
def test_differential_decode_agrees_with_simplefix(msg_type, body, cuts):
    frame = simplefix_frame(msg_type, body)
    # Three copies: the third is split by the compiled shape regex, not by split().
    stream = frame * 3
    dec = FrameDecoder()
    got = []
    prev = 0
    for cut in sorted(c % len(stream) for c in cuts) + [len(stream)]:
        got += dec.feed(stream[prev:cut])
        prev = cut
    assert all(isinstance(g, FixMessage) for g in got)
    assert [g.fields for g in got] == simplefix_pairs(stream)
    assert got[0].raw == frame


@settings(max_examples=300, deadline=None)
@given(msg_types, bodies, st.integers(0, 10**9))
def test_differential_encode_agrees_with_simplefix(msg_type, body, seq):
    ours = encode(msg_type, b"SENDER", b"TARGET", seq, b"20261125-15:50:01.123", body)
    ref = simplefix.FixMessage()
    for tag, value in [(8, b"FIX.4.4"), (35, msg_type), (49, b"SENDER"), (56, b"TARGET"),
                       (34, seq), (52, b"20261125-15:50:01.123")]:
        ref.append_pair(tag, value, header=True)
    for tag, value in body:
        ref.append_pair(tag, value)
    assert ours == ref.encode()


@settings(max_examples=300, deadline=None)
@given(msg_types, bodies, st.binary(max_size=40), st.integers(0, 10_000), st.integers(0, 255),
       st.booleans())
def test_garbage_never_loses_a_following_valid_message(msg_type, body, junk, salt, byte, split):
    frame = simplefix_frame(msg_type, body)
    corrupt = bytearray(frame)
    corrupt[salt % len(corrupt)] = byte  # any one byte of a first frame replaced
    stream = junk + bytes(corrupt) + frame
    dec = FrameDecoder()
    if split:  # the good frame arriving in a later read must not be held hostage
        got = dec.feed(junk + bytes(corrupt)) + dec.feed(frame)
    else:
        got = dec.feed(stream)
    messages = only_messages(got)
    assert messages, got
    assert messages[-1].raw == frame
    assert dec.pending == 0


def _items(items) -> list:
    return [(type(i).__name__, i.raw, getattr(i, "reason", None), getattr(i, "fields", None)) for i in items]


@settings(max_examples=300, deadline=None)
@given(msg_types, bodies, st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=3),
       st.lists(st.integers(1, 600), max_size=3))
def test_head_fast_path_frames_as_the_field_by_field_framing(msg_type, body, edits, cuts):
    """The one-regex head (`codec._HEAD`) must cut, refuse and wait exactly as `_frame_at` does."""
    import re

    import router.fix.codec as codec
    frame = simplefix_frame(msg_type, body)
    stream = bytearray(frame * 3)
    for at, byte in edits:      # corrupt any bytes: 8, 9, 35, the trailer or the body
        stream[at % len(stream)] = byte
    reads = [bytes(stream[a:b]) for a, b in zip([0] + sorted(cuts), sorted(cuts) + [len(stream)])]

    def decode() -> list:
        dec = FrameDecoder(max_message_size=200)   # some frames exceed it
        return _items([i for r in reads for i in dec.feed(r)]) + [dec.pending]

    fast = decode()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(codec, "_HEAD", re.compile(b"(?!)(x)(y)"))  # never matches: field by field only
        slow = decode()
    assert fast == slow


# --- timestamps -------------------------------------------------------------

def test_utc_timestamp_format_and_cache():
    ns = calendar.timegm((2026, 11, 25, 15, 50, 1)) * 10**9 + 123_456_789
    assert utc_timestamp(ns) == b"20261125-15:50:01.123"
    assert utc_timestamp(ns + 800_000_000) == b"20261125-15:50:01.923"
    assert utc_timestamp(ns + 900_000_000) == b"20261125-15:50:02.023"
    assert utc_timestamp(0) == b"19700101-00:00:00.000"


@given(st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2200, 1, 1)))
def test_timestamp_round_trip(when):
    ns = calendar.timegm(when.timetuple()) * 10**9 + when.microsecond * 1000
    text = utc_timestamp(ns)
    assert parse_utc_timestamp(text) == ns - (ns % 1_000_000)
    us = text[:17] + b".%06d" % when.microsecond
    assert parse_utc_timestamp(us) == ns


def test_parse_utc_timestamp_precisions_and_invalid():
    base = calendar.timegm((2024, 2, 29, 23, 59, 59)) * 10**9
    assert parse_utc_timestamp(b"20240229-23:59:59") == base
    assert parse_utc_timestamp(b"20240229-23:59:59.5") is None
    assert parse_utc_timestamp(b"20240229-23:59:59.500") == base + 500_000_000
    assert parse_utc_timestamp(b"20240229-23:59:59.000001") == base + 1000
    assert parse_utc_timestamp(b"20240229-23:59:59.000000007") == base + 7
    for bad in (b"", b"20230229-00:00:00", b"20241301-00:00:00", b"20240431-00:00:00",
                b"20240101-24:00:00", b"20240101-00:60:00", b"2024010100:00:00",
                b"20240101-00:00:00.", b"2024a101-00:00:00", b"20240101-00:00:00.12x"):
        assert parse_utc_timestamp(bad) is None, bad


def test_codec_benchmark_compares_identical_work():
    # The benchmark refuses to time unless both sides produce/parse the same bytes.
    from benchmarks import codec as bench
    from router.fix.dictionary import load_dictionary

    bench.check_same_work(load_dictionary())


def test_parse_one_reuses_a_decoder_and_holds_nothing_back():
    """The journal replay parses every frame through one decoder: same message as parse_frame each
    time (also on the shape fast path), and a torn or garbled frame does not leak into the next."""
    dec = FrameDecoder()
    for seq in (1, 2, 3):
        frame = nos(seq=seq)
        one, fresh = dec.parse_one(frame), parse_frame(frame)
        assert isinstance(one, FixMessage) and one.seq_num == seq
        assert one.fields == fresh.fields and one.msg_type == fresh.msg_type
    torn = nos(seq=4)[:-5]
    assert isinstance(dec.parse_one(torn), Garbled) and dec.pending == 0
    assert dec.parse_one(nos(seq=5)).seq_num == 5
    two = dec.parse_one(nos(seq=6) + nos(seq=7))
    assert isinstance(two, Garbled) and two.reason == "more than one frame"


def _outcome(item) -> tuple:
    if isinstance(item, Garbled):
        return ("garbled", item.reason)
    return (type(item), item.raw, tuple(item.tags), tuple(item.values), item.body_start, item.shape,
            item.valid_for, item.fields)


def test_parse_journaled_gives_what_parse_one_gives():
    """The replay's parse for frames the journal CRC-checked: same message as `parse_one` (also on
    the shape fast path, with the decoder's recent shapes shared alike), and every frame `parse_one`
    refuses for its framing is refused the same way."""
    lean, full = FrameDecoder(), FrameDecoder()
    good = [nos(seq=s) for s in range(1, 6)] + [nos(seq=9, body=NOS_BODY[:3])]
    padded = with_checksum(nos(seq=7).replace(b"\x019=", b"\x019=0", 1)[:-7])  # BodyLength "0146"
    bad = [nos(seq=8)[:-5], nos(seq=8) + nos(seq=9), b"garbage", reframe(nos(seq=8), body_length=40),
           nos(seq=8).replace(b"\x0135=", b"\x0134=", 1), b"x" + nos(seq=8), padded, b""]
    for frame in good + bad:     # the shapes are process-wide from a frame's second sighting on
        lean.parse_journaled(frame), full.parse_one(frame)
    for frame in good + bad:
        assert _outcome(lean.parse_journaled(frame)) == _outcome(full.parse_one(frame)), frame
    assert all(isinstance(lean.parse_journaled(f), FixMessage) for f in good + [padded])
    small = FrameDecoder(max_message_size=60)
    assert _outcome(small.parse_journaled(nos(seq=1))) == _outcome(FrameDecoder(60).parse_one(nos(seq=1)))


def test_parse_journaled_does_not_sum_the_checksum_again():
    """The one deliberate difference: the journal's CRC already proves the bytes are the frame the live
    router accepted, so a CheckSum(10) value is not recomputed (a live connection still refuses it)."""
    wrong = reframe(nos(seq=3), checksum=(int(nos(seq=3)[-4:-1]) + 1) % 256)
    assert FrameDecoder().parse_one(wrong).reason == "CheckSum(10) mismatch"
    msg = FrameDecoder().parse_journaled(wrong)
    assert isinstance(msg, FixMessage) and msg.seq_num == 3
