"""Accounts: config parsing (with key-naming errors), the shipped defaults, holdings and resolution."""
from __future__ import annotations

import copy

import pytest

from router.orders.accounts import (Account, AccountLimits, Accounts, micro_to_text, parse_account,
                             parse_accounts, vault_forms)
from router.config import load_config
from router.domain.errors import ConfigError
from router.orders.quota import MICRO
from router.domain.reasons import Reason
from router.orders.risk import parse_participants

G = MICRO  # micrograms per gram
KG9999, KG3_9995, TAEL990 = "ingot_1kg_9999", "ingot_3kg_9995", "tael_bar_990"
# The vaults of the default catalogue and the bar forms their instruments deliver.
FORMS = vault_forms(load_config().catalogue.instruments.values())
MAIN = ("SGE_MAINLAND", KG9999)

BASE = {
    "session": "S1", "side": "onshore", "eligibility": ["sge_mainboard"], "cross_border": False,
    "cash": {"CNY": "1000.50"}, "metal": {"SGE_MAINLAND": {KG9999: "20"}},
}


def _parse(name: str, table: dict, *args) -> Account:
    return parse_account(name, table, *args, vault_forms=FORMS)


@pytest.fixture(scope="module")
def config():
    return load_config()


def test_parse_account_exact_amounts():
    a = _parse("A1", BASE)
    assert a.session == "S1" and a.side == "onshore"
    assert a.eligibility == frozenset({"sge_mainboard"})
    assert a.cash == {"CNY": 1_000_500_000}
    assert a.metal == {MAIN: 20 * G}
    assert a.cross_border is False
    assert a.limits == AccountLimits()
    assert a.cancel_on_disconnect is True


def test_limits_override_defaults_key_by_key():
    defaults = AccountLimits(max_order_ug=100 * G, max_notional_cny=5 * MICRO, credit_cny=9 * MICRO)
    t = dict(BASE, limits={"max_order_grams": "10", "credit_cny": "none"})
    a = _parse("A1", t, defaults)
    assert a.limits == AccountLimits(max_order_ug=10 * G, max_notional_cny=5 * MICRO, credit_cny=None)


@pytest.mark.parametrize("patch, key", [
    ({"cash": {"XYZ": "1"}}, "accounts.A1.cash.XYZ"),
    ({"cash": {"CNY": "-1"}}, "accounts.A1.cash.CNY"),
    ({"cash": {"CNY": "abc"}}, "accounts.A1.cash.CNY"),
    ({"metal": {"MOON": "1"}}, "accounts.A1.metal.MOON"),
    ({"metal": {"HK": "1"}}, "accounts.A1.metal.HK"),                     # HK holds two forms: which?
    ({"metal": {"SGE_MAINLAND": "1"}}, "accounts.A1.metal.SGE_MAINLAND"),  # 1 kg 9999 and 3 kg 9995
    ({"metal": {"HK": {"ingot_400oz": "1"}}}, "accounts.A1.metal.HK.ingot_400oz"),
    ({"metal": {"LONDON": {TAEL990: "1"}}}, "accounts.A1.metal.LONDON.tael_bar_990"),   # not in LONDON
    ({"metal": {"HK": {TAEL990: "-1"}}}, "accounts.A1.metal.HK.tael_bar_990"),
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
        parse_accounts({"A1": t}, vault_forms=FORMS)
    assert err.value.key == key


def test_metal_per_vault_and_bar_form():
    """A vault whose instruments deliver one form takes a plain amount; others a table per form."""
    a = _parse("A1", dict(BASE, metal={"SGEI_FTZ_SHANGHAI": "7", "LONDON": "12.5",
                                       "HK": {TAEL990: "3742.9", KG9999: "1000"}}))
    assert a.metal == {("SGEI_FTZ_SHANGHAI", KG9999): 7 * G, ("LONDON", "lgd_400oz"): 12_500_000,
                       ("HK", TAEL990): 3_742_900_000, ("HK", KG9999): 1000 * G}
    with pytest.raises(ConfigError) as err:
        _parse("A1", dict(BASE, metal={"HK": "1"}))
    assert "ambiguous: HK holds bar forms ingot_1kg_9999, tael_bar_990" in str(err.value)
    with pytest.raises(ConfigError) as err:        # without the catalogue a plain amount has no form
        parse_account("A1", dict(BASE, metal={"SGEI_FTZ_SHANGHAI": "7"}))
    assert err.value.key == "accounts.A1.metal.SGEI_FTZ_SHANGHAI"


def test_an_ambiguous_plain_amount_in_a_config_file_names_its_key(tmp_path):
    overlay = tmp_path / "old.toml"
    overlay.write_text('[accounts.SHCLIENT1.metal]\nHK = "200000"\n')
    with pytest.raises(ConfigError) as err:
        load_config(overlay)
    assert err.value.key == "accounts.SHCLIENT1.metal.HK"


def test_missing_session_is_named():
    t = {k: v for k, v in BASE.items() if k != "session"}
    with pytest.raises(ConfigError) as err:
        parse_account("A1", t)
    assert err.value.key == "accounts.A1.session"


def test_default_accounts_ship_funded_and_cross_border(config):
    p = parse_participants(config.raw, vault_forms=vault_forms(config.catalogue.instruments.values()))
    sh, hk = p.accounts["SHCLIENT1"], p.accounts["HKCLIENT1"]
    assert (sh.side, hk.side) == ("onshore", "offshore")
    assert sh.session == "SHCLIENT1" and hk.session == "HKCLIENT1"
    for a in (sh, hk):
        assert a.cross_border
        assert a.eligibility >= {"sge_mainboard", "sge_international", "hkgx"}
        for instr in config.catalogue.instruments.values():
            assert a.free_cash(instr.settlement_ccy) > 0, instr.symbol
            if instr.margin_rate is None:      # a full-payment sale delivers the book's own bar form
                assert any(a.free_metal(v, instr.bar_form) > 0 for v in instr.vaults), instr.symbol
        # account limits come from [risk.limits]
        assert a.limits == p.risk.default_limits
        assert a.limits.max_order_ug == 100_000 * G


def test_config_loader_parses_the_accounts_section(config):
    accounts = config.sections["participants"].accounts
    assert {a.name for a in accounts} >= {"SHCLIENT1", "HKCLIENT1"}


def test_reserve_and_release_cash_and_metal():
    a = _parse("A1", BASE)
    assert a.reserve_cash("CNY", 1_000_000_000) is None
    assert a.free_cash("CNY") == 500_000
    assert a.reserve_cash("CNY", 500_001) is Reason.INSUFFICIENT_CASH
    a.release_cash("CNY", 400_000_000)
    assert a.free_cash("CNY") == 400_500_000
    assert a.reserve_metal(*MAIN, 15 * G) is None
    assert a.reserve_metal(*MAIN, 6 * G) is Reason.INSUFFICIENT_METAL
    assert a.reserve_metal("SGE_MAINLAND", KG3_9995, 1) is Reason.INSUFFICIENT_METAL   # another form
    assert a.free_metal(*MAIN) == 5 * G
    a.release_metal(*MAIN, 100 * G)   # capped at what is reserved
    assert a.free_metal(*MAIN) == 20 * G
    assert a.free_metal("HK", KG9999) == 0
    with pytest.raises(ValueError):
        a.reserve_cash("CNY", -1)


def test_settlement_moves_cash_and_metal():
    a = _parse("A1", BASE)
    a.reserve_cash("CNY", 600 * MICRO)
    a.settle_buy("CNY", 560 * MICRO, *MAIN, 1 * G, 600 * MICRO)
    assert a.cash["CNY"] == 440_500_000 and a.free_cash("CNY") == 440_500_000
    assert a.metal[MAIN] == 21 * G
    a.reserve_metal(*MAIN, 10 * G)
    a.settle_sell("CNY", 5_600 * MICRO, *MAIN, 10 * G, 10 * G)
    assert a.free_metal(*MAIN) == 11 * G
    assert a.cash["CNY"] == 6_040_500_000
    a.settle_buy("CNY", 0, "HK", TAEL990, 5 * G, 0)          # arrives as its own form, beside the others
    assert a.metal == {MAIN: 11 * G, ("HK", TAEL990): 5 * G}


def test_best_vault_picks_most_free_metal():
    a = _parse("A1", dict(BASE, metal={"HK": {KG9999: "5", TAEL990: "9"}, "SGE_MAINLAND": {KG9999: "7"}}))
    assert a.best_vault(["HK", "SGE_MAINLAND"], KG9999) == ("SGE_MAINLAND", 7 * G)
    assert a.best_vault(["HK", "SGE_MAINLAND"], TAEL990) == ("HK", 9 * G)
    assert a.best_vault(["LONDON"], "lgd_400oz") == ("LONDON", 0)


def test_resolve_checks_session_ownership():
    accts = Accounts([_parse("A1", BASE), _parse("A2", dict(BASE, session="S2")),
                      _parse("A3", dict(BASE, session="S2"))])
    assert accts.resolve("S1", "A1").name == "A1"
    assert accts.resolve("S1", None).name == "A1"          # the session's only account
    assert accts.resolve("S2", None) is Reason.UNKNOWN_ACCOUNT   # ambiguous
    assert accts.resolve("S1", "A2") is Reason.ACCOUNT_NOT_OWNED
    assert accts.resolve("S1", "NOPE") is Reason.UNKNOWN_ACCOUNT
    assert [a.name for a in accts.for_session("S2")] == ["A2", "A3"]
    assert len(accts) == 3 and "A2" in accts and accts.get("X") is None


def test_holds_is_about_a_cash_line_not_its_size():
    a = _parse("A1", dict(BASE, cash={"CNY": "0"}))
    assert a.holds("CNY") and not a.holds("HKD")
    assert isinstance(a, Account)


def test_micro_to_text():
    assert micro_to_text(1_000_500_000) == "1000.5"
    assert micro_to_text(-1) == "-0.000001"
    assert micro_to_text(7 * MICRO) == "7"
