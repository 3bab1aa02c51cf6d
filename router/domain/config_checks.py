"""Typed, key-naming access to one table of a parsed TOML configuration.

Every section parser (catalogue, calendars, accounts, FIX sessions, ...) reads its table through
`Table`, so a wrong type, a missing key or an unknown key always fails with a `ConfigError`
that names the full key path. It does not know any section's meaning and never reads files.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterator

from router.domain.errors import ConfigError

_MISSING = object()


class Table:
    """A TOML table under `key`; `allowed` (a set) makes unknown keys an error, None allows any key."""

    def __init__(self, raw: Any, key: str, allowed: set[str] | None) -> None:
        if raw is None:
            raise ConfigError(key, "missing table")
        if not isinstance(raw, dict):
            raise ConfigError(key, f"must be a table, got {type(raw).__name__}")
        self.raw = raw
        self.key = key
        if allowed is not None:
            unknown = sorted(set(raw) - allowed)
            if unknown:
                raise ConfigError(f"{key}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def path(self, name: str) -> str:
        return f"{self.key}.{name}"

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(self.raw.items())

    def _get(self, name: str, default: Any) -> Any:
        value = self.raw.get(name, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise ConfigError(self.path(name), "missing required key")
            return default
        return value

    def str(self, name: str, default: Any = _MISSING) -> str:
        value = self._get(name, default)
        return check_str(value, self.path(name)) if value is not None else value

    def int(self, name: str, default: Any = _MISSING) -> int:
        value = self._get(name, default)
        return check_int(value, self.path(name)) if value is not None else value

    def decimal(self, name: str, default: Any = _MISSING) -> Decimal:
        value = self._get(name, default)
        return check_decimal(value, self.path(name)) if value is not None else value

    def bool(self, name: str, default: Any = _MISSING) -> bool:
        return check_bool(self._get(name, default), self.path(name))

    def str_list(self, name: str, default: Any = _MISSING) -> list[str]:
        return check_str_list(self._get(name, default), self.path(name))

    def table(self, name: str, allowed: set[str] | None, default: Any = _MISSING) -> "Table":
        return Table(self._get(name, default), self.path(name), allowed)


def check_str(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(key, f"must be a non-empty string, got {value!r}")
    return value


def check_int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, f"must be an integer, got {value!r}")
    return value


def check_decimal(value: Any, key: str) -> Decimal:
    """A decimal from a TOML number (floats are parsed as Decimal) or a numeric string."""
    if isinstance(value, bool):
        raise ConfigError(key, f"must be a number, got {value!r}")
    if isinstance(value, (int, Decimal)):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value)
        except ArithmeticError:
            raise ConfigError(key, f"must be a number, got {value!r}") from None
    else:
        raise ConfigError(key, f"must be a number, got {value!r}")
    if not result.is_finite():
        raise ConfigError(key, f"must be a finite number, got {value!r}")
    return result


def check_bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, f"must be true or false, got {value!r}")
    return value


def check_str_list(value: Any, key: str) -> list[str]:
    if not isinstance(value, list):
        raise ConfigError(key, f"must be a list of strings, got {value!r}")
    return [check_str(v, f"{key}[{i}]") for i, v in enumerate(value)]
