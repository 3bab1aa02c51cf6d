"""The books of record over the real service: fills sent over FIX on loopback hold margin for a
margined contract (`GET /positions`) and net into settlement obligations (`GET /obligations`), with
the figures of the books-of-record issue."""
import asyncio
import json

import pytest

from tests.fixclient import FixClient
from tests.shell.test_service import http, start_serve, stop

TOKEN = "s3cret"        # the operate token start_serve sets; admin reads need a token once one is configured


def order(clordid: str, symbol: str, side: str, lots: int, price: str) -> list:
    return [(11, clordid.encode()), (55, symbol.encode()), (54, side.encode()), (60, b"20260105-02:00:00"),
            (38, str(lots).encode()), (40, b"2"), (44, price.encode()), (59, b"0")]


async def fill(maker: FixClient, taker: FixClient, n: str, symbol: str, taker_side: str, lots: int,
               price: str) -> None:
    """`maker` rests the opposite side, `taker` trades it in full; both see their fill."""
    await maker.send(b"D", order(f"m{n}", symbol, "2" if taker_side == "1" else "1", lots, price))
    assert (await maker.expect(b"8")).get(150) == b"0"
    await taker.send(b"D", order(f"t{n}", symbol, taker_side, lots, price))
    got = [await taker.expect(b"8") for _ in range(2)]
    assert [m.get(39) for m in got] == [b"0", b"2"], [m.get(58) for m in got]
    assert (await maker.expect(b"8")).get(39) == b"2"


@pytest.mark.slow
async def test_positions_and_obligations_over_fix(tmp_path):
    proc, fix_port, http_port = await start_serve(tmp_path, "--sessions-always-open")
    try:
        sh = await FixClient.connect(fix_port, "SHCLIENT1")
        hk = await FixClient.connect(fix_port, "HKCLIENT1")
        await sh.logon()
        await hk.logon()
        # Positions and margin: 2 lots SGE.AUTD at 560.00.
        await fill(hk, sh, "1", "SGE.AUTD", "1", 2, "560.00")
        status, body = await asyncio.to_thread(http, http_port, "/positions?account=SHCLIENT1", token=TOKEN)
        assert status == 200, body
        v = json.loads(body)
        (pos,) = v["positions"]
        assert (pos["symbol"], pos["grams"], pos["margin_held"], pos["fees"]) == ("SGE.AUTD", "2000", "190400.00",
                                                                                  "560.00")
        assert v["cash"]["CNY"]["available"] == "199809040.00"
        assert v["cash"]["CNY"]["margin_held"] == "190400.00"

        # Netting: buy 100 lots Au99.99 at 560.00, sell 60 at 561.00, buy 1 RMB kilobar at 559.80.
        await fill(hk, sh, "2", "SGE.AU9999", "1", 100, "560.00")
        await fill(hk, sh, "3", "SGE.AU9999", "2", 60, "561.00")
        await fill(hk, sh, "4", "HKGX.RKG", "1", 1, "559.80")
        status, body = await asyncio.to_thread(http, http_port, "/obligations?account=SHCLIENT1", token=TOKEN)
        assert status == 200, body
        rows = {(r["clearing_house"], r["currency"], r["vault"], r["bar_form"]): r
                for r in json.loads(body)["obligations"]}
        sge = rows["SGE", "CNY", "SGE_MAINLAND", "ingot_1kg_9999"]
        assert (sge["cash"], sge["fees"], sge["metal_grams"], sge["withdrawable"]) == \
            ("-223713.81", "313.81", "400", False)
        assert sge["cross_border"] == [] and sge["rail"].startswith("SGE member settlement account")
        hkgx = rows["HKGX", "CNH", "HK", "ingot_1kg_9999"]
        assert (hkgx["cash"], hkgx["metal_grams"], hkgx["withdrawable"], hkgx["cross_border"]) == \
            ("-559823.00", "1000", True, ["southbound"])
        autd = rows["SGE", "CNY", "SGE_MAINLAND", "ingot_3kg_9995"]
        assert (autd["cash"], autd["metal_grams"]) == ("-560.00", "0")      # margin is held, not paid
        day = sge["value_date"]
        status, body = await asyncio.to_thread(http, http_port, f"/obligations?trading_day={day}", token=TOKEN)
        assert status == 200 and any(r["account"] == "HKCLIENT1" for r in json.loads(body)["obligations"])

        # Metal across the border, in CNY at the router's FX: the kilobar's CNH 559,800.00 is CNY 559,012.66.
        status, body = await asyncio.to_thread(http, http_port, "/cross-border-flows", token=TOKEN)
        flows = {(f["direction"], f["account"]): f for f in json.loads(body)["flows"]}
        south = flows["southbound", "SHCLIENT1"]
        assert (south["gross_bought_cny"], south["sold_cny"], south["net_cny"]) == ("559012.66", "0.00", "559012.66")
        # HKCLIENT1 sold 2 lots of T+D (1,120,000.00) and 100 of Au99.99 (560,000.00), bought 60 (336,600.00):
        # margined contracts count at their value, as the quota does.
        north = flows["northbound", "TOTAL"]
        assert (north["gross_bought_cny"], north["sold_cny"], north["net_cny"]) == \
            ("336600.00", "1680000.00", "-1343400.00")
        status, body = await asyncio.to_thread(http, http_port, "/obligations?trading_day=2026-13-01", token=TOKEN)
        assert status == 400 and json.loads(body)["error"] == "bad_trading_day"
        status, body = await asyncio.to_thread(http, http_port, "/positions?account=NOBODY", token=TOKEN)
        assert status == 404 and json.loads(body)["error"] == "unknown_account"
        status, body = await asyncio.to_thread(http, http_port, "/positions", token=TOKEN)
        assert status == 400 and json.loads(body)["error"] == "missing_account"
        status, body = await asyncio.to_thread(http, http_port, "/metrics")
        text = body.decode()
        assert 'goldrouter_margin_held{currency="CNY"} 380800.0' in text       # both sides of the AUTD trade
        assert 'goldrouter_ledger_trades_total{clearing_house="HKGX"} 2.0' in text
        sh.writer.close()
        hk.writer.close()
    finally:
        if proc.returncode is None:
            await stop(proc)


@pytest.mark.slow
async def test_end_of_day_as_a_command_then_close_next_day_over_fix(tmp_path):
    from router.config import load_config
    proc, fix_port, http_port = await start_serve(tmp_path, "--sessions-always-open")
    try:
        sh = await FixClient.connect(fix_port, "SHCLIENT1")
        hk = await FixClient.connect(fix_port, "HKCLIENT1")
        await sh.logon()
        await hk.logon()
        await fill(hk, sh, "1", "SGE.AUTD", "1", 2, "560.00")
        status, body = await asyncio.to_thread(http, http_port, "/obligations?account=SHCLIENT1", token=TOKEN)
        day = json.loads(body)["obligations"][0]["value_date"]

        # The direction is for one trading day: the trade's (by default, the venue's date when posted).
        fee = json.dumps({"SGE.AUTD": {"direction": "shorts_pay", "rate_bp_per_day": 2, "trading_day": day}}).encode()
        status, body = await asyncio.to_thread(http, http_port, "/deferred-fee", fee)
        assert status == 401                                   # a change needs the operate token
        status, body = await asyncio.to_thread(http, http_port, "/deferred-fee", fee, TOKEN)
        assert status == 200, body
        assert json.loads(body)["deferred_fee"]["SGE.AUTD"] == {"direction": "shorts_pay", "rate_bp_per_day": "2",
                                                                "trading_day": day}

        settle = json.dumps({"trading_day": day, "prices": {"SGE.AUTD": "565.00"}}).encode()
        status, body = await asyncio.to_thread(http, http_port, "/settlement-prices", settle, TOKEN)
        assert status == 200, body
        mine = next(m for m in json.loads(body)["moves"] if m["account"] == "SHCLIENT1")
        # The deferred fee runs to the next trading day: 1 day mid-week, 3 over a weekend.
        cal = load_config().sections["calendars"]
        d = __import__("datetime").date.fromisoformat(day)
        days = (cal.next_trading_day("SGE_DEFERRED", d) - d).days
        assert (mine["variation_margin"], mine["margin_required"]) == ("10000.00", "192100.00")
        assert mine["deferred_fee"] == f"{226 * days}.00"
        status, body = await asyncio.to_thread(http, http_port, "/settlement-prices", settle, TOKEN)
        assert status == 400 and json.loads(body)["error"] == "already_settled"
        bad = json.dumps({"trading_day": day, "prices": {"SGE.AU9999": "565.00"}}).encode()
        status, body = await asyncio.to_thread(http, http_port, "/settlement-prices", bad, TOKEN)
        assert status == 400 and json.loads(body)["error"] == "not_margined"

        # Next day the account sells its 2 lots at 566.00: +2,000.00 realised against 565.00, fee 566.00.
        await fill(hk, sh, "2", "SGE.AUTD", "2", 2, "566.00")
        status, body = await asyncio.to_thread(http, http_port, "/positions?account=SHCLIENT1", token=TOKEN)
        (pos,) = json.loads(body)["positions"]
        assert (pos["lots"], pos["margin_held"], pos["realised_pnl"]) == (0, "0.00", "12000.00")
        assert json.loads(body)["cash"]["CNY"]["margin_held"] == "0.00"

        status, body = await asyncio.to_thread(http, http_port, f"/statements/SHCLIENT1?trading_day={day}",
                                               token=TOKEN)
        assert status == 200, body
        st = json.loads(body)
        assert [t["realised"] for t in st["trades"]] == ["0.00", "2000.00"]
        assert [t["fee"] for t in st["trades"]] == ["560.00", "566.00"]
        assert st["end_of_day"][0]["variation_margin"] == "10000.00" and st["closed"] is True
        csv_file = tmp_path / "var" / "reports" / "statements" / day / "SHCLIENT1.csv"
        text = csv_file.read_text()
        assert "variation_margin" in text and "10000.00" in text and "closing_balance" in text
        status, body = await asyncio.to_thread(http, http_port, "/margin-calls", token=TOKEN)
        assert status == 200 and json.loads(body) == {"margin_calls": []}
        sh.writer.close()
        hk.writer.close()
    finally:
        if proc.returncode is None:
            await stop(proc)


@pytest.mark.slow
async def test_request_for_positions_over_fix(tmp_path):
    proc, fix_port, http_port = await start_serve(tmp_path, "--sessions-always-open")
    try:
        sh = await FixClient.connect(fix_port, "SHCLIENT1")
        hk = await FixClient.connect(fix_port, "HKCLIENT1")
        await sh.logon()
        await hk.logon()

        def an(req_id: bytes, account: bytes, extra: list | None = None) -> list:
            return [(710, req_id), (724, b"0"), (1, account), (581, b"1")] + (extra or []) + \
                [(715, b"20260105"), (60, b"20260105-02:00:00")]

        await sh.send(b"AN", an(b"p0", b"SHCLIENT1"))
        none = await sh.expect(b"AP")
        assert (none.get(710), none.get(728), none.get(727)) == (b"p0", b"2", b"0")

        await fill(hk, sh, "1", "SGE.AUTD", "1", 2, "560.00")
        await fill(sh, hk, "2", "HKGX.LLG", "1", 1, "2400.00")          # SHCLIENT1 short 1 lot, no metal used
        await sh.send(b"AN", an(b"p1", b"SHCLIENT1"))
        reps = {}
        for _ in range(2):
            m = await sh.expect(b"AP")
            reps[m.get(55)] = m
        autd, llg = reps[b"SGE.AUTD"], reps[b"HKGX.LLG"]
        assert (autd.get(728), autd.get(727), autd.get(1), autd.get(15)) == (b"0", b"2", b"SHCLIENT1", b"CNY")
        assert (autd.get(703), autd.get(704), autd.get(7020), autd.get(7009)) == (b"TQ", b"2", b"190400.00", b"LOT")
        assert (autd.get(730), autd.get(731)) == (b"560.00", b"2")        # marked at the last trade
        assert (llg.get(705), llg.get(15), llg.get(7020)) == (b"1", b"USD", b"4800.00")   # 2 % of USD 240,000

        await sh.send(b"AN", an(b"p2", b"SHCLIENT1", [(55, b"HKGX.LLG")]))
        only = await sh.expect(b"AP")
        assert (only.get(55), only.get(727)) == (b"HKGX.LLG", b"1")
        await sh.send(b"AN", an(b"p3", b"HKCLIENT1"))
        refused = await sh.expect(b"AP")
        assert (refused.get(728), refused.get(1)) == (b"3", b"HKCLIENT1")
        sh.writer.close()
        hk.writer.close()
    finally:
        if proc.returncode is None:
            await stop(proc)


@pytest.mark.slow
async def test_the_books_come_back_after_a_restart(tmp_path):
    """The same service directory (journal under var/journal) restarted: every view of the books equals
    what it was before the stop, the end of day included."""
    views = ["/positions?account=SHCLIENT1", "/positions?account=HKCLIENT1", "/obligations",
             "/cross-border-flows", "/margin-calls", "/deferred-fee", "/statements/SHCLIENT1?trading_day="]
    proc, fix_port, http_port = await start_serve(tmp_path, "--sessions-always-open")
    try:
        sh = await FixClient.connect(fix_port, "SHCLIENT1")
        hk = await FixClient.connect(fix_port, "HKCLIENT1")
        await sh.logon()
        await hk.logon()
        await fill(hk, sh, "1", "SGE.AUTD", "1", 2, "560.00")
        await fill(hk, sh, "2", "SGE.AU9999", "1", 100, "560.00")
        await fill(hk, sh, "3", "HKGX.RKG", "1", 1, "559.80")
        status, body = await asyncio.to_thread(http, http_port, "/obligations", token=TOKEN)
        day = json.loads(body)["obligations"][0]["value_date"]
        fee = b'{"SGE.AUTD": {"direction": "shorts_pay", "rate_bp_per_day": 2}}'
        assert (await asyncio.to_thread(http, http_port, "/deferred-fee", fee, TOKEN))[0] == 200
        settle = json.dumps({"trading_day": day, "prices": {"SGE.AUTD": "565.00"}}).encode()
        assert (await asyncio.to_thread(http, http_port, "/settlement-prices", settle, TOKEN))[0] == 200
        views[-1] += day
        before = {v: (await asyncio.to_thread(http, http_port, v, None, TOKEN)) for v in views}
        assert all(status == 200 for status, _ in before.values())
        sh.writer.close()
        hk.writer.close()
    finally:
        if proc.returncode is None:
            await stop(proc)
    proc, fix_port, http_port = await start_serve(tmp_path, "--sessions-always-open")
    try:
        after = {v: (await asyncio.to_thread(http, http_port, v, None, TOKEN)) for v in views}
        for v in views:
            assert json.loads(after[v][1]) == json.loads(before[v][1]), v
        pos = json.loads(after["/positions?account=SHCLIENT1"][1])["positions"][0]
        assert (pos["margin_held"], pos["mark_source"]) == ("192100.00", "settlement")
    finally:
        if proc.returncode is None:
            await stop(proc)


@pytest.mark.slow
async def test_margin_call_over_fix_refuses_opening_orders(tmp_path):
    (tmp_path / "cfg.toml").write_text('[accounts.SHCLIENT1.cash]\nCNY = "100000"\n')
    proc, fix_port, http_port = await start_serve(tmp_path, "--sessions-always-open",
                                                  "--config", str(tmp_path / "cfg.toml"))
    try:
        sh = await FixClient.connect(fix_port, "SHCLIENT1")
        hk = await FixClient.connect(fix_port, "HKCLIENT1")
        await sh.logon()
        await hk.logon()
        await fill(hk, sh, "1", "SGE.AUTD", "1", 1, "560.00")      # margin 95,200.00 + fee 280.00
        status, body = await asyncio.to_thread(http, http_port, "/obligations?account=SHCLIENT1", token=TOKEN)
        day = json.loads(body)["obligations"][0]["value_date"]
        settle = json.dumps({"trading_day": day, "prices": {"SGE.AUTD": "540.00"}}).encode()
        status, body = await asyncio.to_thread(http, http_port, "/settlement-prices", settle, TOKEN)
        assert status == 200 and json.loads(body)["margin_calls"] == [
            {"account": "SHCLIENT1", "currency": "CNY", "short": "12080.00"}]
        await sh.send(b"D", order("add", "SGE.AUTD", "1", 1, "540.00"))
        rej = await sh.expect(b"j")
        assert rej.get(372) == b"D" and rej.get(379) == b"add" and b"margin call" in rej.get(58)
        status, body = await asyncio.to_thread(http, http_port, "/margin-calls", token=TOKEN)
        assert json.loads(body)["margin_calls"][0]["short"] == "12080.00"
        await fill(hk, sh, "2", "SGE.AUTD", "2", 1, "541.00")      # closing is accepted and covers the call
        status, body = await asyncio.to_thread(http, http_port, "/margin-calls", token=TOKEN)
        assert json.loads(body) == {"margin_calls": []}
        sh.writer.close()
        hk.writer.close()
    finally:
        if proc.returncode is None:
            await stop(proc)
