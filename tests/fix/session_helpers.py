"""Shared pieces of the session tests (test_session, test_session_logon, test_session_checks):
frames built with the real codec, a store fixture over both stores, a session logged on."""
from __future__ import annotations

import pytest

from router.fix.codec import FrameDecoder, Garbled, encode, utc_timestamp
from router.fix.session import (
    DELIVER, DISCONNECT, LOGGED_ON, REJECTED, RESEND_REQUESTED, SEND, Session, SessionState,
)
from router.fix.store import FileStore, MemoryStore

S = 1_000_000_000
T0 = 1_764_000_000 * S  # 2025-11-24T16:00:00Z


def parse(raw: bytes):
    [m] = FrameDecoder().feed(raw)
    assert not isinstance(m, Garbled), m
    return m


def mk(mt: bytes, seq: int, body=(), *, t: int = T0, sender=b"SHCLIENT1", target=b"GOLDRTR",
       extra=(), begin=b"FIX.4.4"):
    return parse(encode(mt, sender, target, seq, utc_timestamp(t), list(body), begin=begin, extra_header=list(extra)))


def sent(actions):
    return [parse(a[1]) for a in actions if a[0] == SEND]


def kinds(actions):
    return [a[0] for a in actions]


@pytest.fixture(params=["memory", "file"])
def store(request, tmp_path):
    s = MemoryStore(T0) if request.param == "memory" else FileStore(str(tmp_path), "GOLDRTR-SHCLIENT1", T0)
    yield s
    s.close()


def new_session(store, **kw) -> Session:
    return Session("GOLDRTR", "SHCLIENT1", store, None, **kw)


def logged_on(store, hb=30, **kw) -> Session:
    s = new_session(store, **kw)
    s.connect(T0)
    acts = s.receive(mk(b"A", store.next_target_seq, [(98, 0), (108, hb)]), T0)
    assert LOGGED_ON in kinds(acts)
    return s
