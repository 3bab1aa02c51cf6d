"""Loading gold-router's configuration: embedded defaults, an optional TOML overlay, and validation.

The complete default configuration ships inside the package (`default*.toml`), so every
command works with no file; `--config FILE` overlays it (tables merge key by key, any other
value, lists included, replaces). TOML floats are parsed as `Decimal`, never binary floats.
Each section is validated by the module that owns it, and any error is a `ConfigError`
naming the file (the overlay when it sets that key, else the embedded defaults), the key
path and the problem.

It does not start anything, read the clock or hold mutable run-time state (FX updates make
a new `Fx`; see `router.domain.convert`).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from router.domain.catalogue import Catalogue, parse_catalogue
from router.domain.convert import Fx, parse_fx
from router.domain.errors import ConfigError

EMBEDDED = "embedded defaults"
DEFAULT_FILES = ("default.toml", "default_calendars.toml", "default_accounts.toml")
TOP_LEVEL = {
    "constants", "fx", "venues", "instruments", "groups", "products",   # catalogue
    "schedules", "calendars",                                            # trading calendars
    "accounts", "risk", "quota",                                         # participants and risk
    "fix",                                                               # FIX listener and sessions
    "http",                                                              # metrics and admin API
    "reference",                                                         # run-time reference prices
    "records",                                                           # books of record: reports, rails
    "journal",                                                           # write-ahead command journal
    "orders",                                                            # order records kept in memory
}


@dataclass
class Config:
    raw: dict[str, Any]
    catalogue: Catalogue
    fx: Fx
    source: str = EMBEDDED
    sections: dict[str, Any] = field(default_factory=dict)   # parsed sections owned by other modules


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _parse_toml(text: str, name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(syntax)", str(exc), name) from None


def embedded_defaults() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    package = resources.files("router")
    for name in DEFAULT_FILES:
        resource = package / name
        if resource.is_file():
            merged = _merge(merged, _parse_toml(resource.read_text(encoding="utf-8"), f"router/{name}"))
    return merged


def _key_in(tree: Any, key: str) -> bool:
    """Whether the overlay sets (a prefix of) this dotted key path, so the error can name its file.

    Table names may themselves hold dots (instrument symbols such as `SGE.AU9999`), so each level
    tries every key of the table that the remaining path starts with.
    """
    if not key or not isinstance(tree, dict):
        return True
    for name, sub in tree.items():
        if key == name or key.startswith(name + "[") or key.startswith(name + "."):
            rest = key[len(name):].lstrip(".")
            if not rest or rest.startswith("[") or _key_in(sub, rest):
                return True
    return False


def _section_parsers() -> list[tuple[str, Callable[[dict[str, Any], Catalogue], Any]]]:
    """Parsers of the sections owned by other modules, imported lazily to keep start-up light."""
    def calendars(cfg: dict[str, Any], cat: Catalogue) -> Any:
        from router.domain.calendar import Calendars
        cals = Calendars.from_config(cfg.get("schedules", {}), cfg.get("calendars", {}))
        for symbol, instr in cat.instruments.items():
            if instr.schedule not in cals.schedule_names():
                raise ConfigError(f"instruments.{symbol}.schedule", f"unknown schedule {instr.schedule!r}")
            for key in ("settlement_calendar", "payment_calendar"):
                name = getattr(instr, key)
                if name is not None and name not in cals.calendar_names():
                    raise ConfigError(f"instruments.{symbol}.{key}", f"unknown calendar {name!r} (known: "
                                      f"{', '.join(sorted(cals.calendar_names()))})")
        _check_quota_schedules(cfg.get("quota") or {}, cat)
        return cals

    def accounts(cfg: dict[str, Any], cat: Catalogue) -> Any:
        from router.orders.accounts import vault_forms
        from router.orders.risk import parse_participants
        return parse_participants(cfg, vault_forms=vault_forms(cat.instruments.values()))

    def fix(cfg: dict[str, Any], cat: Catalogue) -> Any:
        from router.fix.config import parse_fix_config
        fix = parse_fix_config(cfg.get("fix", {}))
        known = cfg.get("accounts", {})
        for i, s in enumerate(fix.sessions):
            for name in s.accounts or ():
                if name not in known:
                    raise ConfigError(f"fix.sessions[{i}].accounts", f"unknown account {name!r} "
                                      f"(known: {', '.join(sorted(known))})")
        return fix

    def http(cfg: dict[str, Any], cat: Catalogue) -> Any:
        from router.ops.http_config import parse_http_config
        return parse_http_config(cfg.get("http", {}))

    def fx_settings(cfg: dict[str, Any], cat: Catalogue) -> Any:
        from router.domain.fx_quotes import parse_fx_settings
        return parse_fx_settings(cfg.get("fx", {}))

    def reference(cfg: dict[str, Any], cat: Catalogue) -> Any:
        from router.orders.refprices import parse_reference_config
        return parse_reference_config(cfg.get("reference", {}))

    def records(cfg: dict[str, Any], cat: Catalogue) -> Any:
        from router.domain.catalogue import CURRENCIES
        from router.records.settings import parse_records_config
        margined = [s for s, i in cat.instruments.items() if i.margin_rate is not None]
        vaults = {v for i in cat.instruments.values() for v in i.vaults}
        return parse_records_config(cfg.get("records", {}), cat.venues, CURRENCIES, margined, vaults)

    def orders(cfg: dict[str, Any], cat: Catalogue) -> Any:
        from router.orders.index import parse_orders_config
        return parse_orders_config(cfg.get("orders", {}))

    def journal(cfg: dict[str, Any], cat: Catalogue) -> Any:
        from router.records.journal_config import parse_journal_config
        return parse_journal_config(cfg.get("journal", {}))

    return [("calendars", calendars), ("participants", accounts), ("fix", fix), ("http", http),
            ("reference", reference), ("fx_settings", fx_settings), ("records", records), ("journal", journal),
            ("orders", orders)]


def _check_quota_schedules(table: dict[str, Any], cat: Catalogue) -> None:
    """`[quota] northbound_schedule` / `southbound_schedule` must name the schedule of a book that uses
    that direction's quota (a book on its destination side whose quota zone leaves the crossing side out)."""
    for key, dest, crossing in (("northbound_schedule", "onshore", "offshore"),
                                ("southbound_schedule", "offshore", "onshore")):
        named = table.get(key)
        if named is None:
            continue
        used = sorted({i.schedule for i in cat.instruments.values() if i.side == dest and crossing not in i.quota_zone})
        if named not in used:
            raise ConfigError(f"quota.{key}", f"{named!r} is not the schedule of a book using this quota "
                                              f"(expected one of {', '.join(used) or 'none'})")


def build_config(tree: dict[str, Any], source: str = EMBEDDED, overlay: dict[str, Any] | None = None,
                 *, sections: bool = True) -> Config:
    """Validate a merged configuration tree; errors name `source` if the overlay sets the key."""
    try:
        for key in tree:
            if key not in TOP_LEVEL:
                raise ConfigError(key, f"unknown top-level table (known: {', '.join(sorted(TOP_LEVEL))})")
        catalogue = parse_catalogue(tree)
        fx = parse_fx(tree.get("fx", {}))
        config = Config(tree, catalogue, fx, source)
        if sections:
            for name, parse in _section_parsers():
                config.sections[name] = parse(tree, catalogue)
        return config
    except ConfigError as err:
        # A key missing from a table the overlay wrote is the overlay's omission too.
        parent = err.key.rpartition(".")[0] if err.problem.startswith("missing") else err.key
        attributed = source if overlay is not None and (_key_in(overlay, err.key) or
                                                        _key_in(overlay, parent)) else EMBEDDED
        raise err.in_file(attributed) from None


def calendar_warnings(config: Config, today: date, horizon_days: int = 60) -> list[str]:
    """Schedules whose holiday lists run out within `horizon_days` of `today` (past that date no day is a
    trading day and orders are rejected `calendar_unknown`, so an operator must add the next year's holidays),
    and instruments' settlement or payment calendars that do (value dates past them cannot be counted)."""
    cals = config.sections.get("calendars")
    if cals is None:
        return []
    out = []
    for name in sorted(cals.schedule_names()):
        until = cals.covered_until(name)
        if (until - today).days < horizon_days:
            cal = cals.calendar_name(name)
            when = "since" if until < today else "after"
            out.append(f"schedule {name}: calendar {cal} covers only until {until.isoformat()}; orders are "
                       f"rejected calendar_unknown {when} that date: add the following year's holidays to "
                       f"calendars.{cal}.holidays and move calendars.{cal}.covers_until")
    for symbol, instr in sorted(config.catalogue.instruments.items()):
        for key in ("settlement_calendar", "payment_calendar"):
            cal = getattr(instr, key)
            if cal is None or (cals.calendar_covered_until(cal) - today).days >= horizon_days:
                continue
            until = cals.calendar_covered_until(cal).isoformat()
            out.append(f"instrument {symbol}: {key.replace('_', ' ')} {cal} covers only until {until}; a fill whose "
                       f"value date falls after it cannot be booked: add the following year's holidays to "
                       f"calendars.{cal}.holidays and move calendars.{cal}.covers_until")
    return out


def load_config(path: str | Path | None = None, *, sections: bool = True) -> Config:
    """The embedded defaults overlaid with the TOML file at `path` (if any), validated."""
    tree = embedded_defaults()
    if path is None:
        return build_config(tree, sections=sections)
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read: {exc.strerror}", str(file)) from None
    overlay = _parse_toml(text, str(file))
    return build_config(_merge(tree, overlay), str(file), overlay, sections=sections)
