"""Pre-trade risk: each check, kill switch (global / per account), throttle on passed-in time,
cancel-on-disconnect, credit bookkeeping, `[risk]` parsing, and the reason enum's FIX mapping."""
from __future__ import annotations

import pytest

from router.orders.accounts import AccountLimits, Accounts, parse_account
from router.domain.errors import ConfigError
from router.orders.quota import MICRO
from router.domain.reasons import BY_LABEL, Reason
from router.orders.risk import NS_PER_S, RiskConfig, RiskEngine, collar_ok, parse_risk

G = MICRO
MS = 1_000_000

ACCT = {"session": "S1", "side": "onshore", "eligibility": ["sge_mainboard"], "cash": {"CNY": "1"},
        "limits": {"max_order_grams": "1000", "max_notional_cny": "600000", "credit_cny": "1000000"}}


def engine(collar_bp=1000, rate=10, burst=5, cod=True, **acct_patch):
    a1 = parse_account("A1", dict(ACCT, **acct_patch))
    a2 = parse_account("A2", dict(ACCT, session="S2", cancel_on_disconnect=False))
    return RiskEngine(RiskConfig(collar_bp, rate, burst, cod), Accounts([a1, a2]))


def test_a_clean_order_passes():
    r = engine()
    assert r.check_new(r.accounts["A1"], 1000 * G, 560_000 * MICRO, 56000, 56000) is None


def test_max_order_quantity():
    r = engine()
    assert r.check_new(r.accounts["A1"], 1000 * G + 1, 1, None) is Reason.MAX_ORDER_QTY


def test_max_notional():
    r = engine()
    assert r.check_new(r.accounts["A1"], G, 600_000 * MICRO + 1, None) is Reason.MAX_NOTIONAL
    assert r.check_new(r.accounts["A1"], G, 600_000 * MICRO, None) is None


def test_no_limit_when_none():
    r = engine(limits={"max_order_grams": "none", "max_notional_cny": "none", "credit_cny": "none"})
    assert r.check_new(r.accounts["A1"], 10**15, 10**18, None) is None


def test_price_collar_around_reference():
    r = engine(collar_bp=1000)          # 10 %
    a = r.accounts["A1"]
    assert r.check_new(a, G, MICRO, 61600, 56000) is None          # +10 % exactly
    assert r.check_new(a, G, MICRO, 61601, 56000) is Reason.PRICE_COLLAR
    assert r.check_new(a, G, MICRO, 50400, 56000) is None          # -10 % exactly
    assert r.check_new(a, G, MICRO, 50399, 56000) is Reason.PRICE_COLLAR
    assert r.check_new(a, G, MICRO, None, 56000) is None            # market order: no collar
    assert r.check_new(a, G, MICRO, 56000, None) is Reason.NO_REFERENCE_PRICE
    assert engine(collar_bp=None).check_new(a, G, MICRO, 10**9, 1) is None


def test_collar_ok_is_exact_integer_arithmetic():
    assert collar_ok(110, 100, 1000) and not collar_ok(111, 100, 1000)
    assert collar_ok(10**17 + 10**16, 10**17, 1000)


def test_credit_limit_on_open_notional():
    r = engine()
    a = r.accounts["A1"]
    r.on_accepted("o1", "A1", "S1", 500_000 * MICRO)
    r.on_accepted("o2", "A1", "S1", 400_000 * MICRO)
    assert r.open_notional("A1") == 900_000 * MICRO
    assert r.check_new(a, G, 100_000 * MICRO, None) is None
    assert r.check_new(a, G, 100_000 * MICRO + 1, None) is Reason.CREDIT_LIMIT
    # a partial fill reduces the open notional, a cancel removes it
    r.on_open_notional("o1", 200_000 * MICRO)
    assert r.open_notional("A1") == 600_000 * MICRO
    r.on_done("o2")
    r.on_done("o2")                     # idempotent
    assert r.open_notional("A1") == 200_000 * MICRO
    assert r.check_new(a, G, 600_000 * MICRO, None) is None
    with pytest.raises(KeyError):
        r.on_accepted("o1", "A1", "S1", 1)


def test_replace_is_checked_net_of_the_replaced_order():
    r = engine()
    a = r.accounts["A1"]
    r.on_accepted("o1", "A1", "S1", 600_000 * MICRO)
    r.on_accepted("o2", "A1", "S1", 300_000 * MICRO)
    # Replacing o1 by 600k keeps 900k open: fine. As a new order it would breach 1m.
    assert r.check_new(a, G, 600_000 * MICRO, None) is Reason.CREDIT_LIMIT
    assert r.check_replace(a, "o1", G, 600_000 * MICRO) is None
    assert r.check_replace(a, "o1", G, 600_000 * MICRO + 1) is Reason.MAX_NOTIONAL
    assert r.check_replace(a, "nope", G, 1) is Reason.UNKNOWN_ORDER
    assert r.open_notional("A1") == 900_000 * MICRO     # the check left the books untouched


def test_kill_switch_per_account_refuses_new_orders_and_names_working_ones():
    r = engine()
    r.on_accepted("o1", "A1", "S1", MICRO)
    r.on_accepted("o2", "A2", "S2", MICRO)
    r.on_accepted("o3", "A1", "S1", MICRO)
    assert sorted(r.kill_account("A1")) == ["o1", "o3"]
    assert r.check_new(r.accounts["A1"], G, MICRO, None) is Reason.KILL_SWITCH_ACCOUNT
    assert r.check_new(r.accounts["A2"], G, MICRO, None) is None
    # cancels are still allowed: the throttle is the only gate on them
    assert r.check_message("S1", 0) is None
    r.resume_account("A1")
    assert r.check_new(r.accounts["A1"], G, MICRO, None) is None
    with pytest.raises(KeyError):
        r.kill_account("NOPE")


def test_kill_switch_global_wins_over_everything():
    r = engine()
    r.on_accepted("o1", "A1", "S1", MICRO)
    r.on_accepted("o2", "A2", "S2", MICRO)
    assert sorted(r.kill_all()) == ["o1", "o2"]
    for name in ("A1", "A2"):
        assert r.check_new(r.accounts[name], 10**15, 10**18, None) is Reason.KILL_SWITCH_GLOBAL
    assert r.killed("A1") is Reason.KILL_SWITCH_GLOBAL
    r.kill_account("A1")
    r.resume_all()
    assert r.killed("A1") is Reason.KILL_SWITCH_ACCOUNT
    assert r.killed("A2") is None
    assert r.snapshot()["halted"] == ["A1"]


def test_throttle_token_bucket_on_passed_in_time():
    r = engine(rate=10, burst=5)        # 10 msg/s, 5 deep
    t0 = 1_700_000_000 * NS_PER_S
    assert [r.check_message("S1", t0) for _ in range(5)] == [None] * 5
    assert r.check_message("S1", t0) is Reason.THROTTLED
    # another session has its own bucket
    assert r.check_message("S2", t0) is None
    # one token every 100 ms
    assert r.check_message("S1", t0 + 99 * MS) is Reason.THROTTLED
    assert r.check_message("S1", t0 + 100 * MS) is None
    assert r.check_message("S1", t0 + 100 * MS) is Reason.THROTTLED
    # a long pause refills only up to the burst depth
    t1 = t0 + 3600 * NS_PER_S
    assert [r.check_message("S1", t1) for _ in range(6)] == [None] * 5 + [Reason.THROTTLED]


def test_throttle_ignores_time_going_backwards():
    r = engine(rate=1, burst=1)
    t0 = 10 * NS_PER_S
    assert r.check_message("S1", t0) is None
    assert r.check_message("S1", t0 - NS_PER_S) is Reason.THROTTLED
    assert r.check_message("S1", t0 + NS_PER_S) is None


def test_cancel_on_disconnect_per_session():
    r = engine()
    r.on_accepted("o1", "A1", "S1", MICRO)
    r.on_accepted("o2", "A2", "S2", MICRO)
    assert r.on_disconnect("S1") == ["o1"]
    assert r.on_disconnect("S2") == []          # A2 opted out in its account table
    r.set_cancel_on_disconnect("S2", True)
    assert r.on_disconnect("S2") == ["o2"]
    assert r.on_disconnect("UNKNOWN") == []
    assert r.working("A1") == ["o1"] and len(r.working()) == 2


def test_parse_risk_defaults_and_values():
    cfg = parse_risk({"collar_pct": "7.5", "msg_rate": 20, "cancel_on_disconnect": False,
                      "limits": {"max_order_grams": "500"}})
    assert cfg.collar_bp == 750
    assert (cfg.msg_rate, cfg.msg_burst) == (20, 40)
    assert cfg.cancel_on_disconnect is False
    assert cfg.default_limits == AccountLimits(max_order_ug=500 * G)
    assert parse_risk({"collar_pct": "none"}).collar_bp is None
    assert parse_risk(None) == RiskConfig()


@pytest.mark.parametrize("table, key", [
    ({"collar_pct": "0"}, "risk.collar_pct"),
    ({"collar_pct": "1.234"}, "risk.collar_pct"),
    ({"collar_pct": "ten"}, "risk.collar_pct"),
    ({"msg_rate": 0}, "risk.msg_rate"),
    ({"msg_burst": "5"}, "risk.msg_burst"),
    ({"cancel_on_disconnect": 1}, "risk.cancel_on_disconnect"),
    ({"limits": {"max_notional_cny": "-1"}}, "risk.limits.max_notional_cny"),
    ({"speed": 1}, "risk.speed"),
])
def test_parse_risk_errors_name_the_key(table, key):
    with pytest.raises(ConfigError) as err:
        parse_risk(table)
    assert err.value.key == key


def test_every_reason_has_fix_codes_and_a_unique_label():
    ord_codes = set(range(16)) | {99}
    cxl_codes = set(range(7)) | {99}
    for r in Reason:
        assert r.ord_rej_reason in ord_codes, r
        assert r.cxl_rej_reason in cxl_codes, r
        assert r.label and r.label == r.label.lower() and " " not in r.label
        assert r.text
        assert BY_LABEL[r.label] is r
    assert len(BY_LABEL) == len(Reason)
    assert Reason.QUOTA_EXHAUSTED.ord_rej_reason == 3
    assert Reason.UNKNOWN_ORDER.cxl_rej_reason == 1
    assert Reason.SESSION_CLOSED.ord_rej_reason == 2
    assert str(Reason.THROTTLED) == "throttled"
