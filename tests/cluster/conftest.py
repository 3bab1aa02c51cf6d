"""Fixtures for the JetStream tests: a real 3-node nats-server cluster on loopback, per test.

Each test that asks for `nats_cluster` gets its own cluster (free ports, store directories under
the test's tmp_path, config files written there) that is SIGKILLed and reaped when the test ends,
whatever happened. The tests skip with the reason when nats-server is absent; `tools/test.sh`
refuses to run the suite without it, so CI never passes by skipping them.
"""
from __future__ import annotations

import pytest

from tests.natscluster import NatsCluster, nats_server_binary

needs_nats = pytest.mark.skipif(nats_server_binary() is None,
                                reason="nats-server not installed (Debian package 'nats-server')")


@pytest.fixture
def nats_cluster(tmp_path):
    if nats_server_binary() is None:
        pytest.skip("nats-server not installed (Debian package 'nats-server')")
    cluster = NatsCluster(tmp_path / "nats", size=3)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
