"""The ledger's per-instrument memo of a fill's trading day and value date (`Ledger.fill_days`) gives
exactly what the calendars give asked afresh (`trading_day`, `value_date`), in time order, out of
order, and on both sides of every instant where a calendar's session state or trading day changes."""
from __future__ import annotations

import random

from router.config import load_config
from router.records.ledger import Ledger

T0 = 1_764_900_000_000_000_000          # Friday 2025-12-05 10:00 in Shanghai and Hong Kong
MINUTE = 60 * 10**9


def _ledgers() -> tuple[Ledger, Ledger]:
    cfg = load_config(None)
    cal = cfg.sections["calendars"]
    return Ledger(cfg.catalogue, cal), Ledger(cfg.catalogue, cal)


def _times(ledger: Ledger) -> list[int]:
    """Every 7 minutes and a few ns over five days from a Friday, and each calendar change +-1 ns."""
    times = [T0 - 2 * 86_400 * 10**9 + k * (7 * MINUTE + 13) for k in range(5 * 24 * 60 // 7)]
    cal, end = ledger.calendars, times[-1]
    for i in ledger.catalogue.instruments.values():
        t = times[0]
        while t is not None and t < end:
            t = cal.next_change(i.schedule, t)
            if t is not None:
                times += [t - 1, t, t + 1]
    return times


def _fresh(ledger: Ledger, instr, now_ns: int):
    day = ledger.trading_day(instr, now_ns)
    return day, ledger.value_date(instr, day)


def test_fill_days_equal_the_calendars_asked_afresh_in_order_and_out_of_order() -> None:
    memo, plain = _ledgers()
    times = sorted(set(_times(memo)))
    instruments = list(memo.catalogue.instruments.values())
    hits = 0
    for order in (times, random.Random(7).sample(times, len(times))):
        for t in order:
            for instr in instruments:
                before = dict(memo._days_memo or {})
                assert memo.fill_days(instr, t) == _fresh(plain, instr, t), (instr.symbol, t)
                hits += before.get(instr.symbol) == (memo._days_memo or {}).get(instr.symbol)
    assert hits > len(times)      # the memo answered most asks (a memo that never keeps would pass above)
    assert memo._days_memo        # and it holds one interval per instrument traded in open hours
