"""The `[fix]` configuration table: listener, store, timers, TLS and the configured sessions.

`parse_fix_config(table)` turns the already-parsed TOML dict into a frozen `FixConfig`; every
problem is a `ConfigError` naming the key (`fix.sessions[2].heartbeat_s`).  `with_overrides`
applies the CLI flags of `gold-router serve` (host, port, store dir, reset-on-logon, an ad-hoc
session) so the lead's wiring is one call.  `Schedule` answers "is the session open at this
instant" and "when did the current session period start" for an injected time.

Not its job: reading files, opening sockets or stores, or anything FIX on the wire.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime, time as dtime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router.domain.config_checks import Table, check_bool, check_int
from router.domain.errors import ConfigError
from router.fix.client_certs import parse_subject
from router.fix.credentials import hash_problem

__all__ = ["FixConfig", "SessionConfig", "Schedule", "parse_fix_config", "with_overrides", "ALWAYS"]

_COMP_ID = re.compile(r"^[\x21-\x7e]{1,64}$")
_TOP_KEYS = {
    "host", "port", "sender_comp_id", "store_dir", "store", "heartbeat_s", "logon_timeout_s",
    "logout_timeout_s", "max_message_size", "sending_time_tolerance_s", "fsync", "tls_cert", "tls_key", "tls_ca",
    "sessions", "logon_failure_limit", "logon_failure_window_s", "logon_lockout_s", "takeover_probe_ms",
    "store_retention_days", "busy_poll_us",
}
_SESSION_KEYS = {
    "target_comp_id", "account", "username", "password", "reset_on_logon", "schedule", "heartbeat_s",
    "extra", "on_behalf_of", "dictionary", "tls_client_subject", "role", "accounts",
}
ROLES = ("trading", "drop_copy")
MAX_BUSY_POLL_US = 100_000     # a longer window keeps a core busy between bursts, not between orders


@dataclass(frozen=True)
class Schedule:
    """A daily window [start, end) in a time zone; start == end means always open."""

    start: dtime = dtime(0, 0)
    end: dtime = dtime(0, 0)
    tz: str = "UTC"

    @property
    def always(self) -> bool:
        return self.start == self.end

    def _local(self, now_ns: int) -> datetime:
        # Whole seconds by integer division, then the microseconds (floored): float seconds are
        # ~240 ns apart at today's epoch, which put the last ~120 ns before a boundary past it.
        secs, ns = divmod(now_ns, 1_000_000_000)
        return datetime.fromtimestamp(secs, ZoneInfo(self.tz)).replace(microsecond=ns // 1_000)

    def is_open(self, now_ns: int) -> bool:
        if self.always:
            return True
        t = self._local(now_ns).time()
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def period_start_ns(self, now_ns: int) -> int | None:
        """Start of the session period containing `now_ns` (None when always open or closed now)."""
        if self.always or not self.is_open(now_ns):
            return None
        local = self._local(now_ns)
        start = datetime.combine(local.date(), self.start, tzinfo=local.tzinfo)
        if start > local:
            start = datetime.combine(local.date() - timedelta(days=1), self.start, tzinfo=local.tzinfo)
        return _epoch_ns(start)

    def next_boundary_ns(self, now_ns: int) -> int:
        """The next daily session boundary after `now_ns`: the next `start` in `tz` (midnight UTC when
        always open), where the FIX store rotates."""
        local = self._local(now_ns)
        tz = local.tzinfo
        day = local.date()
        while True:
            candidate = _epoch_ns(datetime.combine(day, self.start, tzinfo=tz))
            if candidate > now_ns:
                return candidate
            day += timedelta(days=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def _epoch_ns(moment: datetime) -> int:
    """An aware datetime as integer ns since the epoch, exactly (what `timestamp()` computes, without
    the float)."""
    return (moment - _EPOCH) // _MICROSECOND * 1_000


ALWAYS = Schedule()


@dataclass(frozen=True)
class SessionConfig:
    """One counterparty: they log on with SenderCompID = `target_comp_id`."""

    target_comp_id: str
    account: str
    username: str = ""
    password: str = ""  # a scrypt hash (router.fix.credentials), never the password itself
    reset_on_logon: bool = False
    schedule: Schedule = ALWAYS
    heartbeat_s: int = 30
    extra: dict[str, Any] = field(default_factory=dict)
    # OnBehalfOfCompID(115) values the counterparty may act for (a broker's clients); any other is rejected
    on_behalf_of: tuple[str, ...] = ()
    # QuickFIX-layout data dictionary validating this session's messages ("" = fix_specs/FIX44-goldrouter.xml)
    dictionary: str = ""
    # Subject its TLS client certificate must have, e.g. "CN=BROKER1,O=Gold Broker" ("" = none needed)
    tls_client_subject: str = ""
    tls_client_pairs: frozenset = frozenset()   # the subject parsed (router.fix.client_certs)
    # "trading" sends orders; "drop_copy" only receives a copy of every ExecutionReport of `accounts`
    # (None: of every account) and may ask for trade capture reports (AD), never send orders.
    role: str = "trading"
    accounts: tuple[str, ...] | None = None

    @property
    def drop_copy(self) -> bool:
        return self.role == "drop_copy"


@dataclass(frozen=True)
class FixConfig:
    host: str = "127.0.0.1"
    port: int = 9878
    sender_comp_id: str = "GOLDRTR"
    store_dir: str = "var/fix-store"
    store: str = "file"
    heartbeat_s: int = 30
    logon_timeout_s: int = 10
    logout_timeout_s: int = 2
    max_message_size: int = 65536
    sending_time_tolerance_s: int = 120
    fsync: bool = False
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""    # CA certificates verifying client certificates (needed by tls_client_subject)
    sessions: tuple[SessionConfig, ...] = ()
    # Failed logons (unknown CompID, bad credentials) from one address: this many within the
    # window lock the address out for logon_lockout_s.
    logon_failure_limit: int = 5
    logon_failure_window_s: int = 60
    logon_lockout_s: int = 300
    # A valid Logon for a connected session probes the old connection with a TestRequest and replaces
    # it when it stays silent this long (router.fix.takeover); 0 refuses the Logon at once.
    takeover_probe_ms: int = 2000
    # At each daily session boundary the store drops messages sent before the last this many boundaries
    store_retention_days: int = 3
    # After each read the event loop polls without sleeping this long (router.fix.busy_poll); 0: off.
    busy_poll_us: int = 0
    adhoc_from: int | None = None   # index of the session added by --target-comp-id, if any

    @property
    def configured_sessions(self) -> int:
        """How many of `sessions` come from the configuration (the rest: the --target-comp-id one)."""
        return self.adhoc_from if self.adhoc_from is not None else len(self.sessions)

    def session(self, target_comp_id: str) -> SessionConfig | None:
        for s in self.sessions:
            if s.target_comp_id == target_comp_id:
                return s
        return None


def _opt_str(t: Table, name: str, default: str) -> str:
    value = t.raw.get(name, default)
    if not isinstance(value, str):
        raise ConfigError(t.path(name), f"must be a string, got {value!r}")
    return value


def _positive(t: Table, name: str, default: int, *, allow_zero: bool = False) -> int:
    value = t.int(name, default)
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(t.path(name), f"must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value


def _comp_id(t: Table, name: str, default: Any = None) -> str:
    value = t.raw.get(name, default)
    if value is None:
        raise ConfigError(t.path(name), "missing required key")
    if not isinstance(value, str) or not _COMP_ID.match(value):
        raise ConfigError(t.path(name), f"must be 1-64 printable ASCII characters without spaces, got {value!r}")
    return value


def _clock(value: Any, key: str) -> dtime:
    if not isinstance(value, str):
        raise ConfigError(key, f"must be a \"HH:MM\" or \"HH:MM:SS\" string, got {value!r}")
    try:
        return dtime.fromisoformat(value)
    except ValueError:
        raise ConfigError(key, f"must be a \"HH:MM\" or \"HH:MM:SS\" time, got {value!r}") from None


def _schedule(t: Table) -> Schedule:
    if "schedule" not in t.raw:
        return ALWAYS
    s = t.table("schedule", {"start", "end", "tz"})
    tz = s.str("tz", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(s.path("tz"), f"unknown time zone {tz!r}") from None
    return Schedule(_clock(s.raw.get("start", "00:00"), s.path("start")),
                    _clock(s.raw.get("end", "00:00"), s.path("end")), tz)


def _session(raw: Any, key: str, default_hb: int) -> SessionConfig:
    t = Table(raw, key, _SESSION_KEYS)
    target = _comp_id(t, "target_comp_id")
    extra = t.raw.get("extra", {})
    if not isinstance(extra, dict):
        raise ConfigError(t.path("extra"), f"must be a table, got {extra!r}")
    username, password = _opt_str(t, "username", ""), _opt_str(t, "password", "")
    if password:
        problem = hash_problem(password)
        if problem is not None:
            raise ConfigError(t.path("password"), problem)
    elif username:
        raise ConfigError(t.path("password"), "missing: a session with a username needs a password "
                                              "(its hash from `gold-router hash-password`)")
    raw_obo = t.raw.get("on_behalf_of", [])
    if not isinstance(raw_obo, list):
        raise ConfigError(t.path("on_behalf_of"), f"must be a list of CompIDs, got {raw_obo!r}")
    for i, comp in enumerate(raw_obo):
        if not isinstance(comp, str) or not _COMP_ID.match(comp):
            raise ConfigError(f"{t.path('on_behalf_of')}[{i}]",
                              f"must be 1-64 printable ASCII characters without spaces, got {comp!r}")
    subject = _opt_str(t, "tls_client_subject", "")
    try:
        pairs = parse_subject(subject) if subject else frozenset()
    except ValueError as e:
        raise ConfigError(t.path("tls_client_subject"), str(e)) from None
    role = _opt_str(t, "role", "trading")
    if role not in ROLES:
        raise ConfigError(t.path("role"), f"must be one of {', '.join(map(repr, ROLES))}, got {role!r}")
    accounts = None
    if "accounts" in t.raw:
        raw_accounts = t.raw["accounts"]
        if role != "drop_copy":
            raise ConfigError(t.path("accounts"), "only a session with role = \"drop_copy\" takes accounts "
                                                  "(a trading session trades for `account`)")
        if (not isinstance(raw_accounts, list) or not raw_accounts
                or not all(isinstance(a, str) and a for a in raw_accounts)):
            raise ConfigError(t.path("accounts"), "must be a non-empty list of account names "
                                                  f"(leave it out for every account), got {raw_accounts!r}")
        if len(set(raw_accounts)) != len(raw_accounts):
            raise ConfigError(t.path("accounts"), f"lists an account twice: {raw_accounts!r}")
        accounts = tuple(raw_accounts)
    return SessionConfig(
        tls_client_subject=subject,
        tls_client_pairs=pairs,
        on_behalf_of=tuple(raw_obo),
        dictionary=_opt_str(t, "dictionary", ""),
        role=role,
        accounts=accounts,
        target_comp_id=target,
        account=_opt_str(t, "account", target) or target,
        username=username,
        password=password,
        reset_on_logon=t.bool("reset_on_logon", False),
        schedule=_schedule(t),
        heartbeat_s=_positive(t, "heartbeat_s", default_hb),
        extra=dict(extra),
    )


def parse_fix_config(table: dict | None, key: str = "fix") -> FixConfig:
    """Parse the `[fix]` table; an absent table gives the defaults with no sessions."""
    t = Table({} if table is None else table, key, _TOP_KEYS)
    store = _opt_str(t, "store", "file")
    if store not in ("file", "memory"):
        raise ConfigError(t.path("store"), f"must be \"file\" or \"memory\", got {store!r}")
    port = t.int("port", 9878)
    if not 0 <= port <= 65535:
        raise ConfigError(t.path("port"), f"must be 0..65535, got {port}")
    heartbeat = _positive(t, "heartbeat_s", 30)
    tls_cert, tls_key = _opt_str(t, "tls_cert", ""), _opt_str(t, "tls_key", "")
    if bool(tls_cert) != bool(tls_key):
        missing = "tls_key" if tls_cert else "tls_cert"
        raise ConfigError(t.path(missing), "tls_cert and tls_key must be given together")
    tls_ca = _opt_str(t, "tls_ca", "")
    if tls_ca and not tls_cert:
        raise ConfigError(t.path("tls_ca"), "client certificates need TLS: set tls_cert and tls_key too")
    raw_sessions = t.raw.get("sessions", [])
    if not isinstance(raw_sessions, list):
        raise ConfigError(t.path("sessions"), "must be an array of tables ([[fix.sessions]])")
    sessions = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_sessions):
        s = _session(raw, f"{key}.sessions[{i}]", heartbeat)
        if s.target_comp_id in seen:
            raise ConfigError(f"{key}.sessions[{i}].target_comp_id",
                              f"duplicate of {key}.sessions[{seen[s.target_comp_id]}]")
        seen[s.target_comp_id] = i
        if s.tls_client_subject and not tls_ca:
            raise ConfigError(f"{key}.sessions[{i}].tls_client_subject",
                              f"needs {key}.tls_ca (the CA that signs client certificates) and TLS")
        sessions.append(s)
    logon_timeout = _positive(t, "logon_timeout_s", 10)
    # Unset, it defaults to 2 s, or half the logon timeout when that is shorter.
    probe_ms = _positive(t, "takeover_probe_ms", min(2000, logon_timeout * 500), allow_zero=True)
    if probe_ms >= logon_timeout * 1000:
        raise ConfigError(t.path("takeover_probe_ms"), f"must be below logon_timeout_s ({logon_timeout} s) "
                                                       f"in milliseconds, got {probe_ms}")
    busy_poll_us = _positive(t, "busy_poll_us", 0, allow_zero=True)
    if busy_poll_us > MAX_BUSY_POLL_US:
        raise ConfigError(t.path("busy_poll_us"), f"must be at most {MAX_BUSY_POLL_US} (µs after each read; "
                                                  f"0 turns busy polling off), got {busy_poll_us}")
    max_size = _positive(t, "max_message_size", 65536)
    if max_size < 256:
        raise ConfigError(t.path("max_message_size"), f"must be >= 256, got {max_size}")
    return FixConfig(
        host=_opt_str(t, "host", "127.0.0.1") or "127.0.0.1",
        port=port,
        sender_comp_id=_comp_id(t, "sender_comp_id", "GOLDRTR"),
        store_dir=_opt_str(t, "store_dir", "var/fix-store") or "var/fix-store",
        store=store,
        heartbeat_s=heartbeat,
        logon_timeout_s=logon_timeout,
        logout_timeout_s=_positive(t, "logout_timeout_s", 2),
        max_message_size=max_size,
        sending_time_tolerance_s=_positive(t, "sending_time_tolerance_s", 120),
        fsync=t.bool("fsync", False),
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_ca=tls_ca,
        sessions=tuple(sessions),
        logon_failure_limit=_positive(t, "logon_failure_limit", 5),
        logon_failure_window_s=_positive(t, "logon_failure_window_s", 60),
        logon_lockout_s=_positive(t, "logon_lockout_s", 300),
        takeover_probe_ms=probe_ms,
        store_retention_days=_positive(t, "store_retention_days", 3),
        busy_poll_us=busy_poll_us,
    )


def with_overrides(config: FixConfig, *, host: str | None = None, port: int | None = None,
                   store_dir: str | None = None, store: str | None = None,
                   reset_on_logon: bool | None = None, sender_comp_id: str | None = None,
                   target_comp_id: str | None = None, dictionary: str | None = None) -> FixConfig:
    """Apply `gold-router serve` flags.  `target_comp_id` adds an ad-hoc session (no credentials,
    account = the CompID) unless it is configured already, validated by `dictionary` if given;
    `reset_on_logon` applies to all sessions."""
    changes: dict[str, Any] = {}
    if host is not None:
        changes["host"] = host
    if port is not None:
        changes["port"] = check_int(port, "--fix-port")
        if not 0 <= port <= 65535:
            raise ConfigError("--fix-port", f"must be 0..65535, got {port}")
    if store_dir is not None:
        changes["store_dir"] = store_dir
    if store is not None:
        if store not in ("file", "memory"):
            raise ConfigError("--store", f"must be \"file\" or \"memory\", got {store!r}")
        changes["store"] = store
    if sender_comp_id is not None:
        if not _COMP_ID.match(sender_comp_id):
            raise ConfigError("--sender-comp-id", f"not a valid CompID: {sender_comp_id!r}")
        changes["sender_comp_id"] = sender_comp_id
    sessions = list(config.sessions)
    if target_comp_id is not None:
        if not _COMP_ID.match(target_comp_id):
            raise ConfigError("--target-comp-id", f"not a valid CompID: {target_comp_id!r}")
        if config.session(target_comp_id) is None:
            changes["adhoc_from"] = len(sessions)
            sessions.append(SessionConfig(target_comp_id=target_comp_id, account=target_comp_id,
                                          heartbeat_s=config.heartbeat_s, dictionary=dictionary or ""))
        elif dictionary:
            raise ConfigError("--dictionary", f"session {target_comp_id} is configured: set its dictionary in "
                                              f"[[fix.sessions]] instead")
    elif dictionary:
        raise ConfigError("--dictionary", "applies to the ad-hoc session: give --target-comp-id too")
    if reset_on_logon is not None:
        check_bool(reset_on_logon, "--reset-on-logon")
        sessions = [dataclasses.replace(s, reset_on_logon=reset_on_logon) for s in sessions]
    changes["sessions"] = tuple(sessions)
    return dataclasses.replace(config, **changes)
