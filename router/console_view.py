"""The operator console's snapshot: one JSON-able dict of what the browser console shows.

Job: read the running router application, without changing anything, into the console's views:
each instrument's depth in its own quote with its trading status and next transition, each
interoperable group's consolidated depth in USD per fine oz and CNY per fine gram with every member
venue's best bid and offer on the same scales, the FX rates used, the last routing decisions, the
cross-border quota per direction (limit, used, balance), the kill switches, the FIX sessions, each
account's open positions and margin held, and the netted settlement obligations (books of record).
`console_view(app, gateway, now_ns)` is a pure read with the time passed in; the service calls it
at most a few times per second (`router.ops.console` throttles), never per order.

Not here: serving or throttling (`router.ops.console`), the page (`router/ops/console_files`), the
books of record themselves (`router.records`, read through the application's views).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from router.domain.convert import round_to, to_cny_g_fine_exact, to_usd_oz_fine_exact
from router.orders.index import micro_text

BOOK_DEPTH = 5
ROUTES = 12
OBLIGATIONS_MIN_INTERVAL_NS = 1_000_000_000
FILLS_SCANNED = 2000           # the ledger's latest trades searched for the shown decisions' fills
MICRO = Decimal(1_000_000)


def _status(flow: Any, symbol: str, schedule: str, now_ns: int) -> tuple[str, int | None]:
    """The instrument's session state as text and, from the calendars, the next transition (UTC ns;
    None when sessions are always open or the calendar knows none)."""
    state = flow.session_open(symbol, now_ns)
    if state is True:                   # serve --sessions-always-open
        return "open", None
    calendars = getattr(flow, "calendars", None)
    nxt = calendars.next_change(schedule, now_ns) if calendars is not None else None
    text = getattr(state, "label", None) or getattr(state, "value", None) or str(state)
    return str(text).lower(), nxt


def books_view(app: Any, now_ns: int, depth: int = BOOK_DEPTH) -> list[dict]:
    """Every instrument's depth (in its own quote), status and venue side, in catalogue order."""
    flow = app.flow
    cat = flow.catalogue
    out = []
    for instr in flow.books:
        view = app.book_view(instr.symbol, depth) or {}
        status, nxt = _status(flow, instr.symbol, instr.schedule, now_ns)
        view.update(status=status, next_change_ns=nxt, side=cat.venues[instr.venue].side,
                    city="Shanghai" if cat.venues[instr.venue].side == "onshore" else "Hong Kong")
        out.append(view)
    return out


def _scales(instr: Any, price_text: str, flow: Any) -> dict:
    """One member price on the comparable scales (rounded once, for display)."""
    price = Decimal(price_text)
    cons = flow.catalogue.constants
    return {"price": price_text,
            "usd_oz_fine": str(round_to(to_usd_oz_fine_exact(instr, price, flow.fx, cons), 2)),
            "cny_g_fine": str(round_to(to_cny_g_fine_exact(instr, price, flow.fx, cons), 2))}


def groups_view(app: Any, books: list[dict], depth: int = BOOK_DEPTH) -> list[dict]:
    """Each group's consolidated depth on both comparable scales, and each member's best bid/offer."""
    flow = app.flow
    cat = flow.catalogue
    per_oz = cat.constants.grams_per_troy_oz
    cny = flow.fx.per_usd("CNY")
    by_symbol = {b["symbol"]: b for b in books}
    out = []
    for group in cat.groups.values():
        view = app.book_view(group.name, depth) or {"bids": [], "asks": []}

        def level(row: dict) -> dict:
            usd = Decimal(row["usd_oz_fine"])
            return {"usd_oz_fine": str(round_to(usd, 2)), "cny_g_fine": str(round_to(usd * cny / per_oz, 2)),
                    "grams": row["grams"], "orders": row["orders"]}
        members = []
        for symbol in group.members:
            instr, book = cat.instruments[symbol], by_symbol.get(symbol, {})
            bid = book.get("bids") or []
            ask = book.get("asks") or []
            members.append({"symbol": symbol, "venue": instr.venue, "status": book.get("status"),
                            "bid": _scales(instr, bid[0]["price"], flow) if bid else None,
                            "ask": _scales(instr, ask[0]["price"], flow) if ask else None})
        out.append({"group": group.name, "members": members,
                    "products": sorted(p.id for p in cat.products.values() if p.group == group.name),
                    "bids": [level(r) for r in view["bids"]], "asks": [level(r) for r in view["asks"]]})
    return out


def _fills(app: Any, order_ids: set[str]) -> dict[str, list[dict]]:
    """What filled where for these orders: their fills among the ledger's latest FILLS_SCANNED trades."""
    ledger = getattr(app, "ledger", None)
    out: dict[str, list[dict]] = {}
    if ledger is None or not order_ids:
        return out
    cat = app.flow.catalogue
    trades = ledger.trades
    for t in trades[max(0, len(trades) - FILLS_SCANNED):]:
        if t.order_id in order_ids:
            out.setdefault(t.order_id, []).append(
                {"symbol": t.symbol, "lots": t.lots, "price": str(cat.instruments[t.symbol].units_to_price(t.px))})
    return out


def routes_view(app: Any, limit: int = ROUTES) -> list[dict]:
    """The latest routing decisions (newest first) with the order's limit price as decimal text, the
    book a remainder rests on by symbol, and what filled where (`fills`: symbol, lots, price)."""
    flow = app.flow
    cat = flow.catalogue
    routes = app.routes_view(limit)
    ids: dict[int, str] = {}
    for n, r in enumerate(routes):
        o = flow.index.find(r["session"], r["clordid"].encode(), None) if r.get("clordid") else None
        if o is not None:
            ids[n] = o.order_id.decode()
    fills = _fills(app, set(ids.values()))
    out = []
    for n, r in enumerate(routes):
        r["fills"] = fills.get(ids.get(n, ""), [])
        item = cat.instruments.get(r["symbol"]) or cat.products.get(r["symbol"])
        price = r.get("price")
        if isinstance(price, str):          # the routing explanation gives it as decimal text already
            r["price_text"] = price
        elif isinstance(price, int) and item is not None:
            r["price_text"] = str(Decimal(price).scaleb(-item.price_decimals))
        rest = r.get("rest_book")
        r["rests_on"] = flow.books[rest].symbol if isinstance(rest, int) and 0 <= rest < len(flow.books) else None
        out.append(r)
    return out


def _cny(micro: int) -> str:
    return ("-" if micro < 0 else "") + micro_text(abs(micro)).decode()


def quota_view(flow: Any) -> list[dict]:
    """Cross-border quota per direction in CNY (exact decimal text) and the used share in per mille."""
    out = []
    for direction, q in flow.quota.snapshot().items():
        share = q["used"] * 1000 // q["limit"] if q["limit"] > 0 else 0
        out.append({"direction": direction, "limit_cny": _cny(q["limit"]),
                    "used_cny": _cny(q["used"]), "balance_cny": _cny(q["remaining"]),
                    "used_per_mille": share})
    return out


def sessions_view(app: Any, gateway: Any) -> list[dict]:
    """The gateway's session rows (state, sequence numbers, peer) with each session's working orders."""
    working = {s["session_id"]: s["working_orders"] for s in app.sessions_view()}
    rows = gateway.sessions_view() if gateway is not None else []
    return [dict(r, working_orders=working.get(r["session_id"], 0)) for r in rows]


def positions_view(app: Any) -> list[dict]:
    """Each account's open positions (books of record), with margin held per currency."""
    if not hasattr(app, "positions_view"):
        return []
    out = []
    for name in sorted(a.name for a in app.flow.accounts):
        view = app.positions_view(name)
        if view is None:
            continue
        held = {c: v["margin_held"] for c, v in view["cash"].items() if Decimal(v["margin_held"])}
        out.append({"account": name, "margin_held": held,
                    "positions": [p for p in view["positions"] if p["lots"]]})
    return out


class ObligationsCache:
    """The netted obligations per account, clearing house, currency, value date, vault and bar form.

    Netting walks every trade of the ledger, so the console recomputes it only when trades were
    added and at most once per `min_interval_ns`; positions, by contrast, are read per snapshot."""

    def __init__(self, min_interval_ns: int = OBLIGATIONS_MIN_INTERVAL_NS) -> None:
        self.min_interval_ns = min_interval_ns
        self._trades = -1
        self._at = 0
        self._rows: list[dict] = []

    def __call__(self, app: Any, now_ns: int) -> list[dict]:
        if not hasattr(app, "obligations_view") or getattr(app, "ledger", None) is None:
            return []
        n = len(app.ledger.trades)
        if n != self._trades and now_ns - self._at >= self.min_interval_ns:
            result = app.obligations_view(None, None)
            self._rows = list(result.data.get("obligations", [])) if result.ok else []
            self._trades, self._at = n, now_ns
        return self._rows


def console_view(app: Any, gateway: Any, now_ns: int, obligations: ObligationsCache | None = None) -> dict:
    """The whole console snapshot at `now_ns` (JSON-able: Decimals already text). Pass the same
    `obligations` cache on every call to bound the cost of netting."""
    flow = app.flow
    books = books_view(app, now_ns)
    risk = flow.risk
    # No clock in the snapshot: an unchanged picture is then an identical one, which the throttle skips.
    return {
        "positions": positions_view(app),
        "obligations": (obligations or ObligationsCache(0))(app, now_ns),
        "fx": {pair: str(rate) for pair, rate in sorted(flow.fx.rates.items())},
        "books": books,
        "groups": groups_view(app, books),
        "routes": routes_view(app),
        "quota": quota_view(flow),
        "kill_switch": {"global": bool(risk.halted_all), "accounts": sorted(risk.halted)},
        "accounts": sorted(a.name for a in flow.accounts),
        "sessions": sessions_view(app, gateway),
    }
