"""Settings of the HTTP site (Prometheus /metrics and the admin API), parsed from the `http` table.

Two bearer tokens (roles, see `router.ops.auth`): the operate token for admin mutations (which also
grants reads) comes from `http.admin_token` or, when that is empty, from the environment variable
named by `http.admin_token_env`; the read-only token from `http.read_token` or the variable named by
`http.read_token_env` (the environment is read by the caller, not here). With neither set, admin
reads are open to loopback clients and mutations are disabled.
`http.tls_cert`/`http.tls_key` (together) make the site HTTPS.
It does not start the site (that is `router.service`) or define the routes (`router.ops.admin`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router.domain.config_checks import Table
from router.domain.errors import ConfigError


@dataclass(frozen=True, slots=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 9188
    enabled: bool = True
    admin_token: str = ""
    admin_token_env: str = "GOLDROUTER_ADMIN_TOKEN"
    read_token: str = ""
    read_token_env: str = "GOLDROUTER_READ_TOKEN"
    event_loop_lag_interval_s: float = 0.5
    tls_cert: str = ""   # PEM certificate chain and key: the site serves HTTPS when both are set
    tls_key: str = ""


def parse_http_config(raw: dict[str, Any]) -> HttpConfig:
    t = Table(raw, "http", {"host", "port", "enabled", "admin_token", "admin_token_env",
                            "read_token", "read_token_env", "event_loop_lag_interval_ms",
                            "tls_cert", "tls_key"})
    port = t.int("port", 9188)
    if not 0 <= port <= 65535:
        raise ConfigError("http.port", f"must be 0..65535, got {port}")
    interval_ms = t.int("event_loop_lag_interval_ms", 500)
    if interval_ms <= 0:
        raise ConfigError("http.event_loop_lag_interval_ms", "must be positive")
    token = raw.get("admin_token", "")
    if not isinstance(token, str):
        raise ConfigError("http.admin_token", "must be a string")
    read_token = raw.get("read_token", "")
    if not isinstance(read_token, str):
        raise ConfigError("http.read_token", "must be a string")
    tls_cert, tls_key = raw.get("tls_cert", ""), raw.get("tls_key", "")
    for name, value in (("tls_cert", tls_cert), ("tls_key", tls_key)):
        if not isinstance(value, str):
            raise ConfigError(f"http.{name}", f"must be a path string, got {value!r}")
    if bool(tls_cert) != bool(tls_key):
        raise ConfigError("http.tls_key" if tls_cert else "http.tls_cert", "tls_cert and tls_key must be given together")
    return HttpConfig(
        host=t.str("host", "127.0.0.1"), port=port, enabled=t.bool("enabled", True),
        admin_token=token, admin_token_env=t.str("admin_token_env", "GOLDROUTER_ADMIN_TOKEN"),
        read_token=read_token, read_token_env=t.str("read_token_env", "GOLDROUTER_READ_TOKEN"),
        event_loop_lag_interval_s=interval_ms / 1000, tls_cert=tls_cert, tls_key=tls_key,
    )
