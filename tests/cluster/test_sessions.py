"""Per-session gateway leases (`router.cluster.sessions`) against a real 3-node JetStream cluster: a
client that logs out and straight back in at the same gateway is let in and the gateway keeps the
lease; a Logon at a second gateway while the first holds the session is still refused; a release told
to wait for the session's end (its LOGOUT command) keeps the lease held until then."""
from __future__ import annotations

import asyncio
import contextlib
import json

from router.cluster.sessions import SessionLeases
from router.records.jetstream import connect
from tests.natscluster import NatsCluster

TAKEOVER = 2.0  # seconds: short for the test (renewals every ~0.5 s), long enough for a loaded machine
SESSION = "SHCLIENT1"


@contextlib.asynccontextmanager
async def _two_gateways(nats_cluster: NatsCluster, on_lost=None):
    """Leases of gateways gw-a (`on_lost` its callback) and gw-b, each on its own NATS node."""
    nc_a, nc_b = await connect(nats_cluster.urls[0]), await connect(nats_cluster.urls[1])
    a = SessionLeases(nc_a, "gw-a", takeover=TAKEOVER, on_lost=on_lost)
    b = SessionLeases(nc_b, "gw-b", takeover=TAKEOVER)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()
        await nc_a.close()
        await nc_b.close()


async def _owner(leases: SessionLeases, session: str) -> str:
    entry = await leases.leases[session].kv.get("holder")
    return json.loads(entry.value)["owner"]


async def test_a_logout_and_an_immediate_logon_at_the_same_gateway_keep_the_session_there(nats_cluster: NatsCluster,
                                                                                         caplog):
    caplog.set_level("INFO", logger="gold_router.cluster")
    nc = await connect(nats_cluster.urls[0])
    leases = SessionLeases(nc, "gw-a", takeover=TAKEOVER)
    try:
        assert await leases.claim(SESSION) is None
        poll = leases.leases[SESSION].poll
        loop = asyncio.get_running_loop()
        for round_no in range(20):
            # Session time before the logout sweeps across the renewal period (ttl / 3, the renewing
            # task steps every poll), so some logouts fall while a renewal is due or on its way.
            await asyncio.sleep(2 * poll + round_no * poll / 4)
            # As the gateway does it: the session's end starts the release as a task (GatewayApp.on_logout),
            # the client's next Logon a later task claiming the lease (the acceptor's claim_session hook).
            release = loop.create_task(leases.release(SESSION))
            refusal = await loop.create_task(leases.claim(SESSION))
            await release
            assert refusal is None, f"round {round_no}: re-logon refused: {refusal}"
            assert leases.holding(SESSION), f"round {round_no}: logged on here without holding the lease"
            assert await _owner(leases, SESSION) == "gw-a", f"round {round_no}: the key does not name gw-a"
        # and the lease stays held (renewed) while the session stays logged on
        await asyncio.sleep(2 * TAKEOVER)
        assert leases.holding(SESSION) and await _owner(leases, SESSION) == "gw-a"
        assert leases.stats["refused"] == 0 and leases.stats["lost"] == 0
        assert "logon refused" not in caplog.text
    finally:
        await leases.close()
        await nc.close()


async def test_a_logon_at_a_second_gateway_is_refused_while_the_first_holds_the_session(nats_cluster: NatsCluster,
                                                                                       caplog):
    caplog.set_level("INFO", logger="gold_router.cluster")
    async with _two_gateways(nats_cluster) as (a, b):
        assert await a.claim(SESSION) is None
        for _ in range(3):      # refused each time, naming the holder, across several renewals of a's lease
            assert await b.claim(SESSION) == "session served by gateway gw-a"
            await asyncio.sleep(TAKEOVER / 2)
        assert b.stats["refused"] == 3 and not b.holding(SESSION)
        assert a.holding(SESSION) and await _owner(a, SESSION) == "gw-a"
        assert "session SHCLIENT1: logon refused here (gw-b): the session is served by gw-a" in caplog.text
        # once a's session ends, b gets it at once
        await a.release(SESSION)
        assert await b.claim(SESSION) is None
        assert await _owner(b, SESSION) == "gw-b"


async def test_a_release_after_the_sessions_end_waits_for_it_and_still_releases_if_it_fails(
        nats_cluster: NatsCluster, caplog):
    caplog.set_level("INFO", logger="gold_router.cluster")
    loop = asyncio.get_running_loop()
    async with _two_gateways(nats_cluster) as (a, b):
        assert await a.claim(SESSION) is None
        # As GatewayApp.on_logout does it: the release waits for the LOGOUT command's acknowledgement.
        ended = loop.create_future()
        release = loop.create_task(a.release(SESSION, after=ended))
        await asyncio.sleep(0.3)
        assert not release.done() and a.holding(SESSION)
        assert await b.claim(SESSION) == "session served by gateway gw-a"     # the end not stored yet
        ended.set_result(42)
        await release
        assert await b.claim(SESSION) is None
        await b.release(SESSION)
        # A publisher that gave up (the future failed or was cancelled) does not keep the lease held.
        assert await a.claim(SESSION) is None
        for how in ("failed", "cancelled"):
            ended = loop.create_future()
            if how == "failed":
                ended.set_exception(TimeoutError("no ack"))
            else:
                ended.cancel()
            await a.release(SESSION, after=ended)
            assert not a.holding(SESSION), how
            assert await a.claim(SESSION) is None, how
        assert caplog.text.count("its end was not confirmed by the stream; gateway gw-a releases") == 2


async def test_a_take_over_logon_without_a_claim_gets_the_lease_back_or_ends_if_another_gateway_holds_it(
        nats_cluster: NatsCluster):
    lost: list[str] = []
    async with _two_gateways(nats_cluster, on_lost=lost.append) as (a, b):
        assert await a.claim(SESSION) is None
        await a.keep(SESSION)       # after a claim: nothing to do
        assert a.stats["taken"] == 1 and a.holding(SESSION)
        # The acceptor's take-over: the old connection's end starts the release, the new Logon is bound
        # at once and on_logon starts keep (GatewayApp), in that order.
        loop = asyncio.get_running_loop()
        release = loop.create_task(a.release(SESSION))
        await loop.create_task(a.keep(SESSION))
        await release
        assert a.holding(SESSION) and await _owner(a, SESSION) == "gw-a" and a.stats["taken"] == 2
        await asyncio.sleep(TAKEOVER)
        assert a.holding(SESSION) and lost == []     # renewed, not watched
        # Released, and another gateway took the session before keep ran: the session ends here.
        await a.release(SESSION)
        assert await b.claim(SESSION) is None
        await a.keep(SESSION)
        for _ in range(20):
            if lost:
                break
            await asyncio.sleep(0.1)
        assert lost == [SESSION] and b.holding(SESSION) and await _owner(b, SESSION) == "gw-b"


async def test_a_session_taken_from_a_stopped_gateway_is_orphaned_once_not_at_every_later_logon(
        nats_cluster: NatsCluster, caplog):
    caplog.set_level("INFO", logger="gold_router.cluster")
    nc_a, nc_b = await connect(nats_cluster.urls[0]), await connect(nats_cluster.urls[1])
    a = SessionLeases(nc_a, "gw-a", takeover=TAKEOVER)
    b = SessionLeases(nc_b, "gw-b", takeover=TAKEOVER)
    try:
        assert await b.claim(SESSION) is None
        for task in b.tasks.values():       # gw-b stops renewing, as if killed
            task.cancel()
        refusals = []
        for _ in range(40):
            refusals.append(await a.claim(SESSION))
            if refusals[-1] is None:
                break
            await asyncio.sleep(0.1)
        assert refusals[-1] is None and refusals[0] == "session served by gateway gw-b", refusals
        assert a.orphaned == {SESSION}
        assert "session SHCLIENT1: taken over by gateway gw-a from gateway gw-b" in caplog.text
        a.orphaned.clear()                  # as the gateway does once it appended the session's end
        # the client logs out and on again at gw-a: its own session, not one orphaned by gw-b
        await a.release(SESSION)
        assert await a.claim(SESSION) is None
        assert a.orphaned == set() and await _owner(a, SESSION) == "gw-a"
    finally:
        await a.close()
        b.tasks.clear()
        await nc_a.close()
        await nc_b.close()
