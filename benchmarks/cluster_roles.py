"""Order→ack latency and capacity of the deployments, same run: `serve` (embedded), one gateway + one
core, two gateways + a core + a hot standby; then the failover time of the last one.

Real processes on loopback: `gold-router serve` with and without `--role`, a 3-node JetStream
cluster (`tests.natscluster`), FIX clients over TCP (`tests.fixclient`). Per deployment:

- latency: SHCLIENT1 sends `--orders` NewOrderSingles one at a time (resting bids, nothing trades),
  each timed from the write to its ExecutionReport New: p50/p99/max;
- capacity: SHCLIENT1 and HKCLIENT1 (on the second gateway where there are two) each write
  `--burst` orders back to back that cross one for one; orders/s from the first write to the last
  order's answer (New or reject: HKCLIENT1's metal runs out after about a thousand sells);
- failover (the standby deployment only): the leading core is SIGKILLed; the seconds until the
  standby leads (its /cluster), and until an order sent right after the kill is acknowledged.

Called by `python -m benchmarks.cluster` (its `--orders`, `--burst`, `--no-roles`). Figures from a
shared 2-core machine where clients, servers and NATS share the cores. Not here: any pass/fail.
"""
from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path

from benchmarks._timing import say
from tests.cluster.roles import Roles
from tests.fixclient import FixClient, now_ts
from tests.natscluster import NatsCluster

READY = re.compile(rb"gold-router ready: FIX 127\.0\.0\.1:(\d+) ")
OVERLAY = "[risk]\nmsg_rate = 1000000\nmsg_burst = 1000000\n"   # the per-session rate limit would refuse a burst


def order(clordid: str, side: int, price: str) -> list:
    return [(11, clordid), (55, "HKGX.RKG"), (54, side), (60, now_ts()), (38, 1), (40, 2), (44, price), (59, 1)]


def pct_ms(samples: list[float]) -> dict:
    s = sorted(samples)
    at = lambda q: round(s[min(len(s) - 1, int(q * len(s)))] * 1e3, 2)  # noqa: E731
    return {"samples": len(s), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": round(s[-1] * 1e3, 2)}


async def logon(port: int, name: str) -> FixClient:
    c = await FixClient.connect(port, name)
    await c.send(b"A", [(98, 0), (108, 30), (141, b"Y")])
    await c.expect(b"A", timeout=10)
    return c


async def wait_report(c: FixClient, clordid: bytes, exec_types: bytes, timeout: float = 30.0) -> None:
    while True:
        m = await c.recv(timeout)
        if m.msg_type == b"8" and m.get(11) == clordid and m.get(150) in exec_types:
            return


async def latency(sh: FixClient, tag: str, n: int) -> dict:
    samples = []
    for i in range(n):
        cid = f"{tag}L{i}"
        t0 = time.perf_counter()
        await sh.send(b"D", order(cid, 1, f"{530 + i % 10}.00"))
        await wait_report(sh, cid.encode(), b"0")
        samples.append(time.perf_counter() - t0)
    return pct_ms(samples)


async def capacity(sh: FixClient, hk: FixClient, tag: str, n: int) -> dict:
    async def burst(c: FixClient, side: int, price: str) -> None:
        for i in range(n):
            c.writer.write(c.frame(b"D", order(f"{tag}{side}C{i}", side, price)))
            if i % 50 == 49:
                await c.writer.drain()
        await c.writer.drain()

    answers = {"0": 0, "8": 0, "F": 0}

    async def acks(c: FixClient, side: int) -> None:
        seen = 0
        prefix = f"{tag}{side}C".encode()
        while seen < n:
            m = await c.recv(60)
            if m.msg_type == b"8" and (m.get(11) or b"").startswith(prefix):
                et = (m.get(150) or b"?").decode()
                answers[et] = answers.get(et, 0) + 1
                seen += et in ("0", "8")      # each order is acknowledged (New) or rejected once
    t0 = time.perf_counter()
    await asyncio.gather(burst(sh, 1, "551.00"), burst(hk, 2, "549.00"), acks(sh, 1), acks(hk, 2))
    took = time.perf_counter() - t0
    return {"orders": 2 * n, "seconds": round(took, 2), "orders_per_s": round(2 * n / took),
            "acked": answers["0"], "rejected": answers["8"], "fill_reports": answers["F"]}


async def embedded(base: Path, config: Path) -> tuple[asyncio.subprocess.Process, int]:
    base.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "serve", "--fix-port", "0", "--http-port", "0", "--sessions-always-open",
        "--config", str(config),
        "--store-dir", str(base / "store"), "--journal-dir", str(base / "journal"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, cwd=base)
    line = await asyncio.wait_for(proc.stdout.readline(), 120)
    return proc, int(READY.search(line).group(1))


async def measure(name: str, sh_port: int, hk_port: int, orders: int, burst: int) -> dict:
    sh, hk = await logon(sh_port, "SHCLIENT1"), await logon(hk_port, "HKCLIENT1")
    try:
        lat = await latency(sh, name[:1].upper(), orders)
        cap = await capacity(sh, hk, name[:1].upper(), burst)
    finally:
        await sh.close()
        await hk.close()
    say(f"{name:>32} {lat['p50_ms']:>8.2f} {lat['p99_ms']:>8.2f} {lat['max_ms']:>8.2f} {cap['orders_per_s']:>10,}")
    return {"order_ack": lat, "capacity": cap}


async def failover(roles: Roles, leader, standby, gw_port: int) -> dict:
    sh = await logon(gw_port, "SHCLIENT1")
    try:
        await sh.send(b"D", order("FW", 1, "531.00"))
        await wait_report(sh, b"FW", b"0")
        killed = time.perf_counter()
        await leader.kill9()
        await sh.send(b"D", order("FO", 1, "531.00"))
        led = await roles.until(standby, lambda s: s["leading"], timeout=30)
        leads_s = time.perf_counter() - killed
        await wait_report(sh, b"FO", b"0", timeout=60)
        acked_s = time.perf_counter() - killed
    finally:
        await sh.close()
    say(f"leading core killed: standby leads after {leads_s:.2f} s (epoch {led['epoch']}); an order sent at the "
        f"kill acknowledged after {acked_s:.2f} s")
    return {"standby_leads_s": round(leads_s, 2), "order_sent_at_kill_acked_s": round(acked_s, 2)}


async def run(base: Path, orders: int, burst: int, takeover: float) -> dict:
    out: dict = {}
    base.mkdir(parents=True, exist_ok=True)
    config = base / "overlay.toml"
    config.write_text(OVERLAY)
    say(f"{'deployment':>32} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'orders/s':>10}  (order→ack; capacity)")
    proc, port = await embedded(base / "embedded", config)
    try:
        out["embedded"] = await measure("embedded (serve)", port, port, orders, burst)
    finally:
        proc.kill()
        await proc.wait()
    for case, two in (("gateway+core", False), ("2 gateways+core+standby", True)):
        d = base / case.replace(" ", "_").replace("+", "_")
        d.mkdir(parents=True)
        with NatsCluster(d / "nats", size=3) as cluster:
            roles = Roles(d, cluster.url)
            try:
                core = await roles.start("core", "core-a", "--takeover", str(takeover), "--config", str(config))
                await roles.until(core, lambda s: s["leading"])
                standby = None
                if two:
                    standby = await roles.start("core", "core-b", "--takeover", str(takeover), "--config", str(config))
                    await roles.until(standby, lambda s: s["caught_up"])
                gw_a = await roles.start("gateway", "gw-a", "--config", str(config))
                gw_b = await roles.start("gateway", "gw-b", "--config", str(config)) if two else gw_a
                out[case] = await measure(case, gw_a.fix_port, gw_b.fix_port, orders, burst)
                if two:
                    out[case]["failover"] = await failover(roles, core, standby, gw_a.fix_port)
            finally:
                await roles.stop()
    return out
