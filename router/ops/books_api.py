"""The books-of-record routes of the admin HTTP site: positions, obligations, cross-border flows,
statements, margin calls and deferred fees to read (read role), the end of day and the published
deferred fee to set (operate).

`mount_books(app, backend, handlers, reader)` adds them to the admin application. The backend's
`books()` gives the object that answers (the router application: `router.ops.books_admin.BooksAdmin`),
or None for an application without books (every route then answers 404 `not_supported`). Every number
in a body is read as a Decimal, never a float; errors are `{"error", "detail"}` like the rest of the site.

Not here: the books, any decision (the backend says whether a change applied and why not).
"""
from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

log = logging.getLogger("gold_router.admin")


def _error(status: int, reason: str, detail: str = "") -> web.Response:
    return web.json_response({"error": reason, "detail": detail}, status=status)


def _decimal(raw: Any) -> Decimal | None:
    try:
        d = Decimal(raw) if isinstance(raw, (str, Decimal)) else None
    except InvalidOperation:
        return None
    return d if d is not None and d.is_finite() else None


class BooksRoutes:
    def __init__(self, backend: Any, handlers: Any, dumps: Any) -> None:
        self.backend = backend
        self.h = handlers
        self.dumps = dumps

    def _json(self, data: Any) -> web.Response:
        return web.json_response(data, dumps=self.dumps)

    def _books(self) -> Any:
        books = getattr(self.backend, "books", None)
        return books() if books is not None else None

    def _answer(self, result: Any) -> web.Response:
        if not result.ok:
            status = 404 if (result.reason or "").startswith(("unknown_", "not_supported")) else 400
            return _error(status, result.reason or "refused", result.detail)
        return self._json(dict(result.data))

    async def positions(self, request: web.Request) -> web.Response:
        books = self._books()
        if books is None:
            return _error(404, "not_supported", "this application keeps no books")
        account = request.query.get("account")
        if not account:
            return _error(400, "missing_account", "positions needs ?account=NAME")
        data = books.positions_view(account)
        if data is None:
            return _error(404, "unknown_account", f"no account {account!r}")
        return self._json(data)

    async def obligations(self, request: web.Request) -> web.Response:
        books = self._books()
        if books is None:
            return _error(404, "not_supported", "this application keeps no books")
        return self._answer(books.obligations_view(request.query.get("trading_day"), request.query.get("account")))

    async def cross_border(self, request: web.Request) -> web.Response:
        books = self._books()
        if books is None:
            return _error(404, "not_supported", "this application keeps no books")
        return self._answer(books.cross_border_view(request.query.get("trading_day")))

    async def statement(self, request: web.Request) -> web.Response:
        books = self._books()
        if books is None:
            return _error(404, "not_supported", "this application keeps no books")
        day = request.query.get("trading_day")
        if not day:
            return _error(400, "missing_trading_day", "statements need ?trading_day=YYYY-MM-DD")
        return self._answer(books.statement_view(request.match_info["account"], day))

    async def margin_calls(self, request: web.Request) -> web.Response:
        books = self._books()
        return self._json({"margin_calls": [] if books is None else books.margin_calls_view()})

    async def get_deferred_fee(self, request: web.Request) -> web.Response:
        books = self._books()
        return self._json({"deferred_fee": {} if books is None else books.deferred_fee_view()})

    async def settlement_prices(self, request: web.Request) -> web.Response:
        body = await self.h._mutation_body(request)
        if isinstance(body, web.Response):
            return body
        books = self._books()
        if books is None:
            return _error(404, "not_supported", "this application keeps no books")
        day, prices_in = body.get("trading_day"), body.get("prices")
        if not isinstance(day, str):
            return _error(400, "bad_trading_day", "'trading_day' must be a YYYY-MM-DD string")
        if not isinstance(prices_in, dict) or not prices_in:
            return _error(400, "bad_prices", "'prices' must be a non-empty object of symbol -> price string")
        prices = {}
        for symbol, raw in prices_in.items():
            price = _decimal(raw) if isinstance(raw, str) else None
            if price is None or price <= 0:
                return _error(400, "bad_price", f"{symbol}: price must be a positive decimal string, got {raw!r}")
            prices[symbol] = price
        result = books.set_settlement_prices(day, prices)
        if result.ok:
            log.info("settlement prices for %s by %s: %s", day, request.remote,
                     ", ".join(f"{s}={p}" for s, p in sorted(prices.items())))
        return self._answer(result)

    async def deferred_fee(self, request: web.Request) -> web.Response:
        body = await self.h._mutation_body(request)
        if isinstance(body, web.Response):
            return body
        books = self._books()
        if books is None:
            return _error(404, "not_supported", "this application keeps no books")
        if not body:
            return _error(400, "bad_body", 'expected {"SYMBOL": {"direction": ..., "rate_bp_per_day": ...}}')
        fees = {}
        for symbol, spec in body.items():
            if not isinstance(spec, dict) or not {"direction", "rate_bp_per_day"} <= set(spec) <= \
                    {"direction", "rate_bp_per_day", "trading_day"}:
                return _error(400, "bad_deferred_fee", f"{symbol}: expected direction, rate_bp_per_day and "
                                                       "optionally trading_day")
            rate = _decimal(spec["rate_bp_per_day"])
            if rate is None:
                return _error(400, "bad_rate", f"{symbol}: rate_bp_per_day must be a decimal")
            fees[symbol] = (spec["direction"], rate, spec.get("trading_day"))
        result = books.set_deferred_fee(fees)
        if result.ok:
            log.info("deferred fee by %s: %s", request.remote,
                     ", ".join(f"{s} {d} {r} bp/day" for s, (d, r, _) in sorted(fees.items())))
        return self._answer(result)


def mount_books(app: web.Application, backend: Any, handlers: Any, reader: Any, auth: Any, dumps: Any) -> None:
    r = BooksRoutes(backend, handlers, dumps)
    app.router.add_get("/positions", reader(auth, r.positions))
    app.router.add_get("/obligations", reader(auth, r.obligations))
    app.router.add_get("/statements/{account}", reader(auth, r.statement))
    app.router.add_get("/cross-border-flows", reader(auth, r.cross_border))
    app.router.add_get("/margin-calls", reader(auth, r.margin_calls))
    app.router.add_get("/deferred-fee", reader(auth, r.get_deferred_fee))
    app.router.add_post("/settlement-prices", r.settlement_prices)
    app.router.add_post("/deferred-fee", r.deferred_fee)


__all__ = ["mount_books", "BooksRoutes"]
