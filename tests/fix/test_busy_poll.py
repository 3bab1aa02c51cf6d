"""Busy polling after each read (`router.fix.busy_poll`, `fix.busy_poll_us`) over real TCP on loopback:
orders are answered as before, the loop polls while the window is open and sleeps again after it, the
windows reach the metrics; a bad setting is a config error naming the key. (Its latency gain is measured
in benchmarks/, never asserted here.)"""
from __future__ import annotations

import asyncio
import logging

import pytest

from router.domain.errors import ConfigError
from router.fix.config import MAX_BUSY_POLL_US, parse_fix_config
from router.fix.echo import EchoApp
from router.fix.gateway import start_gateway
from router.ops.metrics import Metrics
from tests.fix.test_gateway import order
from tests.fixclient import FixClient


def config(**top):
    table = {"port": 0, "store": "memory", "sessions": [{"target_comp_id": "SHCLIENT1"}]}
    table.update(top)
    return parse_fix_config(table)


def test_the_setting_is_off_by_default_and_bad_values_name_the_key():
    assert config().busy_poll_us == 0
    assert config(busy_poll_us=250).busy_poll_us == 250
    for bad, why in ((-1, "must be >= 0"), (MAX_BUSY_POLL_US + 1, f"must be at most {MAX_BUSY_POLL_US}"),
                     ("fast", "")):
        with pytest.raises(ConfigError) as e:
            config(busy_poll_us=bad)
        assert "busy_poll_us" in str(e.value) and why in str(e.value)


async def test_off_nothing_polls():
    g = await start_gateway(config(), EchoApp(), validator=None)
    try:
        assert g.busy_poll is None
    finally:
        await g.close(timeout=0.5)


async def test_each_read_opens_a_window_the_loop_polls_through_then_sleeps(caplog):
    caplog.set_level(logging.INFO, logger="router.fix")
    metrics = Metrics()
    window_us = 20_000
    g = await start_gateway(config(busy_poll_us=window_us), EchoApp(), observer=metrics, validator=None)
    c = await FixClient.connect(g.port, "SHCLIENT1")
    try:
        assert "FIX busy polling: the event loop polls without sleeping for 20000 µs after each read" in caplog.text
        await c.logon()
        for i in range(5):
            await c.send(b"D", order(f"BP{i}"))
            assert (await c.expect(b"D")).get(11) == f"BP{i}".encode()
        busy = g.busy_poll
        assert busy.started and busy.windows >= 1      # polling now: the last read was just now
        # The window ends 20 ms after the last read with nothing read: the loop sleeps again.
        await asyncio.sleep(0.1)
        assert busy.started == 0 and busy.polling_ns >= window_us * 1000
        assert metrics.busy_poll_windows == busy.windows and metrics.busy_poll_ns == busy.polling_ns
        text = metrics.exposition()
        assert f"goldrouter_fix_busy_poll_windows_total {float(busy.windows)}".encode() in text
        assert b"goldrouter_fix_busy_poll_seconds_total " in text
        # A read after the window reopens one.
        before = busy.windows
        await c.send(b"D", order("AGAIN"))
        assert (await c.expect(b"D")).get(11) == b"AGAIN"
        assert busy.windows == before + 1 and busy.started
    finally:
        await c.close()
        await g.close(timeout=0.5)
