"""DAY expiry at the session close over real TCP FIX, with the application's clock set to a trading day
(the `serve` process takes no clock, so the application runs behind the real gateway here).

Tuesday 2026-12-01, 10:00 Beijing: SHCLIENT1 buys 1 lot of SGE.AU9999 at 560.00 DAY and 1 lot at 559.00
GTC. The timer ticks at 15:29 (nothing) and 15:31 (SGE_SPOT has closed): the client gets one
ExecutionReport ExecType=Expired for the DAY order; then a replace of the GTC order is refused
(CxlRejReason "session closed") and nothing trades.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from router.app import build_router_app
from router.config import load_config
from router.fix.config import with_overrides
from router.fix.gateway import start_gateway
from tests.fixclient import FixClient

CONFIG = load_config()


def _ns(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp()) * 1_000_000_000


OPEN, BEFORE_CLOSE, AFTER_CLOSE = _ns(2026, 12, 1, 2, 0), _ns(2026, 12, 1, 7, 29), _ns(2026, 12, 1, 7, 31)


def _order(clordid: bytes, tif: bytes, price: bytes) -> list:
    return [(11, clordid), (55, b"SGE.AU9999"), (54, b"1"), (60, b"20261201-02:00:00"), (38, b"1"),
            (40, b"2"), (44, price), (59, tif)]


@pytest.mark.slow
async def test_day_order_expires_at_the_sge_close_over_fix(caplog) -> None:
    caplog.set_level("INFO", logger="gold_router")
    now = [OPEN]
    app = build_router_app(CONFIG, sessions_always_open=False, clock=lambda: now[0])
    app.warm_up()
    gateway = await start_gateway(with_overrides(CONFIG.sections["fix"], port=0, store="memory"), app)
    app.attach_gateway(gateway)
    client = await FixClient.connect(gateway.port, "SHCLIENT1")
    try:
        await client.logon(reset=True)
        app.on_timer(OPEN)
        await client.send(b"D", _order(b"day-1", b"0", b"560.00"))
        assert (await client.expect(b"8")).get(150) == b"0"
        await client.send(b"D", _order(b"gtc-1", b"1", b"559.00"))
        assert (await client.expect(b"8")).get(150) == b"0"

        now[0] = BEFORE_CLOSE
        app.on_timer(BEFORE_CLOSE)
        now[0] = AFTER_CLOSE
        app.on_timer(AFTER_CLOSE)
        er = await client.expect(b"8")
        assert (er.get(11), er.get(150), er.get(39)) == (b"day-1", b"C", b"C")
        assert er.get(60).startswith(b"20261201-07:31")
        assert "orders expired: 1 DAY on SGE.AU9999" in caplog.text          # one INFO line per tick

        await client.send(b"G", [(11, b"gtc-2"), (41, b"gtc-1"), (55, b"SGE.AU9999"), (54, b"1"),
                                 (60, b"20261201-07:31:00"), (38, b"1"), (40, b"2"), (44, b"600.00")])
        rej = await client.expect(b"9")
        assert rej.get(434) == b"2" and b"session closed" in rej.get(58)
        status = app.flow.index.live
        assert {o.clordid for o in status.values() if not o.done} == {b"gtc-1"}
    finally:
        await client.close()
        await gateway.close(timeout=0.5)
        await asyncio.sleep(0)
