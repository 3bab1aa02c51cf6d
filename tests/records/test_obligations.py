"""Settlement obligations: the issue's netting example through the real order flow, and a property
over random trading days: the obligations of all accounts per clearing house, currency and vault sum
to the trades (which cancel between buyer and seller) minus fees, metal nets to zero, and each
account's cash plus margin held moves by exactly its obligations (margin is never created or lost)."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

from router.records.ledger import Ledger
from router.records.obligations import bar_micrograms, net, obligations_view
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
            day = date(2026, 1, 5) + timedelta(days=settled)
            h.ledger.set_deferred_fee(symbol, direction, 200, day)
            h.ledger.settle(day, {symbol: SYMBOLS[symbol][0] + ticks}, h.accounts, h.now)
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
    for raw, key in (({"rails": {"LME": {"CNY": "x"}}}, "records.rails.LME"),
                     ({"rails": {"SGE": {"EUR": "x"}}}, "records.rails.SGE.EUR"),
                     ({"rails": {"SGE": {"CNY": ""}}}, "records.rails.SGE.CNY"),
                     ({"report_dir": "x"}, "records.report_dir"),
                     ({"settlement_deadline": {"SGE.AU9999": "15:45"}}, "records.settlement_deadline.SGE.AU9999"),
                     ({"settlement_deadline": {"SGE.AUTD": "25:00"}}, "records.settlement_deadline.SGE.AUTD")):
        with pytest.raises(ConfigError) as err:
            parse_records_config(raw, ["SGE"], ["CNY"], ["SGE.AUTD"])
        assert key in str(err.value)
