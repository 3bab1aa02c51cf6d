"""What the FIX acceptor is built from, read once at start: each session's data-dictionary validator
and the listener's TLS context. Problems are ConfigErrors naming the key (`fix.sessions[i].dictionary`,
`fix.tls_cert`, `fix.tls_ca`).

Not here: listening, admitting Logons or running sessions (`gateway`), the dictionary format
(`dictionary`) or the validation rules (`validate`).
"""
from __future__ import annotations

import logging
import ssl
from typing import Any, Callable

from router.domain.errors import ConfigError
from router.fix.codec import FixMessage
from router.fix.config import FixConfig

log = logging.getLogger("router.fix")

__all__ = ["load_validator", "session_validators", "server_ssl_context"]


def load_validator(path: str | None = None) -> Callable[[FixMessage], Any]:
    """The dictionary validator for `path` (default `fix_specs/FIX44-goldrouter.xml`), as a one-argument
    callable."""
    from router.fix.dictionary import load_dictionary
    from router.fix.validate import validate

    dictionary = load_dictionary(path or None)
    return lambda msg: validate(msg, dictionary)


def session_validators(config: FixConfig) -> dict[str, Callable[[FixMessage], Any]]:
    """Each session's validator: its own `dictionary` file or ours, every file loaded once; a file that
    does not load is a ConfigError naming the session's key."""
    loaded: dict[str, Callable[[FixMessage], Any]] = {}
    out = {}
    for i, sc in enumerate(config.sessions):
        path = sc.dictionary
        if path not in loaded:
            try:
                loaded[path] = load_validator(path)
            except ConfigError as err:
                key = f"fix.sessions[{i}].dictionary" if i < config.configured_sessions else "--dictionary"
                raise ConfigError(key, f"{path}: {err.key}: {err.problem}") from None
            if path:
                log.info("FIX data dictionary %s loaded for session %s", path, sc.target_comp_id)
        out[sc.target_comp_id] = loaded[path]
    return out


def tls_server_context(cert: str, key: str | None, config_key: str) -> ssl.SSLContext:
    """A server-side TLS context with the certificate chain loaded; a file that cannot be loaded is a
    configuration error naming `config_key` (also used by the HTTP listener)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(config_key, f"cannot load certificate/key: {e}") from None
    return ctx


def server_ssl_context(config: FixConfig) -> ssl.SSLContext | None:
    if not config.tls_cert:
        return None
    ctx = tls_server_context(config.tls_cert, config.tls_key, "fix.tls_cert")
    if config.tls_ca:
        # Optional: sessions with passwords connect without one; a certificate presented must verify.
        ctx.verify_mode = ssl.CERT_OPTIONAL
        try:
            ctx.load_verify_locations(config.tls_ca)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError("fix.tls_ca", f"cannot load CA certificates: {e}") from None
    return ctx
