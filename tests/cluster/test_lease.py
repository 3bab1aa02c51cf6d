"""The KV lease against a real 3-node cluster: one holder, a standby that takes over, epochs that grow."""
from __future__ import annotations

import asyncio
import time

from router.records.jetstream import connect
from router.records.lease import KvLease, open_lease
from tests.natscluster import NatsCluster

TAKEOVER = 2.0  # seconds: short for the test, long enough for a loaded machine's scheduling


async def steps_until(lease: KvLease, want: bool, limit: float) -> float:
    """Step `lease` every poll until holding() == want; the seconds it took (or `limit` + when it never did)."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if await lease.step() == want:
            return time.monotonic() - start
        await asyncio.sleep(lease.poll)
    return float("inf")


async def test_one_holder_then_the_standby_takes_over_when_renewals_stop(nats_cluster: NatsCluster, caplog):
    caplog.set_level("INFO", logger="router.records.lease")
    nc_a = await connect(nats_cluster.urls[0])
    nc_b = await connect(nats_cluster.urls[1])
    try:
        a = await open_lease(nc_a, "core", "core-a", TAKEOVER)
        b = await open_lease(nc_b, "core", "core-b", TAKEOVER)
        assert await a.step() is True and a.epoch == 1
        # While a renews, b never gets it: 2.5 takeover periods of both stepping.
        stop_at = time.monotonic() + 2.5 * TAKEOVER
        while time.monotonic() < stop_at:
            assert await a.step() is True
            assert await b.step() is False
            await asyncio.sleep(a.poll)
        assert a.changes == {"acquired": 1, "lost": 0} and b.changes["acquired"] == 0
        # a stops renewing (a hung or dead core): b holds the lease within the takeover time.
        stopped = time.monotonic()
        took = await steps_until(b, True, 5 * TAKEOVER)
        failover = time.monotonic() - stopped
        assert took != float("inf"), "standby never took over"
        assert not a.holding()  # never two holders: a's own clock ran its validity out first
        assert b.epoch == 2 and b.holding()
        assert failover < TAKEOVER + 3.0  # the configured bound, with slack for a loaded machine
        assert await a.step() is False and a.changes["lost"] == 1
        entry = await b.kv.get("holder")
        assert b'"owner":"core-b"' in entry.value and b'"epoch":2' in entry.value
        assert "acquired by core-b at epoch 2 (taken over)" in caplog.text
        assert "lost by core-a at epoch 1" in caplog.text
    finally:
        await nc_a.close()
        await nc_b.close()


async def test_contenders_racing_for_a_new_or_released_lease_get_one_holder(nats_cluster: NatsCluster):
    ncs = [await connect(url) for url in nats_cluster.urls]  # one per node: the writes race across the cluster
    try:
        for round_no in range(8):
            leases = [await open_lease(nc, f"race{round_no}", f"gw-{i}", TAKEOVER) for i, nc in enumerate(ncs)]
            results = await asyncio.gather(*(lease.step() for lease in leases))
            assert sorted(results) == [False, False, True], f"round {round_no}: {results}"
            holder = leases[results.index(True)]
            assert holder.epoch == 1
            # A clean release hands it over at once, at the next epoch, to exactly one of the others.
            await holder.release()
            assert not holder.holding()
            others = [lease for lease in leases if lease is not holder]
            results = await asyncio.gather(*(lease.step() for lease in others))
            assert sorted(results) == [False, True], f"round {round_no} after release: {results}"
            assert others[results.index(True)].epoch == 2
    finally:
        for nc in ncs:
            await nc.close()


async def test_the_holder_keeps_the_lease_through_a_killed_nats_node(nats_cluster: NatsCluster):
    nc_a = await connect(nats_cluster.url)
    nc_b = await connect(nats_cluster.url)
    try:
        a = await open_lease(nc_a, "core", "core-a", 4.0)
        b = await open_lease(nc_b, "core", "core-b", 4.0)
        assert await a.step() is True
        info = await nc_a.jetstream().stream_info("KV_goldrouter_lease_core")
        await asyncio.to_thread(nats_cluster.kill, nats_cluster.node_index(info.cluster.leader))
        end = time.monotonic() + 3 * 4.0
        while time.monotonic() < end:
            await a.step()
            assert await b.step() is False  # never two holders, even while the bucket elects a leader
            await asyncio.sleep(a.poll)
        assert a.holding() and a.epoch == 1
    finally:
        await nc_a.close()
        await nc_b.close()


async def test_run_keeps_renewing_until_stopped(nats_cluster: NatsCluster):
    nc = await connect(nats_cluster.url)
    try:
        lease = await open_lease(nc, "runner", "core-a", TAKEOVER)
        stop = asyncio.Event()
        task = asyncio.create_task(lease.run(stop))
        await asyncio.sleep(2 * TAKEOVER)  # two takeover periods: only renewals keep it
        assert lease.holding() and lease.epoch == 1
        revision = lease.core.revision
        assert revision > 2  # marked free, taken, then renewed
        stop.set()
        await asyncio.wait_for(task, 5)
        await lease.release()
        assert not lease.holding()
        entry = await lease.kv.get("holder")
        assert b'"owner":""' in entry.value and b'"epoch":1' in entry.value
    finally:
        await nc.close()
