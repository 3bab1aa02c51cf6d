"""The Logout's answer held for the application's `release_session` hook (router.fix.logout_release),
over real TCP on loopback: the answer waits for the release, and for no longer than the bound; a
dropped connection and an application without the hook are not held."""
from __future__ import annotations

import asyncio
import logging

import pytest

from router.fix.config import parse_fix_config
from router.fix.echo import EchoApp
from router.fix.gateway import start_gateway
from router.ops.metrics import Metrics
from tests.fix.test_gateway import order
from tests.fixclient import FixClient


class ReleasingApp(EchoApp):
    """The echo, plus a `release_session` that finishes when the test says (`released` set)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.released = asyncio.Event()

    def on_logout(self, handle) -> None:
        self.events.append("on_logout")
        super().on_logout(handle)

    async def release_session(self, session_id: str) -> None:
        self.events.append(f"release {session_id}")
        await self.released.wait()
        self.events.append("released")


@pytest.fixture
async def gateway(tmp_path):
    made, clients = [], []

    async def start(app, observer=None):
        config = parse_fix_config({"port": 0, "store": "memory", "logon_timeout_s": 10,
                                   "sessions": [{"target_comp_id": "SHCLIENT1"}]})
        g = await start_gateway(config, app, observer=observer, validator=None)
        made.append(g)
        c = await FixClient.connect(g.port)
        clients.append(c)
        await c.logon()
        return g, c

    yield start
    for c in clients:
        await c.close()
    for g in made:
        await g.close(timeout=0.5)


async def _no_frame_within(client: FixClient, seconds: float) -> bool:
    try:
        msg = await client.recv(seconds)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected frame {msg.raw!r}")


async def test_the_answer_waits_for_the_release(gateway):
    app = ReleasingApp()
    g, client = await gateway(app)
    # An order and the Logout in one write: the order's echo goes out at once, the Logout's answer waits.
    await client.send_raw(client.frame(b"D", order("BEFORE")) + client.frame(b"5", []))
    assert (await client.expect(b"D")).get(11) == b"BEFORE"
    assert await _no_frame_within(client, 0.3)
    assert app.events == ["on_logout", "release SHCLIENT1"]     # the session ended for the application first
    assert g.sessions_info()[0]["connected"] is False
    app.released.set()
    answer = await client.expect(b"5")
    assert answer.get(58) is None and answer.seq_num == 3, answer.raw
    assert await client.closed_by_peer()
    assert app.events[-1] == "released"


async def test_a_release_that_does_not_finish_is_given_up_after_the_bound(gateway, caplog):
    caplog.set_level(logging.INFO, logger="router.fix")
    metrics = Metrics()
    app = ReleasingApp()            # `released` is never set
    g, client = await gateway(app, metrics)
    g.logout_release_wait_s = 0.4
    loop = asyncio.get_running_loop()
    sent = loop.time()
    await client.send(b"5", [])
    assert (await client.expect(b"5", 5)).get(58) is None
    assert 0.35 <= loop.time() - sent < 3.0
    assert await client.closed_by_peer()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("SHCLIENT1: the session's release was not confirmed within 0.4 s" in r.getMessage()
               for r in warnings), caplog.text
    assert metrics.logout_release_timeouts == {"SHCLIENT1": 1}
    assert b'goldrouter_fix_logout_release_timeouts_total{session="SHCLIENT1"} 1.0' in metrics.exposition()


async def test_a_failed_release_is_answered_at_once_and_counted(gateway, caplog):
    class FailingApp(ReleasingApp):
        async def release_session(self, session_id: str) -> None:
            raise ConnectionError("store gone")

    metrics = Metrics()
    g, client = await gateway(FailingApp(), metrics)
    await client.send(b"5", [])
    assert (await client.expect(b"5", 0.9)).get(58) is None     # well inside the 1 s bound
    assert metrics.logout_release_timeouts == {"SHCLIENT1": 1}
    assert "the session's release failed (ConnectionError('store gone'))" in caplog.text


async def test_a_hook_that_is_not_a_coroutine_does_not_keep_the_answer(gateway, caplog):
    class BrokenApp(ReleasingApp):
        def release_session(self, session_id: str) -> None:     # not async: nothing to await
            self.events.append("called")

    metrics = Metrics()
    app = BrokenApp()
    g, client = await gateway(app, metrics)
    await client.send(b"5", [])
    assert (await client.expect(b"5", 0.9)).get(58) is None
    assert app.events == ["on_logout", "called"] and metrics.logout_release_timeouts == {"SHCLIENT1": 1}
    assert "the session's release failed (TypeError(" in caplog.text


async def test_a_dropped_connection_is_not_held(gateway):
    app = ReleasingApp()
    g, client = await gateway(app)
    await client.close()
    for _ in range(50):
        if app.events:
            break
        await asyncio.sleep(0.02)
    assert app.events == ["on_logout"]      # the application's on_logout, no release_session wait


async def test_without_the_hook_the_answer_goes_out_with_the_logout(gateway):
    g, client = await gateway(EchoApp())
    assert g.release_session is None
    loop = asyncio.get_running_loop()
    sent = loop.time()
    await client.send(b"5", [])
    assert (await client.expect(b"5", 2)).get(58) is None
    assert loop.time() - sent < 0.5
    assert await client.closed_by_peer()
