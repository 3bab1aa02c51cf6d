"""The operator console on the admin HTTP site: the page, its snapshot and its live stream.

Job: serve `GET /` (the console page) and its static files from `console_files/` (package data, no
build step, nothing fetched from the internet); `GET /console/state` (one JSON snapshot) and
`GET /console/stream` (Server-Sent-Events framing, `data: <json>\\n\\n`), both behind the read role.
The page reads the stream with `fetch()` so the token travels in the Authorization header: an
`EventSource` cannot set headers, and a token in the URL would land in logs and history.

Throttling: one `ConsoleHub` per site takes at most one snapshot per `interval_s` (default 0.5 s,
so at most 2 updates per second whatever the order rate; a snapshot of the default catalogue costs
about a millisecond, see benchmarks/console.py), and only while someone is subscribed. It
sends a snapshot only when it differs from the last one, and each subscriber holds only the newest
unsent snapshot, so a slow browser skips updates instead of queueing them. The order path never
waits on the console: snapshots are read between events on the same loop.

Not here: what a snapshot contains (the backend's `console(now_ns)`, `router.console_view`),
authentication rules (`router.ops.auth`), the mutations (the admin API's POST endpoints).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

log = logging.getLogger("gold_router.console")

FILES = Path(__file__).resolve().parent / "console_files"
STATIC = {"console.js": "application/javascript", "console.css": "text/css", "favicon.svg": "image/svg+xml"}
DEFAULT_INTERVAL_S = 0.5
KEEPALIVE_S = 5.0
MAX_SUBSCRIBERS = 64
# The page loads only its own files and talks only to its own origin; nothing inline, no framing.
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'"


class _Subscriber:
    """One open stream: the newest snapshot not yet written, and an event saying there is one."""

    __slots__ = ("pending", "ready", "closed")

    def __init__(self) -> None:
        self.pending: bytes | None = None
        self.ready = asyncio.Event()
        self.closed = False

    def offer(self, frame: bytes) -> None:
        self.pending = frame          # an unsent older frame is simply replaced
        self.ready.set()


class ConsoleHub:
    """Takes throttled snapshots while streams are open and hands the newest to each of them."""

    def __init__(self, snapshot: Callable[[int], Any], dumps: Callable[[Any], str],
                 interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.snapshot = snapshot
        self.dumps = dumps
        self.interval_s = interval_s
        self.subscribers: set[_Subscriber] = set()
        self.observer: Any = None          # Metrics: set_console_subscribers(n), console_update(n)
        self._task: asyncio.Task | None = None
        self._last: bytes | None = None

    def frame(self) -> bytes:
        """The current snapshot as one SSE frame."""
        return b"data: " + self.dumps(self.snapshot(time.time_ns())).encode() + b"\n\n"

    def _count(self) -> None:
        if self.observer is not None:
            self.observer.set_console_subscribers(len(self.subscribers))

    def subscribe(self) -> _Subscriber:
        sub = _Subscriber()
        self.subscribers.add(sub)
        self._count()
        if self._task is None or self._task.done():
            self._last = None
            self._task = asyncio.get_running_loop().create_task(self._run())
        else:
            # A new viewer gets the current picture at once, not at the next change.
            if self._last is not None:
                sub.offer(self._last)
        return sub

    def unsubscribe(self, sub: _Subscriber) -> None:
        self.subscribers.discard(sub)
        self._count()

    async def _run(self) -> None:
        while self.subscribers:
            try:
                frame = self.frame()
            except Exception:           # a view bug must not kill the stream task: log it, try again
                log.exception("console snapshot failed")
                frame = None
            if frame is not None and frame != self._last:
                self._last = frame
                for sub in self.subscribers:
                    sub.offer(frame)
                if self.observer is not None:
                    self.observer.console_update(len(self.subscribers))
            await asyncio.sleep(self.interval_s)

    async def close(self) -> None:
        for sub in list(self.subscribers):
            sub.closed = True
            sub.ready.set()
        self.subscribers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


HUB_KEY: web.AppKey[ConsoleHub] = web.AppKey("console_hub", ConsoleHub)


class _ConsoleHandlers:
    def __init__(self, hub: ConsoleHub) -> None:
        self.hub = hub

    async def page(self, request: web.Request) -> web.Response:
        # The page holds no data: it asks for the token, then reads /console/stream with it.
        return web.Response(body=(FILES / "index.html").read_bytes(), content_type="text/html",
                            charset="utf-8", headers={"Cache-Control": "no-cache", "Content-Security-Policy": CSP,
                                                      "Referrer-Policy": "no-referrer"})

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        ctype = STATIC.get(name)
        if ctype is None:
            raise web.HTTPNotFound(reason=f"no console file {name!r}")
        return web.Response(body=(FILES / name).read_bytes(), content_type=ctype, charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    async def state(self, request: web.Request) -> web.Response:
        return web.Response(body=self.hub.frame()[6:-2], content_type="application/json")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        hub = self.hub
        if len(hub.subscribers) >= MAX_SUBSCRIBERS:
            return web.json_response({"error": "too_many_subscribers",
                                      "detail": f"at most {MAX_SUBSCRIBERS} console streams"}, status=503)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        sub = hub.subscribe()
        log.info("console stream opened from %s (%d open)", request.remote, len(hub.subscribers))
        try:
            while not sub.closed:
                try:
                    await asyncio.wait_for(sub.ready.wait(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                sub.ready.clear()
                frame, sub.pending = sub.pending, None
                if frame is not None:
                    await resp.write(frame)
        except ConnectionResetError:        # the browser went away
            pass
        finally:
            hub.unsubscribe(sub)
            log.info("console stream closed from %s (%d open)", request.remote, len(hub.subscribers))
        return resp


def mount_console(app: web.Application, backend: Any, auth: Any, reader: Callable, dumps: Callable[[Any], str],
                  interval_s: float = DEFAULT_INTERVAL_S) -> ConsoleHub:
    """Add the console routes to the admin `app`; the backend must have `console(now_ns) -> dict`."""
    hub = ConsoleHub(backend.console, dumps, interval_s)
    app[HUB_KEY] = hub
    h = _ConsoleHandlers(hub)
    app.router.add_get("/", h.page)
    # Registered before /console/{name}: aiohttp matches in registration order.
    app.router.add_get("/console/state", reader(auth, h.state))
    app.router.add_get("/console/stream", reader(auth, h.stream))
    app.router.add_get("/console/{name}", h.static)

    async def on_shutdown(_app: web.Application) -> None:
        await hub.close()
    app.on_shutdown.append(on_shutdown)
    return hub
