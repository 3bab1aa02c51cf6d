"""Reference prices over the real service: `POST /reference-prices` moves the daily band the FIX
order entry sees, `GET /reference-prices` shows it, and a large jump needs `force`."""
import asyncio
import json

import pytest

from tests.fixclient import FixClient
from tests.shell.test_service import http, start_serve, stop

BUY_1141 = [(55, b"SGE.AU9999"), (54, b"1"), (60, b"20260105-02:00:00"), (38, b"1"), (40, b"2"),
            (44, b"1141.00"), (59, b"0")]


def au(body: bytes) -> dict:
    return next(v for v in json.loads(body)["reference_prices"] if v["symbol"] == "SGE.AU9999")


@pytest.mark.slow
async def test_posted_reference_price_opens_the_band_for_a_2026_gold_price(tmp_path):
    proc, fix_port, http_port = await start_serve(tmp_path, "--sessions-always-open")
    try:
        status, body = await asyncio.to_thread(http, http_port, "/reference-prices", None, "s3cret")
        assert status == 200 and au(body)["reference"] == "560.00" and au(body)["source"] == "config"

        client = await FixClient.connect(fix_port, "SHCLIENT1")
        await client.logon()
        await client.send(b"D", [(11, b"rp-1")] + BUY_1141)
        rej = await client.expect(b"8")
        assert (rej.get(11), rej.get(150)) == (b"rp-1", b"8")           # outside the band around 560

        body_1141 = b'{"prices": {"SGE.AU9999": "1141.24"}, "force": true}'
        status, _ = await asyncio.to_thread(http, http_port, "/reference-prices", body_1141)
        assert status == 401                                            # a mutation needs the token
        status, body = await asyncio.to_thread(http, http_port, "/reference-prices",
                                               b'{"prices": {"SGE.AU9999": "1141.24"}}', "s3cret")
        assert status == 409 and json.loads(body)["error"] == "max_jump_pct", body     # as POST /fx
        status, body = await asyncio.to_thread(http, http_port, "/reference-prices", body_1141, "s3cret")
        assert status == 200, body
        status, body = await asyncio.to_thread(http, http_port, "/reference-prices", None, "s3cret")
        v = au(body)
        assert (v["reference"], v["band"], v["source"]) == ("1141.24", ["798.87", "1483.61"], "admin")
        assert v["collar"] == ["1027.12", "1255.36"]

        await client.send(b"D", [(11, b"rp-2")] + BUY_1141)
        ack = await client.expect(b"8")
        assert (ack.get(11), ack.get(150), ack.get(39)) == (b"rp-2", b"0", b"0")

        # +25 % in one request is refused and names the key; nothing moves.
        status, body = await asyncio.to_thread(http, http_port, "/reference-prices",
                                               b'{"prices": {"SGE.AU9999": "1426.55"}}', "s3cret")
        assert status == 409 and json.loads(body)["error"] == "max_jump_pct"
        detail = json.loads(body)["detail"]
        assert "SGE.AU9999" in detail and "reference.max_jump_pct = 20" in detail and "force" in detail
        status, body = await asyncio.to_thread(http, http_port, "/reference-prices",
                                               b'{"prices": {"SGE.AU9999": "1141.245"}}', "s3cret")
        assert status == 400 and json.loads(body)["error"] == "off_tick", body       # the request's fault
        status, body = await asyncio.to_thread(http, http_port, "/reference-prices",
                                               b'{"prices": {"SGE.NOPE": "1.00"}}', "s3cret")
        assert status == 404 and json.loads(body)["error"] == "unknown_symbol"
        status, body = await asyncio.to_thread(http, http_port, "/reference-prices", None, "s3cret")
        assert au(body)["reference"] == "1141.24"
        status, body = await asyncio.to_thread(http, http_port, "/metrics")
        assert ('goldrouter_reference_price_updates_total{instrument="SGE.AU9999",source="admin"} 1.0'
                in body.decode())
        client.writer.close()
    finally:
        if proc.returncode is None:
            await stop(proc)
