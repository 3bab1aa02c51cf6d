"""Logon admission, in-session reset and Logout (router.fix.session_logon), through `Session.receive`."""
from __future__ import annotations

import pytest

from router.fix.admin_messages import refusal_logout
from router.fix.codec import encode, utc_timestamp
from router.fix.session import DISCONNECT, LOGGED_ON, SessionState
from tests.fix.session_helpers import (  # noqa: F401  (store is a fixture)
    S, T0, kinds, logged_on, mk, new_session, parse, sent, store,
)


def test_logon_is_answered_and_sequence_numbers_advance(store):
    s = new_session(store)
    s.connect(T0)
    acts = s.receive(mk(b"A", 1, [(98, 0), (108, 30)]), T0)
    [resp] = sent(acts)
    assert resp.msg_type == b"A" and resp.get(108) == b"30" and resp.get(98) == b"0"
    assert resp.get(49) == b"GOLDRTR" and resp.get(56) == b"SHCLIENT1" and resp.seq_num == 1
    assert kinds(acts)[-1] == LOGGED_ON
    assert s.state is SessionState.LOGGED_ON
    assert (store.next_sender_seq, store.next_target_seq) == (2, 2)


def test_first_message_not_logon_disconnects_without_answer(store):
    s = new_session(store)
    s.connect(T0)
    acts = s.receive(mk(b"0", 1), T0)
    assert kinds(acts) == [DISCONNECT]
    assert store.next_target_seq == 1


def test_logon_seq_too_low_is_refused_with_logout(store):
    store.set_next_target_seq(7)
    s = new_session(store)
    s.connect(T0)
    acts = s.receive(mk(b"A", 3, [(98, 0), (108, 30)]), T0)
    [lo] = sent(acts)
    assert lo.msg_type == b"5" and lo.get(58) == b"MsgSeqNum too low, expecting 7 but received 3"
    assert kinds(acts)[-1] == DISCONNECT
    assert LOGGED_ON not in kinds(acts)


def test_logon_reset_seq_num_flag(store):
    store.set_next_target_seq(40)
    store.save_sent(50, b"old")
    s = new_session(store)
    s.connect(T0)
    acts = s.receive(mk(b"A", 1, [(98, 0), (108, 30), (141, b"Y")]), T0)
    [resp] = sent(acts)
    assert resp.get(141) == b"Y" and resp.seq_num == 1
    assert (store.next_sender_seq, store.next_target_seq) == (2, 2)
    assert store.get_range(1, 100) == []


def test_reset_on_logon_setting(store):
    store.set_next_target_seq(40)
    store.set_next_sender_seq(30)
    s = new_session(store, reset_on_logon=True)
    s.connect(T0)
    [resp] = sent(s.receive(mk(b"A", 1, [(98, 0), (108, 30)]), T0))
    assert resp.seq_num == 1 and resp.get(141) is None
    assert store.next_target_seq == 2


@pytest.mark.parametrize("hb", [-1, 31])
def test_logon_heartbeat_out_of_range_refused(store, hb):
    s = new_session(store, max_heartbeat_s=30)
    s.connect(T0)
    acts = s.receive(mk(b"A", 1, [(98, 0), (108, hb)]), T0)
    [lo] = sent(acts)
    assert lo.msg_type == b"5" and b"HeartBtInt" in lo.get(58)
    assert kinds(acts)[-1] == DISCONNECT


def test_logon_sending_time_off_refused(store):
    s = new_session(store, sending_time_tolerance_s=120)
    s.connect(T0)
    acts = s.receive(mk(b"A", 1, [(98, 0), (108, 30)], t=T0 - 121 * S), T0)
    [lo] = sent(acts)
    assert lo.get(58) == b"SendingTime accuracy problem" and kinds(acts)[-1] == DISCONNECT


def test_logon_with_invalid_tag_number_is_refused(store):
    s = new_session(store)
    s.connect(T0)
    frame = encode(b"A", b"SHCLIENT1", b"GOLDRTR", 1, utc_timestamp(T0), [(98, 0), (108, 30), (9876, b"x")])
    body = frame[frame.index(b"35="):frame.rindex(b"10=")].replace(b"\x019876=", b"\x01-1=")
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    acts = s.receive(parse(head + body + b"10=%03d\x01" % (sum(head + body) % 256)), T0)
    [lo] = sent(acts)
    assert lo.msg_type == b"5" and lo.get(58) == b"Invalid Logon: Invalid tag number"
    assert kinds(acts)[-1] == DISCONNECT and LOGGED_ON not in kinds(acts)


def test_logout_initiated_by_counterparty(store):
    s = logged_on(store)
    acts = s.receive(mk(b"5", 2), T0)
    [lo] = sent(acts)
    assert lo.msg_type == b"5" and kinds(acts)[-1] == DISCONNECT
    assert s.disconnected() is True


def test_logout_initiated_by_us_times_out(store):
    s = logged_on(store, logout_timeout_s=2)
    [lo] = sent(s.logout("maintenance", T0))
    assert lo.get(58) == b"maintenance"
    assert kinds(s.tick(T0 + 1 * S)) == []
    assert kinds(s.tick(T0 + 2 * S)) == [DISCONNECT]


def test_second_logon_without_reset_while_logged_on(store):
    s = logged_on(store)
    acts = s.receive(mk(b"A", 2, [(98, 0), (108, 30)]), T0)
    [lo] = sent(acts)
    assert lo.msg_type == b"5" and kinds(acts)[-1] == DISCONNECT


def test_in_session_reset_logon(store):
    s = logged_on(store)
    s.receive(mk(b"D", 2), T0)
    [resp] = sent(s.receive(mk(b"A", 1, [(98, 0), (108, 30), (141, b"Y")]), T0))
    assert resp.seq_num == 1 and resp.get(141) == b"Y"
    assert (store.next_sender_seq, store.next_target_seq) == (2, 2)


def test_refusal_logout_touches_no_state():
    logon = mk(b"A", 17, [(98, 0), (108, 30)], sender=b"STRANGER")
    lo = parse(refusal_logout(logon, b"GOLDRTR", "Unknown SenderCompID STRANGER", T0))
    assert lo.msg_type == b"5" and lo.seq_num == 1 and lo.get(56) == b"STRANGER"
    assert lo.get(58) == b"Unknown SenderCompID STRANGER"
