"""Errors shared across gold-router: configuration errors that name the file and key.

Runtime rejections are *values* (enums in the modules that produce them), never
exceptions; this module only holds the exceptions that stop a start-up.
"""
from __future__ import annotations


class ConfigError(ValueError):
    """An invalid configuration value; the message names the file, the key path and the problem."""

    def __init__(self, key: str, problem: str, file: str | None = None) -> None:
        self.key = key
        self.problem = problem
        self.file = file
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.key}: {self.problem}"

    def in_file(self, file: str) -> "ConfigError":
        """The same error, attributed to `file` (the loader knows the file, the checks do not)."""
        return ConfigError(self.key, self.problem, file)
