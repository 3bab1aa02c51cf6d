"""Order records, id allocation and the ExecutionReport / OrderCancelReject bodies."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings, strategies as st

from router.orders.index import (
    ET_CANCELED, ET_NEW, ET_REPLACED, ET_TRADE, OS_CANCELED, OS_NEW, OS_PARTIAL, Ids, Order, OrderIndex,
    decimal_to_units, fast_units, micro_text, parse_decimal, units_text,
)
from router.orders.reports import cancel_reject, exec_report, reject_report
from router.domain.reasons import Reason
from router.fix.encoding import WireBody

TS = b"20260101-00:00:00.000"


def body(fields) -> dict:
    out = {}
    for t, v in fields:
        out.setdefault(t, v if isinstance(v, bytes) else str(v).encode())
    return out


def instrument_order(oid=1, session="S1", clordid=b"C1") -> Order:
    return Order(oid, b"run-%d" % oid, session, "ACC", 0, clordid, "SGE.AU9999", False, 1, 2, 0, 10, 56000, 2)


def _template_order(product: bool, market: bool, tif: int, qty: int) -> Order:
    """A product buy (`qty` grams) or an instrument sell (`qty` lots), market or limit: the report
    template tests' order before its fills."""
    if product:
        return Order(7, b"run-7", "S1", "ACC", 0, b"P1", "GOLD.KG9999", True, 1, 1 if market else 2, tif,
                     qty * 1_000, None if market else 56100, 2, value_den=10**9)
    return Order(1, b"run-1", "S1", "ACC", 0, b"C1", "SGE.AU9999", False, 2, 1 if market else 2, tif, qty,
                 None if market else 56000, 2)


def test_number_texts_are_exact() -> None:
    assert micro_text(3_742_900_000) == b"3742.9" and micro_text(1_000_000) == b"1" and micro_text(5) == b"0.000005"
    assert units_text(56000, 2) == b"560.00" and units_text(5, 2) == b"0.05" and units_text(7, 0) == b"7"
    assert parse_decimal(b"560.50") == Decimal("560.50") and parse_decimal(b"x") is None
    assert parse_decimal(b"NaN") is None and parse_decimal(None) is None
    assert decimal_to_units(Decimal("560.50"), 2) == 56050 and decimal_to_units(Decimal("560.505"), 2) is None


def test_ids_are_unique_within_and_across_runs() -> None:
    a, b = Ids("r1"), Ids("r2")
    execs = {a.next_exec() for _ in range(1000)} | {b.next_exec() for _ in range(1000)}
    assert len(execs) == 2000
    assert a.next_oid() == (1, b"r1-1") and a.next_oid() == (2, b"r1-2")
    assert b.next_oid()[1] != Ids("r1").next_oid()[1]


def test_index_finds_only_the_sessions_own_orders_and_keeps_old_clordids() -> None:
    idx = OrderIndex()
    o = instrument_order()
    idx.add(o)
    assert idx.find("S1", b"C1", None) is o and idx.find("S1", None, b"run-1") is o
    assert idx.find("S2", b"C1", None) is None and idx.find("S2", None, b"run-1") is None
    idx.rename(o, b"C2")
    assert o.clordid == b"C2" and o.orig_clordid == b"C1"
    assert idx.find("S1", b"C1", None) is o and idx.find("S1", b"C2", None) is o
    assert idx.clordid_used("S1", b"C1") and idx.clordid_used("S1", b"C2") and not idx.clordid_used("S2", b"C1")
    assert list(idx.live_orders("S1")) == [o]
    idx.finish(o)
    assert list(idx.live_orders()) == []


def test_execution_report_of_an_instrument_order() -> None:
    o = instrument_order()
    o.explain = b"B SGE.AU9999 10; 1.SGE.AU9999 ..."
    new = body(exec_report(o, b"E1", ET_NEW, TS, explain=True))
    assert new[150] == b"0" and new[39] == b"0" and new[38] == b"10" and new[44] == b"560.00"
    assert new[151] == b"10" and new[14] == b"0" and new[6] == b"0" and new[7006].startswith(b"B SGE")
    assert 31 not in new and 41 not in new
    o.fill(4, 55990, b"SGE")
    o.fill(2, 56000, b"SGE")
    fill = body(exec_report(o, b"E2", ET_TRADE, TS, last=True))
    assert fill[39] == OS_PARTIAL and fill[32] == b"2" and fill[31] == b"560.00" and fill[30] == b"SGE"
    assert fill[14] == b"6" and fill[151] == b"4" and fill[6] == b"559.9333"


def test_execution_report_of_a_product_order_is_in_grams_and_product_price() -> None:
    o = Order(7, b"run-7", "S1", "ACC", 0, b"P1", "GOLD.KG9999", True, 1, 2, 0, 2_000_000_000, 56100, 2)
    o.value_den = 10**9
    o.fill(1_000_000_000, 55_906_860_000 * 1000, b"HKGX")     # 559.0686 CNY/fine g x 1e9
    rep = body(exec_report(o, b"E3", ET_TRADE, TS, last=True))
    assert rep[38] == b"2000" and rep[32] == b"1000" and rep[14] == b"1000" and rep[151] == b"1000"
    assert rep[31] == b"559.0686" and rep[6] == b"559.0686" and rep[44] == b"561.00"


def test_replaced_and_cancelled_reports_carry_the_original_clordid() -> None:
    idx = OrderIndex()
    o = instrument_order()
    idx.add(o)
    idx.rename(o, b"C2")
    assert body(exec_report(o, b"E4", ET_REPLACED, TS))[41] == b"C1"
    o.status = OS_CANCELED
    rep = body(exec_report(o, b"E5", b"4", TS))
    assert rep[151] == b"0" and rep[39] == b"4"


def test_reject_and_cancel_reject_bodies() -> None:
    rej = body(reject_report(b"E6", TS, b"C9", "ACC", b"SGE.AU9999", b"1", b"10", b"2", Reason.BAD_PRICE, "off tick"))
    assert rej[37] == b"NONE" and rej[150] == b"8" and rej[39] == b"8" and rej[103] == b"99" and rej[58] == b"off tick"
    cxl = body(cancel_reject(None, b"C10", b"C9", b"1", Reason.UNKNOWN_ORDER, "unknown"))
    assert cxl[37] == b"NONE" and cxl[102] == b"1" and cxl[434] == b"1" and cxl[41] == b"C9"


def test_done_orders_are_forgotten_after_a_bound_and_clordids_free_up_at_the_day_roll() -> None:
    idx = OrderIndex(done_kept=2)
    orders = [instrument_order(n, clordid=b"C%d" % n) for n in range(1, 5)]
    for o in orders:
        idx.add(o)
    idx.rename(orders[0], b"C1r")
    idx.finish(orders[3])                     # still live: 1, 2, 3
    for o in orders[:3]:
        idx.finish(o)
    # Four done, two kept: orders 4 and 1 (the first two finished) are forgotten under every name.
    assert idx.find("S1", b"C4", None) is None and idx.find("S1", None, b"run-4") is None
    assert idx.find("S1", b"C1", None) is None and idx.find("S1", b"C1r", None) is None
    assert idx.find("S1", b"C2", None) is orders[1] and idx.find("S1", b"C3", None) is orders[2]
    assert idx.clordid_used("S1", b"C1")      # still taken today
    live = instrument_order(9, clordid=b"L9")
    idx.add(live)
    idx.new_day()
    assert not idx.clordid_used("S1", b"C1") and idx.clordid_used("S1", b"L9")


@given(st.from_regex(rb"\A[0-9]{1,7}(\.[0-9]{0,8})?\Z") | st.binary(max_size=10), st.integers(0, 6))
@settings(max_examples=3000, deadline=None)
def test_fast_units_agrees_with_the_exact_decimal_reading(raw: bytes, decimals: int) -> None:
    """The Decimal-free reader gives the exact units whenever it answers, and answers every plain
    non-negative decimal text that is a whole number of units."""
    got = fast_units(raw, decimals)
    d = parse_decimal(raw)
    exact = decimal_to_units(d, decimals) if d is not None and d >= 0 else None
    if got is not None:
        assert got == exact
    plain = raw[:1].isdigit() and raw.replace(b".", b"", 1).isdigit()
    if plain and exact is not None:
        assert got == exact


def test_report_fields_cached_while_working_dropped_when_done() -> None:
    o = instrument_order(3, clordid=b"C3")
    working = body(exec_report(o, b"E1", ET_NEW, TS))
    assert o.er_fixed is not None
    o.status = OS_CANCELED
    done = body(exec_report(o, b"E2", ET_CANCELED, TS))
    # A done order is kept for status requests: it should not hold the cached fields.
    assert o.er_fixed is None
    again = body(exec_report(o, b"E3", ET_CANCELED, TS))
    fixed_tags = (1, 55, 54, 38, 40, 44, 59)
    assert [working[t] for t in fixed_tags] == [done[t] for t in fixed_tags] == [again[t] for t in fixed_tags]
    assert [working[t] for t in fixed_tags] == [b"ACC", b"SGE.AU9999", b"1", b"10", b"2", b"560.00", b"0"]
    assert all(isinstance(v, bytes) for _, v in exec_report(o, b"E4", ET_CANCELED, TS, text="x"))


def test_index_names_are_tuples_the_collector_can_stop_tracking() -> None:
    import gc
    idx = OrderIndex()
    o = instrument_order(5, clordid=b"C5")
    idx.add(o)
    idx.rename(o, b"c5-r")
    gc.collect()
    assert not gc.is_tracked(idx._names[o.oid])
    assert idx.find(o.session, b"c5-r", None) is o and idx.find(o.session, o.orig_clordid, None) is o


@settings(max_examples=200, deadline=None)
@given(product=st.booleans(), exec_type=st.sampled_from([ET_NEW, ET_TRADE, ET_REPLACED, ET_CANCELED, b"C", b"I"]),
       renamed=st.booleans(), status_req=st.sampled_from([None, b"Q7"]), rej=st.sampled_from([None, Reason.BAD_PRICE]),
       fills=st.integers(0, 3), text=st.sampled_from([b"", "remainder cancelled", b"done"]), explain=st.booleans(),
       market=st.booleans())
def test_the_encoded_report_is_field_for_field_the_reference_pairs(product, exec_type, renamed, status_req, rej,
                                                                   fills, text, explain, market) -> None:
    """exec_report builds the body encoded; `_exec_report_pairs` builds the same fields as pairs the
    plain way. Whatever the order's state, both encode to the same bytes, in the same order."""
    from router.fix.codec import encode
    from router.fix.encoding import WireBody
    from router.orders.reports import _exec_report_pairs

    if product:
        o = Order(7, b"run-7", "S1", "ACC", 0, b"P1", "GOLD.KG9999", True, 1, 1 if market else 2, 3,
                  2_000_000_000, None if market else 56100, 2)
        o.value_den = 10**9
    else:
        o = Order(1, b"run-1", "S1", "ACC", 0, b"C1", "SGE.AU9999", False, 2, 1 if market else 2, 0, 10,
                  None if market else 56000, 2)
    o.explain = b"B SGE.AU9999 10; 1.SGE.AU9999 560.00=2402.72/2403.10r"
    if renamed:
        idx = OrderIndex()
        idx.add(o)
        idx.rename(o, b"C2")
    for n in range(fills):
        o.fill(1_000_000 if product else 1, (55_900_000_000_000 if product else 55990) + n, b"SGE" if n % 2 else b"")
    last = exec_type == ET_TRADE and fills > 0
    got = exec_report(o, b"E9", exec_type, TS, text=text, rej=rej, last=last, explain=explain,
                      status_req_id=status_req)
    qty_text = micro_text if product else (lambda q: b"%d" % q)
    done = o.status in (b"2", b"4", b"8", b"C")
    want = _exec_report_pairs(o, b"E9", exec_type, TS, text, rej, last, explain, status_req,
                              b"0" if done else qty_text(o.leaves), qty_text(o.cum) if o.cum else b"0",
                              o.avg_px_text() if o.cum else b"0")
    assert isinstance(got, WireBody)
    assert encode(b"8", b"G", b"S1", 1, TS, got) == encode(b"8", b"G", b"S1", 1, TS, want)
    assert list(got) == [(t, v if isinstance(v, bytes) else str(v).encode()) for t, v in want]


@settings(max_examples=400, deadline=None)
@given(orders=st.lists(st.tuples(st.sampled_from(["ACC", "B2"]), st.booleans(), st.sampled_from([1, 2]),
                                  st.integers(1, 3), st.sampled_from([1, 2]), st.sampled_from([None, 56000, 56010]),
                                  st.sampled_from([0, 1, 3, 6])), min_size=1, max_size=12))
def test_reused_fixed_fields_are_always_the_orders_own(orders) -> None:
    """The encoded Account..TimeInForce fields come from a small bounded table keyed by the values
    they show: for any sequence of orders (repeating and differing in every one of those values,
    the table cleared when full), each order gets exactly its own fields, encoded as its pairs."""
    import router.orders.reports as reports
    from router.fix.codec import encode

    saved = reports.FIXED_CACHE_MAX
    reports.FIXED_CACHE_MAX = 3
    try:
        for account, product, side, qty, ord_type, price, tif in orders:
            symbol = "GOLD.KG9999" if product else "SGE.AU9999"
            o = Order(1, b"run-1", "S1", account, 0, b"C1", symbol, product, side, ord_type, tif,
                      qty * (1_000_000 if product else 1), price, 2)
            got = reports._fixed_fields(o)
            want = encode(b"8", b"G", b"S1", 1, TS, reports._fixed_pairs(o))
            assert encode(b"8", b"G", b"S1", 1, TS, list(WireBody(got))) == want
            assert len(reports._FIXED) <= 3
    finally:
        reports.FIXED_CACHE_MAX = saved


def test_quiet_report_leaves_each_order_as_exec_report_does_and_builds_nothing() -> None:
    """The replay's stand-in (reports.quiet_report): the order's kept fields follow the same life, new,
    working, done, as with exec_report (the state hash covers them); its body takes fields and is no report."""
    from router.orders.reports import UNREAD, quiet_report
    loud, quiet = instrument_order(4, clordid=b"C4"), instrument_order(4, clordid=b"C4")
    for status, et in ((None, ET_NEW), (OS_PARTIAL, ET_TRADE), (OS_CANCELED, ET_CANCELED), (OS_CANCELED, ET_CANCELED)):
        for o in (loud, quiet):
            if status is not None:
                o.status = status
        exec_report(loud, b"E", et, TS)
        got = quiet_report(quiet, b"E", et, TS, text="x", last=True)
        assert got is UNREAD and loud.er_fixed == quiet.er_fixed
    UNREAD.add_fields([(1, b"x")])
    assert not isinstance(UNREAD, WireBody)


@settings(max_examples=300, deadline=None)
@given(product=st.booleans(), market=st.booleans(), tif=st.sampled_from([0, 1, 3, 4, 6]), qty=st.integers(1, 5000),
       leaves_cut=st.integers(0, 3), explain=st.sampled_from([b"", b"B SGE.AU9999 10; 1.SGE.AU9999 560.00=2r"]),
       fills=st.integers(0, 2), status=st.sampled_from([None, OS_NEW, OS_PARTIAL, OS_CANCELED]), kept=st.booleans(),
       str_explain=st.booleans())
def test_the_ack_template_is_exec_reports_ack_byte_for_byte(product, market, tif, qty, leaves_cut, explain, fills,
                                                            status, kept, str_explain) -> None:
    """`ack_report` is `exec_report(..., ET_NEW, ..., explain=True)` for every order state: the usual
    first ack by its template (any quantity, product or lots, with or without an explanation, kept
    fields or not), anything else (filled, another status, a value that is not bytes) by
    `exec_report` itself; and it leaves the order's kept fields as `exec_report` does."""
    from router.orders.reports import ack_report

    def make() -> Order:
        o = _template_order(product, market, tif, qty)
        o.leaves -= min(leaves_cut, o.leaves - 1)       # a product's sweep may rest less than it asked
        o.explain = explain.decode() if str_explain and explain else explain
        for n in range(fills):
            o.fill(1_000 if product else 1, (55_900_000_000_000 if product else 55990) + n, b"SGE")
        if status is not None:
            o.status = status
        if kept:
            exec_report(o, b"E0", ET_NEW, TS)
        return o

    a, b = make(), make()
    got = ack_report(a, b"E9", TS)
    want = exec_report(b, b"E9", ET_NEW, TS, explain=True)
    assert isinstance(got, WireBody)
    assert got.wire == want.wire
    assert a.er_fixed == b.er_fixed


@settings(max_examples=300, deadline=None)
@given(product=st.booleans(), market=st.booleans(), tif=st.sampled_from([0, 1, 6]), qty=st.integers(1, 5000),
       fills=st.integers(0, 2), status=st.sampled_from([OS_CANCELED, OS_NEW, OS_PARTIAL]), renamed=st.booleans(),
       kept=st.booleans(), str_clordid=st.booleans(),
       text=st.sampled_from([b"", b"unfilled remainder cancelled (immediate order)"]))
def test_the_cancel_template_is_exec_reports_cancel_byte_for_byte(product, market, tif, qty, fills, status, renamed,
                                                                  kept, str_clordid, text) -> None:
    """`cancelled_report` is `exec_report(..., ET_CANCELED, ..., text=...)` for every order state: a
    cancel with nothing filled (renamed by a client's cancel or not, with an IOC's Text or none) by its
    template, anything else (filled, not cancelled, a value that is not bytes) by `exec_report` itself;
    the order's kept fields end alike."""
    from router.orders.reports import cancelled_report

    def make() -> Order:
        o = _template_order(product, market, tif, qty)
        if kept:
            exec_report(o, b"E0", ET_NEW, TS)
        for n in range(fills):
            o.fill(1_000 if product else 1, (55_900_000_000_000 if product else 55990) + n, b"SGE")
        if renamed:
            idx = OrderIndex()
            idx.add(o)
            idx.rename(o, "C1-c" if str_clordid else b"C1-c")
        o.status = status
        return o

    a, b = make(), make()
    got = cancelled_report(a, b"E9", TS, text)
    want = exec_report(b, b"E9", ET_CANCELED, TS, text=text)
    assert isinstance(got, WireBody)
    assert got.wire == want.wire
    assert a.er_fixed == b.er_fixed


@settings(max_examples=300, deadline=None)
@given(product=st.booleans(), market=st.booleans(), tif=st.sampled_from([0, 1, 3, 6]), qty=st.integers(1, 5000),
       fills=st.lists(st.tuples(st.integers(1, 3), st.integers(-2, 2), st.sampled_from([b"SGE", b"HKGX", b""])),
                      max_size=3),
       status=st.sampled_from([None, OS_NEW, OS_CANCELED]), renamed=st.booleans(), kept=st.booleans(),
       str_clordid=st.booleans(), tail=st.sampled_from([b"", b"\x01381=56000\x017010=SGE-SH"]))
def test_the_trade_template_is_exec_reports_fill_byte_for_byte(product, market, tif, qty, fills, status, renamed,
                                                               kept, str_clordid, tail) -> None:
    """`trade_report` is `exec_report(..., ET_TRADE, ..., last=True, tail=tail)` for every order state: an
    instrument order's fill, partial or whole, at one price or several, with or without a market, renamed
    or not, by its template; a product order, an order in another status (a fill after a cancel, none
    at all) or a value that is not bytes by `exec_report` itself; the order's kept fields end alike."""
    from router.orders.reports import trade_report

    def make() -> Order:
        o = _template_order(product, market, tif, qty)
        if kept:
            exec_report(o, b"E0", ET_NEW, TS)
        for lots, step, venue in fills:
            o.fill(lots * (1_000 if product else 1), (55_900_000_000_000 if product else 55990) + step, venue)
        if renamed:
            idx = OrderIndex()
            idx.add(o)
            idx.rename(o, "C1-c" if str_clordid else b"C1-c")
        if status is not None:
            o.status = status
        return o

    a, b = make(), make()
    got = trade_report(a, b"E9", TS, tail)
    want = exec_report(b, b"E9", ET_TRADE, TS, last=True, tail=tail)
    assert isinstance(got, WireBody)
    assert got.wire == want.wire
    assert a.er_fixed == b.er_fixed


@given(den=st.sampled_from([1, 10**9, 3, 7]), decimals=st.integers(0, 4),
       fills=st.lists(st.tuples(st.integers(1, 10**6), st.integers(1, 10**12)), min_size=1, max_size=4))
def test_the_average_price_text_is_the_decimal_quotient_kept_or_not(den, decimals, fills) -> None:
    """`Order.avg_px_text` gives value / (cum x value_den) as Decimal quantizes it, whether the average is
    one price's (kept per price and scale: asked twice, and after the table is cleared) or a mix's."""
    from router.orders import index as ix

    o = instrument_order()
    o.value_den, o.price_decimals = den, decimals
    for qty, px in fills:
        o.fill(qty, px, b"SGE")
    want = str((Decimal(o.value) / (o.cum * den)).scaleb(-decimals).quantize(Decimal("0.0001"))).encode()
    assert o.avg_px_text() == want
    assert o.avg_px_text() == want
    ix._ONE_PRICE_AVG.clear()
    assert o.avg_px_text() == want


def test_an_orders_empty_maps_are_one_shared_read_only_empty_map() -> None:
    """A new order holds `NO_ENTRIES` in its five maps (reservations, quota claims and days, vaults): it
    reads as an empty dict, refuses every write, digests for the state hash as an empty dict (an order
    holding it hashes as one holding fresh {}), and pickles as itself (snapshots)."""
    import pickle

    import pytest

    from router.orders.index import NO_ENTRIES
    from router.records.state_hash import _Walker

    o = instrument_order()
    maps = ("reserved_cash", "reserved_metal", "quota_claims", "quota_days", "sell_vaults")
    assert all(getattr(o, name) is NO_ENTRIES for name in maps)
    assert NO_ENTRIES == {} and not NO_ENTRIES and NO_ENTRIES.get("CNY", 0) == 0 and dict(NO_ENTRIES) == {}
    for write in (lambda m: m.__setitem__("CNY", 1), lambda m: m.update(CNY=1), lambda m: m.setdefault("CNY", 1),
                  lambda m: m.pop("CNY", None), lambda m: m.popitem(), lambda m: m.clear(),
                  lambda m: m.__delitem__("CNY"), lambda m: m.__ior__({"CNY": 1})):
        with pytest.raises(TypeError):
            write(NO_ENTRIES)
    assert NO_ENTRIES == {}
    plain = instrument_order()
    for name in maps:
        setattr(plain, name, {})
    assert _Walker().digest(o) == _Walker().digest(plain)
    assert pickle.loads(pickle.dumps(o)).reserved_cash is NO_ENTRIES
