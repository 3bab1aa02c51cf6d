"""Stale-session take-over over real TCP on loopback: a valid Logon for a connected session probes the
old connection with a TestRequest; a silent one is replaced, a live one keeps the session."""
from __future__ import annotations

import asyncio
import logging

import pytest

from router.domain.errors import ConfigError
from router.fix.config import parse_fix_config
from router.fix.echo import EchoApp
from router.fix.gateway import start_gateway
from router.ops.metrics import Metrics
from tests.fix.test_gateway import order
from tests.fixclient import FixClient


def config(tmp_path, probe_ms=300, **top):
    table = {"port": 0, "store": "memory", "logon_timeout_s": 10, "takeover_probe_ms": probe_ms,
             "sessions": [{"target_comp_id": "SHCLIENT1"}, {"target_comp_id": "HKCLIENT1"}]}
    table.update(top)
    return parse_fix_config(table)


@pytest.fixture
async def running(tmp_path):
    made = []

    async def start(probe_ms=300, observer=None):
        g = await start_gateway(config(tmp_path, probe_ms), EchoApp(), observer=observer, validator=None)
        made.append(g)
        return g

    clients = []

    async def connect(port, sender="SHCLIENT1"):
        c = await FixClient.connect(port, sender)
        clients.append(c)
        return c

    yield start, connect
    for c in clients:
        await c.close()
    for g in made:
        await g.close(timeout=0.5)


async def test_a_silent_connection_is_replaced(running, caplog):
    start, connect = running
    metrics = Metrics()
    g = await start(observer=metrics)
    old = await connect(g.port)
    await old.logon()
    await old.send(b"D", order("BEFORE"))
    assert (await old.expect(b"D")).get(11) == b"BEFORE"

    caplog.set_level(logging.INFO, logger="router.fix")
    new = await connect(g.port)
    # A client back after a crash: it logs on with its next sequence number.
    await new.send(b"A", [(98, 0), (108, 30)], seq=3)
    probe = await old.expect(b"1")                      # the old connection is asked; it does not answer
    assert probe.get(112).startswith(b"TAKEOVER-")
    ack = await new.expect(b"A", timeout=5)
    assert ack.get(56) == b"SHCLIENT1"
    assert await old.closed_by_peer()
    new.seq = 4
    await new.send(b"D", order("AFTER"))
    assert (await new.expect(b"D")).get(11) == b"AFTER"

    text = caplog.text
    assert "did not answer a TestRequest within 0.3 s; replaced by the logon from" in text
    assert metrics.session_takeovers == {"SHCLIENT1": 1}
    assert b'goldrouter_fix_session_takeovers_total{session="SHCLIENT1"} 1.0' in metrics.exposition()
    assert {s["session_id"]: s["connected"] for s in g.sessions_info()}["SHCLIENT1"] is True


async def test_a_live_connection_keeps_the_session(running):
    start, connect = running
    g = await start(probe_ms=2000)
    old = await connect(g.port)
    await old.logon()
    new = await connect(g.port)
    await new.logon(seq=1, expect=False)
    probe = await old.expect(b"1")
    await old.send(b"0", [(112, probe.get(112))])          # alive: it answers
    refusal = await new.expect(b"5", timeout=3)
    assert refusal.get(58) == b"Session already logged on"
    assert await new.closed_by_peer()
    await old.send(b"D", order("STILL-MINE"))
    assert (await old.expect(b"D")).get(11) == b"STILL-MINE"


async def test_the_old_connection_closing_admits_at_once(running):
    start, connect = running
    g = await start(probe_ms=8000)
    old = await connect(g.port)
    await old.logon()
    new = await connect(g.port)
    await new.send(b"A", [(98, 0), (108, 30)], seq=2)
    await old.expect(b"1")
    await old.close()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    ack = await new.expect(b"A", timeout=5)
    assert ack.msg_type == b"A" and loop.time() - t0 < 8     # not after the whole probe time


async def test_messages_sent_while_parked_are_answered_after_the_takeover(running):
    start, connect = running
    g = await start()
    old = await connect(g.port)
    await old.logon()
    new = await connect(g.port)
    new.seq = 2
    await new.send_raw(new.frame(b"A", [(98, 0), (108, 30)]) + new.frame(b"D", order("EARLY")))
    assert (await new.expect(b"A", timeout=5)).msg_type == b"A"
    assert (await new.expect(b"D")).get(11) == b"EARLY"


async def test_a_third_logon_during_the_probe_is_refused(running):
    start, connect = running
    g = await start(probe_ms=1500)
    old = await connect(g.port)
    await old.logon()
    second = await connect(g.port)
    await second.logon(seq=2, expect=False)
    third = await connect(g.port)
    await third.logon(seq=1, expect=False)
    assert (await third.expect(b"5")).get(58) == b"Session already logged on"
    assert (await second.expect(b"A", timeout=5)).msg_type == b"A"   # the first one parked wins


async def test_probe_zero_refuses_at_once(running):
    start, connect = running
    g = await start(probe_ms=0)
    old = await connect(g.port)
    await old.logon()
    new = await connect(g.port)
    await new.logon(seq=1, expect=False)
    assert (await new.expect(b"5", timeout=2)).get(58) == b"Session already logged on"


def test_probe_must_be_shorter_than_the_logon_timeout(tmp_path):
    with pytest.raises(ConfigError) as e:
        config(tmp_path, probe_ms=10_000)
    assert e.value.key == "fix.takeover_probe_ms" and "logon_timeout_s" in str(e.value)
    with pytest.raises(ConfigError) as e:
        config(tmp_path, probe_ms=-1)
    assert e.value.key == "fix.takeover_probe_ms"
    assert parse_fix_config({}).takeover_probe_ms == 2000
