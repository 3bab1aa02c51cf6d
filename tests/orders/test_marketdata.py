"""Market data and reference data: snapshots, incremental refreshes, the consolidated group view,
SecurityList, and the rejects for bad requests, driven through the real order flow."""
from __future__ import annotations

from decimal import Decimal

import pytest

from router.domain.convert import to_cny_g_fine_exact, to_usd_oz_fine_exact
from tests.orders.test_flow import HK, SH, Harness, f


def md_request(req_id: str, symbols: list[str], kind: int = 1, depth: int = 5, update: int | None = 1,
               types=(0, 1)) -> list:
    body = [(262, req_id), (263, kind), (264, depth)]
    if update is not None:
        body.append((265, update))
    body.append((267, len(types)))
    body += [(269, t) for t in types]
    body.append((146, len(symbols)))
    body += [(55, s) for s in symbols]
    return body


def groups(out, first_tag: int) -> list[dict]:
    """The repeating-group entries of a body, split at each `first_tag`."""
    entries: list[dict] = []
    for t, v in out.body:
        v = v if isinstance(v, bytes) else str(v).encode()
        if t == first_tag:
            entries.append({})
        if entries:
            entries[-1].setdefault(t, v)
    return entries


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_snapshot_shows_levels_best_first_in_instrument_units(h: Harness) -> None:
    h.order(HK, "SGE.AU9999", 2, 5, "561.00")
    h.order(HK, "SGE.AU9999", 2, 3, "560.50")
    h.order(HK, "SGE.AU9999", 2, 2, "560.50")
    h.order(SH, "SGE.AU9999", 1, 4, "559.00")
    (w,) = h.send(SH, b"V", md_request("M1", ["SGE.AU9999"], kind=0))
    assert w.msg_type == b"W" and f(w, 55) == b"SGE.AU9999" and f(w, 7009) == b"LOT"
    rows = [(e[269], e[270], e[271], e[346], e[290]) for e in groups(w, 269)]
    assert rows == [(b"0", b"559.00", b"4", b"1", b"1"), (b"1", b"560.50", b"5", b"2", b"1"),
                    (b"1", b"561.00", b"5", b"1", b"2")]
    # A snapshot request leaves no subscription behind.
    assert not [o for o in h.order(HK, "SGE.AU9999", 2, 1, "562.00") if o.msg_type in (b"W", b"X")]


def test_incremental_refresh_reports_new_change_and_delete(h: Harness) -> None:
    h.order(HK, "SGE.AU9999", 2, 5, "561.00")
    h.send(SH, b"V", md_request("M2", ["SGE.AU9999"], depth=2))
    outs = h.order(HK, "SGE.AU9999", 2, 3, "560.50")
    (x,) = [o for o in outs if o.msg_type == b"X"]
    assert x.session == SH and f(x, 262) == b"M2"
    assert [(e[279], e[269], e[270], e[271]) for e in groups(x, 279)] == [(b"0", b"1", b"560.50", b"3")]
    outs = h.order(HK, "SGE.AU9999", 2, 1, "560.50")
    (x,) = [o for o in outs if o.msg_type == b"X"]
    assert [(e[279], e[270], e[271], e[346]) for e in groups(x, 279)] == [(b"1", b"560.50", b"4", b"2")]
    # A buy takes the whole 560.50 level: it is deleted, and 561.00 remains.
    outs = h.order(SH, "SGE.AU9999", 1, 4, "560.50")
    (x,) = [o for o in outs if o.msg_type == b"X"]
    assert [(e[279], e[270]) for e in groups(x, 279)] == [(b"2", b"560.50")]
    # A third level outside the depth-2 window is not published.
    h.order(HK, "SGE.AU9999", 2, 1, "561.50")
    outs = h.order(HK, "SGE.AU9999", 2, 1, "562.00")
    assert not [o for o in outs if o.msg_type == b"X"]


def test_full_refresh_subscription_sends_snapshots_and_unsubscribe_stops_them(h: Harness) -> None:
    h.send(SH, b"V", md_request("M3", ["HKGX.RKG"], update=0))
    outs = h.order(HK, "HKGX.RKG", 2, 1, "560.00")
    (w,) = [o for o in outs if o.msg_type == b"W"]
    assert f(w, 262) == b"M3" and f(w, 270) == b"560.00"
    assert h.send(SH, b"V", md_request("M3", ["HKGX.RKG"], kind=2)) == []
    assert not [o for o in h.order(HK, "HKGX.RKG", 2, 1, "560.10") if o.session == SH]


def test_consolidated_views_merge_books_on_one_price_in_grams(h: Harness) -> None:
    h.order(HK, "HKGX.RKG", 2, 1, "560.00")
    h.order(HK, "SGE.AU9999", 2, 5, "560.00")
    cat = h.cfg.catalogue
    # The group view is in USD per fine troy ounce ...
    (w,) = h.send(SH, b"V", md_request("M4", ["KG9999"], kind=0, types=(1,)))
    assert f(w, 7013) == b"Y" and f(w, 7009) == b"GF" and f(w, 7010) == b"OZ"
    rows = groups(w, 269)
    # sizes in fine grams: a 1 kg 9999 bar is 999.9 g fine, five 10 g lots 49.995 g fine
    assert [(e[269], e[271], e[15], e[7014]) for e in rows] == [(b"1", b"999.9", b"USD", b"HKGX.RKG"),
                                                                (b"1", b"49.995", b"USD", b"SGE.AU9999")]
    # (CNH is cheaper than CNY at the same nominal price; each level is its book's converted price.)
    for e, symbol in zip(rows, ("HKGX.RKG", "SGE.AU9999")):
        exact = to_usd_oz_fine_exact(cat.instruments[symbol], Decimal("560.00"), h.flow.fx, cat.constants)
        assert abs(Decimal(e[270].decode()) - exact) < Decimal("0.001")
    # ... and the product view is quoted like the product's orders: CNY per fine gram.
    (w,) = h.send(SH, b"V", md_request("M5", ["GOLD.KG9999"], kind=0, types=(1,)))
    assert f(w, 7010) == b"G"
    rows = groups(w, 269)
    assert [(e[271], e[15], e[7014]) for e in rows] == [(b"999.9", b"CNY", b"HKGX.RKG"),
                                                        (b"49.995", b"CNY", b"SGE.AU9999")]
    for e, symbol in zip(rows, ("HKGX.RKG", "SGE.AU9999")):
        exact = to_cny_g_fine_exact(cat.instruments[symbol], Decimal("560.00"), h.flow.fx, cat.constants)
        assert abs(Decimal(e[270].decode()) - exact) < Decimal("0.0002")


def test_consolidated_refreshes_carry_7013_and_name_each_levels_instrument(h: Harness) -> None:
    h.send(SH, b"V", md_request("C1", ["GOLD.KG9999"], types=(1,)))
    outs = h.order(HK, "SGE.AU9999", 2, 5, "560.00")
    (x,) = [o for o in outs if o.msg_type == b"X"]
    assert f(x, 7013) == b"Y" and f(x, 7009) == b"GF" and f(x, 7010) == b"G" and f(x, 55) == b"GOLD.KG9999"
    assert [(e[279], e[271], e[7014]) for e in groups(x, 279)] == [(b"0", b"49.995", b"SGE.AU9999")]
    outs = h.order(HK, "SGE.AU9999", 2, 1, "560.00")
    (x,) = [o for o in outs if o.msg_type == b"X"]
    assert [(e[279], e[271], e[7014]) for e in groups(x, 279)] == [(b"1", b"59.994", b"SGE.AU9999")]
    # The level leaves: its delete names the same source instrument.
    outs = h.order(SH, "SGE.AU9999", 1, 6, "560.00")
    (x,) = [o for o in outs if o.msg_type == b"X"]
    assert [(e[279], e[7014]) for e in groups(x, 279)] == [(b"2", b"SGE.AU9999")]


def test_bad_market_data_requests_are_rejected_with_their_reason(h: Harness) -> None:
    cases = [
        (md_request("B1", ["XAU.NOPE"]), b"0"),
        (md_request("B2", ["SGE.AU9999"], kind=7), b"4"),
        (md_request("B3", ["SGE.AU9999"], depth=500), b"5"),
        (md_request("B4", ["SGE.AU9999"], update=3), b"6"),
        (md_request("B5", ["SGE.AU9999"], types=(4,)), b"8"),
        (md_request("B6", ["SGE.AU9999"], kind=2), b"0"),
    ]
    for body, code in cases:
        (y,) = h.send(SH, b"V", body)
        assert y.msg_type == b"Y" and f(y, 281) == code and f(y, 262) == body[0][1].encode()
    h.send(SH, b"V", md_request("DUP", ["SGE.AU9999"]))
    (y,) = h.send(SH, b"V", md_request("DUP", ["SGE.AU9999"]))
    assert f(y, 281) == b"1"
    # The same MDReqID in another session is a different subscription.
    assert h.send(HK, b"V", md_request("DUP", ["SGE.AU9999"]))[0].msg_type == b"W"


def test_disconnect_drops_the_sessions_subscriptions(h: Harness) -> None:
    h.send(SH, b"V", md_request("M5", ["SGE.AU9999"]))
    h.flow.disconnected(SH, h.now)
    assert not [o for o in h.order(HK, "SGE.AU9999", 2, 1, "561.00") if o.session == SH]


def test_security_list_carries_each_instruments_parameters(h: Harness) -> None:
    (y,) = h.send(SH, b"x", [(320, "S1"), (559, 4)])
    assert y.msg_type == b"y" and f(y, 560) == b"0" and f(y, 320) == b"S1"
    rows = {e[55]: e for e in groups(y, 55)}
    assert len(rows) == len(h.cfg.catalogue.instruments) + len(h.cfg.catalogue.products) == int(f(y, 146))
    tael = rows[b"HKGX.AU99TAEL"]
    assert (tael[207], tael[15], tael[969], tael[231], tael[7010], tael[7012]) == (
        b"HKGX", b"HKD", b"0.50", b"100", b"TAEL", b"0.990")
    assert tael[7011] == b"3705.471" and tael[7003] == b"TAEL5"
    au = rows[b"SGE.AU9999"]
    assert (au[15], au[969], au[231], au[562], au[7001], au[7004]) == (b"CNY", b"0.01", b"10", b"1", b"CNY", b"T0")
    assert rows[b"GOLD.KG9999"][7007] == b"Y"
    (one,) = h.send(SH, b"x", [(320, "S2"), (559, 0), (55, "HKGX.LLG")])
    (llg,) = groups(one, 55)
    assert llg[55] == b"HKGX.LLG"
    # GoldFineness is the quoted weight's fineness: 1 for a price per fine ounce (LGD bars are 995 gross),
    # so 100 oz are 3,110.34768 fine grams.
    assert (llg[7010], llg[7012], llg[7011], llg[7003]) == (b"OZ", b"1.0", b"3110.34768", b"LGD")
    (none,) = h.send(SH, b"x", [(320, "S3"), (559, 0), (55, "NOPE")])
    assert f(none, 560) == b"2" and f(none, 146) is None


def test_many_subscribers_each_get_their_own_refresh(h: Harness) -> None:
    for n in range(3):
        h.send(SH, b"V", md_request(f"S{n}", ["SGE.AU9999"], depth=1))
        h.send(HK, b"V", md_request(f"H{n}", ["SGE.AU9999"], depth=1))
    outs = h.order(HK, "SGE.AU9999", 2, 2, "561.00")
    xs = [(o.session, f(o, 262)) for o in outs if o.msg_type == b"X"]
    assert sorted(xs) == sorted([(SH, b"S%d" % n) for n in range(3)] + [(HK, b"H%d" % n) for n in range(3)])


def test_trades_reach_subscribers_that_asked_for_them(h: Harness) -> None:
    h.order(HK, "SGE.AU9999", 2, 5, "560.00")
    h.order(HK, "HKGX.RKG", 2, 1, "559.00")
    h.send(SH, b"V", md_request("T1", ["SGE.AU9999", "GOLD.KG9999"], types=(1, 2)))
    h.send(HK, b"V", md_request("T2", ["SGE.AU9999"], types=(1,)))      # book only, no trades
    outs = h.order(SH, "SGE.AU9999", 1, 2, "560.00")
    # One X per symbol, each with its own GoldConsolidated(7013).
    xs = {f(o, 55): o for o in outs if o.msg_type == b"X" and o.session == SH}
    assert sorted(xs) == [b"GOLD.KG9999", b"SGE.AU9999"]
    assert f(xs[b"SGE.AU9999"], 7013) == b"N" and f(xs[b"GOLD.KG9999"], 7013) == b"Y"
    (it,) = [e for e in groups(xs[b"SGE.AU9999"], 279) if e[269] == b"2"]
    assert (it[55], it[270], it[271], it[15]) == (b"SGE.AU9999", b"560.00", b"2", b"CNY") and 7014 not in it
    # The product view shows the same trade in fine grams and CNY per fine gram, naming its instrument.
    (pt,) = [e for e in groups(xs[b"GOLD.KG9999"], 279) if e[269] == b"2"]
    assert pt[271] == b"19.998" and pt[15] == b"CNY" and Decimal("560.00") < Decimal(pt[270].decode()) < Decimal("560.10")
    assert pt[7014] == b"SGE.AU9999"
    (hx,) = [o for o in outs if o.msg_type == b"X" and o.session == HK]
    assert all(e[269] != b"2" for e in groups(hx, 279))
