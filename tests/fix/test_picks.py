"""`FixMessage.pick` (by position in a compiled shape, `router.fix.picks`) reads what the index reads.

For any body (tags drawn with repeats, some of them absent from the request), a message of a compiled
shape and one without a shape must give, for any requested tags, the values of their first occurrences,
None where absent, as `FixMessage.index` has them; `seq_num` likewise; and reading by position must not
build the index.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from router.fix.codec import FixMessage, FrameDecoder, encode
from router.fix.picks import picker

_POOL = [11, 41, 37, 1, 55, 54, 38, 40, 44, 58, 43, 122, 60]
_ASK = [b"11", b"41", b"37", b"1", b"55", b"54", b"38", b"40", b"44", b"58", b"43", b"122", b"60", b"52", b"49",
        b"56", b"34", b"7001"]


@settings(max_examples=300, deadline=None)
@given(body_tags=st.lists(st.sampled_from(_POOL), min_size=1, max_size=14),
       ask=st.lists(st.sampled_from(_ASK), min_size=1, max_size=6, unique=True), seq=st.integers(1, 10**6))
def test_pick_reads_first_occurrences_as_the_index(body_tags, ask, seq) -> None:
    body = [(t, b"v%d" % n) for n, t in enumerate(body_tags)]
    frame = encode(b"D", b"SHCLIENT1", b"GOLDRTR", seq, b"20260101-00:00:00.000", body)
    decoder = FrameDecoder()
    decoder.feed(frame)
    shaped = decoder.feed(frame)[0]                 # the second sighting: a compiled shape
    assert shaped.shape is not None
    plain = FixMessage(shaped.raw, shaped.tags, shaped.values, shaped.body_start)
    tags = tuple(ask)
    assert shaped.seq_num == seq
    assert shaped.pick(tags) == shaped.pick(tags)      # the kept reader again
    assert shaped._first is None                        # read by position: no index built
    expected = tuple(plain.index().get(t) for t in tags)
    assert shaped.pick(tags) == expected
    assert plain.pick(tags) == expected
    assert plain.seq_num == seq


def test_framing_fields_are_not_picked_by_position() -> None:
    with pytest.raises(ValueError):
        picker({b"35": 0}, (b"35", b"9"))


def test_the_session_checks_a_shaped_message_without_its_index(tmp_path) -> None:
    from router.fix.acceptor_setup import load_validator
    from router.fix.codec import utc_timestamp
    from router.fix.session import DELIVER, Session
    from router.fix.store import FileStore
    import time

    now = time.time_ns()
    stamp = utc_timestamp(now)
    session = Session("GOLDRTR", "SHCLIENT1", FileStore(str(tmp_path), "client", now), load_validator())
    session.connect(now)
    decoder = FrameDecoder()
    session.receive(decoder.feed(encode(b"A", b"SHCLIENT1", b"GOLDRTR", 1, stamp, [(98, b"0"), (108, b"30")]))[0],
                    now)
    delivered = []
    for seq in range(2, 6):
        frame = encode(b"D", b"SHCLIENT1", b"GOLDRTR", seq, stamp,
                       [(11, b"%d" % seq), (55, b"SGE.AU9999"), (54, b"1"), (60, stamp), (38, b"1"), (40, b"2"),
                        (44, b"559.00")])
        (msg,) = decoder.feed(frame)
        delivered += [(msg, a) for a in session.receive(msg, now) if a[0] == DELIVER]
    session.store.close()
    assert [m.seq_num for m, _ in delivered] == [2, 3, 4, 5]
    assert all(m.shape is not None and m._first is None for m, _ in delivered[1:])
