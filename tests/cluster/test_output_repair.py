"""Outputs lost between the core and a gateway are asked for again: the answer's format (pure), and a
real gateway whose NATS connection goes dark and then drops while its client's orders are filled:
after reconnecting it gets the fills from the leading core and the client sees each exactly once."""
from __future__ import annotations

import asyncio

from router.cluster.repair import MAX_REPLY, decode_reply, encode_request, ring_reply
from tests.cluster.roles import Roles, pump_until
from tests.natscluster import NatsCluster
from tests.shell.test_recovery import HK, SH, Trader, new_order


def _ring(session: str, numbers: range) -> list[tuple]:
    return [(session, 100 + n, n, b"8", [(11, b"X%d" % n), (150, b"F")]) for n in numbers]


def test_the_leaders_answer_from_its_ring():
    ring = _ring("A", range(5, 11)) + _ring("B", range(1, 4))
    count = {"A": 10, "B": 3}.get
    complete, more, outs = decode_reply(ring_reply(ring, lambda s: count(s) or 0, encode_request("A", 6), epoch=2))
    assert (complete, more) == (True, False)
    assert [(o.number, o.seq, o.epoch, o.msg_type, o.body[0]) for o in outs] == [
        (n, 100 + n, 2, b"8", (11, b"X%d" % n)) for n in range(7, 11)]
    # older than the ring: what is there, marked incomplete
    complete, more, outs = decode_reply(ring_reply(ring, lambda s: count(s) or 0, encode_request("A", 2), 2))
    assert (complete, more, [o.number for o in outs]) == (False, False, list(range(5, 11)))
    # nothing missing, and a session never seen
    assert decode_reply(ring_reply(ring, lambda s: count(s) or 0, encode_request("B", 3), 2)) == (True, False, [])
    assert decode_reply(ring_reply(ring, lambda s: 0, encode_request("C", 0), 2)) == (True, False, [])
    # a long answer comes in parts
    big = _ring("A", range(1, MAX_REPLY + 11))
    complete, more, outs = decode_reply(ring_reply(big, lambda s: MAX_REPLY + 10, encode_request("A", 0), 1))
    assert (complete, more, len(outs), outs[-1].number) == (True, True, MAX_REPLY, MAX_REPLY)


class DarkProxy:
    """A TCP relay to one NATS node that can stop passing the server's bytes (they are dropped) and
    then cut its connections, as a network failure does; new connections pass normally."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.dark = False
        self.conns: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self.dropped = 0
        self.port = 0
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.conns.append((writer, up_w))
        await asyncio.gather(self._pipe(reader, up_w, False), self._pipe(up_r, writer, True),
                             return_exceptions=True)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, from_server: bool) -> None:
        try:
            while data := await src.read(65536):
                if from_server and self.dark:
                    self.dropped += len(data)
                    continue
                dst.write(data)
                await dst.drain()
        finally:
            dst.close()

    def cut(self) -> None:
        self.dark = False
        conns, self.conns = self.conns, []
        for a, b in conns:
            a.close()
            b.close()

    def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


async def test_a_gateway_gets_the_outputs_it_missed_while_its_nats_connection_was_down(
        nats_cluster: NatsCluster, tmp_path):
    roles = Roles(tmp_path, nats_cluster.url)
    proxy = DarkProxy(nats_cluster.nodes[0].client_port)
    await proxy.start()
    sh, hk = Trader(SH), Trader(HK)
    n = 5
    try:
        core = await roles.start("core", "core-a")
        await roles.until(core, lambda s: s["leading"])
        gw_a = await roles.start("gateway", "gw-a", "--nats", f"nats://127.0.0.1:{proxy.port}")
        gw_b = await roles.start("gateway", "gw-b")
        await sh.connect(gw_a.fix_port)
        await hk.connect(gw_b.fix_port)
        for i in range(n):
            await sh.send(b"D", new_order(f"B{i}", "HKGX.RKG", 1, 1, "550.00"))
        assert await pump_until(lambda: len(sh.acked) == n, sh)

        # gw-a's connection goes dark: SHCLIENT1's fills are published while nothing reaches gw-a
        proxy.dark = True
        for i in range(n):
            await hk.send(b"D", new_order(f"S{i}", "HKGX.RKG", 2, 1, "549.00"))
        assert await pump_until(lambda: all(hk.acked.get(f"S{i}".encode(), {}).get("done") for i in range(n)), hk)
        await sh.pump(1.0)
        assert all(v == {"cum": 0, "done": False} for v in sh.acked.values())     # nothing arrived
        assert proxy.dropped > 0
        # the connection drops; gw-a reconnects and asks the leading core for what it missed
        proxy.cut()
        assert await pump_until(lambda: all(v["done"] for v in sh.acked.values()), sh, deadline=30), sh.acked
        assert all(v == {"cum": 1, "done": True} for v in sh.acked.values())
        status = gw_a.get("/cluster")
        assert status["repair"]["repaired"] >= n and status["repair"]["lost"] == 0, status
        # trading goes on through gw-a, nothing was sent twice
        await sh.send(b"D", new_order("LAST", "HKGX.RKG", 1, 1, "545.00"))
        assert await pump_until(lambda: b"LAST" in sh.acked, sh)
        await sh.pump(0.5)
        assert sh.duplicates == hk.duplicates == 0
        metrics = gw_a.get_text("/metrics")
        assert _value(metrics, "goldrouter_cluster_outputs_repaired_total") >= n
        assert _value(metrics, "goldrouter_cluster_outputs_lost_total") == 0
        assert _value(core.get_text("/metrics"), "goldrouter_cluster_outputs_lost_total") == 0
    finally:
        await sh.close()
        await hk.close()
        proxy.close()
        print(roles.logs())
        await roles.stop()


def _value(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))
