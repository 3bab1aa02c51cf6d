"""Settlement obligations: the issue's netting example through the real order flow, and a property
over random trading days: the obligations of all accounts per clearing house, currency and vault sum
to the trades (which cancel between buyer and seller) minus fees, metal nets to zero, and each
account's cash plus margin held moves by exactly its obligations (margin is never created or lost)."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

from router.records.ledger import Ledger
from router.records.obligations import bar_micrograms, cross_border_flows, net, obligations_view
from tests.orders.test_flow import HK, SH, Harness
from tests.records.test_ledger import trade

MICRO = 1_000_000


def booked() -> Harness:
    h = Harness()
    h.ledger = Ledger(h.cfg.catalogue, h.cfg.sections["calendars"])
    h.flow.fills = h.ledger
    return h


def test_netting_example_per_clearing_house_currency_vault_and_bar_form() -> None:
    h = booked()
    trade(h, "SGE.AU9999", 100, "560.00")
    trade(h, "SGE.AU9999", 60, "561.00", buyer=HK, seller=SH)
    trade(h, "HKGX.RKG", 1, "559.80")
    day = h.ledger.trades[0].trading_day
    v = obligations_view(h.ledger.trades, day, SH)
    hkgx, sge = v["obligations"]          # sorted by clearing house
    assert (sge["clearing_house"], sge["currency"], sge["vault"], sge["value_date"]) == \
        ("SGE", "CNY", "SGE_MAINLAND", day.isoformat())
    assert (sge["cash"], sge["fees"], sge["metal_grams"], sge["withdrawable"]) == ("-223713.81", "313.81", "400",
                                                                                   False)
    assert (hkgx["clearing_house"], hkgx["currency"], hkgx["vault"]) == ("HKGX", "CNH", "HK")
    assert (hkgx["cash"], hkgx["metal_grams"], hkgx["cross_border"]) == ("-559823.00", "1000", ["southbound"])
    assert hkgx["withdrawable"] and hkgx["rail"] == "not configured"      # rails are configuration
    rails = h.cfg.sections["records"].rails
    assert obligations_view(h.ledger.trades, day, SH, rails)["obligations"][0]["rail"] == \
        "CNH clearing bank (Hong Kong RMB clearing)"
    # The counterparty's side is the mirror image less its own fees; a day with no trades has none.
    theirs = obligations_view(h.ledger.trades, day, HK)["obligations"][1]
    assert (theirs["cash"], theirs["metal_grams"], theirs["cross_border"]) == ("223086.19", "-400", ["northbound"])
    assert obligations_view(h.ledger.trades, day.replace(year=2030), None)["obligations"] == []


def test_cross_border_flows_count_what_the_quota_counts() -> None:
    # An offshore account on the International Board stays within its quota zone: neither the quota nor
    # the flows (nor the trade's direction) call it northbound; on the Main Board it crosses.
    h = booked()
    trade(h, "SGEI.IAU9999", 1, "560.00", buyer=HK, seller=SH)
    trade(h, "SGE.AU9999", 100, "560.00", buyer=HK, seller=SH)
    assert [(t.account, t.symbol, t.direction) for t in h.ledger.trades] == [
        (HK, "SGEI.IAU9999", "domestic"), (SH, "SGEI.IAU9999", "domestic"),
        (HK, "SGE.AU9999", "northbound"), (SH, "SGE.AU9999", "domestic")]
    flows = cross_border_flows(h.ledger.trades, None)["flows"]
    assert [(r["direction"], r["account"], r["gross_bought_cny"]) for r in flows] == [
        ("northbound", HK, "560000.00"), ("northbound", "TOTAL", "560000.00")]
    assert h.quota.view()["northbound"]["used_cny"] == "560000.00"
    sgei = next(o for o in obligations_view(h.ledger.trades, None, HK)["obligations"] if o["clearing_house"] == "SGEI")
    assert sgei["cross_border"] == []


def test_main_board_metal_of_an_offshore_account_is_not_withdrawable() -> None:
    # International members may trade the Main Board but not take metal out of domestic vaults
    # (records.withdrawal); a whole 1 kg bar bought by an onshore account is withdrawable.
    h = booked()
    trade(h, "SGE.AU9999", 100, "560.00", buyer=HK, seller=SH)
    trade(h, "HKGX.RKG", 1, "560.00", buyer=HK, seller=SH)
    trade(h, "SGEI.IAU9999", 1, "560.00", buyer=SH, seller=HK)
    records = h.cfg.sections["records"]
    assert records.withdrawal == {"SGE_MAINLAND": frozenset({"onshore"})}
    sides = {a.name: a.side for a in h.accounts}
    v = obligations_view(h.ledger.trades, None, None, records.rails, records.withdrawal, sides)
    flags = {(o["account"], o["vault"]): (o["metal_grams"], o["withdrawable"]) for o in v["obligations"]}
    assert flags == {(HK, "SGE_MAINLAND"): ("1000", False), (SH, "SGE_MAINLAND"): ("-1000", True),
                     (HK, "HK"): ("1000", True), (SH, "HK"): ("-1000", True),
                     (HK, "SGEI_FTZ_SHANGHAI"): ("-1000", True), (SH, "SGEI_FTZ_SHANGHAI"): ("1000", True)}


def test_the_admin_view_applies_the_withdrawal_rule() -> None:
    from tests.records.test_replay import Driver
    d = Driver(None)
    d.order(SH, "S1", "SGE.AU9999", 2, 100, "560.00")
    d.order(HK, "B1", "SGE.AU9999", 1, 100, "560.00")
    (mine,) = d.app.obligations_view(None, HK).data["obligations"]
    assert (mine["vault"], mine["metal_grams"], mine["withdrawable"]) == ("SGE_MAINLAND", "1000", False)
    (theirs,) = d.app.obligations_view(None, SH).data["obligations"]
    assert (theirs["metal_grams"], theirs["withdrawable"]) == ("-1000", True)


def test_bar_weight_comes_from_the_bar_form_name() -> None:
    assert bar_micrograms("ingot_1kg_9999") == 1000 * MICRO
    assert bar_micrograms("ingot_3kg_9995") == 3000 * MICRO
    assert bar_micrograms("lgd_400oz") is None


SYMBOLS = {"SGE.AU9999": (56000, 1), "SGE.AUTD": (56000, 1), "HKGX.RKG": (56000, 1), "HKGX.LLG": (240000, 1)}
trades_st = st.tuples(st.sampled_from(sorted(SYMBOLS)), st.integers(1, 5), st.integers(-200, 200), st.booleans())
settles_st = st.tuples(st.just("settle"), st.sampled_from(["SGE.AUTD", "HKGX.LLG"]), st.integers(-300, 300),
                       st.sampled_from(["longs_pay", "shorts_pay"]))
days = st.lists(st.one_of(trades_st, trades_st, settles_st), min_size=1, max_size=14)


def price_text(units: int) -> str:
    return f"{units // 100}.{units % 100:02d}"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days)
def test_obligations_sum_to_trades_minus_fees_and_cash_plus_margin_is_conserved(steps: list) -> None:
    h = booked()
    start = {a: dict(h.accounts.get(a).cash) for a in (SH, HK)}
    settled = 0
    for step in steps:
        if step[0] == "settle":
            _, symbol, ticks, direction = step
            h.ledger.set_deferred_fee(symbol, direction, 200)
            h.ledger.settle(date(2026, 1, 5) + timedelta(days=settled), {symbol: SYMBOLS[symbol][0] + ticks},
                            h.accounts, h.now)
            settled += 1
            continue
        symbol, lots, ticks, sh_buys = step
        trade(h, symbol, lots, price_text(SYMBOLS[symbol][0] + ticks), *((SH, HK) if sh_buys else (HK, SH)))
    fees: dict[tuple, int] = defaultdict(int)
    for t in h.ledger.trades:
        fees[t.venue, t.ccy, t.vault] += t.fee
    total_cash: dict[tuple, int] = defaultdict(int)
    for r in net(h.ledger.trades, by_account=False):       # exact micro-units, before display rounding
        total_cash[r["venue"], r["ccy"], r["vault"]] += r["cash"]
        assert r["gross_ug"] == 0                          # what one account receives the other delivers
    assert dict(total_cash) == {k: -f for k, f in fees.items()}
    # Cash + margin held moves by exactly the account's obligations plus its end-of-day flows.
    flows: dict[tuple, int] = defaultdict(int)
    for r in net(h.ledger.trades):
        flows[r["account"], r["ccy"]] += r["cash"]
    for s in h.ledger.settlements:
        for m in s["moves"]:
            flows[m["account"], m["ccy"]] += m["variation_margin"] + m["deferred_fee"]
    for a in (SH, HK):
        acct = h.accounts.get(a)
        for ccy in acct.cash:
            held = h.ledger.margin_held.get((a, ccy), 0)
            assert acct.cash[ccy] + held - start[a][ccy] == flows.get((a, ccy), 0), (a, ccy)
            assert acct.reserved_cash.get(ccy, 0) == 0         # every order done: nothing stays reserved
    # What longs gain shorts lose: variation margin and the deferred fee sum to zero over accounts.
    assert sum(m["variation_margin"] + m["deferred_fee"] for s in h.ledger.settlements for m in s["moves"]) == 0


def test_records_configuration_names_what_is_wrong() -> None:
    import pytest

    from router.domain.errors import ConfigError
    from router.records.settings import parse_records_config
    ok = parse_records_config({"rails": {"SGE": {"CNY": "e-CNY rail"}}}, ["SGE"], ["CNY"])
    assert ok.rails == {("SGE", "CNY"): "e-CNY rail"} and ok.reports_dir == "var/reports"
    timed = parse_records_config({"settlement_deadline": {"SGE.AUTD": "15:45"}}, ["SGE"], ["CNY"], ["SGE.AUTD"])
    assert timed.settlement_deadline == {"SGE.AUTD": 15 * 60 + 45}
    held = parse_records_config({"withdrawal": {"HK": [], "SGE_MAINLAND": ["onshore"]}}, ["SGE"], ["CNY"], [],
                                ["HK", "SGE_MAINLAND"])
    assert held.withdrawal == {"HK": frozenset(), "SGE_MAINLAND": frozenset({"onshore"})}
    for raw, key in (({"withdrawal": {"SGE_MAINLND": ["onshore"]}}, "records.withdrawal.SGE_MAINLND"),
                     ({"withdrawal": {"SGE_MAINLAND": ["domestic"]}}, "records.withdrawal.SGE_MAINLAND"),
                     ({"withdrawal": {"SGE_MAINLAND": "onshore"}}, "records.withdrawal.SGE_MAINLAND")):
        with pytest.raises(ConfigError) as err:
            parse_records_config(raw, ["SGE"], ["CNY"], [], ["SGE_MAINLAND"])
        assert key in str(err.value)
    for raw, key in (({"rails": {"LME": {"CNY": "x"}}}, "records.rails.LME"),
                     ({"rails": {"SGE": {"EUR": "x"}}}, "records.rails.SGE.EUR"),
                     ({"rails": {"SGE": {"CNY": ""}}}, "records.rails.SGE.CNY"),
                     ({"report_dir": "x"}, "records.report_dir"),
                     ({"settlement_deadline": {"SGE.AU9999": "15:45"}}, "records.settlement_deadline.SGE.AU9999"),
                     ({"settlement_deadline": {"SGE.AUTD": "25:00"}}, "records.settlement_deadline.SGE.AUTD")):
        with pytest.raises(ConfigError) as err:
            parse_records_config(raw, ["SGE"], ["CNY"], ["SGE.AUTD"])
        assert key in str(err.value)
