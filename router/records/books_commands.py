"""The books of record's admin operations as journaled commands: the end of day (settlement prices),
the published deferred fee, and the trading-day roll of the books (`ledger_roll`: the trades no open
day needs leave memory; the shell archives them from the command's result).

Each is a pure function `(flow, args, now_ns) -> Applied` registered on the `CommandApplier`
(`register_books`), so the command journal records it and a replay applies it the same way at the same
point: the arguments are the journaled JSON (decimal strings), the time is the command's own, and every
check that may refuse the input happens here, so a refused command replays to the same refusal. The
ledger is the order flow's fill observer (`flow.fills`).

Not here: HTTP, files (statements and the trade archive are written by the shell after a live command
applies), the clock.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from router.records.commands import Applied, CommandApplier
from router.records.ledger import DIRECTIONS, Ledger, money_text


def _refuse(reason: str, detail: str) -> Applied:
    return Applied([], False, reason, detail)


def _decimal(raw: Any) -> Decimal | None:
    try:
        d = Decimal(raw)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return d if d.is_finite() else None


def settlement_prices(flow: Any, args: dict, now_ns: int) -> Applied:
    """End of `args["trading_day"]` at `args["prices"]` (symbol -> decimal string), all or nothing."""
    ledger = flow.fills
    if not isinstance(ledger, Ledger):
        return _refuse("not_supported", "this application keeps no books")
    try:
        day = date.fromisoformat(args.get("trading_day"))
    except (TypeError, ValueError):
        return _refuse("bad_trading_day", f"trading_day must be YYYY-MM-DD, got {args.get('trading_day')!r}")
    if ledger.day_archived(day):
        return _refuse("day_archived", f"{day} is before {ledger.history_from}: the books keep the end of day "
                                       "of recent days only, and this one was rolled out")
    prices = args.get("prices")
    if not isinstance(prices, dict) or not prices:
        return _refuse("bad_prices", "'prices' must be a non-empty object of symbol -> price")
    units: dict[str, int] = {}
    for symbol, raw in prices.items():
        instr = flow.catalogue.instruments.get(symbol)
        if instr is None:
            return _refuse("unknown_symbol", f"no instrument {symbol!r}")
        if instr.margin_rate is None:
            return _refuse("not_margined", f"{symbol} is fully paid: it has no settlement price")
        price = _decimal(raw)
        u = None if price is None else instr.price_to_units(price)
        if u is None or u <= 0 or u % instr.tick_units:
            return _refuse("bad_price", f"{symbol}: {raw} is not a positive multiple of the tick {instr.tick}")
        if ledger.settled(day, symbol):
            return _refuse("already_settled", f"{symbol} is already settled for {day}")
        units[symbol] = u
    moves = ledger.settle(day, units, flow.accounts, now_ns)
    for symbol, u in units.items():
        flow.note_settlement_price(symbol, day, u)      # the reference at the day's roll (orders.refprices)
    cat = flow.catalogue
    out = [{**m, "trading_day": day.isoformat(),
            "settlement_price": str(cat.instruments[m["symbol"]].units_to_price(m["settlement_price"])),
            **{k: money_text(m[k], m["ccy"]) for k in ("variation_margin", "deferred_fee", "margin_required",
                                                        "margin_moved")}} for m in moves]
    calls = [{"account": a, "currency": c, "short": money_text(v, c)}
             for (a, c), v in sorted(ledger.margin_calls.items())]
    # Who paid the deferred fee; "not_posted": no direction was posted for the day, so no fee moved.
    directions = {s: ledger.deferred_direction(s, day) or "not_posted" for s in sorted(units)}
    return Applied([], data={"trading_day": day.isoformat(), "moves": out, "margin_calls": calls,
                             "deferred_fee_direction": directions})


def deferred_fee(flow: Any, args: dict, now_ns: int) -> Applied:
    """The published deferred fee: `args["fees"]` = symbol -> {"direction", "rate_bp_per_day", and
    optionally "trading_day"}. The direction is for one trading day, the one whose tenders decided it:
    `trading_day` when given, else the venue's date at the command's time (it is published at 15:31)."""
    ledger = flow.fills
    if not isinstance(ledger, Ledger):
        return _refuse("not_supported", "this application keeps no books")
    fees = args.get("fees")
    if not isinstance(fees, dict) or not fees:
        return _refuse("bad_deferred_fee", "expected SYMBOL -> {direction, rate_bp_per_day}")
    ppm: dict[str, tuple[str | None, int, date]] = {}
    for symbol, spec in fees.items():
        instr = flow.catalogue.instruments.get(symbol)
        if instr is None:
            return _refuse("unknown_symbol", f"no instrument {symbol!r}")
        if instr.margin_rate is None:
            return _refuse("not_margined", f"{symbol} is fully paid: no deferred fee")
        spec = spec if isinstance(spec, dict) else {}
        direction = spec.get("direction")
        if direction not in DIRECTIONS + ("none",):
            return _refuse("bad_direction", f"{symbol}: direction must be one of {', '.join(DIRECTIONS)} or "
                                            f"none, got {direction!r}")
        bp = _decimal(spec.get("rate_bp_per_day"))
        rate = None if bp is None else bp * 100
        if rate is None or rate < 0 or rate != rate.to_integral_value():
            return _refuse("bad_rate", f"{symbol}: rate_bp_per_day must be >= 0 with at most 2 decimals, "
                                       f"got {spec.get('rate_bp_per_day')!r}")
        day = ledger.local_date(instr, now_ns)
        if spec.get("trading_day") is not None:
            try:
                day = date.fromisoformat(spec["trading_day"])
            except (TypeError, ValueError):
                return _refuse("bad_trading_day", f"{symbol}: trading_day must be YYYY-MM-DD, "
                                                  f"got {spec['trading_day']!r}")
        if ledger.settled(day, symbol):
            return _refuse("already_settled", f"{symbol} is already settled for {day}: its end of day has "
                                              "moved the deferred fee it had; post the direction before then")
        ppm[symbol] = (None if direction == "none" else direction, int(rate), day)
    for symbol, (direction, rate, day) in ppm.items():
        ledger.set_deferred_fee(symbol, direction, rate, day)
    return Applied([], data={"deferred_fee": deferred_fee_view(ledger)})


def deferred_fee_view(ledger: Ledger) -> dict:
    """Per instrument: the rate, and the direction with the trading day it was posted for (None: none yet)."""
    days = ledger.deferred_day or {}
    return {s: {"direction": d or "none", "rate_bp_per_day": str(Decimal(p) / 100),
                "trading_day": days[s].isoformat() if s in days else None}
            for s, (d, p) in sorted(ledger.deferred.items())}


def ledger_roll(flow: Any, args: dict, now_ns: int) -> Applied:
    """The books' trading-day roll at the command's time (`Ledger.roll`); the result carries the trades
    let go (`first`: the number of the first, `trades`) for the shell to archive, and what is held."""
    ledger = flow.fills
    if not isinstance(ledger, Ledger):
        return _refuse("not_supported", "this application keeps no books")
    first, dropped = ledger.roll(now_ns)
    held_days = sorted({t.trading_day for t in ledger.trades})
    return Applied([], data={"first": first, "trades": dropped, "held": len(ledger.trades),
                             "held_days": [d.isoformat() for d in held_days],
                             "history_from": None if ledger.history_from is None else ledger.history_from.isoformat()})


def register_books(applier: CommandApplier) -> None:
    applier.register("settlement_prices", settlement_prices)
    applier.register("deferred_fee", deferred_fee)
    applier.register("ledger_roll", ledger_roll)


__all__ = ["register_books", "settlement_prices", "deferred_fee", "deferred_fee_view"]
