"""The books of record fed by the real order flow (reference book, default configuration): margin held
while a margined position is open, released with realised P&L when it closes, the end of day's
variation margin, deferred fee and new requirement, and short sales within margin."""
from __future__ import annotations

from datetime import date

import pytest

from router.records.ledger import Ledger, money_text
from tests.orders.test_flow import HK, SH, Harness, ers, f

MICRO = 1_000_000


@pytest.fixture
def h() -> Harness:
    h = Harness()
    h.ledger = Ledger(h.cfg.catalogue, h.cfg.sections["calendars"])
    h.flow.fills = h.ledger
    return h


def view(h: Harness, account: str = SH) -> dict:
    return h.ledger.positions_view(h.accounts.get(account))


def trade(h: Harness, symbol: str, lots: int, price: str, buyer: str = SH, seller: str = HK) -> None:
    h.order(seller, symbol, 2, lots, price)
    outs = h.order(buyer, symbol, 1, lots, price)
    assert [f(o, 39) for o in ers(outs) if f(o, 150) == b"F"] == [b"2", b"2"], outs


def test_two_lots_of_autd_hold_margin_not_notional(h: Harness) -> None:
    trade(h, "SGE.AUTD", 2, "560.00")
    v = view(h)
    (pos,) = v["positions"]
    assert (pos["symbol"], pos["lots"], pos["grams"], pos["avg_price"]) == ("SGE.AUTD", 2, "2000", "560.00")
    assert (pos["margin_held"], pos["fees"], pos["realised_pnl"]) == ("190400.00", "560.00", "0.00")
    assert v["cash"]["CNY"] == {"balance": "199809040.00", "available": "199809040.00", "reserved": "0.00",
                                "margin_held": "190400.00"}
    # The short side holds the same margin: a short sale within margin needs no metal.
    short = view(h, HK)["positions"][0]
    assert (short["lots"], short["grams"], short["margin_held"]) == (-2, "-2000", "190400.00")
    assert view(h, HK)["metal"]["SGE_MAINLAND"]["ingot_1kg_9999"]["grams"] == "200000"


def test_margin_stays_held_after_the_order_is_done_and_is_released_on_close(h: Harness) -> None:
    trade(h, "SGE.AUTD", 2, "560.00")
    assert not list(h.flow.index.live_orders(SH))          # both orders done, margin still held
    trade(h, "SGE.AUTD", 2, "561.00", buyer=HK, seller=SH)
    (pos,) = view(h)["positions"]
    assert (pos["lots"], pos["margin_held"], pos["realised_pnl"], pos["fees"]) == (0, "0.00", "2000.00",
                                                                                 "1121.00")
    # 200,000,000 - 560 - 561 + 2,000 realised
    assert view(h)["cash"]["CNY"]["balance"] == "200000879.00"
    assert view(h, HK)["positions"][0]["realised_pnl"] == "-2000.00"


def test_end_of_day_then_close_next_day_matches_the_worked_example(h: Harness) -> None:
    trade(h, "SGE.AUTD", 2, "560.00")
    h.ledger.set_deferred_fee("SGE.AUTD", "shorts_pay", 200)          # 0.02 % a day
    moves = h.ledger.settle(date(2026, 1, 5), {"SGE.AUTD": 56500}, h.accounts, h.now)   # Monday: one day
    mine = next(m for m in moves if m["account"] == SH)
    assert money_text(mine["variation_margin"], "CNY") == "10000.00"
    assert money_text(mine["deferred_fee"], "CNY") == "226.00"
    assert money_text(mine["margin_required"], "CNY") == "192100.00"
    theirs = next(m for m in moves if m["account"] == HK)
    assert (money_text(theirs["variation_margin"], "CNY"), money_text(theirs["deferred_fee"], "CNY")) == \
        ("-10000.00", "-226.00")
    trade(h, "SGE.AUTD", 2, "566.00", buyer=HK, seller=SH)
    (pos,) = view(h)["positions"]
    assert (pos["lots"], pos["margin_held"]) == (0, "0.00")
    closing = h.ledger.trades[-1] if h.ledger.trades[-1].account == SH else h.ledger.trades[-2]
    assert (money_text(closing.realised, "CNY"), money_text(closing.fee, "CNY")) == ("2000.00", "566.00")
    # Cash is conserved: start - fees + variation margin + deferred fee + realised; no margin left held.
    assert view(h)["cash"]["CNY"]["balance"] == money_text(
        (200_000_000 - 560 - 566 + 10_000 + 226 + 2_000) * MICRO, "CNY")


def test_llg_short_sale_within_margin_is_accepted_without_metal(h: Harness) -> None:
    # 30 lots (93 kg, inside the default 100 kg per order) with no metal at all in London.
    h.accounts.get(SH).metal[("LONDON", "lgd_400oz")] = 0
    outs = h.order(SH, "HKGX.LLG", 2, 30, "2400.00")
    assert f(ers(outs)[0], 150) == b"0", outs
    h.order(HK, "HKGX.LLG", 1, 30, "2400.00")
    pos = next(p for p in view(h)["positions"] if p["symbol"] == "HKGX.LLG")
    # 30 lots x 100 oz x 2,400.00 = USD 7,200,000; 2 % margin; fee USD 3 a lot
    assert (pos["lots"], pos["margin_held"], pos["fees"]) == (-30, "144000.00", "90.00")
    assert view(h)["metal"]["LONDON"]["lgd_400oz"]["grams"] == "0"


def test_margin_call_refuses_opening_orders_until_a_closing_trade_covers_it(h: Harness) -> None:
    from router.ops.metrics import Metrics
    h.ledger.metrics = metrics = Metrics()
    h.accounts.get(SH).cash["CNY"] = 100_000 * MICRO
    trade(h, "SGE.AUTD", 1, "560.00")                     # margin 95,200.00 + fee 280.00: 4,520.00 left
    h.ledger.settle(date(2026, 1, 5), {"SGE.AUTD": 54000}, h.accounts, h.now)
    # variation margin -20,000.00, margin requirement down to 91,800.00: 12,080.00 short
    assert h.ledger.margin_calls == {(SH, "CNY"): 12_080 * MICRO}
    assert b"goldrouter_margin_calls 1.0" in metrics.exposition()
    (rej,) = h.order(SH, "SGE.AUTD", 1, 1, "540.00")
    assert rej.msg_type == b"j" and b"margin call" in f(rej, 58) and b"12080.00 CNY" in f(rej, 58)
    h.order(SH, "SGE.AU9999", 1, 1, "540.00")             # full-payment books are not margin-called
    trade(h, "SGE.AUTD", 1, "541.00", buyer=HK, seller=SH)  # a closing sale is accepted and covers the call
    assert h.ledger.margin_calls == {}
    assert b"goldrouter_margin_calls 0.0" in metrics.exposition()
    assert view(h)["positions"][0]["lots"] == 0


def test_working_closing_orders_count_against_the_position_they_close(h: Harness) -> None:
    trade(h, "SGE.AUTD", 2, "560.00")
    h.accounts.get(SH).cash["CNY"] = 0                                    # no free cash left at all
    (first,) = ers(h.order(SH, "SGE.AUTD", 2, 2, "570.00"))               # closes the long: no margin needed
    assert f(first, 150) == b"0"
    (second,) = ers(h.order(SH, "SGE.AUTD", 2, 2, "571.00"))              # would open a short: needs margin
    assert (f(second, 150), f(second, 103)) == (b"8", b"3")
    assert b"insufficient free cash for margin" in f(second, 58)
