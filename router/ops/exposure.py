"""Exposure rules: what must be configured before a listener may face anything but loopback.

Job: given the effective FIX and HTTP settings (after the `serve` flags) and the admin tokens read
from the environment, list every rule a non-loopback listener breaks, one line each naming the key
or flag to set:

- a FIX listener on a non-loopback address needs TLS (`fix.tls_cert`/`fix.tls_key`) and, on every
  session it serves, a password (`fix.sessions[i].password`) or a TLS client certificate subject
  (`fix.sessions[i].tls_client_subject`);
- an HTTP listener (metrics and admin API) on a non-loopback address needs an admin token
  (`http.admin_token` / `http.read_token` or their environment variables) and TLS
  (`http.tls_cert`/`http.tls_key`).

`serve` refuses to start while this list is not empty, unless `--insecure` is given: then each line is
logged as a WARNING, shown in `/health` and counted in `goldrouter_insecure_exposures`.

Not here: starting listeners, reading files or the environment, TLS handshakes.
"""
from __future__ import annotations

import ipaddress
from typing import Mapping

from router.fix.config import FixConfig
from router.ops.http_config import HttpConfig

INSECURE_FLAG = "--insecure"


def is_loopback(remote: str | None) -> bool:
    """True for 127.0.0.0/8 and ::1 (an IPv4-mapped loopback too); False for anything unparsable."""
    if not remote:
        return False
    try:
        addr = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


def is_loopback_host(host: str) -> bool:
    """True only for addresses that cannot be reached from another machine: 127.0.0.0/8, ::1 and
    `localhost`. Anything else (0.0.0.0, "", ::, a routable address, another host name) is exposed."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    return is_loopback(name)


def fix_exposure(fix: FixConfig, configured: int | None = None) -> list[str]:
    """Rules the FIX listener breaks (empty on loopback). `configured` is how many of `fix.sessions`
    come from the configuration (the rest were added by `--target-comp-id`)."""
    if is_loopback_host(fix.host):
        return []
    where = f"FIX listener {fix.host or '*'}:{fix.port} is not loopback"
    problems = []
    if not fix.tls_cert:
        problems.append(f"{where} and has no TLS: set fix.tls_cert and fix.tls_key")
    limit = len(fix.sessions) if configured is None else configured
    for i, s in enumerate(fix.sessions):
        if s.password or s.tls_client_subject:
            continue
        if i >= limit:      # added by --target-comp-id, not in the configuration file
            problems.append(f"{where} and the ad-hoc session {s.target_comp_id} (--target-comp-id) has no "
                            f"password: configure it in [[fix.sessions]] with a password")
        else:
            problems.append(f"{where} and session {s.target_comp_id} has no password: set "
                            f"fix.sessions[{i}].password (gold-router hash-password) or "
                            f"fix.sessions[{i}].tls_client_subject")
    return problems


def http_exposure(http: HttpConfig, env: Mapping[str, str]) -> list[str]:
    """Rules the HTTP listener breaks (empty when it is off or on loopback)."""
    if not http.enabled or is_loopback_host(http.host):
        return []
    where = f"HTTP listener {http.host or '*'}:{http.port} is not loopback"
    problems = []
    operate = http.admin_token or env.get(http.admin_token_env, "")
    read = http.read_token or env.get(http.read_token_env, "")
    if not operate and not read:
        problems.append(f"{where} and has no admin token: set http.admin_token (or {http.admin_token_env}) "
                        f"or http.read_token (or {http.read_token_env})")
    if not getattr(http, "tls_cert", ""):
        problems.append(f"{where} and has no TLS: set http.tls_cert and http.tls_key")
    return problems


def exposure_problems(fix: FixConfig, http: HttpConfig, env: Mapping[str, str],
                      configured_sessions: int | None = None) -> list[str]:
    """Every exposure rule broken by these settings, FIX first; empty when it is safe to start."""
    return fix_exposure(fix, configured_sessions) + http_exposure(http, env)


__all__ = ["INSECURE_FLAG", "exposure_problems", "fix_exposure", "http_exposure", "is_loopback", "is_loopback_host"]
