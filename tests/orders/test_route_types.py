"""The routing decision's renderings (router/orders/route_types.py): `explain_line`, the one-step
GoldRouteExplain(7006) bytes of a one-book decision, against the general `explain_text`."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

import router.orders.route_types as rt
from router.domain.reasons import Reason
from router.orders.quota import Direction
from router.orders.route_types import (
    NO_CONSTRAINTS, Candidate, Exclusion, RouteDecision, RouteRequest, Side, Tif, explain_line,
)

SYMBOLS = ["SGE.AU9999", "HKGX.RKG", "GOLD.KG9999", "X" * 200, "SGE.Au\u00e9"]
DECIMALS = {"SGE.AU9999": (2, "lots"), "HKGX.RKG": (0, "lots"), "GOLD.KG9999": (3, "g_fine"),
            "X" * 200: (9, "lots")}
prices = st.one_of(st.none(), st.integers(-10**7, 10**9))
candidates = st.builds(
    lambda symbol, price, comp, all_in, source: Candidate(symbol, 0, 1, price, comp, all_in, source, None, 0, "CNY",
                                                          0, "V", 0),
    st.sampled_from(SYMBOLS), st.integers(-10**6, 10**9), st.integers(-10**9, 10**10), st.integers(-10**9, 10**10),
    st.sampled_from(["quote", "ref"]))
exclusions = st.builds(lambda symbol, reason: Exclusion(symbol, 0, reason), st.sampled_from(SYMBOLS),
                       st.sampled_from(list(Reason)))


@settings(max_examples=1500, deadline=None)
@given(symbol=st.sampled_from(SYMBOLS), side=st.sampled_from([Side.BUY, Side.SELL, 1]),
       qty=st.integers(0, 10**30), price=prices, reason=st.one_of(st.none(), st.sampled_from(list(Reason))),
       cands=st.lists(candidates, max_size=4), excl=st.lists(exclusions, max_size=3),
       same_price=st.booleans(), decimals=st.sampled_from([DECIMALS, {}]), cache_max=st.sampled_from([1, 4096]))
def test_explain_line_is_the_explain_text_encoded(symbol, side, qty, price, reason, cands, excl, same_price, decimals,
                                                  cache_max) -> None:
    """For any decision (0-4 ranked and 0-3 excluded books, any reason, side, quantity, price or none, known or
    unknown decimals, a child price equal to the order's, non-ASCII symbols, lines past the 400-character
    limit, memos cleared at every entry), `explain_line` is `explain_text()` encoded, byte for byte."""
    if same_price and cands and price is not None:
        cands[0] = cands[0]._replace(symbol=symbol, price=price)
    d = RouteDecision(RouteRequest("ACC", side, symbol, qty, price, Tif.DAY, NO_CONSTRAINTS), reason, tuple(cands),
                      tuple(excl))
    d.decimals = decimals
    saved = rt.FRAGMENT_CACHE_MAX
    rt.FRAGMENT_CACHE_MAX = cache_max
    rt._TAILS.clear()
    rt._ASCII.clear()
    try:
        want = d.explain_text().encode("ascii", "replace")
        assert explain_line(d) == want
        assert explain_line(d) == want          # the second time from the memos
        assert len(rt._TAILS) <= cache_max and len(rt._ASCII) <= cache_max
    finally:
        rt.FRAGMENT_CACHE_MAX = saved


def test_explain_line_of_the_usual_acceptance_and_a_quote() -> None:
    """The one-format case (a limit order accepted on its own book at its own price), then the same
    book ranked on a quote (no trailing r)."""
    req = RouteRequest("ACC", Side.BUY, "SGE.AU9999", 3, 55001, Tif.DAY, NO_CONSTRAINTS)
    c = Candidate("SGE.AU9999", 0, 3, 55001, 2_453_481_234, 2_454_340_000, "ref", Direction.NORTHBOUND, 0, "CNY",
                  0, "V", 0)
    d = RouteDecision(req, None, (c,))
    d.decimals = DECIMALS
    assert explain_line(d) == explain_line(d) == b"B SGE.AU9999 3 @550.01; 1.SGE.AU9999 550.01=2453.48/2454.34r"
    d = RouteDecision(req, None, (c._replace(source="quote"),))
    d.decimals = DECIMALS
    assert explain_line(d) == b"B SGE.AU9999 3 @550.01; 1.SGE.AU9999 550.01=2453.48/2454.34"
    # A line past the tag's 400 characters on the one-format case: cut as explain_text cuts it.
    long = "X" * 200
    d = RouteDecision(req._replace(symbol=long), None, (c._replace(symbol=long),))
    d.decimals = DECIMALS
    assert explain_line(d) == explain_line(d) == d.explain_text().encode() and len(explain_line(d)) == 400
