"""`gold-router serve` as a user runs it: a real process, real sockets, a ready line, a FIX order,
a Prometheus scrape, the admin API, and a clean stop on SIGTERM."""
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.fixclient import FixClient

READY = re.compile(rb"gold-router ready: FIX 127\.0\.0\.1:(\d+) .*http://127\.0\.0\.1:(\d+)")


async def start_serve(tmp_path, *args):
    env = dict(os.environ, GOLDROUTER_ADMIN_TOKEN="s3cret")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "serve", "--fix-port", "0", "--http-port", "0",
        "--store-dir", str(tmp_path / "store"), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path)
    line = await asyncio.wait_for(proc.stdout.readline(), 90)
    match = READY.search(line)
    assert match, line
    return proc, int(match.group(1)), int(match.group(2))


async def stop(proc):
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    assert b"gold-router stopped" in out
    assert b"Traceback" not in err
    return out, err


def http(port, path, body=None, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.slow
async def test_serve_routes_an_order_reports_metrics_and_stops_cleanly(tmp_path):
    proc, fix_port, http_port = await start_serve(tmp_path, "--sessions-always-open")
    try:
        status, body = await asyncio.to_thread(http, http_port, "/ready")
        assert status == 200 and json.loads(body)["ready"] is True

        client = await FixClient.connect(fix_port, "SHCLIENT1")
        await client.logon()
        await client.send(b"D", [(11, b"svc-1"), (55, b"SGE.AU9999"), (54, b"1"), (60, b"20261125-10:00:00"),
                                 (38, b"5"), (40, b"2"), (44, b"560.00"), (59, b"0")])
        ack = await client.expect(b"8")
        assert (ack.get(11), ack.get(150), ack.get(39)) == (b"svc-1", b"0", b"0")
        assert ack.get(37) and ack.get(17)
        status, body = await asyncio.to_thread(http, http_port, "/books/SGE.AU9999", None, "s3cret")
        assert status == 200 and json.loads(body)["bids"][0] == {"price": "560.00", "lots": 5, "orders": 1}

        await client.send(b"5")
        await client.expect(b"5")
        client.writer.close()
        # Cancel-on-disconnect is on by default: the resting order leaves the book with its session.
        status, body = await asyncio.to_thread(http, http_port, "/books/SGE.AU9999", None, "s3cret")
        assert status == 200 and json.loads(body)["bids"] == []

        status, body = await asyncio.to_thread(http, http_port, "/metrics")
        text = body.decode()
        assert status == 200
        assert re.search(r'goldrouter_fix_messages_received_total\{[^}]*msg_type="NewOrderSingle"[^}]*\} 1\.0', text), text[:3000]
        assert re.search(r"goldrouter_order_ack_latency_seconds_count [1-9]", text)

        status, _ = await asyncio.to_thread(http, http_port, "/fx", b'{"rates": {"USDCNY": "7.15"}}')
        assert status == 401                                    # a mutation needs the bearer token
        status, body = await asyncio.to_thread(http, http_port, "/fx", b'{"rates": {"USDCNY": "7.15"}}', "s3cret")
        assert status == 200, body
        status, body = await asyncio.to_thread(http, http_port, "/metrics")
        assert 'goldrouter_fx_rate{pair="USDCNY"} 7.15' in body.decode()
    finally:
        if proc.returncode is None:
            await stop(proc)


@pytest.mark.slow
async def test_serve_echo_app_with_an_ad_hoc_session_and_persistent_store(tmp_path):
    proc, fix_port, _ = await start_serve(tmp_path, "--app", "echo", "--sender-comp-id", "GOLDRTR",
                                          "--target-comp-id", "BANK7")
    try:
        client = await FixClient.connect(fix_port, "BANK7")
        await client.logon()
        await client.send(b"D", [(11, b"e-1"), (55, b"SGE.AU9999"), (54, b"1"), (60, b"20261125-10:00:00"),
                                 (38, b"1"), (40, b"2"), (44, b"560.00")])
        echo = await client.expect(b"D")
        assert echo.get(11) == b"e-1" and echo.get(49) == b"GOLDRTR"
        client.writer.close()
    finally:
        await stop(proc)
    # The store outlives the process: sequence numbers are on disk under --store-dir.
    assert any((tmp_path / "store").rglob("*")), "nothing persisted under --store-dir"


async def test_serve_refuses_a_taken_port_with_one_line(tmp_path):
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        out = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "router", "serve", "--fix-port", str(port), "--http-port", "0",
                             "--memory-store"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    finally:
        server.close()
        await server.wait_closed()
    assert out.returncode == 1
    assert f"gold-router: error: cannot listen on 127.0.0.1:{port}: address already in use" in out.stderr.splitlines()
    assert "Traceback" not in out.stderr and "gold-router stopped" not in out.stdout


async def test_serve_taken_port_with_quiet_logs_prints_exactly_one_line(tmp_path):
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        out = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "router", "serve", "--fix-port", "0", "--http-port", str(port),
                             "--memory-store", "--app", "echo", "--log-level", "error"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    finally:
        server.close()
        await server.wait_closed()
    assert out.returncode == 1
    assert out.stderr == f"gold-router: error: cannot listen on 127.0.0.1:{port}: address already in use\n"
    assert out.stdout == ""


@pytest.mark.parametrize("flag", [["--log-level", "bogus"], ["--log-format", "xml"]])
def test_serve_bad_log_option_is_a_one_line_usage_error(tmp_path, flag):
    out = subprocess.run([sys.executable, "-m", "router", "serve", "--fix-port", "0", "--http-port", "0",
                          "--memory-store", *flag], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith(f"gold-router: error: {flag[0]} {flag[1]!r}")
    assert out.stdout == ""


@pytest.mark.slow
async def test_serve_json_logs_say_what_start_up_does_and_who_logged_on(tmp_path):
    proc, fix_port, _ = await start_serve(tmp_path, "--log-format", "json", "--memory-store")
    try:
        client = await FixClient.connect(fix_port, "SHCLIENT1")
        host, port = client.writer.get_extra_info("sockname")[:2]
        await client.logon()
        await client.send(b"5")
        await client.expect(b"5")
        await client.close()
        await asyncio.sleep(0.5)
    finally:
        _, err = await stop(proc)
    records = [json.loads(line) for line in err.decode().splitlines()]    # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    messages = [r["message"] for r in records if r["level"] == "INFO"]
    start = next(i for i, m in enumerate(messages) if m.startswith("compiling the matching core"))
    assert re.fullmatch(r"matching core ready in \d+\.\d s", messages[start + 1])
    peer = f"{host}:{port}"
    assert f"FIX session SHCLIENT1 logged on from {peer}" in messages
    assert any(m.startswith(f"FIX session SHCLIENT1 logged out from {peer} (") for m in messages), messages


@pytest.mark.slow
async def test_serve_logs_each_reject_and_admin_mutation_in_one_info_line(tmp_path):
    proc, fix_port, http_port = await start_serve(tmp_path, "--log-format", "json", "--memory-store",
                                                  "--sessions-always-open")
    try:
        client = await FixClient.connect(fix_port, "SHCLIENT1")
        await client.logon()
        await client.send(b"D", [(11, b"tick-1"), (55, b"SGE.AU9999"), (54, b"1"), (60, b"20261125-10:00:00"),
                                 (38, b"1"), (40, b"2"), (44, b"560.005"), (59, b"0")])
        rej = await client.expect(b"8")
        assert rej.get(150) == b"8"
        await client.send(b"F", [(41, b"nowhere"), (11, b"cxl-1"), (55, b"SGE.AU9999"), (54, b"1"),
                                 (60, b"20261125-10:00:00")])
        await client.expect(b"9")
        status, _ = await asyncio.to_thread(http, http_port, "/kill-switch",
                                            b'{"scope": "account", "account": "HKCLIENT1", "on": true}', "s3cret")
        assert status == 200
        status, _ = await asyncio.to_thread(http, http_port, "/kill-switch", b'{"on": true}', "wrong")
        assert status == 403
        status, _ = await asyncio.to_thread(http, http_port, "/reference-prices",
                                            b'{"prices": {"SGE.AU9999": "561.00"}}', "s3cret")
        assert status == 200
        await client.send(b"5")
        await client.expect(b"5")
        await client.close()
    finally:
        _, err = await stop(proc)
    messages = [r["message"] for r in map(json.loads, err.decode().splitlines()) if r["level"] == "INFO"]
    (order,) = [m for m in messages if m.startswith("order rejected to SHCLIENT1: ClOrdID=tick-1 ")]
    assert "OrdRejReason=" in order and "560.005" in order and "tick" in order.split(": ", 2)[2], order
    (cancel,) = [m for m in messages if m.startswith("cancel rejected to SHCLIENT1: ClOrdID=cxl-1 ")]
    assert "OrigClOrdID=nowhere" in cancel, cancel
    # Applied: the kill switch says what it did; refused: the attempt with its answer; never the token.
    assert "kill switch account HKCLIENT1 ON by 127.0.0.1: 0 working orders cancelled" in messages, messages
    (refused,) = [m for m in messages if m.startswith("admin POST /kill-switch from 127.0.0.1: ")]
    assert '{"on": true} -> 403 ' in refused and "bad_token" in refused and "s3cret" not in " ".join(messages)
    (ref,) = [m for m in messages if m.startswith("admin POST /reference-prices from 127.0.0.1: ")]
    assert '"SGE.AU9999": "561.00"' in ref and "-> 200 " in ref, ref


@pytest.mark.slow
async def test_serve_answers_trading_status_over_fix_and_http_alike(tmp_path):
    proc, fix_port, http_port = await start_serve(tmp_path, "--memory-store")     # exchange calendars on
    try:
        client = await FixClient.connect(fix_port, "SHCLIENT1")
        await client.logon()
        await client.send(b"e", [(324, b"st-1"), (55, b"HKGX.LLG"), (263, b"0")])
        st = await client.expect(b"f")
        status, body = await asyncio.to_thread(http, http_port, "/status", None, "s3cret")
        await client.send(b"5")
        await client.expect(b"5")
        await client.close()
        await asyncio.sleep(1.5)        # the service timer's first tick logs every instrument's status
    finally:
        _, err = await stop(proc)
    assert re.search(rb"INFO gold_router.app: trading status HKGX.LLG \w+ \(", err), err[-2000:]
    assert status == 200
    rows = {r["symbol"]: r for r in json.loads(body)["instruments"]}
    assert set(rows) >= {"SGE.AU9999", "HKGX.LLG", "HKGX.AU99TAEL"}
    llg = rows["HKGX.LLG"]
    assert (st.get(324), st.get(55), st.get(336)) == (b"st-1", b"HKGX.LLG", b"HKGX_LLG")
    assert int(st.get(326)) == llg["security_trading_status"] and llg["state"] in st.get(58).decode()
    if llg["next_change"] is not None:        # the FIX timestamp and the ISO one name the same second
        fix_ts = st.get(7015).decode()
        assert llg["next_change"] == f"{fix_ts[:4]}-{fix_ts[4:6]}-{fix_ts[6:8]}T{fix_ts[9:17]}Z"


@pytest.mark.slow
async def test_serve_explains_a_route_on_the_report_and_as_json_alike(tmp_path):
    proc, fix_port, http_port = await start_serve(tmp_path, "--memory-store", "--sessions-always-open")
    try:
        hk = await FixClient.connect(fix_port, "HKCLIENT1")
        await hk.logon()
        await hk.send(b"D", [(11, b"hk-s"), (55, b"SGE.AU9999"), (54, b"2"), (60, b"20261125-10:00:00"),
                             (38, b"10"), (40, b"2"), (44, b"560.00"), (59, b"0")])
        assert (await hk.expect(b"8")).get(150) == b"0"
        sh = await FixClient.connect(fix_port, "SHCLIENT1")
        await sh.logon()
        await sh.send(b"D", [(11, b"route-1"), (55, b"GOLD.KG9999"), (54, b"1"), (60, b"20261125-10:00:00"),
                             (38, b"1000"), (40, b"2"), (44, b"561.00"), (59, b"0")])
        ack = await sh.expect(b"8")
        status, body = await asyncio.to_thread(http, http_port, "/routes?clordid=route-1", None, "s3cret")
        await sh.send(b"G", [(41, b"route-1"), (11, b"route-2"), (55, b"GOLD.KG9999"), (54, b"1"),
                             (60, b"20261125-10:00:00"), (38, b"900"), (40, b"2"), (44, b"560.50")])
        while (rep := await sh.expect(b"8")).get(150) != b"5":
            pass
        for c in (sh, hk):
            await c.send(b"5")
            while (await c.recv(5.0)).msg_type != b"5":     # the seller's fill may come first
                pass
            await c.close()
    finally:
        await stop(proc)
    # 7006 in decimal prices: the order as sent, each book's child limit in its own quote.
    explain = ack.get(7006).decode()
    head, *books = explain.split("; ")
    assert head == "B GOLD.KG9999 1000 @561.00" and books, explain
    for n, b in enumerate(books, 1):
        assert re.fullmatch(rf"{n}\.[A-Z.0-9]+ \d+\.\d\d=\d+\.\d\d/\d+\.\d\dr?", b), explain
    # The quoted book: 561.00 CNY per fine gram is 560.94 per gross gram of 99.99 on SGE.AU9999.
    assert any(re.fullmatch(r"\d\.SGE\.AU9999 560\.94=[\d.]+/[\d.]+", b) for b in books), explain
    assert status == 200
    (route,) = json.loads(body)["routes"]
    assert route["explain"] == explain and route["clordid"] == "route-1" and route["session"] == "SHCLIENT1"
    assert (route["qty"], route["qty_unit"], route["price"], route["decision"]) == (1000, "g_fine", "561.00", "route")
    assert [c["rank"] for c in route["compared"]] == list(range(1, len(books) + 1))
    (sge,) = [c for c in route["compared"] if c["symbol"] == "SGE.AU9999"]
    assert (sge["child_price"], sge["from"]) == ("560.94", "quote")
    assert {"usd_oz_fine", "costs_usd_oz_fine", "all_in_usd_oz_fine", "cross", "lots"} <= set(sge)
    assert all({"symbol", "reason", "reason_text"} <= set(e) for e in route["excluded"])
    assert {c["symbol"] for c in route["compared"]} | {e["symbol"] for e in route["excluded"]} == set(route["considered"])
    # The replace report says where the order keeps resting and at what limit there.
    assert rep.get(7006).decode().startswith("RPL B GOLD.KG9999 900 @560.50; rests ")


@pytest.mark.slow
async def test_the_example_quickfix_client_places_and_cancels_its_first_order(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc, fix_port, _ = await start_serve(tmp_path, "--memory-store", "--sessions-always-open")
    try:
        with open(os.path.join(root, "examples", "initiator.cfg")) as f:
            cfg = f.read()
        cfg = cfg.replace("SocketConnectPort=9878", f"SocketConnectPort={fix_port}").replace(
            "DataDictionary=fix_specs/", f"DataDictionary={root}/fix_specs/")
        (tmp_path / "initiator.cfg").write_text(cfg)
        client = await asyncio.create_subprocess_exec(
            sys.executable, os.path.join(root, "examples", "first_order.py"), str(tmp_path / "initiator.cfg"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path)
        out, err = await asyncio.wait_for(client.communicate(), 60)
    finally:
        await stop(proc)
    assert client.returncode == 0, err
    received = [dict(p.split("=", 1) for p in line.split(None, 1)[1].strip("|").split("|"))
                for line in out.decode().splitlines() if line.startswith("received")]
    assert [(m["35"], m["150"], m["39"]) for m in received] == [("8", "0", "0"), ("8", "4", "4")], out
    ack, cancelled = received
    assert ack["11"].startswith("FIRST-") and ack["55"] == "SGE.AU9999" and ack["44"] == "560.00"
    assert ack["7006"] == "B SGE.AU9999 1 @560.00; 1.SGE.AU9999 560.00=" + ack["7006"].split("=", 1)[1]
    assert cancelled["41"] == ack["11"] and cancelled["11"] == ack["11"] + "-C"
    events = "".join(p.read_text() for p in (tmp_path / "var" / "example-client" / "log").glob("*.event.current.log"))
    assert "Logon" in events and "Rejected" not in events and "Invalid" not in events, events


@pytest.mark.slow
async def test_serve_books_and_fix_market_data_quote_a_product_alike(tmp_path):
    proc, fix_port, http_port = await start_serve(tmp_path, "--memory-store", "--sessions-always-open")
    try:
        hk = await FixClient.connect(fix_port, "HKCLIENT1")
        await hk.logon()
        for n, (symbol, qty, price) in enumerate((("SGE.AU9999", b"5", b"560.00"), ("HKGX.RKG", b"1", b"559.50"))):
            await hk.send(b"D", [(11, b"q%d" % n), (55, symbol.encode()), (54, b"2"), (60, b"20261125-10:00:00"),
                                 (38, qty), (40, b"2"), (44, price), (59, b"0")])
            assert (await hk.expect(b"8")).get(150) == b"0"
        await hk.send(b"V", [(262, b"md-1"), (263, b"0"), (264, b"5"), (267, b"1"), (269, b"1"), (146, b"1"),
                             (55, b"GOLD.KG9999")])
        w = await hk.expect(b"W")
        status, body = await asyncio.to_thread(http, http_port, "/books/GOLD.KG9999", None, "s3cret")
        await hk.send(b"5")
        await hk.expect(b"5")
        await hk.close()
    finally:
        await stop(proc)
    assert status == 200
    book = json.loads(body)
    assert book["quote"].startswith("CNY per fine gram") and (w.get(15), w.get(7010)) == (b"CNY", b"G")
    fix_levels, entry = [], {}
    for tag, value in w.fields:
        if tag == 269:
            entry = {}
            fix_levels.append(entry)
        entry[tag] = value.decode()
    assert [(e[270], e[271], e[7014]) for e in fix_levels if 270 in e] == \
        [(a["price"], a["grams"], a["instrument"]) for a in book["asks"]]
    assert {a["instrument"] for a in book["asks"]} == {"SGE.AU9999", "HKGX.RKG"}
