"""WireBody: a body held encoded; it reads as the pairs it encodes, and encode sends exactly that."""
from __future__ import annotations

import pickle

import pytest
from hypothesis import given, strategies as st

from router.fix.codec import FrameDecoder
from router.fix.encoding import WireBody, encode

PAIRS = [(37, b"R-1"), (11, b"C1"), (17, b"R-E1"), (150, b"0"), (39, b"0"), (1, b"SHCLIENT1"),
         (55, b"SGE.AU9999"), (151, b"1"), (14, b"0")]


def _frame(body, **kw) -> bytes:
    return encode(b"8", b"GOLDRTR", b"SHCLIENT1", 42, b"20260101-00:00:00.000", body, **kw)


def test_a_wire_body_reads_as_its_pairs_and_encodes_as_they_do():
    body = WireBody.of(PAIRS)
    assert list(body) == PAIRS and dict(body)[55] == b"SGE.AU9999" and len(body) == len(PAIRS)
    assert body == PAIRS and body[0] == (37, b"R-1") and body[-1] == (14, b"0")
    assert body + [(58, b"x")] == [*PAIRS, (58, b"x")]
    frame = _frame(body)
    assert frame == _frame(list(PAIRS))
    msg = FrameDecoder().feed(frame)[0]
    assert msg.get(11) == b"C1" and msg.get(151) == b"1"


def test_field_reads_one_value_off_the_wire_without_confusing_tags():
    body = WireBody.of([(14, b"0"), (1, b"ACCT"), (150, b"F"), (1500, b"x")])
    assert body.field(1) == b"ACCT" and body.field(150) == b"F" and body.field(1500) == b"x"
    assert body.field(58) is None


def test_extra_header_fields_go_before_the_body():
    route = [(128, b"DESK"), (129, "SUB")]
    assert _frame(WireBody.of(PAIRS), extra_header=route) == _frame(list(PAIRS), extra_header=route)


def test_it_cannot_change_in_place_only_grow_through_add_fields_or_copy_with():
    body = WireBody.of(PAIRS)
    with pytest.raises(AttributeError):
        body.append((58, b"x"))
    with pytest.raises(TypeError):
        body[0] = (37, b"other")
    list(body)                                  # parsed once: add_fields must not leave that stale
    body.add_fields([(58, b"filled"), (7008, "HKGX.RKG"), (1, 5)])     # str and int as encode writes them
    assert list(body)[-3:] == [(58, b"filled"), (7008, b"HKGX.RKG"), (1, b"5")]
    assert _frame(body) == _frame(list(body))
    copy_ = body.copy_with(797, b"Y")
    assert list(copy_)[-1] == (797, b"Y") and len(body) == len(PAIRS) + 3      # the original is unchanged
    assert _frame(copy_) == _frame([*body, (797, b"Y")])


def test_pickle_keeps_it():
    body = WireBody.of(PAIRS)
    back = pickle.loads(pickle.dumps(body))
    assert type(back) is WireBody and back.wire == body.wire and list(back) == PAIRS


@given(st.lists(st.tuples(st.integers(1, 9999), st.binary(min_size=1, max_size=30).filter(
    lambda v: b"\x01" not in v)), max_size=40))
def test_any_body_encodes_and_reads_back_alike(pairs):
    body = WireBody.of(pairs)
    assert _frame(body) == _frame(pairs) and list(body) == pairs


_VALUES = st.lists(st.sampled_from(list(b"=18\x01ab")), max_size=6).map(bytes)


@given(st.lists(st.tuples(st.sampled_from([1, 15, 150, 1150, 8]), _VALUES.filter(lambda v: b"\x01" not in v)),
                max_size=12),
       st.tuples(st.sampled_from([1, 15, 150, 1150, 8]), _VALUES))
def test_membership_read_off_the_wire_answers_as_the_pairs_do(pairs, probe):
    # `in` looks for the encoded field instead of parsing the body: a value that is only the start of
    # a longer one, or a tag that ends another tag (150 in 1150), must not match
    body = WireBody.of(pairs)
    assert (probe in body) == (probe in pairs)
    assert ((probe[0], 7) in body) is False and ("x" in body) is False


@given(st.lists(st.tuples(st.integers(1, 9999), st.binary(min_size=1, max_size=60).filter(
    lambda v: b"\x01" not in v)), max_size=40), st.integers(1, 10**12), st.sampled_from([b"8", b"AE", b"j"]))
def test_a_session_sends_a_wire_body_as_encode_would(pairs, seq, msg_type):
    # Session.send_app encodes a WireBody with its header template (encoding.SessionHeader): the same
    # bytes as the general path for any body, non-ASCII, longer than the short-frame checksum shortcut
    from router.fix.encoding import SessionHeader
    from router.fix.session import Session
    from router.fix.store import MemoryStore

    stamp = b"20260101-00:00:00.000"
    body = WireBody.of(pairs)
    expected = encode(msg_type, b"GOLDRTR", b"SHCLIENT1", seq, stamp, pairs)
    assert SessionHeader(b"FIX.4.4", b"GOLDRTR", b"SHCLIENT1").frame(msg_type, seq, stamp, body.wire) == expected
    fast, general = (Session("GOLDRTR", "SHCLIENT1", MemoryStore()) for _ in range(2))
    for s in (fast, general):
        s.store.set_next_sender_seq(seq)
    now = 1_767_225_600_000_000_000            # 2026-01-01 00:00:00 UTC, the stamp above
    assert fast.send_app(msg_type, body, now) is None          # not logged on: stored only
    general.send_app(msg_type, list(pairs), now)
    assert fast.store.get_range(seq, seq) == general.store.get_range(seq, seq) == [(seq, expected)]
    # with routing fields the general path runs for both
    routed = fast.send_app(msg_type, body, now, ((128, b"DESK"),)), general.send_app(msg_type, pairs, now, ((128, b"DESK"),))
    assert fast.store.get_range(seq + 1, seq + 1) == general.store.get_range(seq + 1, seq + 1) != []
    assert routed == (None, None)
