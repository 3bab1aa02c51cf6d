"""A minimal FIX initiator for tests, over real TCP (optionally TLS): it sends exactly what a test
says, including wrong things, and hands back every frame the acceptor writes."""
from __future__ import annotations

import asyncio
import ssl as ssl_module
import time

from router.fix.codec import FixMessage, FrameDecoder, Garbled, encode, utc_timestamp


def now_ts(offset_s: float = 0.0) -> bytes:
    return utc_timestamp(time.time_ns() + int(offset_s * 1e9))


class FixClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 sender: str, target: str) -> None:
        self.reader = reader
        self.writer = writer
        self.sender = sender.encode()
        self.target = target.encode()
        self.seq = 1
        self.decoder = FrameDecoder()
        self.pending: list[FixMessage] = []
        self.eof = False

    @classmethod
    async def connect(cls, port: int, sender: str = "SHCLIENT1", target: str = "GOLDRTR", *,
                      host: str = "127.0.0.1", ssl: ssl_module.SSLContext | None = None) -> "FixClient":
        reader, writer = await asyncio.open_connection(host, port, ssl=ssl,
                                                       server_hostname="localhost" if ssl else None)
        return cls(reader, writer, sender, target)

    def frame(self, msg_type: bytes, body: list, *, seq: int | None = None, sending_time: bytes | None = None,
              extra_header: list | tuple = (), sender: bytes | None = None, target: bytes | None = None,
              begin: bytes = b"FIX.4.4") -> bytes:
        if seq is None:
            seq = self.seq
            self.seq += 1
        return encode(msg_type, sender or self.sender, target or self.target, seq,
                      sending_time or now_ts(), body, begin=begin, extra_header=extra_header)

    async def send(self, msg_type: bytes, body: list | None = None, **kw) -> bytes:
        data = self.frame(msg_type, body or [], **kw)
        await self.send_raw(data)
        return data

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def logon(self, heartbeat: int = 30, *, reset: bool = False, extra: list | None = None,
                    expect: bool = True, **kw) -> FixMessage | None:
        body: list = [(98, 0), (108, heartbeat)]
        if reset:
            body.append((141, b"Y"))
        body += extra or []
        await self.send(b"A", body, **kw)
        if not expect:
            return None
        return await self.expect(b"A")

    async def recv(self, timeout: float = 5.0) -> FixMessage:
        """The next frame from the acceptor; garbled frames from it fail the test."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.pending:
            if self.eof:
                raise ConnectionError("acceptor closed the connection")
            left = deadline - loop.time()
            if left <= 0 or not await self._read_some(left):
                raise TimeoutError("no message from the acceptor")
        return self.pending.pop(0)

    async def expect(self, msg_type: bytes, timeout: float = 5.0, *, skip_heartbeats: bool = True) -> FixMessage:
        while True:
            msg = await self.recv(timeout)
            if msg.msg_type == msg_type:
                return msg
            if skip_heartbeats and msg.msg_type == b"0" and msg_type != b"0":
                continue
            raise AssertionError(f"expected 35={msg_type!r}, got {msg.raw!r}")

    async def _read_some(self, timeout: float) -> bool:
        """Read once; False on timeout.  Frames go to `pending`, EOF sets `eof`."""
        try:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
        except asyncio.TimeoutError:
            return False
        except (ConnectionResetError, ssl_module.SSLError):
            data = b""
        if not data:
            self.eof = True
            return True
        for item in self.decoder.feed(data):
            if isinstance(item, Garbled):
                raise AssertionError(f"acceptor sent a garbled frame: {item!r}")
            self.pending.append(item)
        return True

    async def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True once the acceptor closed the connection; frames read on the way stay in `pending`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.eof:
            left = deadline - loop.time()
            if left <= 0 or not await self._read_some(left):
                return False
        return True

    async def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, ssl_module.SSLError):
            pass
