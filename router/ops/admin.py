"""Admin HTTP API and the Prometheus `/metrics` endpoint, on one aiohttp site.

Job: expose `GET /health`, `GET /ready`, `GET /sessions`, `GET /books/{symbol}`,
`GET /routes`, `GET /status`, `GET /reference-prices`, `GET /quota`, `GET /metrics`, the books of record (`router.ops.books_api`:
positions, obligations, statements, end of day), and the mutations `POST /kill-switch`, `POST /fx` and
`POST /reference-prices`, which
need the operate token as `Authorization: Bearer <token>`; the reads other than /health, /ready and
/metrics need the read or operate token (`router.ops.auth`), and `GET /` serves the browser console
(`router.ops.console`).  Every mutation attempt is one INFO log line (the kill switch and FX say what
they did; any other mutation, and every refused one, gets peer, request body, status and answer).
Every error is a JSON body `{"error": <reason code>, "detail": <text>}` with
a fitting status.  The
service's state is reached through the small `AdminBackend` protocol, so this
module knows nothing about the gateway, the books or the router.

Not here: the state itself, any decision (the backend says whether a kill-switch
or FX update was applied and why not), TLS (bind to localhost, the default).
"""
from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from router.ops.auth import OPERATE, READ, TokenAuth

log = logging.getLogger("gold_router.admin")

DEFAULT_HTTP_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 9188
MAX_ROUTES = 1000
MAX_BODY_BYTES = 64 * 1024
_PAIR = re.compile(r"^[A-Z]{6}$")
_SCOPES = ("global", "account")
AUTH_KEY: web.AppKey[TokenAuth] = web.AppKey("auth", TokenAuth)


@dataclass(frozen=True)
class AdminResult:
    """Outcome of a mutation: applied, or refused with a reason code (e.g. "unknown_account")."""

    ok: bool
    reason: str | None = None
    detail: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


class AdminBackend(Protocol):
    """What the admin API reads and changes; the service implements it over its live state."""

    def ready(self) -> bool:
        """True once numba is warm and the FIX acceptor listens."""

    def sessions(self) -> list[dict]:
        """One JSON-able dict per configured session: at least `session_id` and `state`,
        ideally `next_sender_seq_num` and `next_target_seq_num` (metrics read them too)."""

    def book(self, symbol: str, depth: int) -> dict | None:
        """Depth of one instrument's book as a JSON-able dict, or None for an unknown symbol."""

    def routes(self, limit: int) -> list[dict]:
        """The most recent routing decisions with their explanations, newest first."""

    def status(self) -> list[dict]:
        """Each instrument's trading state now and its next transition."""

    def set_kill_switch(self, scope: str, account: str | None, on: bool) -> AdminResult:
        """scope "global" (account None) or "account"; on=False releases it."""

    def set_fx(self, rates: dict[str, Any], force: bool) -> AdminResult:
        """New rates by pair ("USDCNY" -> Decimal mid, or {"bid", "ask"} / {"mid"} Decimals), one command
        stamped with its time; refused: unknown_pair, bad_rate, max_jump_pct (unless `force`)."""

    def fx_view(self) -> dict:
        """Each pair's bid, ask, mid, set time and age, and the fx settings (router.domain.fx_quotes.fx_view)."""

    def quota(self) -> dict | None:
        """The cross-border quota per direction (limit, used, balance in CNY, trading day); None: no quota."""

    def reference_prices(self) -> list[dict]:
        """Each instrument's reference price, daily band, collar and source."""

    def set_reference_prices(self, prices: dict[str, Decimal], force: bool) -> AdminResult:
        """New reference prices by symbol (Decimal in the instrument's quote), all or nothing."""

    def console(self, now_ns: int) -> dict:
        """Only with `build_admin_app(console=True)`: the console's JSON-able snapshot (see
        router.console_view); called at most a few times a second, while a console is open."""

    def books(self) -> Any:
        """The books of record (`router.ops.books_admin.BooksAdmin`: positions, obligations, statements,
        end of day), or None for an application without them; served by `router.ops.books_api`."""


def _error(status: int, reason: str, detail: str = "") -> web.Response:
    return web.json_response({"error": reason, "detail": detail}, status=status)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _dumps(data: Any) -> str:
    return json.dumps(data, default=_jsonable, separators=(",", ":"))


def _jsonable(value: Any) -> Any:
    # Decimals print exactly as text: a price must not pass through a float on its way out.
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "_asdict"):
        return value._asdict()
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    if hasattr(value, "name") and hasattr(value, "value"):
        return value.name
    return str(value)


@web.middleware
async def _json_errors(request: web.Request, handler):
    """aiohttp's own 404/405/413 pages, and a failing backend, become JSON errors like ours."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json":
            raise
        reason = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status, "http_error")
        return _error(exc.status, reason, exc.reason)
    except Exception:
        # The traceback goes to the log, not to the client.
        log.exception("admin %s %s failed", request.method, request.path)
        return _error(500, "internal_error", "see the service log")


def _origin(request: web.Request) -> str:
    """Who asked, for the log: the peer address and, from the console, its X-GoldRouter-Client name."""
    client = request.headers.get("X-GoldRouter-Client", "")[:40]
    return f"{request.remote}" + (f" ({client})" if client.isprintable() and client else "")


_AUDIT_CHARS = 400
# Mutations whose handlers log what they did when applied (kill switch, FX).
_SELF_LOGGED = frozenset({"/kill-switch", "/fx"})


def _clip(raw: bytes | None) -> str:
    text = (raw or b"").decode("utf-8", "replace").replace("\n", " ").strip() or "-"
    return text if len(text) <= _AUDIT_CHARS else text[:_AUDIT_CHARS] + "..."


@web.middleware
async def _audit(request: web.Request, handler):
    """One INFO line per mutation attempt the handler did not log itself (a refused one, or one
    without its own line): method, path, peer, the request body and the answer (status and body).
    The Authorization header is never logged."""
    response = await handler(request)
    if request.method not in ("GET", "HEAD", "OPTIONS") and (response.status >= 400
                                                               or request.path not in _SELF_LOGGED):
        try:
            asked = await request.read()
        except Exception:       # a body over the limit: the answer says so
            asked = b""
        answer = response.body if isinstance(response, web.Response) and isinstance(response.body, bytes) else b""
        log.info("admin %s %s from %s: %s -> %d %s", request.method, request.path, _origin(request),
                 _clip(asked), response.status, _clip(answer))
    return response


def _int_query(request: web.Request, name: str, default: int, lo: int, hi: int) -> int | web.Response:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return _error(400, f"bad_{name}", f"{name} must be an integer, got {raw!r}")
    if not lo <= value <= hi:
        return _error(400, f"bad_{name}", f"{name} must be in {lo}..{hi}")
    return value


class _Handlers:
    def __init__(self, backend: AdminBackend, registry: CollectorRegistry | None, auth: TokenAuth) -> None:
        self.backend = backend
        self.registry = registry
        self.auth = auth

    async def health(self, request: web.Request) -> web.Response:
        warnings = getattr(self.backend, "warnings", None)
        body: dict = {"status": "ok"}
        role = getattr(self.backend, "role", None)
        if role is not None:
            body["role"] = role()                  # a scale-out role (router.cluster): gateway or core
        if warnings is not None and warnings():
            body["insecure"] = list(warnings())   # exposure rules overridden by --insecure
        return _json(body)

    async def ready(self, request: web.Request) -> web.Response:
        ready = bool(self.backend.ready())
        return _json({"ready": ready}, status=200 if ready else 503)

    async def sessions(self, request: web.Request) -> web.Response:
        return _json({"sessions": list(self.backend.sessions())})

    async def book(self, request: web.Request) -> web.Response:
        depth = _int_query(request, "depth", 10, 1, 1000)
        if isinstance(depth, web.Response):
            return depth
        symbol = request.match_info["symbol"]
        data = self.backend.book(symbol, depth)
        if data is None:
            return _error(404, "unknown_symbol", f"no book for {symbol!r}")
        return _json(data)

    async def routes(self, request: web.Request) -> web.Response:
        limit = _int_query(request, "limit", 50, 1, MAX_ROUTES)
        if isinstance(limit, web.Response):
            return limit
        clordid = request.query.get("clordid")
        if clordid is None:
            return _json({"routes": list(self.backend.routes(limit))})
        # One order's decision: searched among every kept one, newest first.
        found = [r for r in self.backend.routes(MAX_ROUTES) if r.get("clordid") == clordid][:limit]
        return _json({"routes": found})

    async def status(self, request: web.Request) -> web.Response:
        return _json({"instruments": list(self.backend.status())})

    async def metrics(self, request: web.Request) -> web.Response:
        if self.registry is None:
            return _error(404, "not_found", "metrics are not enabled")
        # gold-router's own registry prints itself faster than generate_latest can (see metrics.py).
        render = getattr(self.registry, "render_text", None)
        body = render() if render is not None else generate_latest(self.registry)
        # CONTENT_TYPE_LATEST carries a charset parameter, which aiohttp wants separately.
        ctype, _, params = CONTENT_TYPE_LATEST.partition(";")
        charset = params.split("=", 1)[1].strip() if "=" in params else None
        return web.Response(body=body, content_type=ctype.strip(), charset=charset)

    def _refuse(self, request: web.Request) -> web.Response | None:
        return self.auth.refuse(request, OPERATE)

    async def _body(self, request: web.Request) -> dict | web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return _error(413, "body_too_large", f"at most {MAX_BODY_BYTES} bytes")
        raw = await request.read()
        try:
            # Decimal for every JSON number: an FX rate is never rounded through a float.
            body = json.loads(raw or b"null", parse_float=Decimal, parse_int=Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, "bad_json", str(exc))
        if not isinstance(body, dict):
            return _error(400, "bad_body", "body must be a JSON object")
        return body

    async def _mutation_body(self, request: web.Request) -> dict | web.Response:
        """The JSON body of an authorised mutation, or the response refusing it."""
        refused = self._refuse(request)
        if refused is not None:
            return refused
        return await self._body(request)

    async def kill_switch(self, request: web.Request) -> web.Response:
        body = await self._mutation_body(request)
        if isinstance(body, web.Response):
            return body
        scope = body.get("scope", "global")
        account = body.get("account")
        on = body.get("on")
        if scope not in _SCOPES:
            return _error(400, "bad_scope", f"scope must be one of {list(_SCOPES)}")
        if not isinstance(on, bool):
            return _error(400, "bad_on", "'on' must be true or false")
        if scope == "account":
            if not isinstance(account, str) or not account:
                return _error(400, "missing_account", "scope 'account' needs 'account'")
        elif account is not None:
            return _error(400, "unexpected_account", "scope 'global' takes no 'account'")
        result = self.backend.set_kill_switch(scope, account, on)
        if inspect.isawaitable(result):     # a cluster core answers once the stream command is applied
            result = await result
        if result.ok:
            log.info("kill switch %s %s by %s: %s working orders cancelled",
                     "global" if scope == "global" else f"account {account}", "ON" if on else "off",
                     _origin(request), result.data.get("cancelled", "?"))
        return self._result(result, {"scope": scope, "account": account, "on": on})

    async def get_quota(self, request: web.Request) -> web.Response:
        view = self.backend.quota() if hasattr(self.backend, "quota") else None
        if view is None:
            return _error(404, "not_supported", "this application has no cross-border quota")
        return _json(view)

    async def get_reference_prices(self, request: web.Request) -> web.Response:
        return _json({"reference_prices": list(self.backend.reference_prices())})

    async def reference_prices(self, request: web.Request) -> web.Response:
        body = await self._mutation_body(request)
        if isinstance(body, web.Response):
            return body
        prices_in, force = body.get("prices"), body.get("force", False)
        if not isinstance(prices_in, dict) or not prices_in:
            return _error(400, "bad_prices", "'prices' must be a non-empty object of symbol -> price string")
        if not isinstance(force, bool):
            return _error(400, "bad_force", "'force' must be true or false")
        prices: dict[str, Decimal] = {}
        for symbol, raw in prices_in.items():
            try:
                price = Decimal(raw) if isinstance(raw, str) else None
            except InvalidOperation:
                price = None
            if price is None or not price.is_finite() or price <= 0:
                return _error(400, "bad_price", f"{symbol}: price must be a positive decimal string, got {raw!r}")
            prices[symbol] = price
        result = self.backend.set_reference_prices(prices, force)
        if inspect.isawaitable(result):     # a cluster core answers once the stream command is applied
            result = await result
        if not result.ok:      # a jump beyond reference.max_jump_pct is a conflict (409), as on POST /fx
            reason = result.reason or "refused"
            status = 404 if reason.startswith("unknown_") else 409 if reason == "max_jump_pct" else 400
            return _error(status, reason, result.detail)
        return _json({"ok": True, "force": force, **dict(result.data)})

    @staticmethod
    def _result(result: AdminResult, echo: dict) -> web.Response:
        if result.ok:
            return _json({"ok": True, **echo, **dict(result.data)})
        status = 404 if (result.reason or "").startswith("unknown_") else 409
        return _error(status, result.reason or "refused", result.detail)


def _reader(auth: TokenAuth, handler):
    """`handler` behind the read role (a read or operate token, or loopback with no token configured)."""
    async def guarded(request: web.Request) -> web.StreamResponse:
        refused = auth.refuse(request, READ)
        return refused if refused is not None else await handler(request)
    return guarded


def build_admin_app(backend: AdminBackend, registry: CollectorRegistry | None, token: str, *,
                    read_token: str = "", console: bool = False) -> web.Application:
    """The admin + metrics application; serve it with `start_http` on the FIX acceptor's loop.

    `token` is the operate token (mutations; it also grants reads), `read_token` the read-only one.
    `console=True` also mounts the browser console (`router.ops.console`) at `/`."""
    auth = TokenAuth(token, read_token)
    h = _Handlers(backend, registry, auth)
    app = web.Application(middlewares=[_audit, _json_errors], client_max_size=MAX_BODY_BYTES)
    app[AUTH_KEY] = auth
    app.router.add_get("/health", h.health)
    app.router.add_get("/ready", h.ready)
    app.router.add_get("/sessions", _reader(auth, h.sessions))
    app.router.add_get("/books/{symbol}", _reader(auth, h.book))
    app.router.add_get("/routes", _reader(auth, h.routes))
    app.router.add_get("/status", _reader(auth, h.status))
    app.router.add_get("/metrics", h.metrics)
    app.router.add_post("/kill-switch", h.kill_switch)
    app.router.add_get("/reference-prices", _reader(auth, h.get_reference_prices))
    app.router.add_get("/quota", _reader(auth, h.get_quota))
    app.router.add_post("/reference-prices", h.reference_prices)
    from router.ops.books_api import mount_books
    from router.ops.fx_api import mount_fx
    mount_books(app, backend, h, _reader, auth, _dumps)
    mount_fx(app, backend, h, _reader, auth, _dumps, _origin)
    if console:
        from router.ops.console import mount_console
        mount_console(app, backend, auth, _reader, _dumps)
    return app


class HttpServer:
    """A started admin site; `port` is the bound port (useful with port 0)."""

    def __init__(self, runner: web.AppRunner, site: web.TCPSite) -> None:
        self._runner = runner
        self._site = site

    @property
    def port(self) -> int:
        return self._runner.addresses[0][1]

    async def close(self) -> None:
        await self._runner.cleanup()


async def start_http(app: web.Application, host: str = DEFAULT_HTTP_HOST,
                     port: int = DEFAULT_HTTP_PORT) -> HttpServer:
    """Serve `app` on the running loop (the FIX acceptor's), access log off: it is not the hot path
    but a scrape every second would fill the log with nothing."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return HttpServer(runner, site)
