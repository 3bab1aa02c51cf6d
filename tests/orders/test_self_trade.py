"""Self-trade prevention per account in the pure order flow (reference book and, once, the numba core):
an account's order never trades with its own resting order. The default cancels the resting order;
`self_trade = "cancel_incoming"` or `"cancel_both"` in the account's table choose otherwise. Every cancel
is an ExecutionReport with ExecType=Canceled(4) and a Text naming the reason and the mode."""
from __future__ import annotations

import pytest

from router.config import load_config
from router.domain.errors import ConfigError
from router.orders.accounts import parse_account
from tests.orders.test_flow import HK, SH, Harness, ers, f


def stp_harness(tmp_path, mode: str, reference: bool = True) -> Harness:
    overlay = tmp_path / "stp.toml"
    overlay.write_text(f'[accounts.SHCLIENT1]\nself_trade = "{mode}"\n')
    return Harness(config=load_config(overlay), reference=reference)


def by_clordid(outs) -> dict:
    return {f(o, 11): o for o in ers(outs)}


@pytest.mark.parametrize("reference", [True, False], ids=["reference_book", "numba_core"])
def test_default_cancels_the_resting_order(reference: bool) -> None:
    h = Harness(reference=reference)
    assert f(h.order(SH, "HKGX.LLG", 1, 1, "2400.00", clordid="B1")[0], 150) == b"0"
    outs = h.order(SH, "HKGX.LLG", 2, 1, "2400.00", clordid="S1")
    assert [(f(o, 11), f(o, 150)) for o in ers(outs)] == [(b"S1", b"0"), (b"B1", b"4")]
    cxl = by_clordid(outs)[b"B1"]
    assert f(cxl, 39) == b"4" and f(cxl, 14) == b"0"
    assert b"self-trade prevention" in f(cxl, 58) and b"cancel_resting" in f(cxl, 58)
    assert not [o for o in ers(outs) if f(o, 150) == b"F"]
    # the sell rests; another account trades with it
    outs = h.order(HK, "HKGX.LLG", 1, 1, "2400.00")
    assert [f(o, 150) for o in ers(outs, SH)] == [b"F"]


def test_cancel_incoming_keeps_the_resting_order(tmp_path) -> None:
    h = stp_harness(tmp_path, "cancel_incoming")
    h.order(SH, "HKGX.LLG", 1, 1, "2400.00", clordid="B1")
    outs = h.order(SH, "HKGX.LLG", 2, 1, "2400.00", clordid="S1")
    assert [(f(o, 11), f(o, 150)) for o in ers(outs)] == [(b"S1", b"0"), (b"S1", b"4")]
    assert b"cancel_incoming" in f(ers(outs)[1], 58)
    outs = h.order(HK, "HKGX.LLG", 2, 1, "2400.00")
    assert [(f(o, 11), f(o, 150)) for o in ers(outs, SH)] == [(b"B1", b"F")]


def test_cancel_both(tmp_path) -> None:
    h = stp_harness(tmp_path, "cancel_both")
    h.order(SH, "HKGX.LLG", 1, 1, "2400.00", clordid="B1")
    outs = h.order(SH, "HKGX.LLG", 2, 1, "2400.00", clordid="S1")
    assert sorted((f(o, 11), f(o, 150)) for o in ers(outs)) == [(b"B1", b"4"), (b"S1", b"0"), (b"S1", b"4")]
    assert h.flow.risk.working(SH) == []


def test_other_accounts_still_trade_and_a_product_sweep_skips_its_own_order() -> None:
    h = Harness()
    h.order(SH, "HKGX.RKG", 2, 1, "559.00", clordid="OWN")
    h.order(HK, "SGE.AU9999", 2, 100, "560.00")
    outs = h.order(SH, "GOLD.KG9999", 1, 1000, "561.00", tif="3", clordid="P1")
    got = by_clordid(outs)
    assert f(got[b"OWN"], 150) == b"4" and b"self-trade" in f(got[b"OWN"], 58)
    fills = [o for o in ers(outs, SH) if f(o, 150) == b"F"]
    assert [f(o, 7008) for o in fills] == [b"SGE.AU9999"]


def test_a_mode_name_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ConfigError, match="self_trade"):
        parse_account("X", {"session": "X", "side": "onshore", "self_trade": "cancel_neither"})
