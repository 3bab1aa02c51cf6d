"""Background snapshots from a forked child (router/records/snapshot_fork.py), with real processes:
the event loop keeps running while the child writes, a failing write is reported as failed, and a
client connection the parent closes while the child runs is closed for the peer at once (the child
does not hold the socket open). A forked check computes on the image at the fork and reports a failure."""
from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from router.records.snapshot_fork import BackgroundSnapshot, ForkedCheck


async def _run(write) -> tuple[BackgroundSnapshot, int, tuple]:
    done: asyncio.Future = asyncio.get_running_loop().create_future()
    bg = BackgroundSnapshot()
    pause = bg.start(7, write, lambda seq, ok, s: done.set_result((seq, ok, s)))
    return bg, pause, done


async def test_the_child_writes_while_the_event_loop_keeps_running(tmp_path) -> None:
    target = tmp_path / "snap"

    def write() -> None:
        time.sleep(0.6)
        target.write_text("state after command 7")
    bg, pause, done = await _run(write)
    assert bg.busy and pause > 0
    ticks = 0
    while not done.done():
        await asyncio.sleep(0.01)
        ticks += 1
    seq, ok, seconds = done.result()
    assert (seq, ok) == (7, True) and seconds >= 0.6
    assert ticks >= 10, "the event loop ran while the child slept and wrote"
    assert target.read_text() == "state after command 7"
    assert not bg.busy


async def test_a_failing_write_is_reported_as_failed(tmp_path) -> None:
    def write() -> None:
        raise OSError("disk full")
    bg, _, done = await _run(write)
    seq, ok, _ = await asyncio.wait_for(done, 30)
    assert (seq, ok) == (7, False) and not bg.busy


async def test_a_connection_the_parent_closes_while_the_child_runs_is_closed_for_the_peer(tmp_path) -> None:
    accepted: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_client(reader, writer) -> None:
        accepted.set_result(writer)
    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    server_side = await asyncio.wait_for(accepted, 5)
    _, _, done = await _run(lambda: time.sleep(3))          # the child lives 3 s
    server_side.close()
    t0 = time.monotonic()
    data = await asyncio.wait_for(reader.read(100), 2.5)    # EOF long before the child exits
    assert data == b"" and time.monotonic() - t0 < 2.5 and not done.done()
    writer.close()
    server.close()
    await asyncio.wait_for(done, 30)


def test_a_forked_check_computes_on_the_state_at_the_fork_while_the_parent_changes_it() -> None:
    state = {"orders": list(range(100_000))}
    check = ForkedCheck(lambda: (time.sleep(0.3), repr(sum(state["orders"])).encode())[1])
    state["orders"].append(10**9)               # after the fork: the child must not see it
    assert check.result() == repr(sum(range(100_000))).encode()


def test_a_forked_check_that_fails_raises_naming_the_child() -> None:
    def compute() -> bytes:
        raise ValueError("hash walk failed")
    check = ForkedCheck(compute)
    with pytest.raises(RuntimeError, match=f"pid {check.pid}.*exit status 1"):
        check.result()


def test_without_fork_a_loaded_snapshot_is_checked_before_the_replay(tmp_path, monkeypatch) -> None:
    """Where os.fork does not exist the start checks the hashes at once, with the same refusal."""
    from router.records import snapshot_fork
    from router.records.journal import JournalError
    from tests.records.test_snapshot import live_run, record_other_hash, restart
    import os
    live_run(tmp_path)
    directory = tmp_path / "j" / "snapshots"
    record_other_hash(directory / sorted(os.listdir(directory))[-1], "flow")
    forks = []
    monkeypatch.setattr(snapshot_fork, "supported", lambda: False)
    monkeypatch.setattr(snapshot_fork, "ForkedCheck", lambda compute: forks.append(compute))
    with pytest.raises(JournalError, match="differ from the recorded.*refusing to serve"):
        restart(tmp_path)
    assert forks == []


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="one CPU: nothing to keep apart")
def test_a_forked_check_runs_on_other_cpus_than_its_caller_and_gives_them_back_when_it_exits() -> None:
    before = os.sched_getaffinity(0)
    check = ForkedCheck(lambda: (time.sleep(0.5), json.dumps(sorted(os.sched_getaffinity(0))).encode())[1])
    during = os.sched_getaffinity(0)
    assert len(during) == 1 and check.cpus == (before, next(iter(during)), before - during)
    deadline = time.monotonic() + 30
    while os.sched_getaffinity(0) != before and time.monotonic() < deadline:
        time.sleep(0.05)                        # given back by the collecting thread, result() not called
    assert os.sched_getaffinity(0) == before
    assert set(json.loads(check.result())) == before - during
    failing = ForkedCheck(lambda: 1 / 0)
    with pytest.raises(RuntimeError, match="exit status 1"):
        failing.result()
    assert os.sched_getaffinity(0) == before
