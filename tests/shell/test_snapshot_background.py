"""Periodic snapshots of the real `gold-router serve` process are written by a forked child while
clients trade, and a start after kill -9 loads such a snapshot and replays only the tail after it:
every acknowledged order is still there."""
from __future__ import annotations

import asyncio
import re

import pytest

from tests.shell.test_recovery import SH, Trader, kill9, kill_9s_under_load, new_order, start_serve

OVERLAY = "[journal]\nsnapshot_every = 20\n[risk]\nmsg_rate = 100000\nmsg_burst = 100000\n"


async def _stderr_until(proc, pattern: str, timeout: float = 180) -> re.Match:
    # Generous: with a cold numba cache the first snapshot may compile a state-export kernel.
    text = ""
    while True:
        line = (await asyncio.wait_for(proc.stderr.readline(), timeout)).decode()
        if not line:
            raise AssertionError(f"no line matching {pattern!r} in:\n{text[-4000:]}")
        text += line
        match = re.search(pattern, line)
        if match:
            return match


async def test_background_snapshots_while_trading_and_a_restart_from_one(tmp_path) -> None:
    (tmp_path / "overlay.toml").write_text(OVERLAY)
    proc, port = await start_serve(tmp_path, "--config", str(tmp_path / "overlay.toml"))
    sh = Trader(SH)
    try:
        await sh.connect(port)
        for i in range(30):
            await sh.send(b"D", new_order(f"B{i}", "HKGX.RKG", 1, 1, f"{520 + i}.00"))
        await sh.pump(0.5)
        assert len(sh.acked) == 30
        started = await _stderr_until(proc, r"snapshot at command (\d+): writing in background process (\d+)")
        written = await _stderr_until(proc, r"snapshot at command (\d+) written by the background process")
        assert started.group(1) == written.group(1) and int(written.group(1)) >= 20
        snaps = sorted((tmp_path / "var" / "journal" / "snapshots").glob("*.snapshot"))
        assert snaps and int(snaps[-1].name.split(".")[0]) == int(written.group(1))

        await kill9(proc)
        await sh.close()
        proc, port = await start_serve(tmp_path, "--config", str(tmp_path / "overlay.toml"))
        loaded = await _stderr_until(proc, r"snapshot \S+ loaded: state after command (\d+)")
        assert int(loaded.group(1)) >= int(written.group(1))
        await sh.connect(port)
        for i in (0, 17, 29):
            st = await sh.status(f"B{i}".encode(), b"HKGX.RKG", b"1")
            assert (st.get(39), st.get(151)) == (b"0", b"1"), st
        assert sh.duplicates == 0
    finally:
        if proc.returncode is None:
            await kill9(proc)
        await sh.close()


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("background", ["true", "false"])
async def test_kill_9s_under_load_across_snapshots_lose_and_duplicate_nothing(tmp_path, background) -> None:
    # A snapshot every 30 commands: the kills fall before, during and after snapshot writes (the
    # forked child's, or the event loop's own), and most starts load a snapshot and replay a tail.
    (tmp_path / "overlay.toml").write_text(f"[journal]\nsnapshot_every = 30\nsnapshot_background = {background}\n"
                                           "[risk]\nmsg_rate = 100000\nmsg_burst = 100000\n")
    logs = await kill_9s_under_load(tmp_path, 8, "--config", str(tmp_path / "overlay.toml"))
    assert len(re.findall(r"snapshot \S+ loaded: state after command \d+", logs)) >= 2, logs[-4000:]
