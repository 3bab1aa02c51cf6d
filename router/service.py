"""`gold-router serve`: one event loop running the FIX acceptor, the application behind it, the
metrics and admin HTTP site, and the timers that drive expiry and the event-loop-lag sampler.

This is the thin live wrapper around the synchronous core: it builds the parts from the
configuration, warms the numba kernels before it reports ready (saying so, and how long it took),
prints one ready line, and closes everything in order on SIGINT/SIGTERM. Logs go to stderr as text
or one JSON object per line (`--log-level`, `--log-format`); a listening port that cannot be bound
ends the start with one line naming the address. A listener exposed beyond loopback without TLS,
passwords or an admin token (router.ops.exposure) ends the start with one line per missing key, unless
`--insecure`. It holds no trading logic of its own.

Before the FIX listener opens, the router application's command journal (`[journal]`, default
`var/journal/`) is replayed into the fresh order flow, so orders acknowledged before a crash or a
stop are working again when clients reconnect. A clean stop (SIGTERM) leaves working orders working
unless `journal.cancel_on_shutdown` is set; then their cancels are sent before the Logouts.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from aiohttp import web

from router.ops.admin import AdminResult, build_admin_app
from router.config import Config, calendar_warnings
from router.domain.convert import FX_PAIRS
from router.ops.exposure import INSECURE_FLAG, exposure_problems
from router.fix.acceptor_setup import tls_server_context
from router.fix.config import FixConfig, with_overrides
from router.fix.gateway import start_gateway
from router.ops.console import HUB_KEY as CONSOLE_HUB
from router.ops.http_config import HttpConfig
from router.ops.metrics import Metrics, sample_event_loop_lag
from router.records.journal import FileJournal, JournalError, MemoryJournal
from router.records.journal_config import JournalConfig
from router.records.snapshot import SnapshotStore

log = logging.getLogger("gold_router.service")
TIMER_INTERVAL_S = 1.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


class ListenError(Exception):
    """A listening socket could not be opened; the message names the address and the reason."""


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message (and any exception)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


# Collector thresholds while serving (the interpreter's default is 700, 10, 10): one young
# collection per 10,000 net allocations instead of 700, and older generations as rarely relative to it.
SERVING_GC_THRESHOLD = (10_000, 20, 10)


async def _listening(host: str, port: int, start: Any) -> Any:
    try:
        return await start
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None


class AdminState:
    """The admin API's view of the running service (an `AdminBackend`)."""

    def __init__(self, service: "Service") -> None:
        self.service = service
        self._obligations: Any = None

    def ready(self) -> bool:
        return self.service.ready

    def warnings(self) -> list[str]:
        """Exposure rules overridden by --insecure, shown by /health."""
        return list(self.service.insecure)

    def sessions(self) -> list[dict]:
        gateway = self.service.gateway
        return gateway.sessions_view() if gateway is not None else []

    def book(self, symbol: str, depth: int) -> dict | None:
        app = self.service.app
        return app.book_view(symbol, depth) if hasattr(app, "book_view") else None

    def routes(self, limit: int) -> list[dict]:
        app = self.service.app
        return app.routes_view(limit) if hasattr(app, "routes_view") else []

    def console(self, now_ns: int) -> dict:
        """The browser console's snapshot (router.console_view), read a few times a second at most."""
        from router.console_view import ObligationsCache, console_view
        if self._obligations is None:
            self._obligations = ObligationsCache()
        return console_view(self.service.app, self.service.gateway, now_ns, self._obligations)

    def status(self) -> list[dict]:
        app = self.service.app
        return app.status_view() if hasattr(app, "status_view") else []

    def set_kill_switch(self, scope: str, account: str | None, on: bool) -> AdminResult:
        app = self.service.app
        if not hasattr(app, "set_kill_switch"):
            return AdminResult(False, "not_supported", f"the {self.service.app_name} application has no kill switch")
        return app.set_kill_switch(scope, account, on)

    def set_fx(self, rates: dict[str, Any], force: bool = False) -> AdminResult:
        app = self.service.app
        if not hasattr(app, "set_fx"):
            return AdminResult(False, "not_supported", f"the {self.service.app_name} application has no FX state")
        result = app.set_fx(rates, force)
        metrics = self.service.metrics
        for pair in rates:   # a pair the router does not know is counted as "other": labels stay bounded
            metrics.fx_update(pair if pair in FX_PAIRS else "other",
                              "applied" if result.ok else (result.reason or "refused"))
        if result.ok:
            fx = app.flow.fx
            for pair in rates:
                metrics.set_fx(pair, fx.rates[pair], fx.stamps.get(pair))
        return result

    def fx_view(self) -> dict:
        app = self.service.app
        return app.fx_view() if hasattr(app, "fx_view") else {"pairs": {}}

    def quota(self) -> dict | None:
        app = self.service.app
        return app.quota_view() if hasattr(app, "quota_view") else None

    def reference_prices(self) -> list[dict]:
        app = self.service.app
        return app.reference_prices_view() if hasattr(app, "reference_prices_view") else []

    def set_reference_prices(self, prices: dict[str, Decimal], force: bool) -> AdminResult:
        app = self.service.app
        if not hasattr(app, "set_reference_prices"):
            return AdminResult(False, "not_supported", f"the {self.service.app_name} application has no prices")
        return app.set_reference_prices(prices, force)

    def books(self) -> Any:
        app = self.service.app
        return app if hasattr(app, "positions_view") else None


@dataclass
class Service:
    config: Config
    fix: FixConfig
    http: HttpConfig
    app_name: str
    sessions_always_open: bool
    journal_config: JournalConfig = field(default_factory=JournalConfig)
    truncate_at_corruption: bool = False
    metrics: Metrics = field(default_factory=Metrics)
    app: Any = None
    gateway: Any = None
    runner: web.AppRunner | None = None
    journal: Any = None
    http_port: int | None = None
    ready: bool = False
    insecure: list[str] = field(default_factory=list)   # exposure rules overridden by --insecure
    _tasks: list[asyncio.Task] = field(default_factory=list)

    def build_app(self) -> Any:
        if self.app_name == "echo":
            from router.fix.echo import EchoApp
            return EchoApp()
        from router.app import build_router_app
        self.journal = self.open_journal()
        jc = self.journal_config
        snapshots = None if jc.store == "memory" else SnapshotStore(os.path.join(jc.dir, "snapshots"),
                                                                     jc.snapshots_kept)
        app = build_router_app(self.config, sessions_always_open=self.sessions_always_open,
                               metrics=self.metrics, journal=self.journal, snapshots=snapshots,
                               snapshot_every=jc.snapshot_every)
        app.snapshot_background = jc.snapshot_background
        return app

    def open_journal(self) -> Any:
        jc = self.journal_config
        if jc.store == "memory":
            return MemoryJournal()
        journal = FileJournal(jc.dir, jc.fsync, truncate_at_corruption=self.truncate_at_corruption)
        log.info("command journal %s (fsync %s): %d commands in %d files", os.path.abspath(jc.dir), jc.fsync,
                 journal.last_seq, len(journal.files()))
        return journal

    async def start(self) -> None:
        self.app = self.build_app()
        warm_up = getattr(self.app, "warm_up", None)
        if warm_up is not None:
            # Compiles (or loads from numba's cache) every kernel before the first client can log on.
            log.info("compiling the matching core (about a minute the first time; cached afterwards)")
            started = time.monotonic()
            # Nothing but imports and configuration ran before: their garbage is frozen, not sought.
            await asyncio.get_running_loop().run_in_executor(None, lambda: warm_up(collect=False))
            log.info("matching core ready in %.1f s", time.monotonic() - started)
        gc.enable()         # off since `cli.cmd_serve` began importing (a no-op where it was on)
        # What is alive now was frozen by warm_up; while serving, most objects die young by reference
        # count and the collector's young-generation passes are pure overhead per order, so they run
        # less often (benchmarks/README.md, "The service around the flow", has the figures).
        self._gc_before = gc.get_threshold()
        gc.set_threshold(*SERVING_GC_THRESHOLD)
        recover = getattr(self.app, "recover", None)
        if recover is not None:
            started = time.monotonic()
            n = recover(lambda k: log.info("journal replay: %d commands so far", k), freeze=True)
            took = time.monotonic() - started
            self.metrics.journal_recovered(n, int(took * 1e9), self.app.seq)
            snap = self.app.recovered_from
            if n or snap is not None:
                log.info("journal replayed: %s%d commands in %.2f s; %d orders working, last seq %d",
                         f"snapshot at command {snap.seq} + " if snap is not None else "", n, took,
                         len(self.app.flow.index.live), self.app.seq)
            record_restart = getattr(self.app, "record_restart", None)
            if record_restart is not None:
                record_restart()
        fx = self.app.flow.fx if hasattr(self.app, "flow") else self.config.fx
        for pair, rate in fx.rates.items():
            self.metrics.set_fx(pair, rate, fx.stamps.get(pair))
        self.gateway = await _listening(self.fix.host, self.fix.port,
                                        start_gateway(self.fix, self.app, observer=self.metrics))
        if hasattr(self.app, "attach_gateway"):
            self.app.attach_gateway(self.gateway)
        self.metrics.session_source = self.gateway.sessions_view
        if hasattr(self.app, "flow"):
            self.metrics.memory_source = self.app.flow.memory_stats
        if self.http.enabled:
            token = self.http.admin_token or os.environ.get(self.http.admin_token_env, "")
            read_token = self.http.read_token or os.environ.get(self.http.read_token_env, "")
            admin = build_admin_app(AdminState(self), self.metrics.registry, token, read_token=read_token,
                                    console=hasattr(self.app, "flow"))
            if CONSOLE_HUB in admin:
                admin[CONSOLE_HUB].observer = self.metrics
            self.runner = web.AppRunner(admin, access_log=None)
            await self.runner.setup()
            site = web.TCPSite(self.runner, self.http.host, self.http.port, ssl_context=_http_tls(self.http))
            await _listening(self.http.host, self.http.port, site.start())
            self.http_port = self.runner.addresses[0][1]
            self._tasks.append(asyncio.create_task(
                sample_event_loop_lag(self.metrics, self.http.event_loop_lag_interval_s)))
        if hasattr(self.app, "on_timer"):
            self._tasks.append(asyncio.create_task(self._timer()))
        self.ready = True
        self.metrics.set_ready(True)
        self.metrics.set_insecure_exposures(len(self.insecure))

    async def _timer(self) -> None:
        while True:
            await asyncio.sleep(TIMER_INTERVAL_S)
            try:
                self.app.on_timer(time.time_ns())
            except Exception:        # a timer bug must not stop the service; it is logged loudly
                log.exception("application timer failed")

    def ready_line(self) -> str:
        names = ", ".join(s.target_comp_id for s in self.fix.sessions) or "none"
        scheme = "https" if self.http.tls_cert else "http"
        http = f"{scheme}://{self.http.host}:{self.http_port} (/metrics, admin, console)" if self.runner else "HTTP off"
        hours = "all sessions open" if self.sessions_always_open else "exchange calendars"
        return (f"gold-router ready: FIX {self.fix.host}:{self.gateway.port} as {self.fix.sender_comp_id} "
                f"(app {self.app_name}, sessions {names}, {hours}); {http}")

    async def close(self) -> None:
        self.ready = False
        before = getattr(self, "_gc_before", None)
        if before is not None:          # an in-process service (tests) leaves the process as it found it
            gc.set_threshold(*before)
        shutdown = getattr(self.app, "shutdown", None)
        if shutdown is not None:
            try:
                shutdown(self.journal_config.cancel_on_shutdown)
            except Exception:
                log.exception("router shutdown step failed")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.gateway is not None:
            await self.gateway.close()
        if self.runner is not None:
            await self.runner.cleanup()
        close = getattr(self.app, "close", None)
        if close is not None:
            close()
        if self.journal is not None:
            self.journal.close()


def _http_tls(http: HttpConfig) -> Any:
    if not http.tls_cert:
        return None
    return tls_server_context(http.tls_cert, http.tls_key, "http.tls_cert")


def check_exposure(service: Service, configured_sessions: int, insecure: bool) -> list[str]:
    """The exposure rules these settings break (router.ops.exposure). Without --insecure the caller refuses
    to start; with it each is logged as a WARNING and kept for /health."""
    problems = exposure_problems(service.fix, service.http, os.environ, configured_sessions)
    if insecure:
        for problem in problems:
            log.warning("INSECURE (%s): %s", INSECURE_FLAG, problem)
        service.insecure = problems
    return problems


def service_from_args(args: argparse.Namespace, config: Config) -> Service:
    fix = with_overrides(
        config.sections["fix"], host=args.fix_host, port=args.fix_port, store_dir=args.store_dir,
        store="memory" if args.memory_store else None,
        reset_on_logon=True if args.reset_on_logon else None,
        sender_comp_id=args.sender_comp_id, target_comp_id=args.target_comp_id,
        dictionary=getattr(args, "dictionary", None))
    http: HttpConfig = config.sections["http"]
    if args.http_host is not None or args.http_port is not None:
        http = dataclasses.replace(http, host=args.http_host or http.host,
                                   port=http.port if args.http_port is None else args.http_port)
    journal: JournalConfig = config.sections.get("journal") or JournalConfig()
    if getattr(args, "journal_dir", None):
        journal = dataclasses.replace(journal, dir=args.journal_dir)
    if args.memory_store:
        journal = dataclasses.replace(journal, store="memory")
    return Service(config, fix, http, getattr(args, "app", "router"), args.sessions_always_open,
                   journal_config=journal,
                   truncate_at_corruption=bool(getattr(args, "journal_truncate_at_corruption", False)))


async def serve_forever(service: Service) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await service.start()
    except BaseException:       # a failed start is reported by the caller, not as a stop
        await service.close()
        raise
    print(service.ready_line(), flush=True)
    try:
        await stop.wait()
    finally:
        await service.close()
        print("gold-router stopped", flush=True)


def run_loop(main: Any, event_loop: str) -> Any:
    """Run `main` on uvloop (libuv: fewer microseconds per socket wake-up than the stdlib loop,
    measured by benchmarks.roundtrip) or on asyncio's own loop."""
    if event_loop == "uvloop":
        import uvloop
        return uvloop.run(main)
    return asyncio.run(main)


def run_service(args: argparse.Namespace, config: Config) -> int:
    configure_logging(getattr(args, "log_level", "INFO"), getattr(args, "log_format", "text"))
    service = service_from_args(args, config)
    insecure = bool(getattr(args, "insecure", False))
    problems = check_exposure(service, len(config.sections["fix"].sessions), insecure)
    if problems and not insecure:
        for problem in problems:
            print(f"gold-router: error: refusing to start: {problem} (or pass {INSECURE_FLAG})",
                  file=sys.stderr, flush=True)
        return 2
    for warning in calendar_warnings(config, datetime.now(timezone.utc).date()):
        log.warning(warning)
    try:
        run_loop(serve_forever(service), args.event_loop)
    except (ListenError, OSError, JournalError) as exc:  # e.g. the port is taken: one line, not a traceback
        print(f"gold-router: error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
