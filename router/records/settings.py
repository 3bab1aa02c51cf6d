"""The `[records]` configuration table: where reports go and which rail each obligation settles on.

`reports_dir` (default `var/reports`, relative to the working directory) holds the statements the end
of day writes. `[records.rails.VENUE] CCY = "text"` names, per clearing house and currency, the
settlement rail obligations are expected to settle on (the clearing house's own account system, a CNH
clearing bank, a digital-currency rail where one applies); an obligation without one says
"not configured". Unknown venues, currencies and keys are errors naming the key.

Not here: the obligations themselves (records.obligations), file writing (the shell).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from router.domain.config_checks import Table, check_str
from router.domain.errors import ConfigError

RECORDS_KEYS = {"reports_dir", "rails"}


@dataclass(frozen=True)
class RecordsConfig:
    reports_dir: str = "var/reports"
    rails: Mapping[tuple[str, str], str] = field(default_factory=dict)


def parse_records_config(raw: Any, venues: Iterable[str], currencies: Iterable[str]) -> RecordsConfig:
    t = Table(raw if raw is not None else {}, "records", RECORDS_KEYS)
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
    return RecordsConfig(t.str("reports_dir", "var/reports"), rails)


__all__ = ["RecordsConfig", "parse_records_config"]
