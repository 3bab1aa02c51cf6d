"""Account statements: one account's trading day as JSON-able data and as CSV text.

A statement lists every trade of the day (price, value, fee, margin held or released, realised P&L),
every end-of-day movement (variation margin, deferred fee, margin to the new requirement) and the
closing balance per currency (cash and margin held) as the end of day left it; before the day has
been settled the balances are the current ones and the statement says so (`closed: false`). For a day
older than the books' end-of-day history (`Ledger.roll`) the trades come from the trade archive and the
balances are left out (the statement written at that day's end has them).
Money is shown in the currency's minor units, prices in the instrument's own decimals.

Not here: writing files (the shell decides where reports go), HTTP, the clock.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone
from typing import Any, Iterable

from router.records.ledger import Ledger, Trade, grams_text, money_text

CSV_FIELDS = ("kind", "time", "symbol", "side", "lots", "price", "currency", "value", "fee", "margin",
              "realised", "amount", "detail")


def _time(ns: int) -> str:
    return datetime.fromtimestamp(ns // 1_000_000_000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def statement(ledger: Ledger, account: Any, trading_day: date, day_trades: Iterable[Trade] | None = None) -> dict:
    """The statement of `account` for `trading_day`; see the module docstring. `day_trades`: the trades to
    list (the day's, from the trade archive once the ledger has let them go); default the ledger's."""
    cat = ledger.catalogue
    trades = []
    for t in ledger.trades if day_trades is None else day_trades:
        if t.account != account.name or t.trading_day != trading_day:
            continue
        i = cat.instruments[t.symbol]
        trades.append({"time": _time(t.now_ns), "order_id": t.order_id, "symbol": t.symbol,
                       "side": "buy" if t.side == 1 else "sell", "lots": t.lots,
                       "price": str(i.units_to_price(t.px)), "currency": t.ccy,
                       "value": money_text(t.value, t.ccy), "fee": money_text(t.fee, t.ccy),
                       "margin": money_text(t.margin, t.ccy), "realised": money_text(t.realised, t.ccy),
                       "grams": grams_text(t.gross_ug), "vault": t.vault, "value_date": t.value_date.isoformat()})
    end_of_day = []
    for s in ledger.settlements:
        if s["trading_day"] != trading_day:
            continue
        for m in s["moves"]:
            if m["account"] != account.name:
                continue
            i, c = cat.instruments[m["symbol"]], m["ccy"]
            end_of_day.append({"time": _time(m["now_ns"]), "symbol": m["symbol"], "currency": c,
                               "settlement_price": str(i.units_to_price(m["settlement_price"])),
                               "variation_margin": money_text(m["variation_margin"], c),
                               "deferred_fee": money_text(m["deferred_fee"], c),
                               "margin_required": money_text(m["margin_required"], c),
                               "margin_moved": money_text(m["margin_moved"], c)})
    closing = ledger.closing.get((trading_day, account.name))
    closed = closing is not None
    if closing is None and ledger.day_archived(trading_day):
        # Rolled out of the books' history: its end of day is in the statement written then.
        closed, closing = True, {}
    elif closing is None:
        closing = {c: (account.cash.get(c, 0), ledger.margin_held.get((account.name, c), 0)) for c in account.cash}
    balances = {c: {"cash": money_text(cash, c), "margin_held": money_text(held, c)}
                for c, (cash, held) in sorted(closing.items())}
    return {"account": account.name, "trading_day": trading_day.isoformat(), "closed": closed,
            "trades": trades, "end_of_day": end_of_day, "closing_balances": balances}


def statement_csv(st: dict) -> str:
    """The statement as CSV: one row per trade, per end-of-day movement and per closing balance."""
    out = io.StringIO()
    w = csv.DictWriter(out, CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for t in st["trades"]:
        w.writerow({"kind": "trade", "time": t["time"], "symbol": t["symbol"], "side": t["side"], "lots": t["lots"],
                    "price": t["price"], "currency": t["currency"], "value": t["value"], "fee": t["fee"],
                    "margin": t["margin"], "realised": t["realised"], "detail": f"order {t['order_id']}"})
    for m in st["end_of_day"]:
        base = {"time": m["time"], "symbol": m["symbol"], "price": m["settlement_price"], "currency": m["currency"]}
        w.writerow({**base, "kind": "variation_margin", "amount": m["variation_margin"]})
        w.writerow({**base, "kind": "deferred_fee", "amount": m["deferred_fee"]})
        w.writerow({**base, "kind": "margin", "margin": m["margin_moved"],
                    "detail": f"requirement {m['margin_required']}"})
    for c, b in st["closing_balances"].items():
        w.writerow({"kind": "closing_balance", "currency": c, "amount": b["cash"], "margin": b["margin_held"],
                    "detail": "after end of day" if st["closed"] else "day not yet settled"})
    return out.getvalue()


__all__ = ["statement", "statement_csv", "CSV_FIELDS"]
