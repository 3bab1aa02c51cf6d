"""`serve --role gateway` and `serve --role core` over a real 3-node JetStream cluster and real TCP:
FIX clients on a gateway trade with each other through the core; with two gateways, a core and a
hot standby, the standby takes over from a leader killed with SIGKILL under load, with nothing
acknowledged lost or duplicated and every session up."""
from __future__ import annotations

import asyncio
import time

from tests.cluster.roles import Roles, pump_until
from tests.natscluster import NatsCluster
from tests.shell.test_recovery import HK, SH, Trader, new_order


async def test_clients_on_a_gateway_trade_through_the_core(nats_cluster: NatsCluster, tmp_path):
    roles = Roles(tmp_path, nats_cluster.url)
    sh, hk = Trader(SH), Trader(HK)
    try:
        core = await roles.start("core", "core-a")
        await roles.until(core, lambda s: s["leading"] and s["epoch"] == 1)
        gw = await roles.start("gateway", "gw-a")
        await sh.connect(gw.fix_port)
        await hk.connect(gw.fix_port)
        await sh.send(b"D", new_order("B1", "HKGX.RKG", 1, 2, "550.00"))
        await pump_until(lambda: b"B1" in sh.acked, sh)
        assert sh.acked == {b"B1": {"cum": 0, "done": False}}
        await hk.send(b"D", new_order("S1", "HKGX.RKG", 2, 1, "549.00"))
        await pump_until(lambda: hk.acked.get(b"S1", {}).get("done") and sh.acked[b"B1"]["cum"] == 1, hk, sh)
        assert hk.acked[b"S1"] == {"cum": 1, "done": True}        # filled at the resting bid
        assert sh.acked[b"B1"] == {"cum": 1, "done": False}       # partly filled, still working
        # a cancel and a bad order go the same way
        await sh.send(b"D", new_order("B2", "NOSUCH", 1, 1, "550.00"))
        await pump_until(lambda: any(b"11=B2\x01" in t and t.startswith(b"<-") for t in sh.trace), sh)
        rejected = [t for t in sh.trace if b"11=B2\x01" in t and t.startswith(b"<-")]
        assert rejected and b"\x01150=8\x01" in rejected[0]
        assert sh.duplicates == hk.duplicates == 0
        status = await core.cluster()
        assert status["role"] == "core" and status["leading"] and status["applied"] >= 5
        assert gw.get("/ready") == {"ready": True} and core.get("/ready") == {"ready": True}
        assert gw.get("/cluster")["role"] == "gateway"
        assert gw.get("/health")["role"] == "gateway" and core.get("/health")["role"] == "core"
        gw_metrics = await asyncio.to_thread(_text, gw.http_port, "/metrics")
        core_metrics = await asyncio.to_thread(_text, core.http_port, "/metrics")
        assert 'goldrouter_cluster_role{role="gateway"} 1.0' in gw_metrics
        assert _value(gw_metrics, "goldrouter_cluster_commands_published_total") >= 5   # 2 logons, 3 orders
        assert _value(gw_metrics, "goldrouter_cluster_outputs_delivered_total") >= 5
        assert 'goldrouter_cluster_role{role="core"} 1.0' in core_metrics
        assert _value(core_metrics, "goldrouter_cluster_leader") == 1.0
        assert _value(core_metrics, "goldrouter_cluster_lease_epoch") == 1.0
        assert _value(core_metrics, "goldrouter_cluster_outputs_published_total") >= 5
    finally:
        await sh.close()
        await hk.close()
        print(roles.logs())
        await roles.stop()


def _value(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def _text(port: int, path: str) -> str:
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return resp.read().decode()


async def _orders(trader: Trader, tag: str, side: int, price: str, n: int, pause: float) -> None:
    for i in range(n):
        await trader.send(b"D", new_order(f"{tag}{i}", "HKGX.RKG", side, 1, price))
        await trader.pump(pause)


async def test_standby_takes_over_from_a_killed_leader_under_load_two_gateways(nats_cluster: NatsCluster, tmp_path):
    roles = Roles(tmp_path, nats_cluster.url)
    sh, hk = Trader(SH), Trader(HK)
    n = 60
    try:
        core_a = await roles.start("core", "core-a", "--takeover", "3")
        await roles.until(core_a, lambda s: s["leading"])
        core_b = await roles.start("core", "core-b", "--takeover", "3")
        await roles.until(core_b, lambda s: s["caught_up"] and not s["leading"])
        gw = await roles.start("gateway", "gw-a")
        gw_b = await roles.start("gateway", "gw-b")
        await sh.connect(gw.fix_port)
        await hk.connect(gw_b.fix_port)           # clients on two gateways trade with each other
        # Buys rest, sells cross them one for one; core-a is killed half way through.
        load = asyncio.gather(_orders(sh, "B", 1, "550.00", n, 0.02), _orders(hk, "S", 2, "549.00", n, 0.02))
        await asyncio.sleep(0.8)
        await core_a.kill9()
        killed = time.monotonic()
        led = await roles.until(core_b, lambda s: s["leading"], timeout=10)
        took = time.monotonic() - killed
        await load
        everything = [(sh, f"B{i}".encode()) for i in range(n)] + [(hk, f"S{i}".encode()) for i in range(n)]
        await pump_until(lambda: all(t.acked.get(c, {}).get("done") for t, c in everything), sh, hk, deadline=60)
        await sh.pump(1.0)              # anything sent twice would arrive now
        await hk.pump(1.0)
        print(f"standby led {took:.2f} s after the kill, epoch {led['epoch']}")
        assert took < 5.0 and led["epoch"] == 2
        # every order acknowledged once and filled exactly once, nothing reported twice
        assert set(sh.acked) == {f"B{i}".encode() for i in range(n)}
        assert set(hk.acked) == {f"S{i}".encode() for i in range(n)}
        assert all(v == {"cum": 1, "done": True} for v in [*sh.acked.values(), *hk.acked.values()])
        assert sh.duplicates == hk.duplicates == 0
        # the sessions stayed up: an order now is answered at once
        await sh.send(b"D", new_order("LAST", "HKGX.RKG", 1, 1, "545.00"))
        await pump_until(lambda: b"LAST" in sh.acked, sh, deadline=10)
        assert b"LAST" in sh.acked
        # a fresh core replaying the stream reaches the same state as the new leader
        core_c = await roles.start("core", "core-c")
        await roles.until(core_c, lambda s: s["caught_up"])
        for _ in range(50):
            b, c = await core_b.cluster(hashes=True), await core_c.cluster(hashes=True)
            if b["applied"] == c["applied"]:
                break
            await asyncio.sleep(0.05)
        assert b["applied"] == c["applied"] and b["hashes"] == c["hashes"]
        core_metrics = await asyncio.to_thread(_text, core_b.http_port, "/metrics")
        assert _value(core_metrics, "goldrouter_cluster_leader_changes_total") == 1.0
        gw_metrics = await asyncio.to_thread(_text, gw.http_port, "/metrics")
        assert _value(gw_metrics, "goldrouter_cluster_lease_epoch") == 2.0
    finally:
        await sh.close()
        await hk.close()
        print(roles.logs())
        await roles.stop()
