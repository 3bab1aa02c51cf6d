"""Settlement obligations: each account's trades of a trading day netted per clearing house, currency,
value date, vault and bar form, and the same summed over accounts.

Cash is what the account pays (negative) or receives: a full-payment buy pays its value and fee, a
sell receives its value less the fee; a margined trade moves no value (its margin is held, not paid)
but pays its fee and settles its realised P&L. Metal is the net gross grams the account receives (+) or
delivers (-), with the fine grams beside it. Metal a clearing house holds in bars (a bar form named
`..._1kg_...`) is flagged not withdrawable while the net is not a whole number of bars (10 g lots of
Au99.99 must make whole 1 kg ingots), and while an account receiving it is of a side that may not take
metal out of that vault (`records.withdrawal`: international members may not withdraw from domestic SGE
vaults). Every obligation says which border direction its trades
crossed and names its settlement rail (configuration, `records.settings`): the router
computes obligations; it does not move money. `cross_border_flows` reports, per day and direction, the
CNY value of metal bought and sold across the border, gross and net, by account and in total.

Not here: the trades themselves (records.ledger), HTTP, the clock.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Iterable, Mapping

from router.records.ledger import Trade, grams_text, money_text

_BAR_KG = re.compile(r"_(\d+)kg_")


def bar_micrograms(bar_form: str) -> int | None:
    """The weight of one bar of a form named by weight (`ingot_1kg_9999` -> 1 kg), None otherwise."""
    m = _BAR_KG.search(bar_form)
    return None if m is None else int(m.group(1)) * 1000 * 1_000_000


def cash_of(t: Trade) -> int:
    """The cash a trade makes the account pay (-) or receive (+), micro settlement currency."""
    if t.margined:
        return t.realised - t.fee
    return (-t.value if t.side == 1 else t.value) - t.fee


def metal_of(t: Trade) -> tuple[int, int]:
    """Gross and fine micrograms the account receives (+) or delivers (-)."""
    if t.margined:
        return 0, 0
    sign = 1 if t.side == 1 else -1
    return sign * t.gross_ug, sign * t.fine_ug


def net(trades: Iterable[Trade], *, by_account: bool = True, sides: Mapping[str, str] | None = None) -> list[dict]:
    """Net trades per (account,) clearing house, currency, value date, vault and bar form; amounts
    stay integers (micro-units, micrograms), with the border sides of the accounts in each (`sides`:
    account -> side; an account not in it adds none). Sorted by key."""
    rows: dict[tuple, dict] = {}
    for t in trades:
        key = ((t.account,) if by_account else ()) + (t.venue, t.ccy, t.value_date, t.vault, t.bar_form)
        r = rows.get(key)
        if r is None:
            r = rows[key] = {"cash": 0, "fees": 0, "gross_ug": 0, "fine_ug": 0, "trades": 0, "directions": set(),
                             "sides": set()}
        if sides is not None and t.account in sides:
            r["sides"].add(sides[t.account])
        gross, fine = metal_of(t)
        r["cash"] += cash_of(t)
        r["fees"] += t.fee
        r["gross_ug"] += gross
        r["fine_ug"] += fine
        r["trades"] += 1
        if t.direction != "domestic":
            r["directions"].add(t.direction)
    return [dict(zip(("account",) * by_account + ("venue", "ccy", "value_date", "vault", "bar_form"), k), **v)
            for k, v in sorted(rows.items(), key=lambda kv: tuple(str(x) for x in kv[0]))]


def obligation_text(row: dict, rails: Mapping[tuple[str, str], str] | None = None,
                    withdrawal: Mapping[str, frozenset[str]] | None = None) -> dict:
    """One netted row as JSON-able data: money in the currency's precision, grams as decimals.
    `withdrawal`: per vault, the account sides that may take metal out (a vault not in it: any)."""
    ccy = row["ccy"]
    bar = bar_micrograms(row["bar_form"])
    allowed = (withdrawal or {}).get(row["vault"])
    # Metal received must make whole bars to leave the vault, and every account in the row must be of a
    # side that may take it out of that vault; a delivery (negative) is not flagged.
    withdrawable = row["gross_ug"] <= 0 or ((bar is None or row["gross_ug"] % bar == 0)
                                            and (allowed is None or row.get("sides", set()) <= allowed))
    out = {"clearing_house": row["venue"], "currency": ccy, "value_date": row["value_date"].isoformat(),
           "vault": row["vault"], "bar_form": row["bar_form"], "cash": money_text(row["cash"], ccy),
           "fees": money_text(row["fees"], ccy), "metal_grams": grams_text(row["gross_ug"]),
           "fine_grams": grams_text(row["fine_ug"]), "withdrawable": withdrawable,
           "cross_border": sorted(row["directions"]), "trades": row["trades"],
           "rail": (rails or {}).get((row["venue"], ccy), "not configured")}
    if "account" in row:
        out = {"account": row["account"], **out}
    return out


def cross_border_flows(trades: Iterable[Trade], trading_day: date | None) -> dict:
    """Per trading day and direction, the CNY value of metal bought and sold across the border (at the
    fill price, the router's FX), gross and net, by account and in total: the figures the cross-border
    quota counts (buys use it, sells give it back). Amounts are CNY strings."""
    rows: dict[tuple, list[int]] = {}
    for t in trades:
        if t.direction == "domestic" or (trading_day is not None and t.trading_day != trading_day):
            continue
        for key in ((t.trading_day, t.direction, t.account), (t.trading_day, t.direction, None)):
            r = rows.setdefault(key, [0, 0])
            r[0 if t.side == 1 else 1] += t.value_cny
    flows = [{"trading_day": d.isoformat(), "direction": direction, "account": account or "TOTAL",
              "gross_bought_cny": money_text(b, "CNY"), "sold_cny": money_text(s, "CNY"),
              "net_cny": money_text(b - s, "CNY")}
             for (d, direction, account), (b, s) in sorted(rows.items(), key=lambda kv: (
                 kv[0][0], kv[0][1], kv[0][2] is None, kv[0][2] or ""))]
    return {"trading_day": None if trading_day is None else trading_day.isoformat(), "flows": flows}


def obligations_view(trades: Iterable[Trade], trading_day: date | None, account: str | None,
                     rails: Mapping[tuple[str, str], str] | None = None,
                     withdrawal: Mapping[str, frozenset[str]] | None = None,
                     sides: Mapping[str, str] | None = None) -> dict:
    """The obligations of one trading day (every day when None), of one account or all, with the
    totals per clearing house, currency, value date, vault and bar form. `withdrawal` (vault -> sides
    that may withdraw) and `sides` (account -> side) decide, with whole bars, the `withdrawable` flag."""
    picked = [t for t in trades if (trading_day is None or t.trading_day == trading_day)
              and (account is None or t.account == account)]
    return {"trading_day": None if trading_day is None else trading_day.isoformat(), "account": account,
            "obligations": [obligation_text(r, rails, withdrawal) for r in net(picked, sides=sides)],
            "totals": [obligation_text(r, rails, withdrawal) for r in net(picked, by_account=False, sides=sides)]}


__all__ = ["net", "obligations_view", "cross_border_flows", "obligation_text", "cash_of", "metal_of",
           "bar_micrograms"]
