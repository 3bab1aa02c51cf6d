"""The `[records]` configuration table: where reports go and which rail each obligation settles on.

`reports_dir` (default `var/reports`, relative to the working directory) holds the statements the end
of day writes. `[records.rails.VENUE] CCY = "text"` names, per clearing house and currency, the
settlement rail obligations are expected to settle on (the clearing house's own account system, a CNH
clearing bank, a digital-currency rail where one applies); an obligation without one says
"not configured". `[records.settlement_deadline] "SGE.AUTD" = "15:45"` (venue-local time on each
trading day) settles a margined instrument at the day's last trade when no settlement price was posted
by then. `[records.withdrawal] VAULT = ["onshore"]` lists, per vault, the account sides that may take metal
out of it (an obligation's `withdrawable` flag); a vault not listed lets either side. Unknown venues,
currencies, instruments, vaults, sides and keys are errors naming the key.

Not here: the obligations themselves (records.obligations), file writing (the shell).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from router.domain.catalogue import SIDES
from router.domain.config_checks import Table, check_str, check_str_list
from router.domain.errors import ConfigError

RECORDS_KEYS = {"reports_dir", "rails", "settlement_deadline", "withdrawal"}


@dataclass(frozen=True)
class RecordsConfig:
    reports_dir: str = "var/reports"
    rails: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # symbol -> minutes after venue-local midnight of a trading day by which, without a posted settlement
    # price, the day's last trade settles the instrument
    settlement_deadline: Mapping[str, int] = field(default_factory=dict)
    # vault -> the account sides that may withdraw metal from it (a vault not named: either side)
    withdrawal: Mapping[str, frozenset[str]] = field(default_factory=dict)


def _hhmm(raw: Any, key: str) -> int:
    text = check_str(raw, key)
    hh, sep, mm = text.partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and len(mm) == 2 and int(hh) < 24 and int(mm) < 60):
        raise ConfigError(key, f"expected a local time HH:MM, got {raw!r}")
    return int(hh) * 60 + int(mm)


def _withdrawal(t: Table, vaults: Iterable[str]) -> dict[str, frozenset[str]]:
    """`[records.withdrawal]`: per known vault, the account sides (possibly none) that may withdraw."""
    vaults = set(vaults)
    out = {}
    for vault, sides in t.table("withdrawal", None, {}).items():
        key = f"records.withdrawal.{vault}"
        if vault not in vaults:
            raise ConfigError(key, f"unknown vault (expected one of {', '.join(sorted(vaults))})")
        for side in check_str_list(sides, key):
            if side not in SIDES:
                raise ConfigError(key, f"unknown account side {side!r} (expected {' or '.join(SIDES)})")
        out[vault] = frozenset(sides)
    return out


def parse_records_config(raw: Any, venues: Iterable[str], currencies: Iterable[str],
                         margined: Iterable[str] = (), vaults: Iterable[str] = ()) -> RecordsConfig:
    """`[records]`; `margined` are the instruments a settlement deadline may name, `vaults` the vaults
    a withdrawal rule may name."""
    t = Table(raw if raw is not None else {}, "records", RECORDS_KEYS)
    margined = set(margined)
    deadlines = {}
    for symbol, at in t.table("settlement_deadline", None, {}).items():
        if symbol not in margined:
            raise ConfigError(f"records.settlement_deadline.{symbol}",
                              f"not a margined instrument (expected one of {', '.join(sorted(margined))})")
        deadlines[symbol] = _hhmm(at, f"records.settlement_deadline.{symbol}")
    venues, currencies = set(venues), set(currencies)
    rails: dict[tuple[str, str], str] = {}
    for venue, per_ccy in t.table("rails", None, {}).items():
        if venue not in venues:
            raise ConfigError(f"records.rails.{venue}", f"unknown venue (expected one of {', '.join(sorted(venues))})")
        for ccy, text in Table(per_ccy, f"records.rails.{venue}", None).items():
            if ccy not in currencies:
                raise ConfigError(f"records.rails.{venue}.{ccy}",
                                  f"unknown currency (expected one of {', '.join(sorted(currencies))})")
            rails[venue, ccy] = check_str(text, f"records.rails.{venue}.{ccy}")
    return RecordsConfig(t.str("reports_dir", "var/reports"), rails, deadlines, _withdrawal(t, vaults))


__all__ = ["RecordsConfig", "parse_records_config"]
