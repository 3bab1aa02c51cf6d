"""The `[records]` configuration table: where reports go and which rail each obligation settles on.

`reports_dir` (default `var/reports`, relative to the working directory) holds the statements the end
of day writes. `[records.rails.VENUE] CCY = "text"` names, per clearing house and currency, the
settlement rail obligations are expected to settle on (the clearing house's own account system, a CNH
clearing bank, a digital-currency rail where one applies); an obligation without one says
"not configured". `[records.settlement_deadline] "SGE.AUTD" = "15:45"` (venue-local time on each
trading day) settles a margined instrument at the day's last trade when no settlement price was posted
by then. Unknown venues, currencies, instruments and keys are errors naming the key.

Not here: the obligations themselves (records.obligations), file writing (the shell).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from router.domain.config_checks import Table, check_str
from router.domain.errors import ConfigError

RECORDS_KEYS = {"reports_dir", "rails", "settlement_deadline"}


@dataclass(frozen=True)
class RecordsConfig:
    reports_dir: str = "var/reports"
    rails: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # symbol -> minutes after venue-local midnight of a trading day by which, without a posted settlement
    # price, the day's last trade settles the instrument
    settlement_deadline: Mapping[str, int] = field(default_factory=dict)


def _hhmm(raw: Any, key: str) -> int:
    text = check_str(raw, key)
    hh, sep, mm = text.partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and len(mm) == 2 and int(hh) < 24 and int(mm) < 60):
        raise ConfigError(key, f"expected a local time HH:MM, got {raw!r}")
    return int(hh) * 60 + int(mm)


def parse_records_config(raw: Any, venues: Iterable[str], currencies: Iterable[str],
                         margined: Iterable[str] = ()) -> RecordsConfig:
    """`[records]`; `margined` are the instruments a settlement deadline may name."""
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
    return RecordsConfig(t.str("reports_dir", "var/reports"), rails, deadlines)


__all__ = ["RecordsConfig", "parse_records_config"]
