"""Inbound checks and Rejects (router.fix.session_checks): tag numbers, CompIDs, SendingTime, PossDup."""
from __future__ import annotations

import pytest

from router.fix.codec import encode, utc_timestamp
from router.fix.session import DELIVER, DISCONNECT, REJECTED, SessionState
from tests.fix.session_helpers import (  # noqa: F401  (store is a fixture)
    S, T0, kinds, logged_on, mk, parse, sent, store,
)


def bad_tag_frame(seq: int, tag_text: bytes) -> bytes:
    """A well-framed Heartbeat carrying `tag_text=x` (encode refuses such tags, so it is built here)."""
    good = encode(b"0", b"SHCLIENT1", b"GOLDRTR", seq, utc_timestamp(T0), [(9876, b"x")])
    body = good[good.index(b"35="):good.rindex(b"10=")].replace(b"\x019876=", b"\x01" + tag_text + b"=")
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    return head + body + b"10=%03d\x01" % (sum(head + body) % 256)


@pytest.mark.parametrize("text,ref", [(b"0", None), (b"-5", None), (b"055", b"55")])
def test_invalid_tag_number_is_rejected_without_a_dictionary(store, text, ref):
    s = logged_on(store)  # no validator: the session itself refuses the tag
    acts = s.receive(parse(bad_tag_frame(2, text)), T0)
    [rej] = sent(acts)
    assert rej.msg_type == b"3" and rej.get(373) == b"0" and rej.get(58) == b"Invalid tag number"
    assert rej.get(45) == b"2" and rej.get(372) == b"0" and rej.get(371) == ref
    assert (REJECTED, 0) in acts and DELIVER not in kinds(acts)
    assert store.next_target_seq == 3  # a Reject consumes the number


def test_wrong_comp_id_rejected_then_logout(store):
    s = logged_on(store)
    acts = s.receive(mk(b"D", 2, target=b"SOMEONE"), T0)
    rej, lo = sent(acts)
    assert rej.get(373) == b"9" and rej.get(45) == b"2" and rej.get(372) == b"D"
    assert lo.msg_type == b"5"
    assert (REJECTED, 9) in acts
    assert store.next_target_seq == 3
    assert s.state is SessionState.LOGOUT_SENT
    # the logout answer completes the handshake
    assert kinds(s.receive(mk(b"5", 3), T0))[-1] == DISCONNECT


def test_sending_time_accuracy_rejected_then_logout(store):
    s = logged_on(store)
    rej, lo = sent(s.receive(mk(b"D", 2, t=T0 - 300 * S), T0))
    assert rej.get(373) == b"10" and lo.msg_type == b"5"


def test_possdup_orig_sending_time_after_sending_time(store):
    s = logged_on(store)
    rej, lo = sent(s.receive(mk(b"D", 2, extra=[(43, b"Y"), (122, utc_timestamp(T0 + 5 * S))]), T0))
    assert rej.get(373) == b"10" and rej.get(371) == b"122" and lo.msg_type == b"5"


def test_possdup_without_orig_sending_time(store):
    s = logged_on(store)
    [rej] = sent(s.receive(mk(b"D", 2, extra=[(43, b"Y")]), T0))
    assert rej.get(373) == b"1" and rej.get(371) == b"122"
    assert store.next_target_seq == 3
