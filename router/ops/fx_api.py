"""The FX routes of the admin HTTP site: `GET /fx` (read role) and `POST /fx` (operate).

`POST /fx {"rates": {"USDCNY": {"bid": "7.0990", "ask": "7.1010"}, "USDHKD": "7.8000"}, "force": false}`
sets two-sided quotes (their mid is used for conversions) or mids. The body is checked here for shape
(pairs like USDCNY, positive decimal strings or JSON numbers read as Decimal, ask not below bid: 400
naming the field); the backend applies it as one journaled command, which refuses an unknown pair
(400 `unknown_pair`, naming it) and a jump beyond `fx.max_jump_pct` unless `"force": true` (409
`max_jump_pct`). Every attempt is one INFO log line: an applied update here (`FX update by PEER: ...`),
a refusal by the admin site's audit line (body and answer).
`GET /fx` shows each pair's bid, ask, mid, when it was set and its age, and the settings.

Not here: the FX state or any decision (the backend's `set_fx` / `fx_view`), the metrics.
"""
from __future__ import annotations

import inspect
import logging
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

log = logging.getLogger("gold_router.admin")

_PAIR = re.compile(r"^[A-Z]{6}$")
_SIDES = ("bid", "ask", "mid")
# Refusals that are the request's fault; anything else the backend refuses is a conflict with state.
_BAD_REQUEST = frozenset({"unknown_pair", "bad_rate", "bad_fx"})


def _error(status: int, reason: str, detail: str = "") -> web.Response:
    return web.json_response({"error": reason, "detail": detail}, status=status)


def _rate(raw: Any) -> Decimal | None:
    try:
        d = Decimal(raw) if isinstance(raw, (str, Decimal)) else None
    except InvalidOperation:
        return None
    return d if d is not None and d.is_finite() and d > 0 else None


def parse_rates(rates_in: Any) -> dict[str, Any] | web.Response:
    """pair -> Decimal mid or {"bid", "ask"} / {"mid"} Decimals; a 400 response naming the bad field."""
    if not isinstance(rates_in, dict) or not rates_in:
        return _error(400, "bad_rates", "'rates' must be a non-empty object of pair -> rate or {bid, ask}")
    rates: dict[str, Any] = {}
    for pair, raw in rates_in.items():
        if not _PAIR.match(pair):
            return _error(400, "bad_pair", f"{pair!r} is not a pair like 'USDCNY'")
        if isinstance(raw, dict):
            extra = [k for k in raw if k not in _SIDES]
            if extra:
                return _error(400, "bad_rate", f"{pair}.{extra[0]}: unknown field (known: bid, ask, mid)")
            sides = {}
            for side, value in raw.items():
                d = _rate(value)
                if d is None:
                    return _error(400, "bad_rate", f"{pair}.{side} must be a positive number, got {value!r}")
                sides[side] = d
            if set(sides) not in ({"bid", "ask"}, {"mid"}):
                return _error(400, "bad_rate", f"{pair}: give both bid and ask, or mid")
            if "bid" in sides and sides["ask"] < sides["bid"]:
                return _error(400, "bad_rate", f"{pair}: ask {sides['ask']} is below bid {sides['bid']}")
            rates[pair] = sides
        else:
            d = _rate(raw)
            if d is None:
                return _error(400, "bad_rate", f"{pair}: rate must be a positive number, got {raw!r}")
            rates[pair] = d
    return rates


def _text(rates: dict[str, Any]) -> str:
    def one(v: Any) -> str:
        return f"{v['bid']}/{v['ask']}" if isinstance(v, dict) and "bid" in v else str(
            v["mid"] if isinstance(v, dict) else v)
    return ", ".join(f"{pair}={one(v)}" for pair, v in sorted(rates.items()))


class FxRoutes:
    def __init__(self, backend: Any, handlers: Any, dumps: Any, origin: Any) -> None:
        self.backend = backend
        self.h = handlers
        self.dumps = dumps
        self.origin = origin

    async def get_fx(self, request: web.Request) -> web.Response:
        if not hasattr(self.backend, "fx_view"):
            return _error(404, "not_supported", "this application has no FX state")
        return web.json_response(self.backend.fx_view(), dumps=self.dumps)

    async def post_fx(self, request: web.Request) -> web.Response:
        body = await self.h._mutation_body(request)
        if isinstance(body, web.Response):
            return body
        force = body.get("force", False)
        if not isinstance(force, bool):
            return _error(400, "bad_force", "'force' must be true or false")
        rates = parse_rates(body.get("rates"))
        if isinstance(rates, web.Response):
            return rates
        result = self.backend.set_fx(rates, force)
        if inspect.isawaitable(result):     # a cluster core answers once the stream command is applied
            result = await result
        who = self.origin(request)
        if not result.ok:      # the admin site's audit line logs a refusal with the body and the answer
            status = 400 if result.reason in _BAD_REQUEST else 404 if result.reason == "not_supported" else 409
            return _error(status, result.reason or "refused", result.detail)
        log.info("FX update by %s%s: %s", who, " (forced)" if force else "", _text(rates))
        return web.json_response({"ok": True, "force": force, "rates": rates, **dict(result.data or {})},
                                 dumps=self.dumps)


def mount_fx(app: web.Application, backend: Any, handlers: Any, reader: Any, auth: Any, dumps: Any,
             origin: Any) -> None:
    r = FxRoutes(backend, handlers, dumps, origin)
    app.router.add_get("/fx", reader(auth, r.get_fx))
    app.router.add_post("/fx", r.post_fx)


__all__ = ["mount_fx", "parse_rates", "FxRoutes"]
