"""Self-trade prevention over FIX on the real service, with the issue's example: SHCLIENT1 buying and
then selling HKGX.LLG at 2400.00 no longer fills against itself; the resting buy is cancelled
(ExecType=Canceled with the reason) and the metrics count it."""
import asyncio

import pytest

from tests.fixclient import FixClient
from tests.shell.test_service import http, start_serve, stop

T = (60, b"20260105-02:00:00")


def llg(clordid: bytes, side: bytes) -> list:
    return [(11, clordid), (55, b"HKGX.LLG"), (54, side), T, (38, b"1"), (40, b"2"), (44, b"2400.00"), (59, b"0")]


@pytest.mark.slow
async def test_an_account_does_not_trade_with_itself(tmp_path):
    proc, fix_port, http_port = await start_serve(tmp_path, "--sessions-always-open")
    try:
        sh = await FixClient.connect(fix_port, "SHCLIENT1")
        await sh.logon()
        await sh.send(b"D", llg(b"stp-buy", b"1"))
        ack = await sh.expect(b"8")
        assert (ack.get(11), ack.get(150)) == (b"stp-buy", b"0")
        await sh.send(b"D", llg(b"stp-sell", b"2"))
        sell_ack, cxl = await sh.expect(b"8"), await sh.expect(b"8")
        assert (sell_ack.get(11), sell_ack.get(150), sell_ack.get(39)) == (b"stp-sell", b"0", b"0")
        assert (cxl.get(11), cxl.get(150), cxl.get(39), cxl.get(14)) == (b"stp-buy", b"4", b"4", b"0")
        assert b"self-trade prevention" in cxl.get(58) and b"cancel_resting" in cxl.get(58)
        status, body = await asyncio.to_thread(http, http_port, "/metrics")
        assert 'goldrouter_self_trade_cancels_total{mode="cancel_resting"} 1.0' in body.decode()
        sh.writer.close()
    finally:
        if proc.returncode is None:
            await stop(proc)
