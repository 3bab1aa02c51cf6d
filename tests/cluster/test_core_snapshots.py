"""Cluster cores snapshot at the same stream commands and compare their state hashes there; a core
killed with SIGKILL starts again from its newest snapshot and reads only the stream after it; admin
mutations posted to either core are stream commands that the leader and the standby both apply.
Real `serve --role` processes over a real 3-node JetStream cluster."""
from __future__ import annotations

import asyncio

from tests.cluster.roles import Roles, pump_until
from tests.natscluster import NatsCluster
from tests.shell.test_recovery import HK, SH, Trader, new_order

EVERY = 25
TOKEN = "s3cret"


def _config(tmp_path) -> str:
    conf = tmp_path / "cluster.toml"
    conf.write_text(f"[journal]\nsnapshot_every = {EVERY}\n", encoding="utf-8")
    return str(conf)


async def _crosses(sh: Trader, hk: Trader, tag: str, n: int) -> None:
    """n buys resting, n sells crossing them one for one; waits until every one is filled."""
    for i in range(n):
        await sh.send(b"D", new_order(f"B{tag}{i}", "HKGX.RKG", 1, 1, "550.00"))
        await hk.send(b"D", new_order(f"S{tag}{i}", "HKGX.RKG", 2, 1, "549.00"))
        await sh.pump(0.02)
    ids = [(sh, f"B{tag}{i}".encode()) for i in range(n)] + [(hk, f"S{tag}{i}".encode()) for i in range(n)]
    done = await pump_until(lambda: all(t.acked.get(c, {}).get("done") for t, c in ids), sh, hk, deadline=60)
    assert done, [c for t, c in ids if not t.acked.get(c, {}).get("done")]


async def _same_state(roles: Roles, a, b) -> tuple[dict, dict]:
    """Both cores' status with hashes at the same last command (timer ticks keep coming: ask again)."""
    for _ in range(100):
        sa, sb = await a.cluster(hashes=True), await b.cluster(hashes=True)
        if sa["applied"] == sb["applied"]:
            return sa, sb
        await asyncio.sleep(0.05)
    raise AssertionError(f"never at the same command: {sa['applied']} vs {sb['applied']}\n{roles.logs()}")


async def test_cores_compare_hashes_at_snapshots_and_a_killed_core_starts_from_its_snapshot(
        nats_cluster: NatsCluster, tmp_path):
    conf = _config(tmp_path)
    roles = Roles(tmp_path, nats_cluster.url)
    sh, hk = Trader(SH), Trader(HK)
    try:
        core_a = await roles.start("core", "core-a", "--config", conf)
        await roles.until(core_a, lambda s: s["leading"])
        core_b = await roles.start("core", "core-b", "--config", conf)
        await roles.until(core_b, lambda s: s["caught_up"] and not s["leading"])
        gw = await roles.start("gateway", "gw-a", "--config", conf)
        await sh.connect(gw.fix_port)
        await hk.connect(gw.fix_port)
        await _crosses(sh, hk, "x", 30)

        # both cores snapshot at every 25th command and compare hashes there: equal, never different
        for core in (core_a, core_b):
            s = await roles.until(core, lambda s: s["snapshots"]["checks"]["match"] >= 2)
            assert s["snapshots"]["checks"]["mismatch"] == 0 and s["snapshots"]["every"] == EVERY
            assert s["snapshots"]["last"] % EVERY == 0 and s["started_from"] == 0

        # the standby dies without a word; trading goes on; it starts again from its newest snapshot
        await core_b.kill9()
        await _crosses(sh, hk, "y", 5)
        core_b = await roles.start("core", "core-b", "--config", conf)
        back = await roles.until(core_b, lambda s: s["caught_up"])
        start = back["started_from"]
        assert start > 0 and start % EVERY == 0, back
        loaded = [line for line in core_b.log.read_text().splitlines() if "reading the stream from command" in line]
        assert loaded and f"state after command {start}; reading the stream from command {start + 1}" in loaded[-1]
        # it applied only the commands after its snapshot, not the stream from command 1
        sa, sb = await _same_state(roles, core_a, core_b)
        assert sb["applied_here"] == sb["applied"] - start < sa["applied_here"]
        assert sa["hashes"] == sb["hashes"]
        assert not sb["leading"] and sa["leading"]

        # and at the next snapshot points the restarted core compares equal with the leader
        await _crosses(sh, hk, "z", 20)
        s = await roles.until(core_b, lambda s: s["snapshots"]["checks"]["match"] >= 1)
        assert s["snapshots"]["checks"]["mismatch"] == 0
        metrics = core_a.get_text("/metrics")
        assert 'goldrouter_cluster_state_hash_checks_total{result="mismatch"} 0.0' in metrics
        assert _value(metrics, 'goldrouter_cluster_state_hash_checks_total{result="match"}') >= 2
        assert _value(metrics, "goldrouter_cluster_snapshots_total") >= 2
        assert sh.duplicates == hk.duplicates == 0
    finally:
        await sh.close()
        await hk.close()
        print(roles.logs())
        await roles.stop()


def _value(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


async def test_admin_mutations_are_stream_commands_both_cores_apply(nats_cluster: NatsCluster, tmp_path):
    roles = Roles(tmp_path, nats_cluster.url, token=TOKEN)
    sh = Trader(SH)
    try:
        core_a = await roles.start("core", "core-a")
        await roles.until(core_a, lambda s: s["leading"])
        core_b = await roles.start("core", "core-b")
        await roles.until(core_b, lambda s: s["caught_up"] and not s["leading"])
        gw = await roles.start("gateway", "gw-a")
        await sh.connect(gw.fix_port)
        await sh.send(b"D", new_order("B1", "HKGX.RKG", 1, 1, "545.00"))
        assert await pump_until(lambda: b"B1" in sh.acked, sh)

        # the kill switch posted to the standby: a stream command; the leader's cancel reaches the client
        on = await core_b.post("/kill-switch", b'{"scope": "global", "on": true}')
        assert on.get("ok") and on["cancelled"] == 1, on
        assert await pump_until(lambda: sh.acked[b"B1"]["done"], sh)
        await sh.send(b"D", new_order("B2", "HKGX.RKG", 1, 1, "545.00"))
        assert await pump_until(lambda: any(b"11=B2\x01" in t and b"\x01150=8\x01" in t for t in sh.trace), sh)
        off = await core_a.post("/kill-switch", b'{"scope": "global", "on": false}')
        assert off.get("ok") and off["on"] is False, off
        refused = await core_a.post("/kill-switch", b'{"scope": "account", "account": "NOSUCH", "on": true}')
        assert refused["http_status"] == 404 and refused["error"] == "unknown_account", refused

        # reference prices and FX, each posted to one core, in force on both
        rp = await core_a.post("/reference-prices", b'{"prices": {"HKGX.RKG": "580.00"}, "force": true}')
        assert rp.get("ok"), rp
        fx = await core_b.post("/fx", b'{"rates": {"USDCNH": "7.1200"}}')
        assert fx.get("ok"), fx
        jump = await core_b.post("/fx", b'{"rates": {"USDCNH": "9.0000"}}')
        assert jump["http_status"] == 409 and jump["error"] == "max_jump_pct", jump
        for core in (core_a, core_b):
            ref = next(v for v in core.get("/reference-prices")["reference_prices"] if v["symbol"] == "HKGX.RKG")
            assert (ref["reference"], ref["source"]) == ("580.00", "admin"), (core.name, ref)
            assert core.get("/fx")["pairs"]["USDCNH"]["mid"] == "7.1200", core.name
        await sh.send(b"D", new_order("B3", "HKGX.RKG", 1, 1, "545.00"))
        assert await pump_until(lambda: b"B3" in sh.acked, sh)      # the switch is off again everywhere
        sa, sb = await _same_state(roles, core_a, core_b)
        assert sa["hashes"] == sb["hashes"]
        assert sh.duplicates == 0
    finally:
        await sh.close()
        print(roles.logs())
        await roles.stop()
