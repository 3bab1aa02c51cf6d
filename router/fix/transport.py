"""One accepted FIX connection as an `asyncio.Protocol`: bytes in, frames out, batched writes.

Per `data_received` call it decodes every complete frame, hands each to the gateway (which runs the
session and the application), and writes everything those produced in one `transport.write` after
the application committed (`Gateway.before_write`: its journal) and the session's message store was
flushed — a message is on disk (page cache) before it is on the wire. The stores of sessions without a
connection (a drop-copy session nobody is logged on to) are flushed right after that write, in the
same callback: their messages reach no socket, so the answer need not wait for them.
Flow control: while the peer does not read (`pause_writing`), we stop reading from it too, so a slow
consumer cannot make us buffer without bound.  A logon timeout closes connections that never log on;
the read limit is the decoder's maximum frame size plus a cap on buffered partial input.

Not its job: FIX session rules (`router.fix.session`), which session a Logon belongs to (`router.fix.gateway`).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from router.fix.codec import FrameDecoder

log = logging.getLogger("router.fix")

__all__ = ["FixConnection"]

WRITE_HIGH_WATER = 4 * 1024 * 1024
WRITE_LOW_WATER = 1 * 1024 * 1024
# A closing connection waits for its output to drain, but not for a peer that never reads: the
# session stays bound to the connection until it is gone, so its next Logon would be refused.
CLOSE_DRAIN_S = 5.0


class FixConnection(asyncio.Protocol):
    def __init__(self, gateway: Any, max_message_size: int, logon_timeout_s: float) -> None:
        self.gateway = gateway
        self.decoder = FrameDecoder(max_message_size)
        self.max_pending = 2 * max_message_size
        self.logon_timeout_s = logon_timeout_s
        self.transport: asyncio.Transport | None = None
        self.slot: Any = None  # the gateway's session slot once a Logon was admitted
        self.peer = "?"
        self.wbuf: list[bytes] = []
        self.closing = False
        self.close_reason = ""
        # Closing, but open until the Logout's answer is written (router.fix.logout_release).
        self.answer_pending = False
        self.paused = False
        self._in_batch = False
        self._flush_scheduled = False
        self._logon_timer: asyncio.TimerHandle | None = None
        self._abort_timer: asyncio.TimerHandle | None = None
        # Kept: `asyncio.get_running_loop()` makes a getpid system call per call on Python 3.11.
        self._loop = asyncio.get_running_loop()
        self.closed = self._loop.create_future()
        self.busy_poll = getattr(gateway, "busy_poll", None)    # router.fix.busy_poll, when configured

    # ---------------------------------------------------------------- asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)  # type: ignore[attr-defined]
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self._logon_timer = self._loop.call_later(self.logon_timeout_s, self._logon_timed_out)
        self.gateway.connection_opened(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        now = time.time_ns()
        self._in_batch = True
        gateway = self.gateway
        # While set, what the frames produce schedules no commit or store flush of its own: this
        # read's `flush` below does both (the application's commit, then the stores).
        was, gateway.reading = gateway.reading, True
        try:
            for item in self.decoder.feed(data):
                gateway.on_frame(self, item, now)
                if self.closing:
                    break
            if not self.closing and self.decoder.pending > self.max_pending:
                self.close(f"read limit: {self.decoder.pending} bytes without a complete frame")
        except Exception:  # a bug on one connection must not take the acceptor down
            log.exception("FIX connection %s: error while processing input", self.peer)
            self.close("internal error")
        finally:
            self._in_batch = False
            gateway.reading = was
        self.flush()
        if self.busy_poll is not None:
            self.busy_poll.arm()

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        self.paused = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._logon_timer is not None:
            self._logon_timer.cancel()
            self._logon_timer = None
        if self._abort_timer is not None:
            self._abort_timer.cancel()
            self._abort_timer = None
        self.closing = True
        self.wbuf.clear()
        try:
            self.gateway.connection_closed(self, exc)
        finally:
            if not self.closed.done():
                self.closed.set_result(None)

    # ---------------------------------------------------------------- used by the gateway
    def logged_on(self) -> None:
        if self._logon_timer is not None:
            self._logon_timer.cancel()
            self._logon_timer = None

    def write(self, frame: bytes) -> None:
        """Queue a frame; written at the end of the current batch or on the next loop turn."""
        if self.closing:
            return
        self.wbuf.append(frame)
        if not self._in_batch and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self.flush()

    def flush(self) -> None:
        # The application first: a write-ahead journal must hold a batch before any of it is stored or sent.
        gateway = self.gateway
        was, gateway.reading = gateway.reading, True   # what the commit sends to unconnected sessions: flushed below
        # The commit's frames for this connection leave with this write: no loop turn of their own
        # (one `call_soon` and an empty flush per read less).
        in_batch, self._in_batch = self._in_batch, True
        try:
            gateway.before_write()
        finally:
            gateway.reading = was
            self._in_batch = in_batch
        slot = self.slot
        if slot is not None:
            slot.store.flush()
        buf = self.wbuf
        transport = self.transport
        if buf and transport is not None and not transport.is_closing():
            transport.write(buf[0] if len(buf) == 1 else b"".join(buf))
        buf.clear()
        # After the socket write: what the answers need not wait for (the application's drop copies),
        # and the stores of sessions without a connection: their messages reach no socket (a resend
        # reads the store after a flush).
        gateway.reading = True
        try:
            gateway.after_write()
        finally:
            gateway.reading = was
        gateway.flush_stores()
        if self.closing and not self.answer_pending and transport is not None and not transport.is_closing():
            transport.close()
            self._abort_timer = self._loop.call_later(CLOSE_DRAIN_S, transport.abort)

    def close(self, reason: str) -> None:
        """Write what is queued, then close; input after this point is ignored."""
        if not self.closing:
            self.closing = True
            self.close_reason = reason
        if not self._in_batch:
            self.flush()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def _logon_timed_out(self) -> None:
        self._logon_timer = None
        if self.slot is None or not self.slot.session.logged_on:
            log.warning("FIX connection %s: no Logon within %ss, closing", self.peer, self.logon_timeout_s)
            self.close("logon timeout")
