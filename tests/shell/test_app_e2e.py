"""The router application end to end over real TCP FIX: the acceptor, the order flow and the numba core.

Two clients log on as the default sessions SHCLIENT1 (onshore) and HKCLIENT1 (offshore) and trade:
passive fills reach the resting client's own session, product orders split across venues with the
routing explanation on the report, cancel / replace / status / mass cancel, market data and the
security list, the kill switch and cancel-on-disconnect driven the way the service drives them.
"""
from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from router.app import build_router_app
from router.config import load_config
from router.fix.config import with_overrides
from router.fix.gateway import start_gateway
from router.ops.metrics import Metrics
from tests.fixclient import FixClient, now_ts

CONFIG = load_config()
SH, HK = "SHCLIENT1", "HKCLIENT1"


@pytest.fixture
async def router():
    metrics = Metrics()
    app = build_router_app(CONFIG, sessions_always_open=True, metrics=metrics)
    app.warm_up()
    fix = with_overrides(CONFIG.sections["fix"], port=0, store="memory")
    gateway = await start_gateway(fix, app, observer=metrics)
    app.attach_gateway(gateway)
    clients: list[FixClient] = []

    async def client(name: str) -> FixClient:
        c = await FixClient.connect(gateway.port, name)
        clients.append(c)
        await c.logon(reset=True)
        return c

    yield app, client, metrics
    for c in clients:
        await c.close()
    await gateway.close(timeout=0.5)


def order(clordid: str, symbol: str, side: int, qty, price=None, *, tif: str | None = None,
          extra: list | None = None) -> list:
    body = [(11, clordid), (55, symbol), (54, side), (60, now_ts()), (38, qty), (40, 1 if price is None else 2)]
    if price is not None:
        body.append((44, price))
    if tif is not None:
        body.append((59, tif))
    return body + (extra or [])


async def reports(c: FixClient, n: int) -> list:
    return [await c.expect(b"8") for _ in range(n)]


async def test_order_ack_and_fills_reach_both_clients(router) -> None:
    app, client, metrics = router
    sh, hk = await client(SH), await client(HK)
    await hk.send(b"D", order("S1", "HKGX.RKG", 2, 3, "560.00"))
    (ack,) = await reports(hk, 1)
    assert ack.get(150) == b"0" and ack.get(39) == b"0" and ack.get(11) == b"S1" and ack.get(7006)
    await sh.send(b"D", order("B1", "HKGX.RKG", 1, 2, "561.00"))
    new, fill = await reports(sh, 2)
    assert new.get(150) == b"0"
    assert fill.get(150) == b"F" and fill.get(32) == b"2" and fill.get(31) == b"560.00"
    assert fill.get(30) == b"HKGX" and fill.get(39) == b"2" and fill.get(6) == b"560.0000"
    (passive,) = await reports(hk, 1)
    assert passive.get(11) == b"S1" and passive.get(150) == b"F" and passive.get(39) == b"1"
    assert passive.get(14) == b"2" and passive.get(151) == b"1"
    assert ack.get(17) != passive.get(17) != fill.get(17)
    assert metrics.ack_latency.count == 2
    book = app.book_view("HKGX.RKG", 5)
    assert book["asks"] == [{"price": "560.00", "lots": 1, "orders": 1}] and book["bids"] == []


async def test_routed_product_order_splits_across_venues_over_tcp(router) -> None:
    app, client, _ = router
    sh, hk = await client(SH), await client(HK)
    await hk.send(b"D", order("L1", "HKGX.RKG", 2, 1, "560.00"))
    await hk.send(b"D", order("L2", "SGE.AU9999", 2, 30, "560.50"))
    await reports(hk, 2)
    await sh.send(b"D", order("P1", "GOLD.KG9999", 1, 2000, "561.00"))
    new, f1, f2, restated = await reports(sh, 4)
    assert b"HKGX.RKG" in new.get(7006) and b"SGE.AU9999" in new.get(7006)
    # Fine grams: the 1 kg bar is 999.9 g fine, 30 lots of 10 g 299.97 g fine.
    assert (f1.get(30), f1.get(32), f1.get(381), f1.get(120)) == (b"HKGX", b"999.9", b"560000.00", b"CNH")
    assert (f2.get(30), f2.get(32), f2.get(14), f2.get(151)) == (b"SGE", b"299.97", b"1299.87", b"700.13")
    # 70 lots rest; the 0.2 g fine below one 10 g lot is reported not filled.
    assert restated.get(150) == b"D" and restated.get(151) == b"699.93" and b"0.2 g fine not filled" in restated.get(58)
    routes = app.routes_view(10)
    assert routes[0]["clordid"] == "P1" and routes[0]["decision"] == "route"
    assert [c["symbol"] for c in routes[0]["compared"]][0] == "HKGX.RKG"
    # The remainder rests on SGE.AU9999 (10 g lots), and the client can cancel it.
    assert app.book_view("SGE.AU9999", 1)["bids"][0]["lots"] == 70
    await sh.send(b"F", [(41, "P1"), (11, "P1c"), (55, "GOLD.KG9999"), (54, 1), (60, now_ts())])
    (cxl,) = await reports(sh, 1)
    assert cxl.get(150) == b"4" and cxl.get(41) == b"P1" and cxl.get(14) == b"1299.87"
    # Blocked by a settlement constraint: no book settles in USD.
    await sh.send(b"D", order("P2", "GOLD.KG9999", 1, 1000, "561.00", extra=[(7001, "USD")]))
    (rej,) = await reports(sh, 1)
    assert rej.get(150) == b"8" and b"settlement currency not as requested" in rej.get(58)


async def test_cancel_replace_status_and_mass_cancel_over_tcp(router) -> None:
    app, client, _ = router
    sh = await client(SH)
    await sh.send(b"D", order("O1", "SGE.AU9999", 1, 10, "559.00"))
    await sh.send(b"D", order("O2", "SGE.AU9999", 1, 5, "558.00"))
    await sh.send(b"D", order("O3", "HKGX.RKG", 1, 1, "555.00"))
    await reports(sh, 3)
    await sh.send(b"G", [(41, "O1"), (11, "O1r"), (55, "SGE.AU9999"), (54, 1), (60, now_ts()), (38, 12), (40, 2),
                         (44, "559.50")])
    (rep,) = await reports(sh, 1)
    assert rep.get(150) == b"5" and rep.get(38) == b"12" and rep.get(44) == b"559.50" and rep.get(41) == b"O1"
    await sh.send(b"H", [(11, "O1r"), (55, "SGE.AU9999"), (54, 1)])
    (st,) = await reports(sh, 1)
    assert st.get(150) == b"I" and st.get(39) == b"0" and st.get(151) == b"12"
    await sh.send(b"F", [(41, "NOPE"), (11, "X1"), (55, "SGE.AU9999"), (54, 1), (60, now_ts())])
    rej = await sh.expect(b"9")
    assert rej.get(102) == b"1" and rej.get(434) == b"1"
    await sh.send(b"q", [(11, "MC"), (530, 1), (55, "SGE.AU9999"), (60, now_ts())])
    cancels = await reports(sh, 2)
    assert sorted(c.get(11) for c in cancels) == [b"O1r", b"O2"]
    mass = await sh.expect(b"r")
    assert mass.get(531) == b"1" and mass.get(533) == b"2"
    assert app.book_view("SGE.AU9999", 5)["bids"] == []
    assert len(app.book_view("HKGX.RKG", 5)["bids"]) == 1
    await sh.send(b"AR", [(571, "R1")])
    bmr = await sh.expect(b"j")
    assert bmr.get(380) == b"3"


async def test_market_data_snapshot_incremental_and_consolidated_view(router) -> None:
    _, client, _ = router
    sh, hk = await client(SH), await client(HK)
    await hk.send(b"D", order("A1", "SGE.AU9999", 2, 5, "561.00"))
    await reports(hk, 1)
    await sh.send(b"V", [(262, "MD1"), (263, 1), (264, 5), (265, 1), (267, 2), (269, 0), (269, 1), (146, 2),
                         (55, "SGE.AU9999"), (55, "KG9999")])
    w1 = await sh.expect(b"W")
    assert w1.get(55) == b"SGE.AU9999" and w1.get(268) == b"1" and w1.get(270) == b"561.00"
    assert w1.get(271) == b"5"
    w2 = await sh.expect(b"W")
    assert w2.get(55) == b"KG9999" and w2.get(7013) == b"Y" and w2.get(271) == b"49.995"  # fine grams
    usd = Decimal(w2.get(270).decode())
    assert Decimal("2400") < usd < Decimal("2500")                                        # USD / fine oz
    await hk.send(b"D", order("A2", "HKGX.RKG", 2, 1, "560.00"))
    await reports(hk, 1)
    x = await sh.expect(b"X")
    assert x.get(279) == b"0" and x.get(55) == b"KG9999" and x.get(271) == b"999.9"
    await sh.send(b"V", [(262, "MD2"), (263, 0), (264, 1), (267, 1), (269, 1), (146, 1), (55, "NOPE")])
    y = await sh.expect(b"Y")
    assert y.get(262) == b"MD2" and y.get(281) == b"0"
    await sh.send(b"V", [(262, "MD1"), (263, 1), (264, 1), (267, 1), (269, 1), (146, 1), (55, "SGE.AU9999")])
    y = await sh.expect(b"Y")
    assert y.get(281) == b"1"
    await sh.send(b"x", [(320, "SL1"), (559, 4)])
    sl = await sh.expect(b"y")
    symbols = [v for t, v in sl.fields if t == 55]
    assert b"SGE.AU9999" in symbols and b"HKGX.AU99TAEL" in symbols and b"GOLD.KG9999" in symbols
    assert sl.get(560) == b"0" and sl.get(146) == str(len(symbols)).encode()


async def test_kill_switch_and_cancel_on_disconnect(router) -> None:
    app, client, metrics = router
    sh, hk = await client(SH), await client(HK)
    await sh.send(b"D", order("K1", "SGE.AU9999", 1, 1, "550.00"))
    await hk.send(b"D", order("K2", "SGE.AU9999", 2, 1, "570.00"))
    await reports(sh, 1)
    await reports(hk, 1)
    result = app.set_kill_switch("account", SH, True)
    assert result.ok and result.data["cancelled"] == 1
    (cxl,) = await reports(sh, 1)
    assert cxl.get(11) == b"K1" and cxl.get(150) == b"4" and b"kill switch" in cxl.get(58)
    await sh.send(b"D", order("K3", "SGE.AU9999", 1, 1, "550.00"))
    (rej,) = await reports(sh, 1)
    assert rej.get(103) == b"12"
    assert not app.set_kill_switch("account", "NOBODY", True).ok
    assert app.set_kill_switch("account", SH, False).ok
    # HKCLIENT1 drops its connection: its working order is cancelled (cancel-on-disconnect).
    await hk.close()
    for _ in range(100):
        if not app.book_view("SGE.AU9999", 5)["asks"]:
            break
        await asyncio.sleep(0.02)
    assert app.book_view("SGE.AU9999", 5)["asks"] == []
    assert [s["state"] for s in app.sessions_view() if s["session_id"] == HK] == ["disconnected"]


async def test_gtd_expiry_on_the_timer_and_fx_update(router) -> None:
    app, client, _ = router
    sh = await client(SH)
    import time
    expire = time.time_ns() + 2 * 10**9
    from router.fix.codec import utc_timestamp
    await sh.send(b"D", order("G1", "HKGX.LLG", 1, 1, "2390.00", tif="6", extra=[(126, utc_timestamp(expire))]))
    (ack,) = await reports(sh, 1)
    assert ack.get(150) == b"0" and ack.get(59) == b"6"
    app.on_timer(expire + 1)
    (exp,) = await reports(sh, 1)
    assert exp.get(150) == b"C" and exp.get(39) == b"C"
    assert app.set_fx({"USDCNH": Decimal("7.2000")}).ok
    assert app.flow.fx.rate("USDCNH") == Decimal("7.2000")
    assert not app.set_fx({"EURUSD": Decimal("1.1")}).ok


async def test_metrics_count_orders_rejections_fills_and_routed_grams(router) -> None:
    _, client, metrics = router
    sh, hk = await client(SH), await client(HK)
    await hk.send(b"D", order("M1", "HKGX.RKG", 2, 1, "560.00"))
    await reports(hk, 1)
    await sh.send(b"D", order("M2", "GOLD.KG9999", 1, 1000, "561.00", tif="3"))
    await reports(sh, 3)         # ack, the 1 kg bar's fill, the cancel of the 0.1 g fine no book takes
    await sh.send(b"D", order("M2", "SGE.AU9999", 1, 1, "560.00"))
    (dup,) = await reports(sh, 1)
    assert dup.get(103) == b"6"
    text = metrics.exposition().decode()
    assert 'orders_received_total{session="SHCLIENT1"} 2.0' in text
    assert 'orders_rejected_total{reason="duplicate_clordid"} 1.0' in text
    assert 'fills_total{venue="HKGX"} 1.0' in text
    assert 'filled_grams_total{venue="HKGX"} 1000.0' in text
    assert 'routed_grams_total{direction="southbound",venue="HKGX"} 1000.0' in text
    assert 'open_orders{instrument="HKGX.RKG"} 0.0' in text


def test_exchange_calendars_close_the_books_outside_trading_hours() -> None:
    sunday = 1_767_484_800_000_000_000          # 2026-01-04 00:00 UTC, a Sunday in Shanghai and Hong Kong
    app = build_router_app(CONFIG, sessions_always_open=False, reference_engine=True, clock=lambda: sunday)
    from router.fix.codec import encode, parse_frame
    msg = parse_frame(encode(b"D", SH.encode(), b"GOLDRTR", 1, b"20260104-00:00:00.000",
                             order("C1", "SGE.AU9999", 1, 1, "560.00")))
    (rej,) = app.flow.on_message(SH, msg, sunday)
    body = dict(rej.body)
    assert body[150] == b"8" and body[103] == 2 and "schedule SGE_SPOT" in body[58]
    open_app = build_router_app(CONFIG, sessions_always_open=True, reference_engine=True, clock=lambda: sunday)
    (ack,) = open_app.flow.on_message(SH, msg, sunday)
    assert dict(ack.body)[150] == b"0"


def test_exec_ids_and_order_ids_differ_across_restarts() -> None:
    from router.fix.codec import encode, parse_frame
    t0 = 1_767_225_600_000_000_000
    ids = []
    for start in (t0, t0 + 1_000_000):              # two runs one millisecond apart
        app = build_router_app(CONFIG, sessions_always_open=True, reference_engine=True, clock=lambda s=start: s)
        msg = parse_frame(encode(b"D", SH.encode(), b"GOLDRTR", 1, b"20260101-00:00:00.000",
                                 order("R1", "SGE.AU9999", 1, 1, "560.00")))
        (ack,) = app.flow.on_message(SH, msg, start)
        body = dict(ack.body)
        ids.append((body[17], body[37]))
    assert ids[0][0] != ids[1][0] and ids[0][1] != ids[1][1]


def test_fx_update_that_breaks_a_conversion_is_refused_and_changes_nothing() -> None:
    app = build_router_app(CONFIG, sessions_always_open=True, reference_engine=True)
    before = app.flow.fx
    result = app.set_fx({"USDCNY": Decimal("0.0000000001")})
    assert not result.ok and result.reason == "max_jump_pct"                   # a 100 % move needs force
    result = app.set_fx({"USDCNY": Decimal("0.0000000001")}, force=True)
    assert not result.ok and result.reason == "bad_fx" and "out of int64 range" in result.detail
    assert app.flow.fx is before
    assert app.set_fx({"USDCNY": Decimal("7.2")}).ok and app.flow.fx.rate("USDCNY") == Decimal("7.2")


async def test_fix_values_the_router_does_not_support_get_an_execution_report_over_tcp(router) -> None:
    """OrdType=3, TimeInForce=2, Side=3, an unknown venue or a 7007 contradicting Symbol: the OMS gets
    35=8 150=8 39=8 with its ClOrdID and OrdRejReason 11, never a session Reject (35=3)."""
    _, client, _ = router
    sh = await client(SH)
    cases = [
        ("U1", order("U1", "SGE.AU9999", 1, 1, "559.00", extra=[]), (40, 3),
         b"OrdType(40) 3 not supported; supported: 1 (market), 2 (limit)"),
        ("U2", order("U2", "SGE.AU9999", 1, 1, "559.00", tif="2"), None, b"TimeInForce(59) 2 not supported"),
        ("U3", order("U3", "SGE.AU9999", 3, 1, "559.00"), None, b"Side(54) 3 not supported"),
        ("U4", order("U4", "GOLD.KG9999", 1, 1000, "561.00", extra=[(7005, "SGE LBMA")]), None,
         b"GoldAllowedVenues(7005) LBMA not supported; supported: HKGX, SGE, SGEI"),
        ("U5", order("U5", "SGE.AU9999", 1, 1, "559.00", extra=[(7007, "Y")]), None,
         b"GoldRoutable(7007) Y contradicts Symbol(55) SGE.AU9999"),
    ]
    for clordid, body, swap, text in cases:
        if swap is not None:
            body = [(t, swap[1] if t == swap[0] else v) for t, v in body]
        await sh.send(b"D", body)
        msg = await sh.recv()
        while msg.msg_type == b"0":
            msg = await sh.recv()
        assert msg.msg_type == b"8", (clordid, msg.raw)
        assert (msg.get(11), msg.get(150), msg.get(39), msg.get(103)) == (clordid.encode(), b"8", b"8", b"11")
        assert text in msg.get(58), msg.get(58)
    # Malformed input still gets a session Reject: Side=Z is no FIX 4.4 value.
    await sh.send(b"D", order("U6", "SGE.AU9999", "Z", 1, "559.00"))
    rej = await sh.expect(b"3")
    assert rej.get(373) == b"5" and rej.get(371) == b"54"


async def test_limit_rejects_over_tcp_name_the_limit(router) -> None:
    _, client, _ = router
    sh = await client(SH)
    await sh.send(b"D", order("LIM1", "SGE.AU9999", 1, 1, "700.00"))
    (collar,) = await reports(sh, 1)
    assert (collar.get(150), collar.get(11)) == (b"8", b"LIM1")
    assert b"10 % around the reference 560.00 CNY per gram on SGE.AU9999, 504.00..616.00" in collar.get(58)
    await sh.send(b"D", order("LIM2", "GOLD.KG9999", 1, 200000, "560.00"))
    (size,) = await reports(sh, 1)
    assert size.get(103) == b"3" and b"200000 g fine above the account maximum of 100000 g fine per order (max_order_grams, fine grams)" in size.get(58)
