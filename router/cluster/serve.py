"""`gold-router serve --role gateway|core --nats URL[,URL...]`: the two scale-out services.

A gateway is the ordinary `serve` (`router.service.Service`: FIX acceptor, HTTP /metrics, /health,
/ready, admin reads) with `cluster.gateway.GatewayApp` as its application and a NATS connection.
A core has no FIX listener: it connects to NATS, builds the router application as `serve` does,
compiles the matching core, then runs `cluster.core.ClusterCore` and the same HTTP site; its
/ready is true once it has caught up with the stream, and GET /cluster shows its role, whether it
leads, the lease epoch, the last command applied (`?hashes=1`: and the state hashes). Both print
one ready line and stop on SIGINT/SIGTERM like `serve`.

Not here: what the roles do (`core`, `gateway`), `serve` without a role (`router.service`).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from router.cluster.core import ADMIN_TIMEOUT_S, ClusterCore
from router.cluster.core_snapshots import CoreSnapshots
from router.cluster.fix_store import StoreRecords
from router.cluster.gateway import GatewayApp
from router.cluster.publisher import CommandPublisher, open_stream
from router.cluster.sessions import SessionLeases
from router.cluster.wire import STREAM
from router.config import Config
from router.domain.convert import FX_PAIRS
from router.ops.admin import AUTH_KEY, AdminResult, _reader, build_admin_app
from router.ops.metrics import sample_event_loop_lag
from router.records.jetstream import connect
from router.service import (AdminState, ListenError, Service, _http_tls, _listening, check_exposure,
                            configure_logging, run_loop, serve_forever, service_from_args)

__all__ = ["run_role", "GatewayService", "CoreService"]


@dataclass
class ClusterSettings:
    nats: str
    name: str
    takeover: float = 3.0
    replicas: int = 3


class ClusterAdminState(AdminState):
    """The admin backend of a role: reads as in `serve`, the role in /health; on a core the mutations
    are appended to the command stream (every core applies them) and answered once applied here."""

    def role(self) -> str:
        return self.service.role

    def warnings(self) -> list[str]:
        return list(self.service.insecure)

    def ready(self) -> bool:
        return self.service.is_ready()

    def set_kill_switch(self, scope: str, account: str | None, on: bool) -> Any:
        if self.service.role != "core":
            return super().set_kill_switch(scope, account, on)
        return self._via_stream("kill", scope=scope, account=account, on=on)

    def set_fx(self, rates: Any, force: bool = False) -> Any:
        if self.service.role != "core":
            return super().set_fx(rates, force)
        return self._fx_via_stream(rates, force)

    def set_reference_prices(self, prices: Any, force: bool) -> Any:
        if self.service.role != "core":
            return super().set_reference_prices(prices, force)
        return self._via_stream("reference_prices", prices=prices, force=force)

    async def _via_stream(self, op: str, **args: Any) -> AdminResult:
        try:
            applied = await self.service.core.admin(op, **args)
        except asyncio.TimeoutError:
            return AdminResult(False, "timeout", f"the {op} command was not applied within {ADMIN_TIMEOUT_S:.0f} s "
                                                 "(is the command stream reachable?)")
        if not applied.ok:
            return AdminResult(False, applied.reason, applied.detail)
        return AdminResult(True, data=applied.data)

    async def _fx_via_stream(self, rates: Any, force: bool) -> AdminResult:
        args: dict[str, Any] = {"rates": rates}
        if force:
            args["force"] = True
        result = await self._via_stream("fx", **args)
        metrics = self.service.metrics
        for pair in rates:   # as `serve` counts them (router.service.AdminState.set_fx)
            metrics.fx_update(pair if pair in FX_PAIRS else "other",
                              "applied" if result.ok else (result.reason or "refused"))
        if result.ok:
            fx = self.service.app.flow.fx
            for pair in rates:
                metrics.set_fx(pair, fx.rates[pair], fx.stamps.get(pair))
        return result

    def books(self) -> Any:
        return None if self.service.role == "gateway" else super().books()


async def _start_http(service: Any, status) -> None:
    """The HTTP site of `serve`, plus GET /cluster (read role)."""
    http = service.http
    if not http.enabled:
        return
    token = http.admin_token or os.environ.get(http.admin_token_env, "")
    read_token = http.read_token or os.environ.get(http.read_token_env, "")
    admin = build_admin_app(ClusterAdminState(service), service.metrics.registry, token, read_token=read_token)

    async def cluster(request: web.Request) -> web.Response:
        return web.json_response(status(request.query.get("hashes") == "1"))
    admin.router.add_get("/cluster", _reader(admin[AUTH_KEY], cluster))
    service.runner = web.AppRunner(admin, access_log=None)
    await service.runner.setup()
    site = web.TCPSite(service.runner, http.host, http.port, ssl_context=_http_tls(http))
    await _listening(http.host, http.port, site.start())
    service.http_port = service.runner.addresses[0][1]
    service._tasks.append(asyncio.create_task(sample_event_loop_lag(service.metrics, http.event_loop_lag_interval_s)))


@dataclass
class GatewayService(Service):
    cluster: ClusterSettings | None = None
    role: str = "gateway"
    nc: Any = None
    publisher: Any = None
    stores: Any = None

    def is_ready(self) -> bool:
        return self.ready

    def build_app(self) -> Any:
        leases = SessionLeases(self.nc, self.cluster.name, takeover=self.cluster.takeover,
                               replicas=self.cluster.replicas)
        return GatewayApp(self.nc, self.cluster.name, self.publisher, self.metrics, leases, self.stores)

    async def start(self) -> None:
        c = self.cluster
        hooks: list = []
        self.nc = await connect(c.nats, name=f"gold-router gateway {c.name}", on_reconnect=hooks)
        await open_stream(self.nc, replicas=c.replicas)
        self.publisher = CommandPublisher(self.nc, f"{c.name}-{time.time_ns()}")
        await self.publisher.start()
        self.stores = StoreRecords(self.nc, f"{c.name}-{time.time_ns()}", replicas=c.replicas)
        await self.stores.start()
        http, self.http = self.http, _no_http(self.http)
        try:
            await super().start()
        finally:
            self.http = http
        self.metrics.cluster_source = self.app.metrics_view
        hooks.append(self.app.on_nats_reconnected)
        await _start_http(self, lambda hashes: self.app.status())

    def ready_line(self) -> str:
        return super().ready_line() + f"; gateway {self.cluster.name} on NATS {self.cluster.nats}"

    async def close(self) -> None:
        await super().close()
        if self.app is not None:
            await self.app.aclose()
        if self.stores is not None:
            await self.stores.close()        # the stores' last records, written at the sessions' close
        await _close_nats(self)


@dataclass
class CoreService(Service):
    cluster: ClusterSettings | None = None
    role: str = "core"
    nc: Any = None
    core: Any = None

    def is_ready(self) -> bool:
        return self.core is not None and self.core.caught_up.is_set()

    async def start(self) -> None:
        from router.app import build_router_app
        c = self.cluster
        self.app = build_router_app(self.config, sessions_always_open=self.sessions_always_open,
                                    metrics=self.metrics)
        import logging
        log = logging.getLogger("gold_router.cluster")
        log.info("compiling the matching core (about a minute the first time; cached afterwards)")
        started = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, self.app.warm_up)
        log.info("matching core ready in %.1f s", time.monotonic() - started)
        self.nc = await connect(c.nats, name=f"gold-router core {c.name}")
        self.core = ClusterCore(self.app, self.nc, c.name, takeover=c.takeover, replicas=c.replicas,
                                metrics=self.metrics)
        jc = self.journal_config
        if jc.store == "file":          # --memory-store: no snapshots, the stream from command 1 at every start
            self.core.snapshots = CoreSnapshots(self.core, os.path.join(jc.dir, f"core-{c.name}"),
                                                jc.snapshot_every, jc.snapshots_kept, jc.snapshot_background)
            # Past days' trades the books let go at their roll (every core rolls at the same stream tick).
            self.app.trade_archive_dir = os.path.join(jc.dir, f"core-{c.name}", "trades")
        await self.core.start()
        self.metrics.cluster_source = self.core.metrics_view
        await _start_http(self, self.core.status)
        self.ready = True
        self.metrics.set_ready(True)

    def ready_line(self) -> str:
        http = f"http://{self.http.host}:{self.http_port} (/metrics, /cluster)" if self.runner else "HTTP off"
        hours = "all sessions open" if self.sessions_always_open else "exchange calendars"
        return (f"gold-router core {self.cluster.name} ready: stream {STREAM} on NATS {self.cluster.nats} "
                f"({hours}); {http}")

    async def close(self) -> None:
        self.ready = False
        for task in self._tasks:
            task.cancel()
        if self.core is not None:
            await self.core.close()
        if self.runner is not None:
            await self.runner.cleanup()
        await _close_nats(self)


def _no_http(http: Any) -> Any:
    import dataclasses
    return dataclasses.replace(http, enabled=False)


async def _close_nats(service: Any) -> None:
    if getattr(service, "publisher", None) is not None:
        await service.publisher.close()
    if service.nc is not None:
        try:
            await service.nc.drain()
        except Exception:
            pass


def run_role(args: argparse.Namespace, config: Config) -> int:
    """`serve --role ...`: build the role's service from the same flags as `serve` and run it."""
    import sys
    from router.domain.errors import ConfigError
    from router.ops.exposure import INSECURE_FLAG
    from router.records.journal_format import JournalError
    configure_logging(getattr(args, "log_level", "INFO"), getattr(args, "log_format", "text"))
    base = service_from_args(args, config)
    name = args.name or f"{args.role}-{socket.gethostname()}-{os.getpid()}"
    settings = ClusterSettings(args.nats, name, args.takeover, args.replicas)
    cls = GatewayService if args.role == "gateway" else CoreService
    service = cls(**{f: getattr(base, f) for f in ("config", "fix", "http", "app_name", "sessions_always_open",
                                                   "journal_config", "metrics")}, cluster=settings)
    service.app_name = args.role
    insecure = bool(getattr(args, "insecure", False))
    problems = check_exposure(service, len(config.sections["fix"].sessions), insecure)
    if problems and not insecure:
        for problem in problems:
            print(f"gold-router: error: refusing to start: {problem} (or pass {INSECURE_FLAG})",
                  file=sys.stderr, flush=True)
        return 2
    try:
        run_loop(serve_forever(service), args.event_loop)
    except (ListenError, OSError, JournalError, ConfigError) as exc:
        print(f"gold-router: error: {exc}", file=sys.stderr, flush=True)
        return 1
    except Exception as exc:          # e.g. no NATS server answers
        print(f"gold-router: error: {args.role}: {exc!r}", file=sys.stderr, flush=True)
        return 1
    return 0
