"""The pure order flow: FIX application messages in, execution reports out, against the reference book.

Every test builds a fresh `OrderFlow` from the embedded default configuration (accounts SHCLIENT1
onshore and HKCLIENT1 offshore) on the pure-Python reference book, so the matching semantics are the
core's own; one test runs the same flow on the numba engine. Time is passed in; no clock, no sockets.
"""
from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from router.config import load_config
from router.fix.codec import encode, parse_frame
from router.fix.encoding import WireBody
from router.orders.flow import OrderFlow, make_engine
from router.orders.quota import Direction
from router.orders.risk import RiskEngine

T0 = 1_767_225_600_000_000_000          # 2026-01-01 00:00 UTC
SH, HK = "SHCLIENT1", "HKCLIENT1"
_CONFIG = load_config()


def assert_wire_matches_pairs(outs) -> None:
    """Every report the flow built with its encoding (a WireBody) encodes exactly as its pairs do,
    also as a drop copy: the gateway sends the wire, every other reader reads the pairs."""
    for out in outs:
        body = out.body
        if isinstance(body, WireBody) and body.wire is not None:
            plain = list(body)
            assert encode(out.msg_type, b"GOLDRTR", b"C", 7, b"20260101-00:00:00.000", body) == \
                encode(out.msg_type, b"GOLDRTR", b"C", 7, b"20260101-00:00:00.000", plain)
            copy_ = body.copy_with(797, b"Y")
            assert encode(b"8", b"G", b"D", 1, b"t", copy_) == encode(b"8", b"G", b"D", 1, b"t", [*plain, (797, b"Y")])


class Harness:
    """An OrderFlow plus a tiny FIX message builder; `closed` symbols report their session closed."""

    def __init__(self, *, reference: bool = True, config=None) -> None:
        cfg = config or _CONFIG
        p = copy.deepcopy(cfg.sections["participants"])
        self.closed: set[str] = set()
        self.cfg = cfg
        self.accounts = p.accounts
        self.quota = p.quota
        self.flow = OrderFlow(cfg.catalogue, cfg.fx, p.accounts, RiskEngine(p.risk, p.accounts), p.quota,
                              make_engine(cfg.catalogue, cfg.fx, reference=reference), run_id="t",
                              session_open=lambda s, now: s not in self.closed,
                              calendars=cfg.sections["calendars"], quota_schedules=p.quota_schedules)
        self.seq = 0
        self.now = T0
        self.n = 0

    def msg(self, msg_type: bytes, sender: str, body: list):
        self.seq += 1
        return parse_frame(encode(msg_type, sender.encode(), b"GOLDRTR", self.seq, b"20260101-00:00:00.000", body))

    def send(self, sender: str, msg_type: bytes, body: list):
        self.now += 1_000_000
        outs = self.flow.on_message(sender, self.msg(msg_type, sender, body), self.now)
        assert_wire_matches_pairs(outs)
        return outs

    def order(self, sender: str, symbol: str, side: int, qty, price=None, *, clordid: str | None = None,
              tif: str | None = None, extra: list | None = None):
        self.n += 1
        body = [(11, clordid or f"c{self.n}"), (55, symbol), (54, side), (60, "20260101-00:00:00"), (38, qty),
                (40, 1 if price is None else 2)]
        if price is not None:
            body.append((44, price))
        if tif is not None:
            body.append((59, tif))
        return self.send(sender, b"D", body + (extra or []))


def f(out, tag: int) -> bytes | None:
    """First value of `tag` in an Out's body, as bytes."""
    for t, v in out.body:
        if t == tag:
            return v if isinstance(v, bytes) else str(v).encode()
    return None


def ers(outs, session: str | None = None) -> list:
    return [o for o in outs if o.msg_type == b"8" and (session is None or o.session == session)]


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_limit_order_is_acknowledged_with_ids_and_explanation(h: Harness) -> None:
    outs = h.order(SH, "SGE.AU9999", 1, 5, "559.00", clordid="A1")
    (ack,) = outs
    assert (ack.session, ack.msg_type) == (SH, b"8")
    assert f(ack, 150) == b"0" and f(ack, 39) == b"0"
    assert f(ack, 11) == b"A1" and f(ack, 37).startswith(b"t-")
    assert f(ack, 151) == b"5" and f(ack, 14) == b"0" and f(ack, 44) == b"559.00"
    assert b"SGE.AU9999" in f(ack, 7006)
    again = h.order(SH, "SGE.AU9999", 1, 5, "559.00", clordid="A2")
    assert f(again[0], 17) != f(ack, 17) and f(again[0], 37) != f(ack, 37)


def test_trade_reports_both_sides_each_to_its_own_session(h: Harness) -> None:
    h.order(HK, "HKGX.RKG", 2, 3, "560.00", clordid="S1")
    outs = h.order(SH, "HKGX.RKG", 1, 2, "561.00", clordid="B1")
    taker = [o for o in ers(outs, SH) if f(o, 150) == b"F"]
    maker = [o for o in ers(outs, HK) if f(o, 150) == b"F"]
    assert len(taker) == 1 and len(maker) == 1
    (t,), (m,) = taker, maker
    assert f(t, 32) == b"2" and f(t, 31) == b"560.00" and f(t, 30) == b"HKGX"
    assert f(t, 39) == b"2" and f(t, 14) == b"2" and f(t, 151) == b"0" and f(t, 6) == b"560.0000"
    assert f(m, 11) == b"S1" and f(m, 39) == b"1" and f(m, 14) == b"2" and f(m, 151) == b"1"
    # Full payment: the buyer paid CNH and received kilobars in the HK vault; the seller the reverse.
    sh, hk = h.accounts[SH], h.accounts[HK]
    assert sh.metal[("HK", "ingot_1kg_9999")] == 200_000_000_000 + 2_000_000_000
    assert hk.metal[("HK", "ingot_1kg_9999")] == 200_000_000_000 - 2_000_000_000
    assert sh.cash["CNH"] < 200_000_000_000_000 - 2 * 1000 * 560 * 1_000_000


def test_partial_fill_then_cancel_keeps_cum_and_answers_with_orig_clordid(h: Harness) -> None:
    h.order(HK, "SGE.AU9999", 2, 10, "560.00", clordid="S1")
    h.order(SH, "SGE.AU9999", 1, 4, "560.00", clordid="B1")
    outs = h.send(HK, b"F", [(41, "S1"), (11, "S1x"), (55, "SGE.AU9999"), (54, 2), (60, "20260101-00:00:00")])
    (cxl,) = outs
    assert f(cxl, 150) == b"4" and f(cxl, 39) == b"4"
    assert f(cxl, 11) == b"S1x" and f(cxl, 41) == b"S1"
    assert f(cxl, 14) == b"4" and f(cxl, 151) == b"0"
    again = h.send(HK, b"F", [(41, "S1x"), (11, "S1y"), (55, "SGE.AU9999"), (54, 2), (60, "20260101-00:00:00")])
    assert again[0].msg_type == b"9" and f(again[0], 102) == b"0"       # too late


def test_duplicate_clordid_is_rejected_per_session(h: Harness) -> None:
    h.order(SH, "SGE.AU9999", 1, 1, "550.00", clordid="DUP")
    (rej,) = h.order(SH, "SGE.AU9999", 1, 1, "550.00", clordid="DUP")
    assert f(rej, 150) == b"8" and f(rej, 103) == b"6" and b"duplicate ClOrdID DUP" in f(rej, 58)
    (ok,) = h.order(HK, "SGE.AU9999", 1, 1, "550.00", clordid="DUP")
    assert f(ok, 150) == b"0"


def test_possible_resend_of_a_known_order_gets_its_status_not_a_reject(h: Harness) -> None:
    h.order(SH, "SGE.AU9999", 1, 3, "559.00", clordid="PR1")
    (st,) = h.order(SH, "SGE.AU9999", 1, 3, "559.00", clordid="PR1", extra=[(97, "Y")])
    assert f(st, 150) == b"I" and f(st, 39) == b"0" and f(st, 11) == b"PR1"
    assert len(list(h.flow.index.live_orders(SH))) == 1


def test_a_client_cannot_act_on_another_clients_order(h: Harness) -> None:
    (ack,) = h.order(HK, "SGE.AU9999", 2, 1, "565.00", clordid="MINE")
    outs = h.send(SH, b"F", [(41, "MINE"), (11, "X1"), (55, "SGE.AU9999"), (54, 2), (60, "20260101-00:00:00")])
    assert outs[0].msg_type == b"9" and f(outs[0], 102) == b"1" and f(outs[0], 434) == b"1"
    by_id = h.send(SH, b"F", [(41, "MINE"), (37, f(ack, 37)), (11, "X2"), (55, "SGE.AU9999"), (54, 2),
                              (60, "20260101-00:00:00")])
    assert by_id[0].msg_type == b"9" and f(by_id[0], 102) == b"1"
    st = h.send(SH, b"H", [(11, "MINE"), (55, "SGE.AU9999"), (54, 2)])
    assert f(st[0], 150) == b"I" and f(st[0], 39) == b"8"


@pytest.mark.parametrize("symbol,side,qty,price,code,text", [
    ("XAU.NOPE", 1, 1, "1.00", b"1", b"unknown instrument or product 'XAU.NOPE'"),
    ("SGE.AU9999", 1, 1, "560.005", b"99", b"not a multiple of the tick 0.01 on SGE.AU9999"),
    ("HKGX.AU99TAEL", 1, 1, "22300.20", b"99", b"not a multiple of the tick 0.50 on HKGX.AU99TAEL"),
    ("SGE.AU9999", 1, "1.5", "560.00", b"13", b"not a whole number of lots"),
    ("SGE.AU9999", 1, 0, "560.00", b"13", b"must be a positive number of lots"),
    ("SGE.AU9999", 1, 50001, "560.00", b"13", b"outside 1..50000 lots"),
    ("SGE.AU9999", 1, 1, "800.00", b"99", b"daily limit 392.00..728.00 CNY"),
    ("SGE.AUTD", 2, 1, "400.00", b"99", b"daily limit 470.40..649.60 CNY"),
])
def test_bad_orders_are_rejected_with_a_code_and_a_precise_text(h: Harness, symbol, side, qty, price, code,
                                                                text) -> None:
    (rej,) = h.order(SH, symbol, side, qty, price)
    assert f(rej, 150) == b"8" and f(rej, 39) == b"8"
    assert f(rej, 103) == code, f(rej, 58)
    assert text in f(rej, 58)


def test_closed_session_is_rejected_with_exchange_closed(h: Harness) -> None:
    h.closed.add("HKGX.AU99TAEL")
    (rej,) = h.order(SH, "HKGX.AU99TAEL", 1, 1, "22300.00")
    assert f(rej, 103) == b"2" and b"trading session closed (schedule HKGX_OUTCRY)" in f(rej, 58)


def test_full_payment_checks_cash_and_metal_and_margin_checks_margin(h: Harness) -> None:
    sh = h.accounts[SH]
    sh.cash["CNY"] = 5_000 * 1_000_000          # CNY 5,000: not enough for 10 g at 560
    (rej,) = h.order(SH, "SGE.AU9999", 1, 1, "560.00")
    assert f(rej, 103) == b"3" and b"insufficient free cash" in f(rej, 58) and b"(CNY)" in f(rej, 58)
    sh.metal[("SGE_MAINLAND", "ingot_1kg_9999")] = 5_000_000     # 5 g in the vault: cannot sell a 10 g lot
    (rej,) = h.order(SH, "SGE.AU9999", 2, 1, "560.00")
    assert f(rej, 103) == b"3" and b"insufficient free metal" in f(rej, 58)
    # Au(T+D) 1 kg at 560 needs 17 % margin (~CNY 95,200), not the full CNY 560,000.
    sh.cash["CNY"] = 100_000 * 1_000_000
    (ack,) = h.order(SH, "SGE.AUTD", 1, 1, "560.00")
    assert f(ack, 150) == b"0"
    (rej,) = h.order(SH, "SGE.AUTD", 1, 1, "560.00")
    assert f(rej, 103) == b"3" and b"insufficient free cash for margin" in f(rej, 58)


def test_working_orders_reserve_cash_so_a_second_order_cannot_spend_it(h: Harness) -> None:
    sh = h.accounts[SH]
    sh.cash["CNY"] = 6_000 * 1_000_000          # enough for one 10 g lot at 560 plus fee, not two
    (a,) = h.order(SH, "SGE.AU9999", 1, 1, "560.00", clordid="R1")
    assert f(a, 150) == b"0"
    (b,) = h.order(SH, "SGE.AU9999", 1, 1, "560.00", clordid="R2")
    assert f(b, 150) == b"8" and f(b, 103) == b"3"
    h.send(SH, b"F", [(41, "R1"), (11, "R1c"), (55, "SGE.AU9999"), (54, 1), (60, "20260101-00:00:00")])
    (c,) = h.order(SH, "SGE.AU9999", 1, 1, "560.00", clordid="R3")
    assert f(c, 150) == b"0"


def test_product_order_crosses_the_border_to_the_cheapest_book_and_uses_quota(h: Harness) -> None:
    # HK liquidity at the same nominal 560 on a CNH book and a CNY book: CNH is cheaper in USD at
    # USDCNY 7.10 / USDCNH 7.11, so the onshore client is routed southbound to HKGX.RKG first.
    h.order(HK, "SGE.AU9999", 2, 100, "560.00")
    h.order(HK, "HKGX.RKG", 2, 1, "560.00")
    outs = h.order(SH, "GOLD.KG9999", 1, 1000, "562.00", tif="3", clordid="P1")
    fills = [o for o in ers(outs, SH) if f(o, 150) == b"F"]
    assert [f(o, 30) for o in fills] == [b"HKGX"]
    # 1,000 fine g: the one 1 kg bar (999.9 g fine) fills; the 0.1 g fine no book takes is cancelled.
    assert f(fills[0], 32) == b"999.9" and f(fills[0], 39) == b"1"
    assert f(fills[0], 381) == b"560000.00" and f(fills[0], 120) == b"CNH" and f(fills[0], 7017) == b"1000"
    cxl = ers(outs, SH)[-1]
    assert f(cxl, 150) == b"4" and b"0.1 g fine not filled: below one lot of every book" in f(cxl, 58)
    assert h.quota.used(Direction.SOUTHBOUND) > 0
    ack = ers(outs, SH)[0]
    assert f(ack, 150) == b"0" and f(ack, 7006).index(b"HKGX.RKG") < f(ack, 7006).index(b"SGE.AU9999")


def test_product_order_splits_across_venues_and_rests_the_remainder(h: Harness) -> None:
    h.order(HK, "HKGX.RKG", 2, 1, "560.00")                    # 1 kg
    h.order(HK, "SGE.AU9999", 2, 30, "560.50")                 # 300 g
    outs = h.order(SH, "GOLD.KG9999", 1, 2000, "561.00", clordid="SPLIT")
    fills = [o for o in ers(outs, SH) if f(o, 150) == b"F"]
    assert [f(o, 30) for o in fills] == [b"HKGX", b"SGE"]
    assert [f(o, 32) for o in fills] == [b"999.9", b"299.97"]           # fine grams
    assert [(f(o, 381), f(o, 120)) for o in fills] == [(b"560000.00", b"CNH"), (b"168150.00", b"CNY")]
    assert [(f(o, 7017), f(o, 7018)) for o in fills] == [(b"1000", b"G"), (b"300", b"G")]
    assert [f(o, 7008) for o in fills] == [b"HKGX.RKG", b"SGE.AU9999"]
    # each product fill says where the metal is and in what form
    assert [(f(o, 7002), f(o, 7003)) for o in fills] == [(b"HK", b"KG1"), (b"SGE_MAINLAND", b"KG1")]
    assert [f(o, 58) for o in fills] == [b"filled on HKGX.RKG at 560.00 CNH/gram",
                                         b"filled on SGE.AU9999 at 560.50 CNY/gram"]
    last = fills[-1]
    assert f(last, 14) == b"1299.87" and f(last, 151) == b"700.13" and f(last, 39) == b"1"
    # 70 whole lots (699.93 g fine) rest; the 0.2 g fine below one lot is reported not filled.
    restated = ers(outs, SH)[-1]
    assert f(restated, 150) == b"D" and f(restated, 151) == b"699.93"
    assert f(restated, 58) == b"0.2 g fine not filled: below one lot of SGE.AU9999 (9.999 g fine), where the order rests"
    # AvgPx is in the product's unit (CNY per fine gram), between the two converted fill prices.
    avg = Decimal(f(last, 6).decode())
    assert Decimal("555") < avg < Decimal("565")
    # The remainder rests on the best eligible book and fills there later, passively.
    later = h.order(HK, "SGE.AU9999", 2, 70, "555.00")
    passive = [o for o in ers(later, SH) if f(o, 150) == b"F"]
    assert len(passive) == 1 and f(passive[0], 11) == b"SPLIT" and f(passive[0], 39) == b"2"
    assert f(passive[0], 14) == b"1999.8"


def test_settlement_constraint_blocks_every_book_with_a_precise_text(h: Harness) -> None:
    (rej,) = h.order(SH, "GOLD.KG9999", 1, 1000, "561.00", extra=[(7001, "USD")])
    assert f(rej, 150) == b"8" and f(rej, 103) == b"11"
    text = f(rej, 58)
    for sym in (b"SGEI.IAU9999", b"HKGX.RKG", b"SGE.AU9999"):
        assert sym + b": settlement currency not as requested" in text
    assert b"xHKGX.RKG:settl_ccy_mismatch" in f(rej, 7006)


def test_settlement_constraints_narrow_the_route(h: Harness) -> None:
    h.order(HK, "HKGX.RKG", 2, 1, "559.00")
    h.order(HK, "SGE.AU9999", 2, 100, "559.00")
    outs = h.order(SH, "GOLD.KG9999", 1, 1000, "561.00", tif="3", extra=[(7002, "SGE_MAINLAND")])
    assert [f(o, 30) for o in ers(outs, SH) if f(o, 150) == b"F"] == [b"SGE"]
    outs = h.order(SH, "GOLD.KG9999", 1, 1000, "561.00", tif="3", extra=[(7005, "HKGX")])
    assert [f(o, 30) for o in ers(outs, SH) if f(o, 150) == b"F"] == [b"HKGX"]
    (rej,) = h.order(SH, "GOLD.KG9999", 1, 1000, "561.00", extra=[(7004, "T2")])
    assert f(rej, 150) == b"8" and b"settlement cycle not as requested" in f(rej, 58)
    (rej,) = h.order(SH, "GOLD.KG9999", 1, 1000, "561.00", extra=[(7003, "TAEL5")])
    assert f(rej, 150) == b"8" and b"bar form not as requested (delivers KG1)" in f(rej, 58)
    outs = h.order(SH, "GOLD.KG9999", 1, 1000, "561.00", tif="3", extra=[(7003, "KG1"), (7004, "T0")])
    assert f(ers(outs, SH)[0], 150) == b"0"


def test_quota_exhausted_rejects_and_cancel_gives_back_the_unfilled_part(h: Harness) -> None:
    h.quota.set_limits(10**18, 1_000_000 * 1_000_000)      # southbound CNY 1 m
    (ack,) = h.order(SH, "HKGX.RKG", 1, 1, "550.00", clordid="Q1")   # ~CNY 548k of quota
    assert f(ack, 150) == b"0"
    used = h.quota.used(Direction.SOUTHBOUND)
    assert used > 0
    (rej,) = h.order(SH, "HKGX.RKG", 1, 1, "550.00", clordid="Q2")
    assert f(rej, 103) == b"3" and b"quota" in f(rej, 58)
    h.send(SH, b"F", [(41, "Q1"), (11, "Q1c"), (55, "HKGX.RKG"), (54, 1), (60, "20260101-00:00:00")])
    assert h.quota.used(Direction.SOUTHBOUND) == 0
    (ok,) = h.order(SH, "HKGX.RKG", 1, 1, "550.00", clordid="Q3")
    assert f(ok, 150) == b"0"


def test_replace_changes_price_and_quantity_and_refuses_bad_requests(h: Harness) -> None:
    h.order(SH, "SGE.AU9999", 1, 10, "559.00", clordid="O1")
    (rep,) = h.send(SH, b"G", [(41, "O1"), (11, "O2"), (55, "SGE.AU9999"), (54, 1), (60, "20260101-00:00:00"),
                               (38, 8), (40, 2), (44, "559.50")])
    assert f(rep, 150) == b"5" and f(rep, 11) == b"O2" and f(rep, 41) == b"O1"
    assert f(rep, 38) == b"8" and f(rep, 44) == b"559.50" and f(rep, 151) == b"8"
    assert f(rep, 7006) == b"RPL B SGE.AU9999 8 @559.50; rests SGE.AU9999 559.50 (not re-routed)"
    # The replaced order trades at its new price.
    outs = h.order(HK, "SGE.AU9999", 2, 3, "559.50")
    fill = [o for o in ers(outs, SH) if f(o, 150) == b"F"][0]
    assert f(fill, 11) == b"O2" and f(fill, 31) == b"559.50" and f(fill, 151) == b"5"
    bad = h.send(SH, b"G", [(41, "O2"), (11, "O3"), (55, "SGE.AU9999"), (54, 1), (60, "20260101-00:00:00"),
                            (38, 2), (40, 2), (44, "559.50")])
    assert bad[0].msg_type == b"9" and f(bad[0], 434) == b"2"
    unknown = h.send(SH, b"G", [(41, "NOPE"), (11, "O4"), (55, "SGE.AU9999"), (54, 1), (60, "20260101-00:00:00"),
                                (38, 2), (40, 2), (44, "559.50")])
    assert f(unknown[0], 102) == b"1"
    off_tick = h.send(SH, b"G", [(41, "O2"), (11, "O5"), (55, "SGE.AU9999"), (54, 1), (60, "20260101-00:00:00"),
                                 (38, 9), (40, 2), (44, "559.555")])
    assert off_tick[0].msg_type == b"9"


def test_status_request_reports_the_current_state(h: Harness) -> None:
    h.order(SH, "SGE.AU9999", 1, 10, "559.00", clordid="ST1")
    h.order(HK, "SGE.AU9999", 2, 4, "559.00")
    (st,) = h.send(SH, b"H", [(11, "ST1"), (55, "SGE.AU9999"), (54, 1), (790, "REQ9")])
    assert f(st, 150) == b"I" and f(st, 39) == b"1" and f(st, 14) == b"4" and f(st, 151) == b"6"
    assert f(st, 790) == b"REQ9"
    (unknown,) = h.send(SH, b"H", [(11, "NEVER"), (55, "SGE.AU9999"), (54, 1), (790, "REQ10")])
    assert f(unknown, 150) == b"I" and f(unknown, 39) == b"8" and f(unknown, 790) == b"REQ10"
    (plain,) = h.send(SH, b"H", [(11, "ST1"), (55, "SGE.AU9999"), (54, 1)])
    assert f(plain, 790) is None


def test_mass_cancel_by_symbol_and_all(h: Harness) -> None:
    for n in range(3):
        h.order(SH, "SGE.AU9999", 1, 1, "550.00", clordid=f"M{n}")
    h.order(SH, "HKGX.RKG", 1, 1, "550.00", clordid="M9")
    h.order(HK, "SGE.AU9999", 1, 1, "550.00", clordid="OTHER")
    outs = h.send(SH, b"q", [(11, "MC1"), (530, 1), (55, "SGE.AU9999"), (60, "20260101-00:00:00")])
    assert len([o for o in ers(outs, SH) if f(o, 150) == b"4"]) == 3
    assert not ers(outs, HK)
    (rep,) = [o for o in outs if o.msg_type == b"r"]
    assert f(rep, 531) == b"1" and f(rep, 533) == b"3"
    outs = h.send(SH, b"q", [(11, "MC2"), (530, 7), (60, "20260101-00:00:00")])
    (rep,) = [o for o in outs if o.msg_type == b"r"]
    assert f(rep, 533) == b"1"
    outs = h.send(SH, b"q", [(11, "MC3"), (530, 1), (55, "NOPE"), (60, "20260101-00:00:00")])
    assert f(outs[0], 531) == b"0" and f(outs[0], 532) == b"1"


def test_kill_switch_cancels_working_orders_refuses_new_and_resumes(h: Harness) -> None:
    h.order(SH, "SGE.AU9999", 1, 1, "550.00", clordid="K1")
    h.order(HK, "SGE.AU9999", 2, 1, "570.00", clordid="K2")
    outs = h.flow.kill("account", SH, True, h.now)
    assert [(o.session, f(o, 11), f(o, 150)) for o in outs] == [(SH, b"K1", b"4")]
    (rej,) = h.order(SH, "SGE.AU9999", 1, 1, "550.00")
    assert f(rej, 103) == b"12" and b"kill switch" in f(rej, 58)
    (ok,) = h.order(HK, "SGE.AU9999", 2, 1, "571.00")
    assert f(ok, 150) == b"0"
    outs = h.flow.kill("global", None, True, h.now)
    assert sorted(f(o, 150) for o in outs) == [b"4", b"4"]
    (rej,) = h.order(HK, "SGE.AU9999", 2, 1, "571.00")
    assert f(rej, 103) == b"12"
    h.flow.kill("global", None, False, h.now)
    h.flow.kill("account", SH, False, h.now)
    (ok,) = h.order(SH, "SGE.AU9999", 1, 1, "550.00")
    assert f(ok, 150) == b"0"


def test_cancel_on_disconnect_cancels_only_that_sessions_orders(h: Harness) -> None:
    h.order(SH, "SGE.AU9999", 1, 1, "550.00", clordid="D1")
    h.order(HK, "SGE.AU9999", 1, 1, "550.00", clordid="D2")
    outs = h.flow.disconnected(SH, h.now)
    assert [(o.session, f(o, 11), f(o, 150), f(o, 58)) for o in outs] == [
        (SH, b"D1", b"4", b"cancelled on disconnect")]


def test_ioc_fok_and_market_orders(h: Harness) -> None:
    h.order(HK, "SGE.AU9999", 2, 3, "560.00")
    outs = h.order(SH, "SGE.AU9999", 1, 5, "560.00", tif="3")
    assert [f(o, 150) for o in ers(outs, SH)] == [b"0", b"F", b"4"]
    cancel = [o for o in ers(outs, SH) if f(o, 150) == b"4"][0]
    assert f(cancel, 14) == b"3" and b"immediate" in f(cancel, 58)
    h.order(HK, "SGE.AU9999", 2, 2, "560.00")
    outs = h.order(SH, "SGE.AU9999", 1, 5, "560.00", tif="4")
    assert [f(o, 150) for o in ers(outs, SH)] == [b"0", b"4"] and b"fill-or-kill" in f(ers(outs, SH)[1], 58)
    outs = h.order(SH, "SGE.AU9999", 1, 2)                        # market buy
    assert [f(o, 150) for o in ers(outs, SH)] == [b"0", b"F"]
    (rej,) = h.order(SH, "GOLD.KG9999", 1, 1000, "560.00", tif="4")
    assert f(rej, 103) == b"11"


def test_gtd_expires_on_timer_and_day_orders_expire_at_the_trading_day_roll(h: Harness) -> None:
    h.order(SH, "HKGX.LLG", 1, 1, "2390.00", clordid="G1", tif="6", extra=[(126, "20260101-00:10:00")])
    h.order(SH, "HKGX.LLG", 1, 1, "2390.00", clordid="DAY1")
    h.order(SH, "HKGX.LLG", 1, 1, "2390.00", clordid="GTC1", tif="1")
    assert h.flow.on_timer(T0 + 60 * 10**9) == []               # records each book's trading day
    outs = h.flow.on_timer(T0 + 11 * 60 * 10**9)
    assert [(f(o, 11), f(o, 150), f(o, 39)) for o in outs] == [(b"G1", b"C", b"C")]
    # The LLG schedule rolls its trading day within a week; DAY orders expire then, GTC stays.
    expired = []
    for hour in range(1, 24 * 7):
        expired += h.flow.on_timer(T0 + hour * 3600 * 10**9)
    assert [f(o, 11) for o in expired] == [b"DAY1"]
    (st,) = h.send(SH, b"H", [(11, "GTC1"), (55, "HKGX.LLG"), (54, 1)])
    assert f(st, 39) == b"0"


def test_throttle_rejects_a_burst_beyond_the_bucket(h: Harness) -> None:
    codes = []
    for _ in range(120):
        (out,) = h.order(SH, "SGE.AU9999", 1, 1, "550.00")
        h.now -= 1_000_000                      # all within the same instant
        codes.append(f(out, 150))
    assert codes.count(b"0") == 100 and codes[-1] == b"8"


def test_unsupported_message_type_gets_a_business_reject(h: Harness) -> None:
    (out,) = h.send(SH, b"AE", [(571, "x")])
    assert out.msg_type == b"j" and f(out, 380) == b"3" and f(out, 372) == b"AE"


def test_numba_engine_gives_the_same_reports_as_the_reference_book() -> None:
    runs = []
    for reference in (True, False):
        h = Harness(reference=reference)
        h.order(HK, "HKGX.RKG", 2, 1, "560.00")
        h.order(HK, "SGE.AU9999", 2, 30, "560.50")
        outs = h.order(SH, "GOLD.KG9999", 1, 2000, "561.00")
        outs += h.order(HK, "SGE.AU9999", 2, 70, "555.00")
        runs.append([(o.session, o.msg_type, [(t, v) for t, v in o.body if t not in (60,)]) for o in outs])
    assert runs[0] == runs[1]


def test_resting_product_order_can_be_replaced_and_cancelled(h: Harness) -> None:
    h.order(HK, "SGE.AU9999", 2, 6, "560.00")
    outs = h.order(SH, "GOLD.KG9999", 1, 2000, "561.00", clordid="R1")
    assert f(ers(outs, SH)[-1], 151) == b"1939.806"          # 194 lots of 9.999 g fine
    (rep,) = h.send(SH, b"G", [(41, "R1"), (11, "R2"), (55, "GOLD.KG9999"), (54, 1), (60, "20260101-00:00:00"),
                               (38, 1500), (40, 2), (44, "560.50")])
    # The new quantity is a maximum too: 144 whole lots of the resting book (1,439.856 g fine) stay open.
    assert f(rep, 150) == b"5" and f(rep, 38) == b"1500" and f(rep, 151) == b"1439.856" and f(rep, 44) == b"560.50"
    assert f(rep, 58) == b"0.15 g fine not filled: below one lot of SGE.AU9999 (9.999 g fine), where the order rests"
    # The remainder rests on SGE.AU9999 at the product limit converted to CNY per gross gram, rounded down.
    book = h.flow.engine.depth(h.cfg.catalogue.instruments["SGE.AU9999"].book_id, 1)[0]
    assert book[0]["qty"] == 144 and book[0]["price"] <= 56050
    # Its explanation names the book it keeps and the limit there, in CNY per gram.
    child = Decimal(int(book[0]["price"])).scaleb(-2)
    assert f(rep, 7006) == b"RPL B GOLD.KG9999 1500 @560.50; rests SGE.AU9999 %s (not re-routed)" % str(child).encode()
    (bad,) = h.send(SH, b"G", [(41, "R2"), (11, "R3"), (55, "GOLD.KG9999"), (54, 1), (60, "20260101-00:00:00"),
                               (38, 60), (40, 2), (44, "560.50")])
    assert bad.msg_type == b"9" and b"less than one lot of SGE.AU9999 (9.999 g fine)" in f(bad, 58)
    (cxl,) = h.send(SH, b"F", [(41, "R2"), (11, "R4"), (55, "GOLD.KG9999"), (54, 1), (60, "20260101-00:00:00")])
    assert f(cxl, 150) == b"4" and f(cxl, 14) == b"59.994"


def test_fx_update_reorders_the_route(h: Harness) -> None:
    h.order(HK, "HKGX.RKG", 2, 1, "560.00")
    h.order(HK, "SGE.AU9999", 2, 100, "560.00")
    # A much stronger CNH makes the CNH book the dearer one in USD: SGE (CNY) now ranks first.
    h.flow.set_fx(h.flow.fx.updated({"USDCNH": Decimal("6.90")}))
    outs = h.order(SH, "GOLD.KG9999", 1, 1000, "570.00", tif="3")
    assert [f(o, 30) for o in ers(outs, SH) if f(o, 150) == b"F"] == [b"SGE"]
    assert h.flow.routes_view(1)[0]["compared"][0]["symbol"] == "SGE.AU9999"


# -- invariants over random order flow ------------------------------------------------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_SYMBOLS = [("SGE.AU9999", 10), ("HKGX.RKG", 1), ("SGEI.IAU9999", 1), ("GOLD.KG9999", 1000)]
_new = st.tuples(st.just("new"), st.sampled_from([SH, HK]), st.integers(0, len(_SYMBOLS) - 1), st.sampled_from([1, 2]),
              st.integers(1, 5), st.integers(0, 8), st.sampled_from(["0", "1", "3"]))
_action = st.one_of(
    _new, _new, _new,
    st.tuples(st.just("cancel"), st.sampled_from([SH, HK]), st.integers(0, 60)),
    st.tuples(st.just("replace"), st.sampled_from([SH, HK]), st.integers(0, 60), st.integers(1, 6)),
)


def _all_reports(h: Harness, outs: list, seen: list) -> None:
    for o in outs:
        if o.msg_type == b"8":
            seen.append(o)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_action, min_size=5, max_size=40))
def test_random_flow_keeps_quantities_metal_and_reservations_consistent(actions) -> None:
    h = Harness()
    metal_before = sum(sum(a.metal.values()) for a in h.accounts)
    reports: list = []
    placed: list[tuple[str, str, str, int]] = []
    for n, a in enumerate(actions):
        if a[0] == "new":
            _, who, si, flip, mult, px_off, tif = a
            # Mostly SH buys and HK sells, so the books cross often; sometimes the other way round.
            side = (1 if who == SH else 2) if flip == 1 or px_off % 3 else (2 if who == SH else 1)
            symbol, unit = _SYMBOLS[si]
            price = 55960 + px_off * 10
            cl = f"N{n}"
            outs = h.order(who, symbol, side, mult * unit, f"{price // 100}.{price % 100:02d}", clordid=cl, tif=tif)
            placed.append((who, cl, symbol, side))
        elif a[0] == "cancel" and placed:
            who, cl, symbol, side = placed[a[2] % len(placed)]
            outs = h.send(who, b"F", [(41, cl), (11, f"X{n}"), (55, symbol), (54, side), (60, "20260101-00:00:00")])
        elif a[0] == "replace" and placed:
            who, cl, symbol, side = placed[a[2] % len(placed)]
            unit = dict(_SYMBOLS)[symbol]
            outs = h.send(who, b"G", [(41, cl), (11, f"R{n}"), (55, symbol), (54, side), (60, "20260101-00:00:00"),
                                      (38, a[3] * unit), (40, 2), (44, "560.00")])
        else:
            continue
        _all_reports(h, outs, reports)
    for who in (SH, HK):
        _all_reports(h, h.send(who, b"q", [(11, f"END{who}"), (530, 7), (60, "20260101-00:00:00")]), reports)
    # Every ExecID is unique; no report shows more done than ordered.
    assert len({f(r, 17) for r in reports}) == len(reports)
    for r in reports:
        if f(r, 150) != b"8":
            assert Decimal(f(r, 14).decode()) + Decimal(f(r, 151).decode()) <= Decimal(f(r, 38).decode())
    # Everything is done: nothing rests, nothing stays reserved, no open notional, and metal only moved.
    assert h.flow.engine.resting_orders() == 0 and not h.flow.index.live
    for acct in h.accounts:
        assert not any(acct.reserved_cash.values()) and not any(acct.reserved_metal.values())
        assert h.flow.risk.open_notional(acct.name) == 0
    assert sum(sum(a.metal.values()) for a in h.accounts) == metal_before


def test_market_orders_on_a_product_sweep_and_never_rest(h: Harness) -> None:
    h.order(HK, "HKGX.RKG", 2, 1, "560.00")
    outs = h.order(SH, "GOLD.KG9999", 1, 2000)
    assert [f(o, 150) for o in ers(outs, SH)] == [b"0", b"F", b"4"]
    assert f(ers(outs, SH)[1], 30) == b"HKGX" and f(ers(outs, SH)[2], 14) == b"999.9"
    outs = h.order(SH, "SGE.AU9999", 2, 1)           # nothing to sell into
    assert [f(o, 150) for o in ers(outs, SH)] == [b"0", b"4"]
    assert h.flow.engine.resting_orders() == 0


def test_tael_gold_in_hkd_outranks_shanghai_in_cny_at_the_reference_fixture(tmp_path) -> None:
    """Reference §5.4 at USDCNY 7.25 / USDHKD 7.80: HKGX 99 tael gold at HKD 22,300 per tael is cheaper per
    fine ounce than SGE Au99.99 at CNY 560.00 per gram, so a GOLD.HKSH buy fills in Hong Kong first."""
    overlay = tmp_path / "big.toml"
    overlay.write_text(
        '[fx]\nUSDCNY = 7.25\nUSDHKD = 7.80\n'
        '[risk.limits]\nmax_order_grams = "none"\nmax_notional_cny = "none"\ncredit_cny = "none"\n'
        '[accounts.SHCLIENT1.cash]\nCNY = "1000000000"\nHKD = "1000000000"\n'
        '[accounts.HKCLIENT1.metal.HK]\ntael_bar_990 = "1000000"\n'
        '[accounts.HKCLIENT1.metal.SGE_MAINLAND]\ningot_1kg_9999 = "1000000"\n')
    h = Harness(config=load_config(overlay))
    fine_grams = 374_290                     # 101 tael lots of 3,705.471 g fine would fit; 100 are offered
    assert f(h.order(HK, "HKGX.AU99TAEL", 2, 100, "22300.00")[0], 150) == b"0"
    assert f(h.order(HK, "SGE.AU9999", 2, 37_429, "560.00")[0], 150) == b"0"
    outs = h.order(SH, "GOLD.HKSH", 1, fine_grams, "562.00", tif="3")
    ack = ers(outs, SH)[0]
    assert f(ack, 150) == b"0", f(ack, 58)
    assert f(ack, 7006).index(b"HKGX.AU99TAEL") < f(ack, 7006).index(b"SGE.AU9999")
    fills = [o for o in ers(outs, SH) if f(o, 150) == b"F"]
    # Hong Kong first (100 lots, 370,547.1 g fine), then 374 lots of 10 g in Shanghai for what is left.
    assert [(f(o, 30), f(o, 7008), f(o, 32)) for o in fills] == [(b"HKGX", b"HKGX.AU99TAEL", b"370547.1"),
                                                                  (b"SGE", b"SGE.AU9999", b"3739.626")]
    assert (f(fills[0], 381), f(fills[0], 120), f(fills[0], 7017), f(fills[0], 7018)) == (
        b"223000000.00", b"HKD", b"10000", b"TAEL")
    assert f(ers(outs, SH)[-1], 150) == b"4"


def test_open_notional_follows_fills_and_replaces(h: Harness) -> None:
    risk = h.flow.risk
    h.order(SH, "SGE.AU9999", 1, 10, "560.00", clordid="N1")
    full = risk.open_notional(SH)
    assert full > 0
    h.order(HK, "SGE.AU9999", 2, 4, "560.00")
    assert risk.open_notional(SH) == full * 6 // 10
    h.send(SH, b"G", [(41, "N1"), (11, "N2"), (55, "SGE.AU9999"), (54, 1), (60, "20260101-00:00:00"), (38, 12),
                      (40, 2), (44, "560.00")])
    assert risk.open_notional(SH) == full * 8 // 10             # 8 lots open at the same price
    h.order(HK, "SGE.AU9999", 2, 2, "560.00")
    assert risk.open_notional(SH) == full * 6 // 10
    h.send(SH, b"F", [(41, "N2"), (11, "N3"), (55, "SGE.AU9999"), (54, 1), (60, "20260101-00:00:00")])
    assert risk.open_notional(SH) == 0


def test_a_replace_cannot_get_round_the_cross_border_quota(h: Harness) -> None:
    h.quota.set_limits(10**18, 1_200_000 * 1_000_000)        # southbound CNY 1.2 m: two 1 kg lots, not three
    h.order(SH, "HKGX.RKG", 1, 1, "550.00", clordid="Q1")
    used = h.quota.used(Direction.SOUTHBOUND)
    def replace(orig: str, new: str, lots: int) -> list:
        return h.send(SH, b"G", [(41, orig), (11, new), (55, "HKGX.RKG"), (54, 1), (60, "20260101-00:00:00"),
                                 (38, lots), (40, 2), (44, "550.00")])

    (rej,) = replace("Q1", "Q2", 3)
    assert rej.msg_type == b"9" and b"quota" in f(rej, 58)
    assert h.quota.used(Direction.SOUTHBOUND) == used
    (rep,) = replace("Q1", "Q3", 2)
    # (micro-CNY rounding: the replace prices its open lots itself)
    assert f(rep, 150) == b"5" and abs(h.quota.used(Direction.SOUTHBOUND) - 2 * used) <= 2
    (rep,) = replace("Q3", "Q4", 1)
    assert f(rep, 150) == b"5" and abs(h.quota.used(Direction.SOUTHBOUND) - used) <= 2
    h.send(SH, b"F", [(41, "Q4"), (11, "Q5"), (55, "HKGX.RKG"), (54, 1), (60, "20260101-00:00:00")])
    assert h.quota.used(Direction.SOUTHBOUND) == 0


def test_every_limit_reject_names_the_limit_it_hit(h: Harness) -> None:
    cases = [
        (("SGE.AU9999", 1, 1, "700.00"), "10 % around the reference 560.00 CNY per gram on SGE.AU9999, 504.00..616.00"),
        (("HKGX.AU99TAEL", 1, 1, "22300.10"), "not a multiple of the tick 0.50 on HKGX.AU99TAEL"),
        (("SGE.AU9999", 1, 20000, "560.00"), "199980 g fine above the account maximum of 100000 g fine per order (max_order_grams, fine grams)"),
        (("GOLD.KG9999", 1, 9, "560.00"), "SGE.AU9999: quantity below 1 lot(s) of 10 gram (9.999 g fine each)"),
        (("SGE.AU9999", 1, 10**9, "560.00"), "quantity outside 1..50000 lots of 10 gram"),
    ]
    for (symbol, side, qty, price), words in cases:
        (rej,) = h.order(SH, symbol, side, qty, price)
        assert f(rej, 150) == b"8" and words in f(rej, 58).decode(), (words, f(rej, 58))
    # A replace is held to the same account limits, and says which.
    h.order(SH, "SGE.AU9999", 1, 10, "559.00", clordid="L1")
    (cxl_rej,) = h.send(SH, b"G", [(41, "L1"), (11, "L2"), (55, "SGE.AU9999"), (54, 1), (60, "20260101-00:00:00"),
                                   (38, 20000), (40, 2), (44, "559.00")])
    assert cxl_rej.msg_type == b"9" and b"199980 g fine above the account maximum of 100000 g fine per order (max_order_grams, fine grams)" in f(cxl_rej, 58)


def test_ended_orders_free_their_core_rows_and_the_gauges_show_it() -> None:
    """On the numba engine an ended order's row is reused by the next order: many orders traded and
    cancelled leave the order table at its first size, and memory_stats (the gauges' source) says so."""
    h = Harness(reference=False)
    for n in range(300):
        h.now += 1_000_000_000                  # a second per round: inside the message-rate limit
        h.order(HK, "SGE.AU9999", 2, 1, "560.00", clordid=f"S{n}")
        h.order(SH, "SGE.AU9999", 1, 1, "560.00", clordid=f"B{n}")          # fills S{n}
        h.order(SH, "SGE.AU9999", 1, 1, "550.00", clordid=f"R{n}")          # rests ...
        h.send(SH, b"F", [(41, f"R{n}"), (11, f"X{n}"), (55, "SGE.AU9999"), (54, 1), (60, "20260101-00:00:00")])
    h.order(SH, "SGE.AU9999", 1, 1, "551.00", clordid="LIVE")
    stats = h.flow.memory_stats()
    assert stats["rows_live"] == h.flow.engine.resting_orders() == 1
    assert stats["rows_live"] + stats["rows_free"] <= 4 and stats["rows_capacity"] == 4096
    assert stats["index_live"] == 1 and stats["index_done"] == 900
    assert stats["index_clordids_used"] == 1_201                             # S, B, R, X and LIVE: taken today
