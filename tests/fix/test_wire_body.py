"""WireBody: a body that carries its own encoding; encode must send exactly what the pairs say."""
from __future__ import annotations

import pickle

import pytest
from hypothesis import given, strategies as st

from router.fix.codec import FrameDecoder
from router.fix.encoding import WireBody, encode

PAIRS = [(37, b"R-1"), (11, b"C1"), (17, b"R-E1"), (150, b"0"), (39, b"0"), (55, b"SGE.AU9999"), (151, b"1")]


def _wire(pairs) -> bytes:
    return b"".join(b"\x01%d=%s" % (t, v if isinstance(v, bytes) else str(v).encode()) for t, v in pairs)


def _frame(body, **kw) -> bytes:
    return encode(b"8", b"GOLDRTR", b"SHCLIENT1", 42, b"20260101-00:00:00.000", body, **kw)


def test_a_wire_body_encodes_exactly_as_its_pairs_and_parses_back():
    body = WireBody(PAIRS, _wire(PAIRS))
    frame = _frame(body)
    assert frame == _frame(list(PAIRS))
    msg = FrameDecoder().feed(frame)[0]
    assert msg.get(11) == b"C1" and msg.get(151) == b"1"


def test_extra_header_fields_go_before_the_wire():
    body = WireBody(PAIRS, _wire(PAIRS))
    route = [(128, b"DESK"), (129, "SUB")]
    assert _frame(body, extra_header=route) == _frame(list(PAIRS), extra_header=route)


@pytest.mark.parametrize("change", [
    lambda b: b.append((58, b"x")), lambda b: b.extend([(58, b"x")]), lambda b: b.insert(0, (58, b"x")),
    lambda b: b.pop(), lambda b: b.remove(PAIRS[0]), lambda b: b.clear(), lambda b: b.sort(),
    lambda b: b.reverse(), lambda b: b.__setitem__(0, (37, b"other")), lambda b: b.__delitem__(0),
    lambda b: b.__iadd__([(58, b"x")]), lambda b: b.__imul__(2),
])
def test_any_change_in_place_drops_the_wire_so_a_stale_one_is_never_sent(change):
    body = WireBody(PAIRS, _wire(PAIRS))
    change(body)
    assert body.wire is None
    assert _frame(body) == _frame(list(body))


def test_add_fields_and_copy_with_keep_the_wire_in_step():
    body = WireBody(PAIRS, _wire(PAIRS))
    body.add_fields([(58, b"filled"), (7008, "HKGX.RKG"), (1, 5)])     # str and int as encode writes them
    assert body.wire is not None and _frame(body) == _frame(list(body))
    copy_ = body.copy_with(797, b"Y")
    assert copy_[-1] == (797, b"Y") and len(body) == len(PAIRS) + 3      # the original is unchanged
    assert _frame(copy_) == _frame([*body, (797, b"Y")])


def test_pickle_keeps_pairs_and_wire():
    body = WireBody(PAIRS, _wire(PAIRS))
    back = pickle.loads(pickle.dumps(body))
    assert type(back) is WireBody and list(back) == PAIRS and back.wire == body.wire


@given(st.lists(st.tuples(st.integers(1, 9999), st.binary(min_size=1, max_size=30).filter(
    lambda v: b"\x01" not in v)), max_size=40))
def test_any_body_encodes_alike_with_or_without_its_wire(pairs):
    assert _frame(WireBody(pairs, _wire(pairs))) == _frame(pairs)
