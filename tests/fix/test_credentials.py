"""Password hashes and the logon failure throttle of router.fix.credentials (times passed in)."""
from __future__ import annotations

import pytest

from router.fix.credentials import DUMMY_HASH, LogonThrottle, hash_password, hash_problem, verify_password

S = 1_000_000_000


def test_hash_is_salted_and_verifies():
    a, b = hash_password("pw", n=1024), hash_password("pw", n=1024)
    assert a != b and a.startswith("scrypt$1024$8$1$")  # a fresh salt each time
    assert verify_password(a, b"pw") and verify_password(b, b"pw")
    assert not verify_password(a, b"pW") and not verify_password(a, b"")
    assert hash_problem(a) is None and hash_problem(DUMMY_HASH) is None
    assert not verify_password(DUMMY_HASH, b"")


@pytest.mark.parametrize("stored,words", [
    ("s3cret", "clear-text"),
    ("scrypt$x$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==", "non-numeric"),
    ("scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==", "power of two"),
    ("scrypt$1024$8$1$not-base64!$AAAAAAAAAAAAAAAAAAAAAA==", "base64"),
    ("scrypt$1024$8$1$AA==$AA==", "too short"),
])
def test_bad_stored_values_are_explained(stored, words):
    problem = hash_problem(stored)
    assert problem is not None and words in problem
    assert not verify_password(stored, b"s3cret")


def test_empty_password_cannot_be_hashed():
    with pytest.raises(ValueError):
        hash_password("")


def test_throttle_locks_out_after_limit_within_window_then_cools_down():
    t = LogonThrottle(limit=3, window_ns=60 * S, lockout_ns=300 * S)
    assert not t.failed("10.0.0.1", 0) and not t.failed("10.0.0.1", 10 * S)
    assert not t.locked("10.0.0.1", 11 * S) and not t.locked("10.0.0.2", 11 * S)
    assert t.failed("10.0.0.1", 20 * S)  # third within 60 s
    assert t.locked("10.0.0.1", 21 * S) and not t.locked("10.0.0.2", 21 * S)
    assert t.locked("10.0.0.1", 319 * S)
    assert not t.locked("10.0.0.1", 320 * S) and t.locked_addresses == 0


def test_throttle_window_slides_and_success_clears():
    t = LogonThrottle(limit=2, window_ns=60 * S, lockout_ns=300 * S)
    assert not t.failed("a", 0)
    assert not t.failed("a", 61 * S)  # the first one fell out of the window
    t.succeeded("a")
    assert not t.failed("a", 62 * S)  # counting starts again after a good logon


def test_throttle_memory_is_bounded():
    t = LogonThrottle(limit=1, window_ns=60 * S, lockout_ns=300 * S, max_addresses=100)
    for i in range(1000):
        t.failed(f"10.0.{i // 256}.{i % 256}", i)
    assert t.locked_addresses == 100
    t2 = LogonThrottle(limit=5, window_ns=60 * S, lockout_ns=300 * S, max_addresses=100)
    for i in range(1000):
        t2.failed(f"h{i}", i)
    assert len(t2._failures) == 100
