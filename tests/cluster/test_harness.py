"""The cluster harness itself: three real nats-server processes, a meta leader, kill -9 and restart."""
from __future__ import annotations

import time

import pytest

from tests.natscluster import NatsCluster, nats_server_binary

pytestmark = pytest.mark.skipif(nats_server_binary() is None,
                                reason="nats-server not installed (Debian package 'nats-server')")


def test_three_nodes_elect_a_meta_leader_and_survive_losing_it(nats_cluster: NatsCluster):
    assert all(node.running for node in nats_cluster.nodes)
    assert len(set(nats_cluster.urls)) == 3
    leader = nats_cluster.meta_leader()
    assert leader in {"n1", "n2", "n3"}
    for i in range(3):  # every node agrees on the leader
        assert nats_cluster.meta_leader(i) == leader
    index = nats_cluster.node_index(leader)
    nats_cluster.kill(index)
    assert not nats_cluster.nodes[index].running
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and nats_cluster.meta_leader() in (None, leader):
        time.sleep(0.05)
    new_leader = nats_cluster.meta_leader()
    assert new_leader not in (None, leader)
    nats_cluster.restart(index)
    assert nats_cluster.nodes[index].running
    assert nats_cluster.meta_leader(index) == new_leader
    assert "jetstream" in nats_cluster.nodes[index].config_path.read_text()


def test_stop_kills_every_node(tmp_path):
    cluster = NatsCluster(tmp_path, size=3).start()
    procs = [node.proc for node in cluster.nodes]
    cluster.stop()
    assert all(p.poll() is not None for p in procs)
