"""Accounts: config parsing (with key-naming errors), the shipped defaults, holdings and resolution."""
from __future__ import annotations

import copy

import pytest

from router.orders.accounts import (Account, AccountLimits, Accounts, micro_to_text, parse_account,
                             parse_accounts)
from router.config import load_config
from router.domain.errors import ConfigError
from router.orders.quota import MICRO
from router.domain.reasons import Reason
from router.orders.risk import parse_participants

G = MICRO  # micrograms per gram

BASE = {
    "session": "S1", "side": "onshore", "eligibility": ["sge_mainboard"], "cross_border": False,
    "cash": {"CNY": "1000.50"}, "metal": {"SGE_MAINLAND": "20"},
}


@pytest.fixture(scope="module")
def config():
    return load_config()


def test_parse_account_exact_amounts():
    a = parse_account("A1", BASE)
    assert a.session == "S1" and a.side == "onshore"
    assert a.eligibility == frozenset({"sge_mainboard"})
    assert a.cash == {"CNY": 1_000_500_000}
    assert a.metal == {"SGE_MAINLAND": 20 * G}
    assert a.cross_border is False
    assert a.limits == AccountLimits()
    assert a.cancel_on_disconnect is True


def test_limits_override_defaults_key_by_key():
    defaults = AccountLimits(max_order_ug=100 * G, max_notional_cny=5 * MICRO, credit_cny=9 * MICRO)
    t = dict(BASE, limits={"max_order_grams": "10", "credit_cny": "none"})
    a = parse_account("A1", t, defaults)
    assert a.limits == AccountLimits(max_order_ug=10 * G, max_notional_cny=5 * MICRO, credit_cny=None)


@pytest.mark.parametrize("patch, key", [
    ({"cash": {"XYZ": "1"}}, "accounts.A1.cash.XYZ"),
    ({"cash": {"CNY": "-1"}}, "accounts.A1.cash.CNY"),
    ({"cash": {"CNY": "abc"}}, "accounts.A1.cash.CNY"),
    ({"metal": {"MOON": "1"}}, "accounts.A1.metal.MOON"),
    ({"side": "midstream"}, "accounts.A1.side"),
    ({"eligibility": ["sge_mainboard", "lme"]}, "accounts.A1.eligibility[1]"),
    ({"eligibility": "hkgx"}, "accounts.A1.eligibility"),
    ({"cross_border": "yes"}, "accounts.A1.cross_border"),
    ({"limits": {"max_lots": "1"}}, "accounts.A1.limits.max_lots"),
    ({"limits": {"credit_cny": "1.0000001"}}, "accounts.A1.limits.credit_cny"),
    ({"colour": "blue"}, "accounts.A1.colour"),
    ({"session": ""}, "accounts.A1.session"),
])
def test_errors_name_the_key(patch, key):
    t = copy.deepcopy(BASE)
    t.update(patch)
    with pytest.raises(ConfigError) as err:
        parse_accounts({"A1": t}, known_vaults=["SGE_MAINLAND"])
    assert err.value.key == key


def test_missing_session_is_named():
    t = {k: v for k, v in BASE.items() if k != "session"}
    with pytest.raises(ConfigError) as err:
        parse_account("A1", t)
    assert err.value.key == "accounts.A1.session"


def test_default_accounts_ship_funded_and_cross_border(config):
    p = parse_participants(config.raw, known_vaults={v for i in config.catalogue.instruments.values()
                                                      for v in i.vaults})
    sh, hk = p.accounts["SHCLIENT1"], p.accounts["HKCLIENT1"]
    assert (sh.side, hk.side) == ("onshore", "offshore")
    assert sh.session == "SHCLIENT1" and hk.session == "HKCLIENT1"
    for a in (sh, hk):
        assert a.cross_border
        assert a.eligibility >= {"sge_mainboard", "sge_international", "hkgx"}
        for instr in config.catalogue.instruments.values():
            assert a.free_cash(instr.settlement_ccy) > 0, instr.symbol
            assert any(a.free_metal(v) > 0 for v in instr.vaults), instr.symbol
        # account limits come from [risk.limits]
        assert a.limits == p.risk.default_limits
        assert a.limits.max_order_ug == 100_000 * G


def test_config_loader_parses_the_accounts_section(config):
    accounts = config.sections["participants"].accounts
    assert {a.name for a in accounts} >= {"SHCLIENT1", "HKCLIENT1"}


def test_reserve_and_release_cash_and_metal():
    a = parse_account("A1", BASE)
    assert a.reserve_cash("CNY", 1_000_000_000) is None
    assert a.free_cash("CNY") == 500_000
    assert a.reserve_cash("CNY", 500_001) is Reason.INSUFFICIENT_CASH
    a.release_cash("CNY", 400_000_000)
    assert a.free_cash("CNY") == 400_500_000
    assert a.reserve_metal("SGE_MAINLAND", 15 * G) is None
    assert a.reserve_metal("SGE_MAINLAND", 6 * G) is Reason.INSUFFICIENT_METAL
    assert a.free_metal("SGE_MAINLAND") == 5 * G
    a.release_metal("SGE_MAINLAND", 100 * G)   # capped at what is reserved
    assert a.free_metal("SGE_MAINLAND") == 20 * G
    assert a.free_metal("HK") == 0
    with pytest.raises(ValueError):
        a.reserve_cash("CNY", -1)


def test_settlement_moves_cash_and_metal():
    a = parse_account("A1", BASE)
    a.reserve_cash("CNY", 600 * MICRO)
    a.settle_buy("CNY", 560 * MICRO, "SGE_MAINLAND", 1 * G, 600 * MICRO)
    assert a.cash["CNY"] == 440_500_000 and a.free_cash("CNY") == 440_500_000
    assert a.metal["SGE_MAINLAND"] == 21 * G
    a.reserve_metal("SGE_MAINLAND", 10 * G)
    a.settle_sell("CNY", 5_600 * MICRO, "SGE_MAINLAND", 10 * G, 10 * G)
    assert a.free_metal("SGE_MAINLAND") == 11 * G
    assert a.cash["CNY"] == 6_040_500_000


def test_best_vault_picks_most_free_metal():
    a = parse_account("A1", dict(BASE, metal={"HK": "5", "SGE_MAINLAND": "7"}))
    assert a.best_vault(["HK", "SGE_MAINLAND"]) == ("SGE_MAINLAND", 7 * G)
    assert a.best_vault(["LONDON"]) == ("LONDON", 0)


def test_resolve_checks_session_ownership():
    accts = Accounts([parse_account("A1", BASE), parse_account("A2", dict(BASE, session="S2")),
                      parse_account("A3", dict(BASE, session="S2"))])
    assert accts.resolve("S1", "A1").name == "A1"
    assert accts.resolve("S1", None).name == "A1"          # the session's only account
    assert accts.resolve("S2", None) is Reason.UNKNOWN_ACCOUNT   # ambiguous
    assert accts.resolve("S1", "A2") is Reason.ACCOUNT_NOT_OWNED
    assert accts.resolve("S1", "NOPE") is Reason.UNKNOWN_ACCOUNT
    assert [a.name for a in accts.for_session("S2")] == ["A2", "A3"]
    assert len(accts) == 3 and "A2" in accts and accts.get("X") is None


def test_holds_is_about_a_cash_line_not_its_size():
    a = parse_account("A1", dict(BASE, cash={"CNY": "0"}))
    assert a.holds("CNY") and not a.holds("HKD")
    assert isinstance(a, Account)


def test_micro_to_text():
    assert micro_to_text(1_000_500_000) == "1000.5"
    assert micro_to_text(-1) == "-0.000001"
    assert micro_to_text(7 * MICRO) == "7"
