"""A tiny run of `benchmarks.cluster`'s cases against the test cluster: they run and count right (no speed asserted)."""
from __future__ import annotations

from benchmarks import cluster as bench
from tests.natscluster import NatsCluster


async def test_sync_and_pipelined_cases_count_every_command(nats_cluster: NatsCluster):
    sync = await bench.sync_case(nats_cluster, 3, 20)
    for what in ("sync_publish", "append1"):
        assert sync[what]["samples"] == 20
        assert 0 < sync[what]["p50_us"] <= sync[what]["p99_us"] <= sync[what]["max_us"]
    pipe = await bench.pipelined_case(nats_cluster, 3, 512, 256)
    assert pipe["commands"] == 512 and pipe["batch"] == 256 and pipe["commands_per_s"] > 0
    assert pipe["servers_cpu_us_per_command"] >= 0 and pipe["client_cpu_us_per_command"] > 0


def test_percentiles_and_server_cpu(nats_cluster: NatsCluster):
    p = bench.pct([1000 * i for i in range(1, 101)])
    assert p == {"samples": 100, "p50_us": 51.0, "p99_us": 100.0, "max_us": 100.0}
    assert bench.server_cpu_s(nats_cluster) >= 0
    assert len(bench.commands(5, 3)) == 3 and bench.commands(5, 3)[0].seq == 5
