"""Values FIX 4.4 defines but the router does not support: the dictionary lets them through and the
order flow answers with an ExecutionReport reject (150=8, 39=8) carrying the ClOrdID, OrdRejReason 11
and a Text listing the supported values; a GoldRoutable(7007) that contradicts Symbol is refused."""
from __future__ import annotations

import pytest

from router.fix.codec import encode, parse_frame
from router.fix.dictionary import load_dictionary
from router.fix.validate import validate
from tests.orders.test_flow import HK, SH, Harness, f

STOCK = load_dictionary()


@pytest.fixture
def h() -> Harness:
    return Harness()


def _rejected(outs, clordid: str) -> bytes:
    (rep,) = outs
    assert rep.msg_type == b"8"
    assert (f(rep, 150), f(rep, 39), f(rep, 11), f(rep, 103)) == (b"8", b"8", clordid.encode(), b"11")
    return f(rep, 58)


@pytest.mark.parametrize("tag, value, text", [
    (40, "3", b"OrdType(40) 3 not supported; supported: 1 (market), 2 (limit)"),
    (40, "P", b"OrdType(40) P not supported; supported: 1 (market), 2 (limit)"),
    (54, "5", b"Side(54) 5 not supported; supported: 1 (buy), 2 (sell)"),
    (59, "2", b"TimeInForce(59) 2 not supported; supported: 0 (day), 1 (good till cancel), 3 (immediate or "
              b"cancel), 4 (fill or kill), 6 (good till date)"),
    (59, "7", b"TimeInForce(59) 7 not supported"),
    (18, "6 G", b"ExecInst(18) G not supported; supported: 6 (participate don't initiate)"),
    (7001, "EUR", b"GoldSettlCcy(7001) EUR not supported; supported: CNH, CNY, HKD, USD"),
    (7003, "KG12", b"GoldBarForm(7003) KG12 not supported; supported: KG1, G100, KG3, LGD, TAEL5, ANY"),
    (7004, "T3", b"GoldSettlCycle(7004) T3 not supported; supported: T0, T1, T2, TD"),
    (7005, "SGE LBMA", b"GoldAllowedVenues(7005) LBMA not supported; supported: HKGX, SGE, SGEI"),
])
def test_fix_value_the_router_does_not_support_gets_an_execution_report(h: Harness, tag, value, text) -> None:
    body = [(11, "U1"), (55, "GOLD.KG9999"), (54, 1), (60, "20260101-00:00:00"), (38, 1000), (40, 2),
            (44, "561.00")]
    body = [(t, value if t == tag else v) for t, v in body]
    if tag not in dict(body):
        body.append((tag, value))
    # The stock-based dictionary accepts the value: no session Reject.
    raw = encode(b"D", SH.encode(), b"GOLDRTR", 1, b"20260101-00:00:00.000", body)
    assert validate(parse_frame(raw), STOCK) is None
    assert text in _rejected(h.send(SH, b"D", body), "U1")


def test_dictionary_holds_every_fix44_value_of_the_order_fields() -> None:
    assert len(STOCK.fields[40].values) == 17 and {b"3", b"4", b"P"} <= STOCK.fields[40].values
    assert {b"2", b"5", b"7"} <= STOCK.fields[59].values and {b"3", b"G"} <= STOCK.fields[54].values
    assert {b"1", b"2", b"3", b"4", b"5", b"6", b"7"} == STOCK.fields[530].values
    assert len(STOCK.fields[18].values) == 40
    assert not any(STOCK.fields[t].values for t in (7001, 7003, 7004, 7005))  # validated by the order flow


def test_gold_routable_contradicting_symbol_is_rejected(h: Harness) -> None:
    text = _rejected(h.order(SH, "GOLD.KG9999", 1, 1000, "561.00", clordid="R1", extra=[(7007, "N")]), "R1")
    assert b"GoldRoutable(7007) N contradicts Symbol(55) GOLD.KG9999, which is a routable product" in text
    text = _rejected(h.order(HK, "HKGX.RKG", 1, 1, "561.00", clordid="R2", extra=[(7007, "Y")]), "R2")
    assert b"GoldRoutable(7007) Y contradicts Symbol(55) HKGX.RKG, which is an instrument" in text
    (ok,) = [o for o in h.order(HK, "HKGX.RKG", 1, 1, "550.00", clordid="R3", extra=[(7007, "N")])
             if o.msg_type == b"8"]
    assert f(ok, 150) == b"0"


def test_mass_cancel_texts(h: Harness) -> None:
    (rep,) = h.send(SH, b"q", [(11, "MC1"), (530, 1), (60, "20260101-00:00:00")])
    assert f(rep, 531) == b"0" and f(rep, 532) == b"1"
    assert b"MassCancelRequestType(530) 1 cancels the orders of one Symbol(55): send Symbol(55)" in f(rep, 58)
    (rep,) = h.send(SH, b"q", [(11, "MC2"), (530, 4), (60, "20260101-00:00:00")])
    assert f(rep, 531) == b"0" and f(rep, 532) == b"0" and f(rep, 11) == b"MC2"
    assert f(rep, 58) == (b"MassCancelRequestType(530) 4 not supported; supported: 1 (cancel orders for a "
                          b"security), 7 (cancel all orders)")
