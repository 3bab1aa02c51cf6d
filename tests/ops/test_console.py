"""router.ops.console over a real aiohttp server on 127.0.0.1: the page and its files, the read role
on the data, and the throttled stream (at most one snapshot per interval, none when nothing changed,
a slow reader gets the newest snapshot instead of a queue)."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from router.ops.admin import build_admin_app, start_http
from router.ops.console import HUB_KEY
from router.ops.metrics import Metrics

OPERATE, READ = "op-token", "read-token"


class CountingBackend:
    """A console backend whose state a test changes; counts the snapshots taken."""

    def __init__(self) -> None:
        self.version = 0
        self.snapshots = 0

    def ready(self) -> bool:
        return True

    def console(self, now_ns: int) -> dict:
        self.snapshots += 1
        return {"version": self.version, "books": []}


@pytest.fixture
async def site():
    backend = CountingBackend()
    app = build_admin_app(backend, None, OPERATE, read_token=READ, console=True)
    hub = app[HUB_KEY]
    hub.interval_s = 0.1
    metrics = Metrics()
    hub.observer = metrics
    server = await start_http(app, "127.0.0.1", 0)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as client:
        yield client, backend, hub, metrics
    await server.close()


async def frames(resp: aiohttp.ClientResponse, n: int, timeout: float = 5.0) -> list[dict]:
    out, buf = [], b""
    async with asyncio.timeout(timeout):
        while len(out) < n:
            buf += await resp.content.readany()
            while b"\n\n" in buf:
                frame, buf = buf.split(b"\n\n", 1)
                if frame.startswith(b"data: "):
                    out.append(json.loads(frame[6:]))
    return out


async def test_page_and_files_are_open_and_data_needs_the_read_token(site):
    client, _, _, _ = site
    async with client.get("/") as r:
        assert r.status == 200 and r.content_type == "text/html"
        assert "/console/console.js" in await r.text()
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    async with client.get("/console/console.js") as r:
        assert r.status == 200 and "fetch(\"/console/stream\"" in await r.text()
    async with client.get("/console/../admin.py") as r:
        assert r.status == 404
    async with client.get("/console/nope.js") as r:
        assert r.status == 404 and (await r.json())["error"] == "not_found"
    for path in ("/console/state", "/console/stream"):
        async with client.get(path) as r:
            assert r.status == 401 and (await r.json())["error"] == "missing_token"
    async with client.get("/console/state", headers={"Authorization": f"Bearer {READ}"}) as r:
        assert r.status == 200 and await r.json() == {"version": 0, "books": []}


async def test_stream_is_throttled_and_skips_unchanged_snapshots(site):
    client, backend, hub, metrics = site
    async with client.get("/console/stream", headers={"Authorization": f"Bearer {OPERATE}"}) as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        assert (await frames(r, 1))[0]["version"] == 0
        assert metrics.console_subscribers == 1
        # 200 changes in one burst: the stream carries the last one, a few frames at most.
        for _ in range(200):
            backend.version += 1
            await asyncio.sleep(0)
        await asyncio.sleep(0.35)
        got = await frames(r, 1)
        assert got[-1]["version"] <= 200
        taken = backend.snapshots
        assert taken < 10                                # one per 0.1 s interval, not one per change
        # Nothing changes: snapshots are taken, none is sent.
        await asyncio.sleep(0.3)
        assert backend.snapshots > taken
        with pytest.raises(TimeoutError):
            await frames(r, 1, timeout=0.3)
    for _ in range(50):
        if not hub.subscribers:
            break
        backend.version += 1                            # a write notices the closed stream
        await asyncio.sleep(0.05)
    assert not hub.subscribers and metrics.console_subscribers == 0


async def test_a_subscriber_that_does_not_read_holds_only_the_newest_snapshot():
    from router.ops.console import ConsoleHub

    backend = CountingBackend()
    hub = ConsoleHub(backend.console, json.dumps, interval_s=0.02)
    sub = hub.subscribe()                               # nobody drains it: a stalled browser
    for v in range(1, 6):
        backend.version = v
        await asyncio.sleep(0.06)
    assert sub.ready.is_set() and json.loads(sub.pending[6:]) == {"version": 5, "books": []}
    late = hub.subscribe()                              # a new viewer gets the current picture at once
    assert json.loads(late.pending[6:])["version"] == 5
    await hub.close()
    assert sub.closed and late.closed and not hub.subscribers
