"""The new order's shortcuts give what the general path gives.

`OrderFlow.new_order` reads the usual request the short way: a whole OrderQty(38) without a call, a
price with exactly the instrument's decimals, no gold tags (7001..7005) without the value check's and
the constraints' own reads, a symbol's constants from a per-symbol cache. Each test here feeds the
same orders through the short way and the general one (the exact Decimal readings, a cold cache,
the value check reading every tag itself) and compares what comes out: the FIX bytes of every
answer and the order flow's state hashes. It also checks that a snapshot written before the cache
was renamed still loads, and that the rest-book memo (`_rest_pos`) is a cache the state hash skips.
"""
from __future__ import annotations

import itertools
import os
import tempfile

from hypothesis import given, settings, strategies as st

from router.fix.codec import encode
from router.orders.order_values import NO_GOLD_TAGS, OrderValues
from router.records.snapshot import SnapshotStore
from router.records.state_hash import state_hashes
from tests.orders.test_flow import HK, SH, Harness, f

_TS = b"20260101-00:00:00.000"


def _wire(outs) -> list[bytes]:
    """Every answer as the frame the gateway would send (same header for all)."""
    return [encode(o.msg_type, b"GOLDRTR", o.session.encode(), 1, _TS, o.body) for o in outs]


def _play(orders, *, cold_cache: bool = False) -> tuple[list[bytes], dict]:
    """Send `orders` (sender, symbol, side, qty text, price text or None) to a fresh flow; the frames of
    all answers and the final state hashes. `cold_cache` empties the per-symbol cache and the price
    texts' memo before each."""
    h = Harness(reference=True)
    frames = []
    for sender, symbol, side, qty, price in orders:
        if cold_cache:
            h.flow._symbol_terms.clear()
            h.flow._price_units.clear()
        frames += _wire(h.order(sender, symbol, side, qty, price))
    return frames, state_hashes(h.flow)


# Orders that rest, cross and route a product, in the short way's usual forms ...
_USUAL = [(HK, "SGE.AU9999", 2, "3", "560.00"), (SH, "SGE.AU9999", 1, "2", "560.00"),
          (SH, "SGE.AU9999", 1, "1", "559.50"), (SH, "GOLD.KG9999", 1, "1000", "560.10"),
          (HK, "HKGX.RKG", 2, "1", None)]
# ... and the same values written so that only the exact Decimal readings take them.
_EXACT = [(HK, "SGE.AU9999", 2, "3E0", "5.6E2"), (SH, "SGE.AU9999", 1, "2.000E0", "560.000"),
          (SH, "SGE.AU9999", 1, "1E0", "559.5000"), (SH, "GOLD.KG9999", 1, "1E3", "560.1E0"),
          (HK, "HKGX.RKG", 2, "1E0", None)]


def test_whole_quantity_and_plain_price_read_the_short_way_equal_the_exact_readings() -> None:
    short, short_hashes = _play(_USUAL)
    exact, exact_hashes = _play(_EXACT)
    assert [m for m in short if b"\x01150=8\x01" in m] == []          # every order accepted
    assert len(short) >= len(_USUAL)
    assert short == exact
    assert short_hashes == exact_hashes


def test_the_per_symbol_cache_changes_nothing() -> None:
    warm, warm_hashes = _play(_USUAL)
    cold, cold_hashes = _play(_USUAL, cold_cache=True)
    assert warm == cold
    assert warm_hashes == cold_hashes


def test_remembered_price_texts_change_nothing(monkeypatch) -> None:
    """Price(44) texts' units are remembered per (text, decimals), in a table emptied when full: any
    sequence of prices, repeating or not, bad ones included, answers as with nothing remembered."""
    import router.orders.flow as flow_mod

    monkeypatch.setattr(flow_mod, "PRICE_TEXTS_KEPT", 3)
    prices = ["560.00", "560.00", "559.50", "560.005", "22300.00", "22301.00", "559.5", "-1", "560.00", "558.00",
              "559.50", "1E3", "561.00"]
    orders = [(SH if n % 2 else HK, "HKGX.AU99TAEL" if p.startswith("223") else "SGE.AU9999", 1 + n % 2, "1", p)
              for n, p in enumerate(prices)]
    warm, warm_hashes = _play(orders)
    cold, cold_hashes = _play(orders, cold_cache=True)
    assert warm == cold and warm_hashes == cold_hashes
    assert any(b"\x01150=8\x01" in m for m in warm) and any(b"\x01150=0\x01" in m for m in warm)
    h = Harness()
    for p in prices:
        (first, *_) = h.order(SH, "SGE.AU9999", 1, 1, p)
        assert len(h.flow._price_units) <= 3
        if p in ("560.00", "559.50", "558.00", "561.00"):
            assert (f(first, 150), f(first, 44)) == (b"0", p.encode())        # each text its own units
        elif p in ("560.005", "-1"):
            assert f(first, 150) == b"8"
    assert h.flow._price_units


def test_unknown_symbols_are_refused_every_time_and_never_kept() -> None:
    h = Harness()
    for _ in range(2):
        (rep,) = h.order(SH, "NOPE.X", 1, 1, "560.00")
        assert (f(rep, 150), f(rep, 58)) == (b"8", b"unknown instrument or product 'NOPE.X'")
    assert b"NOPE.X" not in h.flow._symbol_terms


def test_symbol_constants_are_the_catalogues() -> None:
    h = Harness()
    cat = h.cfg.catalogue
    for name in [*cat.instruments, *cat.products]:
        symbol, instr, product, decimals, tick, is_product = h.flow._symbol_info(name.encode())
        assert (symbol, instr, product) == (name, cat.instruments.get(name), cat.products.get(name))
        assert is_product == (product is not None)
        assert decimals == (instr or product).price_decimals
        assert tick == (instr.tick_units if instr is not None else 1)


_CCY = st.sampled_from([None, b"CNY", b"USD", b"EUR", b""])
_BAR = st.sampled_from([None, b"KG1", b"ANY", b"KG12"])
_CYCLE = st.sampled_from([None, b"T0", b"TD", b"T3"])
_VENUES = st.sampled_from([None, b"SGE", b"SGE HKGX", b"SGE LBMA"])
_SIDE = st.sampled_from([b"1", b"2", b"5", None])
_ORD_TYPE = st.sampled_from([b"1", b"2", b"3"])
_TIF = st.sampled_from([None, b"0", b"3", b"6", b"7"])


@settings(max_examples=300, deadline=None)
@given(side=_SIDE, ord_type=_ORD_TYPE, tif=_TIF, routable=st.sampled_from([None, b"Y", b"N"]),
       ccy=_CCY, vault=st.sampled_from([None, b"SGE-SH"]), bar=_BAR, cycle=_CYCLE, venues=_VENUES,
       is_product=st.booleans())
def test_value_check_with_the_gold_tags_read_once_equals_reading_each(side, ord_type, tif, routable, ccy, vault,
                                                                       bar, cycle, venues, is_product) -> None:
    values = OrderValues(["CNY", "USD", "HKD", "CNH"], ["SGE", "SGEI", "HKGX"])
    tags = {b"54": side, b"40": ord_type, b"59": tif, b"7007": routable, b"55": b"GOLD.KG9999",
            b"7001": ccy, b"7002": vault, b"7003": bar, b"7004": cycle, b"7005": venues}
    g = tags.get
    gold = tuple(tags[t] for t in (b"7001", b"7002", b"7003", b"7004", b"7005"))
    assert values.unsupported_value(g, is_product, gold) == values.unsupported_value(g, is_product)
    if gold == NO_GOLD_TAGS:
        assert all(v is None for v in gold)


def test_a_snapshot_with_the_old_symbol_cache_still_loads_and_trades() -> None:
    """Snapshots written before the cache was renamed hold `_symbols` of (symbol, instrument, product)."""
    h = Harness(reference=False)
    h.order(HK, "SGE.AU9999", 2, 3, "560.00")
    flow = h.flow
    cat = h.cfg.catalogue
    flow.__dict__["_symbols"] = {b"SGE.AU9999": ("SGE.AU9999", cat.instruments["SGE.AU9999"], None)}
    del flow.__dict__["_symbol_terms"]              # as an old writer had it
    with tempfile.TemporaryDirectory() as d:
        store = SnapshotStore(os.path.join(d, "snap"))
        snap = store.write(1, h.now, flow)
        fresh = Harness(reference=False)
        store.load_into(snap.path, fresh.flow)
    fresh.now = h.now
    fresh.n = 100
    outs = fresh.order(SH, "SGE.AU9999", 1, 2, "560.00")
    assert [f(o, 150) for o in outs if o.session == SH][:2] == [b"0", b"F"]
    assert list(itertools.islice(fresh.flow._symbol_terms, 1)) == [b"SGE.AU9999"]


def test_the_rest_book_memo_is_a_cache_not_state() -> None:
    """`_rest_pos` remembers a product order's rest book per ranking of books: the state hash must not
    depend on it (it is cleared at 4096 entries, and snapshots written before it existed lack it)."""
    h = Harness(reference=False)
    h.order(SH, "GOLD.KG9999", 1, "1000", "560.10")
    assert h.flow._rest_pos                          # the product order filled the memo
    warm = state_hashes(h.flow)
    h.flow._rest_pos.clear()
    assert state_hashes(h.flow) == warm
    del h.flow.__dict__["_rest_pos"]                # as a writer before the memo had it
    with tempfile.TemporaryDirectory() as d:
        store = SnapshotStore(os.path.join(d, "snap"))
        snap = store.write(1, h.now, h.flow)
        fresh = Harness(reference=False)
        store.load_into(snap.path, fresh.flow)      # verifies the recorded hashes
    assert snap.hashes == warm
    fresh.now, fresh.n = h.now, 100
    outs = fresh.order(SH, "GOLD.KG9999", 1, "1000", "560.10")
    assert fresh.flow._rest_pos and outs
