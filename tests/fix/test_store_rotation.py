"""FIX store rotation at the daily session boundary: real files, a restart, and a resend over real TCP
after rotation (the dropped messages are gap-filled)."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, time as dtime, timezone

import pytest

from router.domain.errors import ConfigError
from router.fix.config import ALWAYS, Schedule, parse_fix_config
from router.fix.echo import EchoApp
from router.fix.gateway import start_gateway
from router.fix.store import FileStore, MemoryStore
from tests.fix.test_gateway import order
from tests.fixclient import FixClient


def _fill(store, first, n):
    for seq in range(first, first + n):
        store.save_sent(seq, b"frame-%d" % seq)


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_roll_day_keeps_the_last_boundaries(tmp_path, kind):
    store = FileStore(str(tmp_path), "S", 1) if kind == "file" else MemoryStore(1)
    _fill(store, 1, 10)
    assert store.roll_day(2, 2) == 0            # boundary 1 at seq 11
    _fill(store, 11, 5)
    assert store.roll_day(3, 2) == 0            # boundary 2 at seq 16
    _fill(store, 16, 3)
    store.set_next_target_seq(42)
    assert store.roll_day(4, 2) == 15           # boundary 3: sent before boundary 2 goes
    assert [s for s, _ in store.get_range(1, 100)] == [16, 17, 18]
    assert len(store) == 3 and store.next_sender_seq == 19
    if kind == "file":
        store.close()
        again = FileStore(str(tmp_path), "S", 99)
        assert [s for s, _ in again.get_range(1, 100)] == [16, 17, 18]
        assert (again.next_sender_seq, again.next_target_seq, again.creation_ns) == (19, 42, 1)
        assert again.day_marks == [16, 19]
        _fill(again, 19, 1)
        assert again.roll_day(5, 2) == 3        # the marks survived the restart
        again.close()


def test_next_boundary():
    midnight = int(datetime(2026, 12, 4, tzinfo=timezone.utc).timestamp()) * 10**9
    assert ALWAYS.next_boundary_ns(midnight - 1) == midnight
    assert ALWAYS.next_boundary_ns(midnight) == midnight + 86_400 * 10**9
    shanghai = Schedule(dtime(9, 0), dtime(15, 0), "Asia/Shanghai")    # 09:00 CST = 01:00 UTC
    assert shanghai.next_boundary_ns(midnight) == midnight + 3_600 * 10**9


def test_retention_must_be_positive():
    with pytest.raises(ConfigError) as e:
        parse_fix_config({"store_retention_days": 0})
    assert e.value.key == "fix.store_retention_days"
    assert parse_fix_config({}).store_retention_days == 3


async def test_resend_after_rotation_gap_fills_what_was_dropped(tmp_path, caplog):
    config = parse_fix_config({"port": 0, "store_dir": str(tmp_path), "store_retention_days": 1,
                               "sessions": [{"target_comp_id": "SHCLIENT1"}]})
    g = await start_gateway(config, EchoApp(), validator=None)
    c = await FixClient.connect(g.port, "SHCLIENT1")
    try:
        caplog.set_level(logging.INFO, logger="router.fix")
        await c.logon()                                          # our seq 1
        for n in range(3):                                       # echoes: our seqs 2, 3, 4
            await c.send(b"D", order(f"OLD-{n}"))
            await c.expect(b"D")
        slot = g.slots[b"SHCLIENT1"]
        for boundary in (1, 2):                                  # two boundaries pass
            slot.next_roll_ns = 0
            while "store rotated" not in caplog.text or caplog.text.count("store rotated") < boundary:
                await asyncio.sleep(0.1)
            if boundary == 1:
                await c.send(b"D", order("NEW-0"))               # echo: our seq 5, after boundary 1
                await c.expect(b"D")
        assert "0 messages sent before the last 1 boundaries dropped, 3 kept" in caplog.text
        assert "4 messages sent before the last 1 boundaries dropped, 0 kept" in caplog.text
        assert g.sessions_info()[0]["stored_messages"] == 0
        await c.send(b"D", order("NEWEST"))                      # our seq 6, kept
        await c.expect(b"D")
        await c.send(b"2", [(7, 2), (16, 0)])
        fill = await c.expect(b"4")
        assert (fill.get(123), fill.get(36), fill.seq_num) == (b"Y", b"6", 2)
        again = await c.expect(b"D")
        assert (again.get(11), again.get(43), again.seq_num) == (b"NEWEST", b"Y", 6)
    finally:
        await c.close()
        await g.close(timeout=0.5)
