"""Drop copy over real TCP: two trading clients (SHCLIENT1, HKCLIENT1) and the default drop-copy
session DROPCOPY1 on the router application behind the FIX gateway.

The drop copy receives a copy (CopyMsgIndicator 797=Y) of every ExecutionReport the clients get
except status answers, may not send orders, catches up on what it missed while offline by an
ordinary FIX ResendRequest on its own sequence numbers, and a TradeCaptureReportRequest (AD) for the
trading day returns exactly the trades the clients saw, from the books of record.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import date

import pytest
from prometheus_client import generate_latest

from router.app import build_router_app
from router.config import load_config
from router.fix.codec import FixMessage
from router.fix.config import with_overrides
from router.fix.gateway import start_gateway
from router.ops.metrics import Metrics
from tests.fixclient import FixClient, now_ts

CONFIG = load_config()
SH, HK, DC = "SHCLIENT1", "HKCLIENT1", "DROPCOPY1"


@pytest.fixture
async def router():
    metrics = Metrics()
    app = build_router_app(CONFIG, sessions_always_open=True, metrics=metrics)
    app.warm_up()
    fix = with_overrides(CONFIG.sections["fix"], port=0, store="memory")
    gateway = await start_gateway(fix, app, observer=metrics)
    app.attach_gateway(gateway)
    clients: list[FixClient] = []

    async def client(name: str, *, seq: int | None = None) -> FixClient:
        """Log on with a sequence reset, or (seq) continuing from the client's next MsgSeqNum."""
        c = await FixClient.connect(gateway.port, name)
        clients.append(c)
        if seq is not None:
            c.seq = seq
        c.logon_reply = await c.logon(reset=seq is None)
        return c

    yield app, client, metrics
    for c in clients:
        await c.close()
    await gateway.close(timeout=0.5)


def order(clordid: str, side: int, qty: int, price: str, symbol: str = "HKGX.RKG") -> list:
    return [(11, clordid), (55, symbol), (54, side), (60, now_ts()), (38, qty), (40, 2), (44, price), (59, 1)]


async def drain(c: FixClient, quiet_s: float = 0.4) -> list[FixMessage]:
    """Every message until the router is quiet for `quiet_s` (heartbeats left out)."""
    out = []
    while True:
        try:
            msg = await c.recv(quiet_s)
        except TimeoutError:
            return out
        if msg.msg_type != b"0":
            out.append(msg)


HEADER = {8, 9, 10, 34, 35, 43, 49, 52, 56, 122}


def body(m: FixMessage) -> list:
    return [(t, v) for t, v in m.fields if t not in HEADER]


def reports(msgs: list[FixMessage]) -> list[tuple[bytes, bytes]]:
    """(ExecID, ExecType) of the ExecutionReports that are not status answers, in order."""
    return [(m.get(17), m.get(150)) for m in msgs if m.msg_type == b"8" and m.get(150) != b"I"]


async def trade_some(sh: FixClient, hk: FixClient, tag: str) -> list[FixMessage]:
    """New, Trade (both sides), Canceled, Replaced and Rejected reports, plus a status answer."""
    await hk.send(b"D", order(f"{tag}S1", 2, 3, "560.00"))
    ack = await hk.expect(b"8")
    await sh.send(b"D", order(f"{tag}B1", 1, 2, "561.00"))
    await hk.send(b"F", [(41, f"{tag}S1"), (11, f"{tag}S1c"), (55, "HKGX.RKG"), (54, 2), (60, now_ts())])
    await sh.send(b"D", order(f"{tag}B2", 1, 1, "550.00"))
    await sh.send(b"G", [(41, f"{tag}B2"), (11, f"{tag}B3"), (55, "HKGX.RKG"), (54, 1), (60, now_ts()),
                         (38, 1), (40, 2), (44, "551.00"), (59, 1)])
    await sh.send(b"D", order(f"{tag}X1", 1, 1, "560.00", symbol="HKGX.NOPE"))
    await sh.send(b"H", [(11, f"{tag}B3"), (55, "HKGX.RKG"), (54, 1)])
    await hk.send(b"D", order(f"{tag}S2", 2, 1, "551.00"))        # trades with the replaced B3
    return await drain(sh) + [ack] + await drain(hk)


async def test_the_drop_copy_sees_every_report_of_both_clients_and_may_not_send_orders(router, caplog) -> None:
    app, client, metrics = router
    caplog.set_level(logging.INFO, logger="gold_router.app")
    dc = await client(DC)
    assert any("drop-copy session DROPCOPY1 logged on" in r.getMessage() for r in caplog.records)
    sh, hk = await client(SH), await client(HK)
    seen = await trade_some(sh, hk, "A")
    originals = reports(seen)
    assert {et for _, et in originals} == {b"0", b"F", b"4", b"5", b"8"}
    assert any(m.get(150) == b"I" for m in seen)

    copies = await drain(dc)
    assert all(m.msg_type == b"8" and m.get(797) == b"Y" for m in copies)
    assert Counter(reports(copies)) == Counter(originals) and len(copies) == len(originals)
    # Each client's reports reach the drop copy in the order the client got them.
    for c_msgs in (reports([m for m in seen if m.get(1) == b"HKCLIENT1"]),
                   reports([m for m in seen if m.get(1) == b"SHCLIENT1"])):
        mine = [r for r in reports(copies) if r in set(c_msgs)]
        assert mine == c_msgs
    # The copies carry the original's fields (its ClOrdID, account, fill figures).
    by_exec = {m.get(17): m for m in seen if m.msg_type == b"8"}
    for m in copies:
        assert body(m) == body(by_exec[m.get(17)]) + [(797, b"Y")]

    seq = app.seq
    await dc.send(b"D", order("DC1", 1, 1, "560.00"))
    refused = await dc.expect(b"j")
    assert refused.get(380) == b"6" and refused.get(372) == b"D" and refused.get(379) == b"DC1"
    assert b"role drop_copy" in refused.get(58)
    await dc.send(b"q", [(11, "DCMC"), (530, 7), (60, now_ts())])
    assert (await dc.expect(b"j")).get(372) == b"q"
    assert app.seq == seq          # refused before it became a command: nothing changed
    assert not await drain(sh, 0.2) and not await drain(hk, 0.2)

    assert metrics._drop_copy_reports == {DC: len(copies)}
    text = generate_latest(metrics.registry).decode()
    assert f'goldrouter_drop_copy_reports_total{{session="{DC}"}} {len(copies)}.0' in text
    assert {"session_id": DC, "state": "active", "working_orders": 0, "role": "drop_copy"} in app.sessions_view()


def fills(msgs: list[FixMessage]) -> Counter:
    """(OrderID, Side, lots, price, account, GrossTradeAmt, SettlCurrency) of every fill the clients were told of."""
    return Counter((m.get(37), m.get(54), m.get(32), m.get(31), m.get(1), m.get(381), m.get(120))
                   for m in msgs if m.msg_type == b"8" and m.get(150) == b"F")


def captured(msgs: list[FixMessage]) -> Counter:
    """The same fields of trade capture reports: an AE's value is its fill report's GrossTradeAmt."""
    return Counter((m.get(37), m.get(54), m.get(32), m.get(31), m.get(1), m.get(381), m.get(120))
                   for m in msgs if m.msg_type == b"AE")


def ad(req_id: str, *days: date, account: str | None = None) -> list:
    body: list = [(568, req_id), (569, 0), (263, 0)]
    if account is not None:
        body += [(453, 1), (448, account), (452, 24)]
    body.append((580, len(days)))
    body += [(75, d.strftime("%Y%m%d")) for d in days]
    return body


async def test_an_offline_drop_copy_gets_what_it_missed_by_resend_and_the_days_trades_by_request(
        router, caplog) -> None:
    app, client, metrics = router
    caplog.set_level(logging.INFO, logger="gold_router.app")
    sh, hk = await client(SH), await client(HK)
    dc = await client(DC)
    before = await trade_some(sh, hk, "A")
    first = await drain(dc)
    assert Counter(reports(first)) == Counter(reports(before))
    next_in = first[-1].seq_num + 1
    await dc.send(b"5", [])
    await dc.expect(b"5")
    out_seq = dc.seq
    await dc.close()
    await asyncio.sleep(0.1)
    assert [s["state"] for s in app.sessions_view() if s["session_id"] == DC] == ["disconnected"]

    while_away = await trade_some(sh, hk, "B")
    assert reports(while_away)
    dc = await client(DC, seq=out_seq)                 # no reset: both sides continue their numbers
    assert dc.logon_reply.seq_num > next_in            # the router is ahead: ask for the gap
    msgs = await drain(dc)
    await dc.send(b"2", [(7, next_in), (16, 0)])
    resent = await drain(dc)
    assert all(m.get(43) == b"Y" for m in resent)
    got = [m for m in resent if m.msg_type == b"8"] + [m for m in msgs if m.msg_type == b"8"]
    assert Counter(reports(got)) == Counter(reports(while_away))
    assert all(m.get(797) == b"Y" for m in got)

    everything = before + while_away
    days = {t.trading_day for t in app.ledger.trades}
    assert len(days) == 1
    (day,) = days
    await dc.send(b"AD", ad("TR1", day))
    ack = await dc.expect(b"AQ")
    assert (ack.get(750), ack.get(749), ack.get(568)) == (b"0", b"0", b"TR1")
    answer = await drain(dc)
    assert int(ack.get(748)) == len(answer) == sum(fills(everything).values()) > 0
    assert captured(answer) == fills(everything)
    assert [m.get(912) for m in answer] == [b"N"] * (len(answer) - 1) + [b"Y"]
    assert all(m.get(568) == b"TR1" and m.get(75) == day.strftime("%Y%m%d").encode() for m in answer)
    assert any("trade capture request TR1 from DROPCOPY1" in r.getMessage() for r in caplog.records)

    # A trading session may ask for its own account's trades, not for another's.
    await sh.send(b"AD", ad("TR2", day, account=SH))
    assert (await sh.expect(b"AQ")).get(750) == b"0"
    mine = await drain(sh)
    assert captured(mine) == Counter({k: n for k, n in fills(everything).items() if k[4] == b"SHCLIENT1"})
    await sh.send(b"AD", ad("TR3", day, account=HK))
    no = await sh.expect(b"AQ")
    assert (no.get(750), no.get(749)) == (b"2", b"9") and b"SHCLIENT1" in no.get(58)

    # A day without trades, a request without a day, an unsupported subscription.
    await dc.send(b"AD", ad("TR4", date(2001, 1, 2)))
    empty = await dc.expect(b"AQ")
    assert (empty.get(750), empty.get(748)) == (b"0", b"0") and not await drain(dc, 0.2)
    await dc.send(b"AD", [(568, "TR5"), (569, 0)])
    no_day = await dc.expect(b"AQ")
    assert no_day.get(750) == b"2" and b"TradeDate(75)" in no_day.get(58)
    await dc.send(b"AD", ad("TR6", day)[:2] + [(263, 1)] + ad("TR6", day)[3:])
    sub = await dc.expect(b"AQ")
    assert sub.get(750) == b"2" and b"snapshot" in sub.get(58)
    await dc.send(b"AD", ad("TR7", day)[:3] + [(55, "GOLD.KG9999")] + ad("TR7", day)[3:])
    product = await dc.expect(b"AQ")
    assert (product.get(750), product.get(749)) == (b"2", b"1") and b"not an instrument" in product.get(58)
    text = generate_latest(metrics.registry).decode()
    assert 'goldrouter_trade_capture_requests_total{outcome="rejected"} 4.0' in text


async def test_the_copies_are_made_after_the_answers_socket_write_and_stored_in_the_same_callback(router) -> None:
    app, client, _ = router
    sh = await client(SH)           # DROPCOPY1 is not logged on: its copies only go to its store
    events: list[tuple[str, int]] = []
    conn = app.gateway.slots[SH.encode()].conn

    class RecordingTransport:
        def __init__(self, inner):
            self.inner = inner

        def write(self, data):
            events.append(("socket", data.count(b"\x0135=8\x01")))
            self.inner.write(data)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    conn.transport = RecordingTransport(conn.transport)
    store = app.gateway.slots[DC.encode()].store
    save_sent = store.save_sent
    store.save_sent = lambda seq, frame: (events.append(("copy", b"\x01797=Y\x01" in frame)), save_sent(seq, frame))[1]
    await sh.send(b"D", order("LATE1", 1, 1, "550.00"))
    assert (await sh.expect(b"8")).get(150) == b"0"
    # The answer left first; its copy was framed and stored after it, before the loop moved on.
    assert events == [("socket", 1), ("copy", True)]
