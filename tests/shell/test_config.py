"""Configuration: embedded defaults load, overlays merge, and every kind of error names file and key."""
from decimal import Decimal

import pytest

from router.config import EMBEDDED, load_config
from router.domain.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "overlay.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value, str(path)


def test_embedded_defaults_hold_the_seven_instruments_and_three_venues():
    cat = load_config().catalogue
    assert list(cat.instruments) == ["SGE.AU9999", "SGE.AUTD", "SGE.MAUTD", "SGEI.IAU9999",
                                     "HKGX.AU99TAEL", "HKGX.RKG", "HKGX.LLG"]
    assert set(cat.venues) == {"SGE", "SGEI", "HKGX"}
    au = cat.instruments["SGE.AU9999"]
    assert (au.lot_size, au.tick_units, au.lot_micrograms, au.fee_rate) == (10, 1, 10_000_000, Decimal("0.00035"))
    tael = cat.instruments["HKGX.AU99TAEL"]
    assert (tael.tick_units, tael.lot_grams, tael.fineness) == (50, Decimal("3742.900"), Decimal("0.990"))
    assert [i.book_id for i in cat.by_book()] == list(range(7))


def test_decimals_are_decimals_not_floats():
    config = load_config()
    assert isinstance(config.fx.rate("USDCNY"), Decimal)
    assert isinstance(config.catalogue.constants.grams_per_troy_oz, Decimal)


def test_overlay_merges_tables_key_by_key(tmp_path):
    path = write(tmp_path, '[fx]\nUSDCNY = 7.25\n[instruments."SGE.AU9999"]\nreference_price = 600.00\n')
    config = load_config(path)
    assert config.fx.rate("USDCNY") == Decimal("7.25")
    assert config.fx.rate("USDHKD") == Decimal("7.8000")          # untouched key kept
    assert config.catalogue.instruments["SGE.AU9999"].reference_price == Decimal("600.00")
    assert config.catalogue.instruments["SGE.AU9999"].lot_size == 10
    assert config.source == str(path)


@pytest.mark.parametrize("text, key, problem", [
    ('[instruments."SGE.AU9999"]\ncolour = "gold"\n', "instruments.SGE.AU9999.colour", "unknown key"),
    ('[instruments."SGE.AU9999"]\nlot_size = "ten"\n', "instruments.SGE.AU9999.lot_size", "must be a number"),
    ('[instruments."SGE.AU9999"]\nmin_lots = 1.5\n', "instruments.SGE.AU9999.min_lots", "must be an integer"),
    ('[instruments."SGE.AU9999"]\ntick = 0.015\n', "instruments.SGE.AU9999.tick", "not a multiple"),
    ('[instruments."SGE.AU9999"]\nfineness = 1.2\n', "instruments.SGE.AU9999.fineness", "(0, 1]"),
    ('[instruments."SGE.AU9999"]\nfineness = 0\n', "instruments.SGE.AU9999.fineness", "(0, 1]"),
    ('[instruments."SGE.AU9999"]\nvenue = "LBMA"\n', "instruments.SGE.AU9999.venue", "unknown venue"),
    ('[instruments."SGE.AU9999"]\nquote_ccy = "EUR"\n', "instruments.SGE.AU9999.quote_ccy", "not one of"),
    ('[instruments."SGE.AU9999"]\nreference_price = 560.005\n', "instruments.SGE.AU9999.reference_price",
     "not a multiple"),
    ('[instruments."SGE.AU9999"]\nmax_lots = 0\n', "instruments.SGE.AU9999.max_lots", "min_lots"),
    ('[instruments."SGE.AUTD"]\nmargin_rate = 1.5\n', "instruments.SGE.AUTD.margin_rate", "(0, 1]"),
    ('[instruments."SGE.AU9999"]\nfineness_adjust = "yes"\n', "instruments.SGE.AU9999.fineness_adjust",
     "true or false"),
    ('[venues.SGE]\nside = "north"\n', "venues.SGE.side", "not one of"),
    ('[fx]\nUSDCNY = -1\n', "fx.USDCNY", "must be positive"),
    ('[fx]\nUSDEUR = 1.1\n', "fx.USDEUR", "unknown FX pair"),
    ('[groups.KG9999]\nmembers = ["SGE.AU9999", "SGE.NOPE"]\n', "groups.KG9999.members[1]", "unknown instrument"),
    ('[products."GOLD.KG9999"]\ngroup = "NOPE"\n', "products.GOLD.KG9999.group", "unknown group"),
    ('[fancy]\nx = 1\n', "fancy", "unknown top-level table"),
])
def test_each_kind_of_error_names_the_file_and_the_key(tmp_path, text, key, problem):
    err, path = error_for(tmp_path, text)
    assert err.key == key
    assert problem in err.problem
    assert err.file == path
    assert str(err).startswith(f"{path}: {key}: ")


def test_missing_required_key_in_a_new_instrument(tmp_path):
    err, _ = error_for(tmp_path, '[instruments."SGE.NEW"]\nvenue = "SGE"\n')
    assert err.key.startswith("instruments.SGE.NEW.") and "missing required key" in err.problem


def test_toml_syntax_error_names_the_file(tmp_path):
    err, path = error_for(tmp_path, "[fx\nUSDCNY = 7\n")
    assert err.file == path and err.key == "(syntax)"


def test_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_error_in_a_key_the_overlay_does_not_set_is_attributed_to_the_defaults(tmp_path):
    # The overlay removes nothing, but a cross-check can fail on an embedded key: the symbol prefix rule.
    err, _ = error_for(tmp_path, '[instruments."HKGX.X"]\nvenue = "SGE"\n')
    assert err.key == "instruments.HKGX.X"
    with pytest.raises(ConfigError) as info:
        from router.config import build_config, embedded_defaults
        tree = embedded_defaults()
        tree["fx"] = {"USDCNY": 7}
        build_config(tree)
    assert info.value.file == EMBEDDED and info.value.key == "fx.USDCNH"


def test_instrument_with_an_unknown_schedule_is_refused(tmp_path):
    err, path = error_for(tmp_path, '[instruments."SGE.AU9999"]\nschedule = "LUNAR"\n')
    assert (err.key, err.file) == ("instruments.SGE.AU9999.schedule", path)
    assert "unknown schedule" in err.problem


@pytest.mark.parametrize("text, key, problem", [
    ('[instruments."HKGX.LLG"]\nsettlement_calendar = "PARIS"\n', "instruments.HKGX.LLG.settlement_calendar",
     "unknown calendar 'PARIS'"),
    ('[instruments."HKGX.LLG"]\npayment_calendar = "NYC"\n', "instruments.HKGX.LLG.payment_calendar",
     "unknown calendar 'NYC'"),
    ('[instruments."SGE.AUTD"]\nsettlement_calendar = "LONDON"\n', "instruments.SGE.AUTD.settlement_calendar",
     "only a T+N settlement cycle counts business days, not 'deferred'"),
])
def test_an_instrument_s_settlement_calendars_are_checked(tmp_path, text, key, problem):
    err, path = error_for(tmp_path, text)
    assert (err.key, err.file) == (key, path)
    assert problem in err.problem


def test_warnings_name_a_settlement_calendar_that_runs_out(tmp_path):
    from datetime import date
    from router.config import calendar_warnings
    config = load_config(write(tmp_path, '[calendars.US_FED]\ncovers_until = "2027-12-31"\n'))
    assert not any("US_FED" in w for w in calendar_warnings(config, date(2027, 10, 1)))
    (warning,) = [w for w in calendar_warnings(config, date(2027, 11, 15)) if "US_FED" in w]
    assert warning.startswith("instrument HKGX.LLG: payment calendar US_FED covers only until 2027-12-31")
    assert "calendars.US_FED.holidays" in warning


@pytest.mark.parametrize("text, key", [
    ('[accounts.SHCLIENT1]\nside = "moon"\n', "accounts.SHCLIENT1.side"),
    ('[fix]\nport = "ninety"\n', "fix.port"),
    ('[http]\nport = 70000\n', "http.port"),
    ('[schedules.SGE_SPOT]\ntz = "Mars/Olympus"\n', "schedules.SGE_SPOT.tz"),
])
def test_sections_owned_by_other_modules_also_name_file_and_key(tmp_path, text, key):
    err, path = error_for(tmp_path, text)
    assert err.key == key and err.file == path


def test_every_section_is_parsed_from_the_embedded_defaults():
    config = load_config()
    assert set(config.sections) == {"calendars", "participants", "fix", "http", "reference", "fx_settings",
                                    "records", "journal", "orders"}
    assert [s.target_comp_id for s in config.sections["fix"].sessions] == ["SHCLIENT1", "HKCLIENT1", "DROPCOPY1"]
    assert [s.role for s in config.sections["fix"].sessions] == ["trading", "trading", "drop_copy"]
    assert config.sections["fix"].sender_comp_id == "GOLDRTR" and config.sections["fix"].port == 9878
    assert config.sections["http"].port == 9188


@pytest.mark.parametrize("entry, key, problem", [
    ('role = "observer"', "fix.sessions[0].role", "must be one of 'trading', 'drop_copy'"),
    ('accounts = ["SHCLIENT1"]', "fix.sessions[0].accounts", 'only a session with role = "drop_copy"'),
    ('role = "drop_copy"\naccounts = []', "fix.sessions[0].accounts", "non-empty list of account names"),
    ('role = "drop_copy"\naccounts = "SHCLIENT1"', "fix.sessions[0].accounts", "non-empty list"),
    ('role = "drop_copy"\naccounts = ["SHCLIENT1", "SHCLIENT1"]', "fix.sessions[0].accounts", "twice"),
    ('role = "drop_copy"\naccounts = ["NOBODY"]', "fix.sessions[0].accounts", "unknown account 'NOBODY'"),
])
def test_drop_copy_session_settings_are_checked(tmp_path, entry, key, problem):
    err, path = error_for(tmp_path, f'[[fix.sessions]]\ntarget_comp_id = "DC"\n{entry}\n')
    assert (err.key, err.file) == (key, path)
    assert problem in err.problem


def test_a_drop_copy_session_for_some_accounts(tmp_path):
    f = tmp_path / "dc.toml"
    f.write_text('[[fix.sessions]]\ntarget_comp_id = "DC"\nrole = "drop_copy"\naccounts = ["HKCLIENT1"]\n')
    (s,) = load_config(f).sections["fix"].sessions
    assert s.drop_copy and s.accounts == ("HKCLIENT1",)


def test_calendar_warnings_when_a_holiday_list_runs_out():
    from datetime import date
    from router.config import calendar_warnings
    config = load_config()
    until = min(config.sections["calendars"].covered_until(n) for n in config.sections["calendars"].schedule_names())
    assert calendar_warnings(config, date(until.year - 1, 1, 1)) == []
    warnings = calendar_warnings(config, until)
    assert warnings and all("covers only until" in w and "calendar_unknown" in w for w in warnings)


def test_orders_done_kept_is_read_and_a_bad_value_names_the_key(tmp_path):
    assert load_config().sections["orders"] == 20_000
    assert load_config(write(tmp_path, "[orders]\ndone_kept = 500\n")).sections["orders"] == 500
    err, path = error_for(tmp_path, "[orders]\ndone_kept = 0\n")
    assert err.key == "orders.done_kept" and "at least 1" in str(err) and path in str(err)
    err, _ = error_for(tmp_path, "[orders]\nkept = 5\n")
    assert err.key == "orders.kept" and "unknown key" in str(err)
