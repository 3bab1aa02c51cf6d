"""Units over FIX on the real service (issue 11, "Units"): a routable product's OrderQty is fine grams and a
maximum, each child takes whole lots of its book's fine content, what no book takes is reported unfilled
with the reason, and every fill states GrossTradeAmt(381) in the book's settlement currency and the gross
quantity in the book's own unit (GoldGrossQty 7017 / GoldGrossQtyUnit 7018)."""
import asyncio
from decimal import Decimal

import pytest

from tests.fixclient import FixClient
from tests.shell.test_quota_service import order, reports
from tests.shell.test_service import http, start_serve, stop


@pytest.mark.slow
async def test_fine_gram_products_gross_trade_amount_and_unfilled_reasons(tmp_path):
    proc, fix_port, http_port = await start_serve(tmp_path, "--sessions-always-open")
    try:
        sh = await FixClient.connect(fix_port, "SHCLIENT1")
        await sh.logon()
        hk = await FixClient.connect(fix_port, "HKCLIENT1")
        await hk.logon()

        # The SecurityList says a product's quantity is fine grams, a maximum.
        await sh.send(b"x", [(320, b"sl-1"), (559, b"0"), (55, b"GOLD.HKSH")])
        sl = await sh.expect(b"y")
        assert sl.get(7009) == b"GF" and b"OrderQty in fine grams" in sl.get(107), sl

        # The tael fill: 10 lots of 99 tael gold (1,000 taels = 37,429 g gross) at HKD 22,300.00.
        await hk.send(b"D", order(b"t-s", b"HKGX.AU99TAEL", b"2", b"10", b"22300.00"))
        (ack,) = await reports(hk, b"t-s", 1)
        assert ack.get(150) == b"0", ack
        # 37,429 fine g is not a multiple of a tael lot's 3,705.471 fine g: it still reaches the tael book,
        # which takes the 10 lots that fit; the 374.29 g fine left finds nothing within the limit.
        await sh.send(b"D", order(b"t-b", b"GOLD.HKSH", b"1", b"37429", b"550.00", b"3"))
        ack, fill, cxl = await reports(sh, b"t-b", 3)
        assert ack.get(150) == b"0", ack
        assert fill.get(150) == b"F" and fill.get(7008) == b"HKGX.AU99TAEL", fill
        assert fill.get(32) == b"37054.71" and fill.get(31) == b"547.8040" and fill.get(7009) == b"GF"
        assert (fill.get(381), fill.get(120)) == (b"22300000.00", b"HKD")
        assert (fill.get(7017), fill.get(7018)) == (b"1000", b"TAEL")
        assert (fill.get(7002), fill.get(7003)) == (b"HK", b"TAEL5")
        # LastQty x LastPx is the real cost, CNY 20.30 m (HKD 22.3 m), not the gross-gram CNY 20.50 m.
        value = Decimal(fill.get(32).decode()) * Decimal(fill.get(31).decode())
        assert Decimal("20298000") < value < Decimal("20300000"), value
        assert cxl.get(150) == b"4" and cxl.get(14) == b"37054.71", cxl
        assert b"374.29 g fine not filled: nothing more to trade with within the limit" in cxl.get(58)
        # The seller's instrument fill carries the same trade value, in lots.
        (sfill,) = await reports(hk, b"t-s", 1)
        assert sfill.get(150) == b"F" and sfill.get(32) == b"10" and sfill.get(7009) == b"LOT"
        assert (sfill.get(381), sfill.get(120), sfill.get(7017), sfill.get(7018)) == (
            b"22300000.00", b"HKD", b"1000", b"TAEL")
        assert (sfill.get(7002), sfill.get(7003)) == (b"HK", b"TAEL5")

        # A resting product order: whole 10 g lots of SGE.AU9999 (9.999 g fine each) rest; the 0.1 g fine
        # below one lot is reported not filled in a Restated report.
        await sh.send(b"D", order(b"r-1", b"GOLD.KG9999", b"1", b"1000", b"540.00"))
        ack, restated = await reports(sh, b"r-1", 2)
        assert ack.get(150) == b"0", ack
        assert restated.get(150) == b"D" and restated.get(151) == b"999.9", restated
        assert restated.get(58) == b"0.1 g fine not filled: below one lot of SGE.AU9999 (9.999 g fine), where the order rests"
        # A replace's quantity is a maximum too: 150 whole lots stay open, the 0.15 g fine left is said unfilled.
        await sh.send(b"G", [(11, b"r-1r"), (41, b"r-1"), (55, b"GOLD.KG9999"), (54, b"1"), (60, b"20260105-02:00:00"),
                             (38, b"1500"), (40, b"2"), (44, b"540.00")])
        (rep,) = await reports(sh, b"r-1r", 1)
        assert rep.get(150) == b"5" and rep.get(151) == b"1499.85", rep
        assert rep.get(58) == b"0.15 g fine not filled: below one lot of SGE.AU9999 (9.999 g fine), where the order rests"
        await sh.send(b"F", [(11, b"r-1c"), (41, b"r-1r"), (55, b"GOLD.KG9999"), (54, b"1"), (60, b"20260105-02:00:00")])
        (cxl,) = await reports(sh, b"r-1c", 1)
        assert cxl.get(150) == b"4"

        # Less than one lot of every book: the only case that is rejected.
        await sh.send(b"D", order(b"s-1", b"GOLD.KG9999", b"1", b"5", b"540.00"))
        (rej,) = await reports(sh, b"s-1", 1)
        assert rej.get(150) == b"8", rej
        assert b"below 1 lot(s) of 10 gram (9.999 g fine each)" in rej.get(58), rej.get(58)
        # What no book took, by product and reason, in the metrics.
        status, body = await asyncio.to_thread(http, http_port, "/metrics")
        text = body.decode()
        assert 'goldrouter_product_unfilled_fine_grams_total{product="GOLD.HKSH",reason="no_liquidity"} 374.29' in text
        assert 'goldrouter_product_unfilled_fine_grams_total{product="GOLD.KG9999",reason="below_one_lot"} 0.1' in text
        await asyncio.gather(sh.close(), hk.close())
    finally:
        if proc.returncode is None:
            await stop(proc)
