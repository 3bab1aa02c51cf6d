"""FX over the real service: `POST /fx` takes bid/ask (or a mid) per pair, stamped with the command's
time; `GET /fx` shows bid/ask/mid/age; a jump beyond fx.max_jump_pct needs "force"; an unknown pair is
HTTP 400 naming it; with `fx.max_age_s` set, a book whose conversion needs a rate older than that is
excluded `fx_stale` (FIX reject); an account's funding currency adds the FX half-spread to the all-in
price in the route explanation; metrics and one INFO log line per update or refusal."""
import asyncio
import json
import time

import pytest

from tests.fixclient import FixClient
from tests.shell.test_service import http, start_serve, stop

RKG = [(55, b"HKGX.RKG"), (54, b"1"), (60, b"20260604-02:00:00"), (38, b"1"), (40, b"2"), (44, b"560.00"),
       (59, b"0")]
ALL = b'{"rates": {"USDCNY": {"bid": "7.0990", "ask": "7.1010"}, "USDCNH": "7.1100", "USDHKD": "7.8000"}}'


def post(port: int, body: bytes):
    return http(port, "/fx", body, "s3cret")


@pytest.mark.slow
async def test_fx_bid_ask_age_jump_unknown_pair_and_stale_books_over_http_and_fix(tmp_path):
    conf = tmp_path / "fx.toml"
    conf.write_text('[fx]\nmax_age_s = 3\n\n[accounts.SHCLIENT1]\nfunding_ccy = "CNY"\n', encoding="utf-8")
    proc, fix_port, http_port = await start_serve(tmp_path, "--sessions-always-open", "--config", str(conf))
    try:
        status, body = await asyncio.to_thread(http, http_port, "/fx", None, "s3cret")
        view = json.loads(body)
        assert status == 200 and (view["max_age_s"], view["max_jump_pct"]) == (3, "2")
        assert view["pairs"]["USDCNY"] == {"bid": None, "ask": None, "mid": "7.1000", "set_ns": None,
                                           "age_s": None, "stale": True}

        client = await FixClient.connect(fix_port, "SHCLIENT1")
        await client.logon()
        await client.send(b"D", [(11, b"fx-0")] + RKG)
        rej = await client.expect(b"8")
        assert (rej.get(11), rej.get(150), rej.get(103)) == (b"fx-0", b"8", b"99")   # configured rates: no time

        status, body = await asyncio.to_thread(post, http_port, ALL)
        assert status == 200, body
        status, body = await asyncio.to_thread(http, http_port, "/fx", None, "s3cret")
        cny = json.loads(body)["pairs"]["USDCNY"]
        assert (cny["bid"], cny["ask"], cny["mid"], cny["stale"]) == ("7.0990", "7.1010", "7.1000", False)
        assert 0 <= cny["age_s"] < 3 and cny["set_ns"] > 0
        sent_at = time.monotonic()
        await client.send(b"D", [(11, b"fx-1")] + RKG)
        ack = await client.expect(b"8")
        assert (ack.get(11), ack.get(150)) == (b"fx-1", b"0")

        status, body = await asyncio.to_thread(post, http_port, b'{"rates": {"USDCNY": "7.2500"}}')
        assert status == 409 and json.loads(body)["error"] == "max_jump_pct", body
        assert "USDCNY" in json.loads(body)["detail"] and "force" in json.loads(body)["detail"]
        status, body = await asyncio.to_thread(post, http_port, b'{"rates": {"EURUSD": "1.1"}}')
        assert status == 400 and json.loads(body)["error"] == "unknown_pair" and "EURUSD" in json.loads(body)["detail"]
        status, body = await asyncio.to_thread(post, http_port, b'{"rates": {"USDHKD": {"bid": "7.8"}}}')
        assert status == 400 and "USDHKD" in json.loads(body)["detail"]

        # A two-sided USDCNH quote 0.12 wide: the CNY-funded account pays half of it into CNH books.
        status, body = await asyncio.to_thread(
            post, http_port, b'{"rates": {"USDCNH": {"bid": "7.0500", "ask": "7.1700"}}}')
        assert status == 200, body
        await client.send(b"D", [(11, b"fx-2"), (55, b"GOLD.KG9999"), (54, b"1"), (60, b"20260604-02:00:00"),
                                 (38, b"1000"), (40, b"2"), (44, b"561.00"), (59, b"3")])
        done = await client.expect(b"8")
        while done.get(150) not in (b"4", b"2", b"8"):     # the IOC's fill or cancel of the remainder ends it
            done = await client.expect(b"8")
        status, body = await asyncio.to_thread(http, http_port, "/routes?limit=1", None, "s3cret")
        route = json.loads(body)["routes"][0] if isinstance(json.loads(body), dict) else json.loads(body)[0]
        costs = {c["symbol"]: float(c["costs_usd_oz_fine"]) for c in route["compared"]}
        assert costs["HKGX.RKG"] > costs["SGE.AU9999"] + 15          # ~0.84 % of the price on top of fees

        # USDCNY was last set over 3 s ago (the refused updates changed nothing): CNH books go stale.
        await asyncio.sleep(max(0.0, 3.3 - (time.monotonic() - sent_at)))
        status, body = await asyncio.to_thread(post, http_port, b'{"rates": {"USDCNH": "7.1100"}}')
        assert status == 200
        await client.send(b"D", [(11, b"fx-3")] + RKG)
        stale = await client.expect(b"8")
        assert (stale.get(11), stale.get(150)) == (b"fx-3", b"8") and b"fx" in stale.get(58).lower()
        status, body = await asyncio.to_thread(post, http_port, b'{"rates": {"USDCNY": "7.2500"}, "force": true}')
        assert status == 200, body
        await client.send(b"D", [(11, b"fx-4")] + RKG)
        assert (await client.expect(b"8")).get(150) == b"0"

        status, body = await asyncio.to_thread(http, http_port, "/metrics")
        text = body.decode()
        assert 'goldrouter_fx_updates_total{outcome="max_jump_pct",pair="USDCNY"} 1.0' in text
        assert 'goldrouter_fx_updates_total{outcome="unknown_pair",pair="other"} 1.0' in text
        assert 'goldrouter_fx_updates_total{outcome="applied",pair="USDCNY"} 2.0' in text
        assert 'goldrouter_fx_rate{pair="USDCNY"} 7.25' in text
        assert 'goldrouter_fx_rate_age_seconds{pair="USDCNH"}' in text
        assert 'goldrouter_orders_rejected_total{reason="fx_stale"} 2.0' in text
        client.writer.close()
    finally:
        if proc.returncode is None:
            _, err = await stop(proc)
            log = err.decode()
            assert "FX update by 127.0.0.1: USDCNH=7.1100, USDCNY=7.0990/7.1010, USDHKD=7.8000" in log
            assert "FX update by 127.0.0.1 (forced): USDCNY=7.2500" in log
            assert '-> 409 {"error": "max_jump_pct"' in log and '-> 400 {"error": "unknown_pair"' in log
