"""Busy polling after each socket read: the event loop keeps polling its sockets, without sleeping, for
`fix.busy_poll_us` microseconds after the last read, so the next order is picked up without a wake-up.

Why: on a virtual machine a vCPU that went idle between two orders takes tens of microseconds to be
woken for the next one (the C echo floor's own p50 is ~47 µs at 10,000/s against ~23 µs when kept
busy, benchmarks/README.md "Busy polling"). A desk that gives the router a core of its own trades
that core's idle time for a lower order->ack latency. Off by default (0): the service then sleeps in
the loop's poll as before, and nothing here runs.

How: while a window is open a callback re-schedules itself with `call_soon`, and a loop with a ready
callback polls its sockets with a zero timeout (asyncio's selector and uvloop alike) instead of
blocking. Each read moves the window's end; once it passes with no read, the loop sleeps again. Time
is the monotonic clock of this edge; nothing in the order flow reads it.

Not here: spinning on the socket itself (SO_BUSY_POLL needs a NIC queue; loopback has none), pinning
the process to a core (the operator's `taskset`), or any change to what a read does.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

__all__ = ["BusyPoll"]

log = logging.getLogger("router.fix")


class BusyPoll:
    """One per acceptor: `arm()` after every read opens (or extends) the polling window."""

    def __init__(self, loop: asyncio.AbstractEventLoop, window_us: int, observer: Any = None) -> None:
        self.loop = loop
        self.window_ns = window_us * 1000
        self.deadline = 0
        self.started = 0            # when the open window began; 0: none open
        self.windows = 0            # windows opened (each ends after window_us without a read)
        self.polling_ns = 0         # time spent in windows, closed ones
        self._ended = getattr(observer, "busy_poll_window", None)    # the metrics' tally, if any
        log.info("FIX busy polling: the event loop polls without sleeping for %d µs after each read "
                 "(a core kept busy while clients are active; fix.busy_poll_us = 0 turns it off)", window_us)

    def arm(self) -> None:
        now = time.monotonic_ns()
        self.deadline = now + self.window_ns
        if not self.started:
            self.started = now
            self.windows += 1
            self.loop.call_soon(self._poll)

    def _poll(self) -> None:
        now = time.monotonic_ns()
        if now < self.deadline:
            self.loop.call_soon(self._poll)
            return
        spent = now - self.started
        self.started = 0
        self.polling_ns += spent
        if self._ended is not None:
            self._ended(spent)
