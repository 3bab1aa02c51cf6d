"""The pure session state machine: frames and times in, actions out; no sockets, no clock.
Logon/Logout: test_session_logon; inbound checks and Rejects: test_session_checks."""
from __future__ import annotations

from router.fix.codec import FrameDecoder, Garbled, encode, utc_timestamp
from router.fix.session import DELIVER, DISCONNECT, LOGGED_ON, RESEND_REQUESTED, SEND, Session, SessionState
from router.fix.store import FileStore
from tests.fix.session_helpers import (  # noqa: F401  (store is a fixture)
    S, T0, kinds, logged_on, mk, new_session, parse, sent, store,
)


def test_logon_seq_too_high_answers_then_requests_resend(store):
    s = new_session(store)
    s.connect(T0)
    acts = s.receive(mk(b"A", 5, [(98, 0), (108, 30)]), T0)
    logon, rr = sent(acts)
    assert logon.msg_type == b"A"
    assert rr.msg_type == b"2" and rr.get(7) == b"1" and rr.get(16) == b"0"
    assert RESEND_REQUESTED in kinds(acts)
    # The counterparty gap-fills 1..4; the queued Logon (5) then only consumes its number.
    acts = s.receive(mk(b"4", 1, [(123, b"Y"), (36, 5)], extra=[(43, b"Y"), (122, utc_timestamp(T0))]), T0)
    assert sent(acts) == []
    assert store.next_target_seq == 6
    assert s.resend_range is None or store.next_target_seq > s.resend_range[1]


def test_application_message_in_sequence_is_delivered(store):
    s = logged_on(store)
    m = mk(b"D", 2, [(11, b"A1")])
    acts = s.receive(m, T0)
    assert acts == [(DELIVER, m)]
    assert store.next_target_seq == 3


def test_seq_too_high_queues_requests_once_and_replays_in_order(store):
    s = logged_on(store)
    a5 = s.receive(mk(b"D", 5, [(11, b"five")]), T0)
    [rr] = sent(a5)
    assert (rr.get(7), rr.get(16)) == (b"2", b"0")
    a6 = s.receive(mk(b"D", 6, [(11, b"six")]), T0)
    assert sent(a6) == []  # one outstanding ResendRequest covers it
    # resent 2 and 3, gap fill 4 -> 5
    got = s.receive(mk(b"D", 2, [(11, b"two")], extra=[(43, b"Y"), (122, utc_timestamp(T0))]), T0)
    got += s.receive(mk(b"D", 3, [(11, b"three")], extra=[(43, b"Y"), (122, utc_timestamp(T0))]), T0)
    got += s.receive(mk(b"4", 4, [(123, b"Y"), (36, 5)], extra=[(43, b"Y")]), T0)
    delivered = [a[1].get(11) for a in got if a[0] == DELIVER]
    assert delivered == [b"two", b"three", b"five", b"six"]
    assert store.next_target_seq == 7
    assert s.queue == {}


def test_seq_too_low_without_possdup_ends_the_session(store):
    s = logged_on(store)
    s.receive(mk(b"D", 2), T0)
    acts = s.receive(mk(b"D", 2), T0)
    [lo] = sent(acts)
    assert lo.msg_type == b"5" and lo.get(58) == b"MsgSeqNum too low, expecting 3 but received 2"
    assert kinds(acts)[-1] == DISCONNECT


def test_seq_too_low_with_possdup_is_ignored(store):
    s = logged_on(store)
    s.receive(mk(b"D", 2), T0)
    acts = s.receive(mk(b"D", 2, extra=[(43, b"Y"), (122, utc_timestamp(T0 - S))]), T0)
    assert acts == []
    assert store.next_target_seq == 3


def test_garbled_is_ignored_without_consuming_a_number(store):
    s = logged_on(store)
    acts = s.receive(Garbled(b"8=FIX.4.4\x019=5\x01", "bad checksum"), T0)
    assert sent(acts) == [] and DELIVER not in kinds(acts)
    assert store.next_target_seq == 2


def test_test_request_answered_with_heartbeat(store):
    s = logged_on(store)
    [hb] = sent(s.receive(mk(b"1", 2, [(112, b"PING-7")]), T0))
    assert hb.msg_type == b"0" and hb.get(112) == b"PING-7"
    assert store.next_target_seq == 3


def test_heartbeat_test_request_and_timeout(store):
    s = logged_on(store, hb=10)
    assert s.tick(T0 + 5 * S) == []
    [hb] = sent(s.tick(T0 + 10 * S))
    assert hb.msg_type == b"0" and hb.get(112) is None
    [tr] = sent(s.tick(T0 + 12 * S))
    assert tr.msg_type == b"1" and tr.get(112) == b"TEST"
    assert sent(s.tick(T0 + 13 * S)) == []
    acts = s.tick(T0 + 24 * S)
    assert kinds(acts) == [SEND, DISCONNECT]
    [logout] = sent(acts)
    assert logout.msg_type == b"5" and logout.get(58) == b"Timed out waiting for heartbeat"
    assert acts[-1][1] == "Timed out waiting for heartbeat"


def test_incoming_traffic_resets_the_test_request(store):
    s = logged_on(store, hb=10)
    [tr] = sent(s.tick(T0 + 12 * S))
    assert tr.msg_type == b"1"
    s.receive(mk(b"0", 2, [(112, b"TEST")], t=T0 + 13 * S), T0 + 13 * S)
    # heartbeats resume once the TestRequest was answered
    [hb] = sent(s.tick(T0 + 22 * S))
    assert hb.msg_type == b"0"
    # a new silence gets a new TestRequest after 1.2 intervals (not 2.4), and no disconnect yet
    [tr2] = sent(s.tick(T0 + 25 * S))
    assert tr2.msg_type == b"1"
    assert DISCONNECT not in kinds(s.tick(T0 + 26 * S))


def test_resend_request_replays_app_messages_and_gap_fills_admin(store):
    s = logged_on(store)  # our Logon is 1
    f2 = s.send_app(b"D", [(11, b"X2"), (55, b"AU")], T0 + 1 * S)  # 2
    sent(s.tick(T0 + 31 * S))  # heartbeat 3
    f4 = s.send_app(b"8", [(37, b"O4")], T0 + 32 * S)  # 4
    assert f2 and f4
    now = T0 + 40 * S
    acts = s.receive(mk(b"2", 2, [(7, 1), (16, 0)], t=now), now)
    out = sent(acts)
    assert [(m.msg_type, m.seq_num) for m in out] == [(b"4", 1), (b"D", 2), (b"4", 3), (b"8", 4)]
    assert out[0].get(123) == b"Y" and out[0].get(36) == b"2" and out[0].get(43) == b"Y"
    assert out[2].get(36) == b"4"
    assert out[1].get(43) == b"Y" and out[1].get(122) == utc_timestamp(T0 + 1 * S)
    assert out[1].get(52) == utc_timestamp(now)
    assert out[1].get(11) == b"X2" and out[1].get(55) == b"AU"
    assert store.next_sender_seq == 5  # a resend does not consume new numbers
    assert store.next_target_seq == 3


def test_resend_request_range_is_clipped_and_trailing_admin_gap_filled(store):
    s = logged_on(store)
    s.send_app(b"D", [(11, b"X2")], T0)  # 2
    s.logout("bye", T0)  # 3 (admin)
    out = sent(s.receive(mk(b"2", 2, [(7, 2), (16, 99)]), T0))
    assert [(m.msg_type, m.seq_num, m.get(36)) for m in out] == [(b"D", 2, None), (b"4", 3, b"4")]


def test_too_high_resend_request_is_served_then_gap_requested(store):
    s = logged_on(store)
    s.send_app(b"D", [(11, b"X2")], T0)
    out = sent(s.receive(mk(b"2", 4, [(7, 2), (16, 2)]), T0))
    assert [(m.msg_type, m.seq_num) for m in out] == [(b"D", 2), (b"2", 3)]
    assert out[1].get(7) == b"2"


def test_sequence_reset_reset_moves_forward_only(store):
    s = logged_on(store)
    assert sent(s.receive(mk(b"4", 99, [(36, 20)]), T0)) == []
    assert store.next_target_seq == 20
    [rej] = sent(s.receive(mk(b"4", 1, [(36, 10)]), T0))
    assert rej.msg_type == b"3" and rej.get(373) == b"5" and rej.get(372) == b"4"
    assert store.next_target_seq == 20


def test_gap_fill_in_sequence(store):
    s = logged_on(store)
    s.receive(mk(b"4", 2, [(123, b"Y"), (36, 9)]), T0)
    assert store.next_target_seq == 9


def test_wrong_begin_string_logs_out(store):
    s = logged_on(store)
    [lo] = sent(s.receive(mk(b"D", 2, begin=b"FIX.4.2"), T0))
    assert lo.msg_type == b"5" and lo.get(58) == b"Incorrect BeginString"
    assert store.next_target_seq == 3


def test_app_send_while_disconnected_is_stored_for_resend(store):
    s = logged_on(store)
    s.receive(mk(b"5", 2), T0)
    s.disconnected()
    assert s.send_app(b"8", [(37, b"FILL")], T0) is None
    s.connect(T0)
    acts = s.receive(mk(b"A", 3, [(98, 0), (108, 30)]), T0)
    assert LOGGED_ON in kinds(acts)
    out = sent(s.receive(mk(b"2", 4, [(7, 3), (16, 0)]), T0))
    assert [(m.msg_type, m.seq_num) for m in out][0] == (b"8", 3)


# ---------------------------------------------------------------- bad input, generated

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_MSG_BODIES = {
    b"0": [], b"1": [(112, b"T")], b"2": [(7, 1), (16, 0)], b"3": [(45, 1)], b"4": [(123, b"Y"), (36, 50)],
    b"5": [], b"A": [(98, 0), (108, 30)], b"ZZ": [], b"R": [(131, b"Q")],
    b"D": [(11, b"C1"), (55, b"SGE.AU9999"), (54, b"1"), (60, b"20260101-00:00:00.000"), (38, b"10"), (40, b"2")],
}

_op = st.tuples(
    st.sampled_from(sorted(_MSG_BODIES)),
    st.sampled_from([-2, -1, 0, 0, 0, 0, 1, 3]),          # MsgSeqNum relative to the expected one
    st.booleans(),                                        # PossDupFlag
    st.sampled_from(["none", "none", "none", "drop", "extra_tag", "bad_value", "comp_id", "old_time",
                     "bad_checksum", "truncate", "empty_value"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_op, min_size=1, max_size=40))
def test_generated_bad_input_keeps_invariants(tmp_path_factory, ops):
    from router.fix.gateway import load_validator

    validate = load_validator()
    directory = str(tmp_path_factory.mktemp("fuzz"))
    store = FileStore(directory, "GOLDRTR-SHCLIENT1", T0)
    s = Session("GOLDRTR", "SHCLIENT1", store, validate)
    now = T0
    last_out = 0

    def run(acts):
        nonlocal last_out
        for a in acts:
            if a[0] != SEND:
                continue
            m = parse(a[1])
            # everything we send is valid by our own dictionary and correctly addressed
            assert validate(m) is None, (m, validate(m))
            assert m.get(49) == b"GOLDRTR" and m.get(56) == b"SHCLIENT1"
            if m.get(43) == b"Y":
                assert m.seq_num < store.next_sender_seq
            else:
                assert m.seq_num == last_out + 1 or (m.msg_type == b"A" and m.seq_num == 1)
                last_out = m.seq_num

    def logon():
        s.connect(now)
        run(s.receive(mk(b"A", store.next_target_seq, [(98, 0), (108, 30)], t=now), now))

    try:
        logon()
        for msg_type, delta, possdup, mutation in ops:
            now += S // 10
            if s.state is SessionState.DISCONNECTED:
                s.disconnected()
                logon()
                if s.state is SessionState.DISCONNECTED:
                    continue
            before_target = store.next_target_seq
            seq = max(1, store.next_target_seq + delta)
            body = list(_MSG_BODIES[msg_type])
            extra = [(43, b"Y"), (122, utc_timestamp(now - S))] if possdup else []
            target, t = b"GOLDRTR", now
            if mutation == "drop" and body:
                body = body[1:]
            elif mutation == "extra_tag":
                body.append((5999, b"x"))
            elif mutation == "bad_value" and body:
                body[-1] = (body[-1][0], b"?!")
            elif mutation == "empty_value":
                body.append((58, b""))
            elif mutation == "comp_id":
                target = b"OTHER"
            elif mutation == "old_time":
                t = now - 600 * S
            raw = encode(msg_type, b"SHCLIENT1", target, seq, utc_timestamp(t), body, extra_header=extra)
            if mutation == "bad_checksum":
                raw = raw[:-4] + (b"000\x01" if raw[-4:] != b"000\x01" else b"001\x01")
            elif mutation == "truncate":
                raw = raw[: len(raw) // 2]
            items = FrameDecoder().feed(raw)
            for item in items:
                run(s.receive(item, now))
            if not items or isinstance(items[0], Garbled):
                assert store.next_target_seq == before_target  # garbled input consumes nothing
            if msg_type not in (b"4", b"A"):
                assert store.next_target_seq >= before_target
            run(s.tick(now))
        store.close()
        reopened = FileStore(directory, "GOLDRTR-SHCLIENT1", T0)
        assert (reopened.next_sender_seq, reopened.next_target_seq) == (store.next_sender_seq, store.next_target_seq)
        assert reopened.get_range(1, 10**6) == store.get_range(1, 10**6)
        reopened.close()
    finally:
        store.close()


def test_a_second_gap_after_the_first_is_filled_gets_its_own_resend_request(store):
    s = logged_on(store)
    [rr1] = sent(s.receive(mk(b"D", 5), T0))
    assert rr1.get(7) == b"2"
    s.receive(mk(b"4", 2, [(123, b"Y"), (36, 5)], extra=[(43, b"Y"), (122, utc_timestamp(T0))]), T0)
    assert store.next_target_seq == 6 and s.resend_range is None
    [rr2] = sent(s.receive(mk(b"D", 9), T0))
    assert rr2.msg_type == b"2" and rr2.get(7) == b"6" and rr2.get(16) == b"0"


def test_an_unreadable_stored_message_is_gap_filled_not_sent(store):
    s = logged_on(store)
    store.save_sent(2, b"not a FIX frame")
    s.send_app(b"8", [(37, b"O3")], T0)  # 3
    out = sent(s.receive(mk(b"2", 2, [(7, 1), (16, 0)]), T0))
    assert [(m.msg_type, m.seq_num, m.get(36)) for m in out] == [(b"4", 1, b"3"), (b"8", 3, None)]