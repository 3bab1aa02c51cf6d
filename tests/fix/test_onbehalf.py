"""OnBehalfOfCompID(115) / DeliverToCompID(128) over real TCP: replies carry the route reversed, as
QuickFIX's reverseRoute does; a 115 the session may not act for gets a session Reject; the router's
later messages (a passive fill) carry the route of the order they belong to."""
from __future__ import annotations

import dataclasses

import pytest

from router.app import build_router_app
from router.config import load_config
from router.domain.errors import ConfigError
from router.fix.codec import encode, parse_frame
from router.fix.config import parse_fix_config, with_overrides
from router.fix.echo import EchoApp
from router.fix.gateway import start_gateway
from router.fix.onbehalf import RouteMemory, reply_route
from tests.fix.test_gateway import order
from tests.fixclient import FixClient, now_ts

BROKER_SESSIONS = [{"target_comp_id": "BROKER1", "on_behalf_of": ["CLIENTA", "CLIENTB"]},
                   {"target_comp_id": "SHCLIENT1"}]


@pytest.fixture
async def echo(tmp_path):
    g = await start_gateway(parse_fix_config({"port": 0, "store": "memory", "sessions": BROKER_SESSIONS}),
                            EchoApp(), validator="dictionary")
    clients = []

    async def connect(sender):
        c = await FixClient.connect(g.port, sender)
        clients.append(c)
        await c.logon()
        return c

    yield connect
    for c in clients:
        await c.close()
    await g.close(timeout=0.5)


async def test_reply_carries_deliver_to_the_on_behalf_of_it_answers(echo):
    broker = await echo("BROKER1")
    await broker.send(b"D", order("OBO-1"), extra_header=[(115, b"CLIENTA"), (116, b"DESK7"), (144, b"HK")])
    reply = await broker.expect(b"D")
    assert (reply.get(128), reply.get(129), reply.get(145)) == (b"CLIENTA", b"DESK7", b"HK")
    assert reply.get(115) is None and reply.get(11) == b"OBO-1"
    # the routing fields sit in the header: before the first body field
    raw = reply.raw
    assert raw.index(b"\x01128=") < raw.index(b"\x0111=")
    # a message without 115 gets a reply without 128
    await broker.send(b"D", order("OWN-1"))
    own = await broker.expect(b"D")
    assert own.get(128) is None and own.get(11) == b"OWN-1"


async def test_an_on_behalf_of_not_configured_gets_a_session_reject(echo):
    broker = await echo("BROKER1")
    sent = await broker.send(b"D", order("OBO-X"), extra_header=[(115, b"INTRUDER")])
    rej = await broker.expect(b"3")
    assert rej.get(373) == b"5" and rej.get(371) == b"115" and rej.get(45) == parse_frame(sent).get(34)
    assert rej.get(58) == b"OnBehalfOfCompID(115) INTRUDER not allowed: session BROKER1 may act for CLIENTA, CLIENTB only"
    # the session goes on (the rejected message used its sequence number)
    await broker.send(b"D", order("OBO-2"), extra_header=[(115, b"CLIENTB")])
    assert (await broker.expect(b"D")).get(128) == b"CLIENTB"


async def test_routing_checks_hold_for_messages_of_a_known_shape(echo):
    # From its second sighting a tag sequence is a compiled shape, and the checks read the shape's
    # flags instead of searching the frame: every message of the shape must still be routed or refused.
    broker = await echo("BROKER1")
    for i in range(4):
        await broker.send(b"D", order(f"OBO-S{i}"), extra_header=[(115, b"CLIENTA")])
        assert (await broker.expect(b"D")).get(128) == b"CLIENTA"
        await broker.send(b"D", order(f"OBO-X{i}"), extra_header=[(115, b"INTRUDER")])
        assert (await broker.expect(b"3")).get(371) == b"115"
        await broker.send(b"D", order(f"OWN-S{i}"))
        assert (await broker.expect(b"D")).get(128) is None


async def test_a_session_without_a_list_may_act_for_nobody(echo):
    client = await echo("SHCLIENT1")
    await client.send(b"D", order("OBO-3"), extra_header=[(115, b"CLIENTA")])
    rej = await client.expect(b"3")
    assert rej.get(58) == b"OnBehalfOfCompID(115) CLIENTA not allowed: session SHCLIENT1 may not act on behalf of others"


def test_reverse_route_and_memory():
    msg = parse_frame(encode(b"D", b"BROKER1", b"GOLDRTR", 2, now_ts(), [(11, b"C1"), (55, b"X")],
                            extra_header=[(115, b"CLIENTA"), (128, b"DESKX"), (144, b"HK")]))
    route = reply_route(msg)
    assert route == ((115, b"DESKX"), (128, b"CLIENTA"), (145, b"HK"))
    memory = RouteMemory(capacity=2)
    memory.remember(msg, route)
    assert memory.route_of([(37, b"O1"), (11, b"C1")]) == route
    assert memory.route_of([(11, "C1")]) == route and memory.route_of([(11, b"C2")]) == ()
    for n in range(3):
        other = parse_frame(encode(b"D", b"B", b"G", 3 + n, now_ts(), [(11, b"N%d" % n)], extra_header=[(115, b"A")]))
        memory.remember(other, ((128, b"A"),))
    assert len(memory) == 2 and memory.route_of([(11, b"C1")]) == ()    # bounded: the oldest went


def test_config_names_a_bad_entry():
    with pytest.raises(ConfigError) as e:
        parse_fix_config({"sessions": [{"target_comp_id": "B", "on_behalf_of": ["OK", "has space"]}]})
    assert e.value.key == "fix.sessions[0].on_behalf_of[1]"
    with pytest.raises(ConfigError) as e:
        parse_fix_config({"sessions": [{"target_comp_id": "B", "on_behalf_of": "CLIENTA"}]})
    assert e.value.key == "fix.sessions[0].on_behalf_of"


async def test_router_passive_fill_carries_the_route_of_its_order():
    config = load_config()
    app = build_router_app(config, sessions_always_open=True)
    app.warm_up()
    fix = with_overrides(config.sections["fix"], port=0, store="memory")
    sessions = tuple(dataclasses.replace(s, on_behalf_of=("FUNDX",)) if s.target_comp_id == "SHCLIENT1" else s
                     for s in fix.sessions)
    gateway = await start_gateway(dataclasses.replace(fix, sessions=sessions), app)
    app.attach_gateway(gateway)
    sh = await FixClient.connect(gateway.port, "SHCLIENT1")
    hk = await FixClient.connect(gateway.port, "HKCLIENT1")
    try:
        await sh.logon(reset=True)
        await hk.logon(reset=True)
        body = [(11, b"REST-1"), (55, b"SGE.AU9999"), (54, 1), (60, now_ts()), (38, 2), (40, 2), (44, b"560.00")]
        await sh.send(b"D", body, extra_header=[(115, b"FUNDX")])
        ack = await sh.expect(b"8")
        assert (ack.get(11), ack.get(39), ack.get(128)) == (b"REST-1", b"0", b"FUNDX")
        # HKCLIENT1 (no route) takes the order: the resting side's fill still goes to FUNDX
        await hk.send(b"D", [(11, b"HIT-1"), (55, b"SGE.AU9999"), (54, 2), (60, now_ts()), (38, 2), (40, 2),
                             (44, b"560.00")])
        hit = await hk.expect(b"8")
        while hit.get(150) != b"F":
            hit = await hk.expect(b"8")
        assert hit.get(128) is None
        fill = await sh.expect(b"8")
        assert (fill.get(11), fill.get(150), fill.get(128)) == (b"REST-1", b"F", b"FUNDX")
    finally:
        await sh.close()
        await hk.close()
        await gateway.close(timeout=0.5)
