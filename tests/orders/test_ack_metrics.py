"""core_bridge._accepted: the routed-grams metric an instrument order's acknowledgement counts, from each
book's lot grams kept as an exact ratio, is what `int(qty * lot_grams)` (the Decimal) gives, and the kept
ratios are a cache, not state: the flow's state hash ignores them."""
from __future__ import annotations

from router.records.state_hash import flow_state_hash
from tests.orders.test_flow import HK, SH, Harness, ers, f


class _Routed:
    """A metrics object keeping `routed` calls; every other call is ignored."""

    def __init__(self) -> None:
        self.routed_calls: list[tuple] = []

    def routed(self, venue: str, direction: str, grams: int) -> None:
        self.routed_calls.append((venue, direction, grams))

    def __getattr__(self, name: str):
        return lambda *args: None


def test_routed_grams_are_the_decimal_products_of_quantity_and_lot_grams() -> None:
    h = Harness(reference=True)
    h.flow.metrics = m = _Routed()
    sent = []
    # IOCs that meet nothing: each acknowledged (and counted as routed), then cancelled.
    for n, (sender, symbol, side, price) in enumerate([(SH, "SGE.AU9999", 1, "551.00"),
                                                        (HK, "SGE.AU9999", 2, "600.00"),
                                                        (SH, "HKGX.LLG", 1, "2300.00")]):
        for qty in (1, 3, 7):
            outs = h.order(sender, symbol, side, qty, price, clordid=f"r{n}-{qty}", tif="3")
            assert f(ers(outs)[0], 150) == b"0"
            sent.append((symbol, qty))
    lot_grams = {i.symbol: i.lot_grams for i in h.flow.books}
    assert any(g != int(g) for g in lot_grams.values())         # a book whose lot is not whole grams
    assert [g for _, _, g in m.routed_calls] == [int(qty * lot_grams[s]) for s, qty in sent]
    assert all(type(g) is int for _, _, g in m.routed_calls)


def test_the_kept_ratios_are_not_state() -> None:
    h = Harness(reference=True)
    h.order(SH, "SGE.AU9999", 1, 1, "550.00", clordid="B1")
    before = flow_state_hash(h.flow)
    h.flow._lot_grams_ratios = [i.lot_grams.as_integer_ratio() for i in h.flow.books]
    assert flow_state_hash(h.flow) == before
