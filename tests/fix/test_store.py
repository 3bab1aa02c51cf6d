"""The message store contract, run against both the file store and the memory store."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from router.fix.store import FileStore, MemoryStore, open_store


@pytest.fixture(params=["file", "memory"])
def make_store(request, tmp_path):
    stores = []

    def make(now_ns: int = 1_000):
        s = open_store(request.param, str(tmp_path / "store"), "GOLDRTR-CLIENT", now_ns)
        stores.append(s)
        return s

    make.kind = request.param
    yield make
    for s in stores:
        s.close()


def test_new_store_starts_at_one(make_store):
    s = make_store(now_ns=42)
    assert (s.next_sender_seq, s.next_target_seq) == (1, 1)
    assert s.creation_ns == 42
    assert s.get_range(1, 100) == []


def test_sequence_numbers_and_messages(make_store):
    s = make_store()
    s.set_next_target_seq(2)
    s.set_next_sender_seq(2)  # our Logon
    s.save_sent(2, b"frame-2")
    s.set_next_sender_seq(4)  # heartbeat 3
    s.save_sent(4, b"frame-4")
    s.set_next_target_seq(7)
    s.flush()
    assert s.next_sender_seq == 5
    assert s.next_target_seq == 7
    assert s.get_range(1, 10) == [(2, b"frame-2"), (4, b"frame-4")]
    assert s.get_range(3, 4) == [(4, b"frame-4")]
    assert s.get_range(5, 9) == []


def test_reset_clears_everything(make_store):
    s = make_store()
    s.save_sent(1, b"x")
    s.set_next_target_seq(9)
    s.reset(now_ns=777)
    assert (s.next_sender_seq, s.next_target_seq, s.creation_ns) == (1, 1, 777)
    assert s.get_range(1, 10) == []
    s.save_sent(1, b"after-reset")
    assert s.get_range(1, 1) == [(1, b"after-reset")]


def test_binary_frames_survive_verbatim(make_store):
    # Frames contain SOH and may contain newlines inside data fields; the log must not care.
    frame = b"8=FIX.4.4\x019=5\x0135=D\x0158=a\nb\x0110=000\x01"
    s = make_store()
    s.save_sent(1, frame)
    s.flush()
    assert s.get_range(1, 1) == [(1, frame)]


def test_file_store_reopens_with_state(tmp_path):
    d = str(tmp_path / "st")
    s = FileStore(d, "A-B", 5)
    s.set_next_sender_seq(3)
    s.save_sent(3, b"three")
    s.set_next_target_seq(11)
    s.close()
    s2 = FileStore(d, "A-B", 99)
    try:
        assert (s2.next_sender_seq, s2.next_target_seq, s2.creation_ns) == (4, 11, 5)
        assert s2.get_range(1, 5) == [(3, b"three")]
        assert s2.recovered_bytes_dropped == 0
    finally:
        s2.close()


def test_file_store_reset_survives_reopen(tmp_path):
    d = str(tmp_path / "st")
    s = FileStore(d, "A-B", 5)
    s.save_sent(1, b"one")
    s.reset(now_ns=6)
    s.set_next_target_seq(2)
    s.close()
    s2 = FileStore(d, "A-B", 99)
    try:
        assert (s2.next_sender_seq, s2.next_target_seq, s2.creation_ns) == (1, 2, 6)
        assert s2.get_range(1, 5) == []
    finally:
        s2.close()


@pytest.mark.parametrize("cut", [1, 3, 9, 20])
def test_file_store_drops_a_torn_tail(tmp_path, cut):
    d = str(tmp_path / "st")
    s = FileStore(d, "A-B", 5)
    s.save_sent(1, b"first-frame")
    s.set_next_target_seq(4)
    s.close()
    size_good = os.path.getsize(s.path)
    with open(s.path, "ab") as f:
        f.write(b"M 2 40\n" + b"x" * 30)  # a record cut short by a crash
    with open(s.path, "r+b") as f:
        f.truncate(size_good + cut)
    s2 = FileStore(d, "A-B", 5)
    try:
        assert s2.get_range(1, 10) == [(1, b"first-frame")]
        assert (s2.next_sender_seq, s2.next_target_seq) == (2, 4)
        assert s2.recovered_bytes_dropped == cut
        s2.save_sent(2, b"second")
        s2.close()
        s3 = FileStore(d, "A-B", 5)
        assert s3.get_range(1, 10) == [(1, b"first-frame"), (2, b"second")]
        s3.close()
    finally:
        s2.close()


def test_file_store_durable_across_sigkill(tmp_path):
    d = str(tmp_path / "st")
    # A child writes through the store, flushes (as the gateway does once per batch), then waits
    # to be killed; nothing it flushed may be lost.
    child = textwrap.dedent(
        f"""
        import sys, time
        from router.fix.store import FileStore
        s = FileStore({d!r}, "A-B", 1)
        for i in range(1, 501):
            s.save_sent(i, b"frame-%d" % i)
            s.set_next_target_seq(i + 1)
            if i % 50 == 0:
                s.flush()
        sys.stdout.write("flushed\\n"); sys.stdout.flush()
        time.sleep(60)
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, cwd=root)
    try:
        assert p.stdout.readline() == b"flushed\n"
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
    assert p.returncode == -signal.SIGKILL
    s = FileStore(d, "A-B", 2)
    try:
        assert s.next_sender_seq == 501 and s.next_target_seq == 501
        got = s.get_range(1, 1000)
        assert len(got) == 500
        assert got[0] == (1, b"frame-1") and got[-1] == (500, b"frame-500")
    finally:
        s.close()


def test_memory_store_is_not_shared_between_instances():
    a, b = MemoryStore(), MemoryStore()
    a.save_sent(1, b"a")
    assert b.get_range(1, 1) == []


def test_file_store_compacts_sequence_records_at_open(tmp_path, monkeypatch):
    from router.fix import store as fix_store

    monkeypatch.setattr(fix_store, "COMPACT_AFTER", 50)
    d = str(tmp_path / "st")
    s = FileStore(d, "A-B", 5)
    for i in range(1, 101):
        s.set_next_target_seq(i + 1)
        if i % 10 == 0:
            s.save_sent(i, b"frame-%d" % i)
        else:
            s.set_next_sender_seq(i + 1)
    s.close()
    size_before = os.path.getsize(s.path)
    s2 = FileStore(d, "A-B", 99)
    try:
        assert os.path.getsize(s2.path) < size_before
        assert (s2.next_sender_seq, s2.next_target_seq, s2.creation_ns) == (101, 101, 5)
        assert [seq for seq, _ in s2.get_range(1, 200)] == list(range(10, 101, 10))
        s2.set_next_target_seq(102)
    finally:
        s2.close()
    s3 = FileStore(d, "A-B", 99)
    try:
        assert s3.next_target_seq == 102 and len(s3.get_range(1, 200)) == 10
    finally:
        s3.close()


def test_file_store_has_one_holder_at_a_time(tmp_path):
    from router.fix.store import StoreInUse

    d = str(tmp_path / "st")
    first = FileStore(d, "A-B", 1)
    try:
        with pytest.raises(StoreInUse):
            FileStore(d, "A-B", 1)
        other = FileStore(d, "A-C", 1)  # another session's log is independent
        other.close()
    finally:
        first.close()
    FileStore(d, "A-B", 1).close()  # released on close


def test_file_store_keeps_frames_on_disk_and_reads_them_back(tmp_path):
    """Memory holds only where each sent frame is in the log; a resend reads it back, before and
    after a flush, across a reopen, and after the log is rewritten by rotation."""
    s = FileStore(str(tmp_path), "S1", 1_000)
    frames = {seq: b"8=FIX.4.4\x019=%d\x01" % seq + b"x" * (seq * 37 % 500) for seq in range(1, 301)}
    for seq, frame in frames.items():
        s.save_sent(seq, frame)
        if seq % 7 == 0:
            s.set_next_target_seq(seq)          # other records between the frames
    assert all(isinstance(x, int) for x in s._frames[:5]), "no frame bytes kept in memory"
    assert s.get_range(1, 300) == sorted(frames.items())      # read before any flush
    s.close()
    s = FileStore(str(tmp_path), "S1", 2_000)
    assert s.get_range(120, 130) == [(q, frames[q]) for q in range(120, 131)]
    s.save_sent(301, b"late")
    assert s.roll_day(3_000, 2) == 0
    s.save_sent(302, b"day two")
    assert s.roll_day(4_000, 2) == 0
    s.save_sent(303, b"day three")
    assert s.roll_day(5_000, 2) == 302            # the log is rewritten without the first two days
    assert s.get_range(1, 400) == [(303, b"day three")]
    s.save_sent(304, b"next")
    assert s.get_range(302, 304) == [(303, b"day three"), (304, b"next")]
    s.close()
    s = FileStore(str(tmp_path), "S1", 6_000)
    assert s.get_range(1, 400) == [(303, b"day three"), (304, b"next")]
    s.close()
