"""The cross-border quota over the real service, with the issue's figures (southbound limit CNY 1 bn, default
FX): only buys consume, at acceptance, at the limit notional in CNY; a cancel gives it back; a product
order's fill at a better price gives back the difference; a sell's fill adds its notional back; an
offshore sell on SGE consumes nothing. `GET /quota` and the metrics show the same figures."""
import asyncio
import json

import pytest

from tests.fixclient import FixClient
from tests.shell.test_service import http, start_serve, stop

T = (60, b"20260105-02:00:00")


def order(clordid: bytes, symbol: bytes, side: bytes, qty: bytes, price: bytes, tif: bytes = b"0") -> list:
    return [(11, clordid), (55, symbol), (54, side), T, (38, qty), (40, b"2"), (44, price), (59, tif)]


async def quota(port: int) -> dict:
    status, body = await asyncio.to_thread(http, port, "/quota", None, "s3cret")
    assert status == 200, body
    return json.loads(body)


async def reports(client: FixClient, clordid: bytes, n: int) -> list:
    """The next `n` execution reports for `clordid` (reports for other orders are skipped)."""
    out = []
    while len(out) < n:
        m = await client.expect(b"8")
        if m.get(11) == clordid:
            out.append(m)
    return out


@pytest.mark.slow
async def test_quota_connect_style_with_the_issue_figures(tmp_path):
    proc, fix_port, http_port = await start_serve(tmp_path, "--sessions-always-open")
    try:
        q = await quota(http_port)
        assert q["southbound"]["limit_cny"] == "1000000000.00" and q["southbound"]["used_cny"] == "0.00"
        assert set(q["northbound"]) == {"limit_cny", "used_cny", "balance_cny", "trading_day"}
        sh = await FixClient.connect(fix_port, "SHCLIENT1")
        await sh.logon()
        hk = await FixClient.connect(fix_port, "HKCLIENT1")
        await hk.logon()

        # A buy consumes its limit notional in CNY at acceptance (1 kg at CNH 561.73 = CNY 560,939.94) ...
        await sh.send(b"D", order(b"q-1", b"HKGX.RKG", b"1", b"1", b"561.73"))
        (ack,) = await reports(sh, b"q-1", 1)
        assert ack.get(150) == b"0", ack
        assert (await quota(http_port))["southbound"]["used_cny"] == "560939.94"
        # ... and a cancel gives it back.
        await sh.send(b"F", [(11, b"q-1c"), (41, b"q-1"), (55, b"HKGX.RKG"), (54, b"1"), T])
        (cxl,) = await reports(sh, b"q-1c", 1)
        assert cxl.get(150) == b"4"
        assert (await quota(http_port))["southbound"]["used_cny"] == "0.00"

        # SHCLIENT1 buys GOLD.KG9999 1,000 fine g at 561.00 IOC and fills 1 lot of HKGX.RKG at CNH 559.80:
        # the claim at the child limit (CNY 560,939.94) is replaced by the fill's CNY 559,012.66.
        await hk.send(b"D", order(b"h-1", b"HKGX.RKG", b"2", b"1", b"559.80"))
        await reports(hk, b"h-1", 1)
        await sh.send(b"D", order(b"q-2", b"GOLD.KG9999", b"1", b"1000", b"561.00", b"3"))
        # 1,000 fine g is one 1 kg 9999 bar (999.9 g fine); the 0.1 g fine no book can take is cancelled with
        # the IOC remainder, which gives back what the order still held.
        ack, fill, cxl = await reports(sh, b"q-2", 3)
        assert ack.get(150) == b"0" and fill.get(150) == b"F" and fill.get(39) == b"1", fill
        assert fill.get(32) == b"999.9" and fill.get(30) == b"HKGX" and fill.get(381) == b"559800.00"
        assert cxl.get(150) == b"4" and b"0.1 g fine not filled" in cxl.get(58), cxl
        q = await quota(http_port)
        assert q["southbound"]["used_cny"] == "559012.66"
        assert q["southbound"]["balance_cny"] == "999440987.34"

        # SHCLIENT1 sells that lot at 560.00 and it fills: the sale's CNY 559,212.38 comes back.
        await hk.send(b"D", order(b"h-2", b"HKGX.RKG", b"1", b"1", b"560.00"))
        await reports(hk, b"h-2", 1)
        await sh.send(b"D", order(b"q-3", b"HKGX.RKG", b"2", b"1", b"560.00"))
        ack, fill = await reports(sh, b"q-3", 2)
        assert fill.get(150) == b"F", fill
        q = await quota(http_port)
        assert q["southbound"]["used_cny"] == "-199.72"
        assert q["southbound"]["balance_cny"] == "1000000199.72"

        # HKCLIENT1 selling 100 lots of SGE.AU9999 consumes no northbound quota.
        await hk.send(b"D", order(b"h-3", b"SGE.AU9999", b"2", b"100", b"560.00"))
        (ack,) = await reports(hk, b"h-3", 1)
        assert ack.get(150) == b"0", ack
        assert (await quota(http_port))["northbound"]["used_cny"] == "0.00"

        status, body = await asyncio.to_thread(http, http_port, "/metrics")
        text = body.decode()
        assert 'goldrouter_cross_border_quota_used_cny{direction="southbound"} -199.718706' in text
        assert 'goldrouter_cross_border_quota_limit_cny{direction="southbound"} 1e+09' in text
        sh.writer.close()
        hk.writer.close()
    finally:
        if proc.returncode is None:
            await stop(proc)
