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


def _answered(kept, now_ns: int) -> bool:
    """Whether the memo entry kept before an ask answered it (its interval holds the instant)."""
    return kept is not None and kept[0] <= now_ns < kept[1]


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
                before = (memo._days_memo or {}).get(instr.symbol)
                assert memo.fill_days(instr, t) == _fresh(plain, instr, t), (instr.symbol, t)
                hits += _answered(before, t)
    assert hits > len(times)      # the memo answered most asks (a memo that never keeps would pass above)
    assert memo._days_memo        # and it holds one interval per instrument traded in open hours


def _midnights(ledger: Ledger) -> list[int]:
    """Instants a few ns to a few µs either side of every venue's local midnight over the five days, and
    every 53 minutes between (nights and the weekend: calendars closed, the day is the local date)."""
    from datetime import datetime, timedelta

    times = [T0 - 2 * 86_400 * 10**9 + k * (53 * MINUTE + 7) for k in range(5 * 24 * 60 // 53)]
    for tz in ledger._tz.values():
        first = datetime.fromtimestamp(times[0] // 10**9, tz).date()
        for k in range(6):
            midnight = int(datetime.combine(first + timedelta(days=k), datetime.min.time(), tz).timestamp()) * 10**9
            times += [midnight + d for d in (-20_000, -10_001, -10_000, -9_999, -1_001, -1_000, -999, -300, -1, 0, 1,
                                             500, 20_000)]
    return times


def test_fill_days_in_closed_hours_equal_the_local_date_at_each_midnight_with_and_without_calendars() -> None:
    cfg = load_config(None)
    for cal in (cfg.sections["calendars"], None):
        memo, plain = Ledger(cfg.catalogue, cal), Ledger(cfg.catalogue, cal)
        times = sorted(set(_midnights(memo)))
        instruments = list(memo.catalogue.instruments.values())
        hits = asks = 0
        for n, order in enumerate((times, random.Random(11).sample(times, len(times)))):
            for t in order:
                for instr in instruments:
                    closed = cal is None or cal.trading_day(instr.schedule, t) is None
                    before = (memo._days_memo or {}).get(instr.symbol)
                    assert memo.fill_days(instr, t) == _fresh(plain, instr, t), (cal is None, instr.symbol, t)
                    if closed and n == 0:
                        asks += 1
                        hits += _answered(before, t)
        # In time order the memo answered most closed-hours asks (one that keeps only the calendars'
        # own days fails this); shuffled, each ask may start an interval of its own.
        assert hits > asks // 2, (cal is None, hits, asks)


def test_the_local_date_turns_exactly_at_midnight() -> None:
    # Integer seconds: the last nanosecond before a venue's local midnight is still the day before
    # (float seconds of a 2025 instant are ~240 ns apart and rounded it onto the next date).
    from datetime import datetime, timedelta

    cfg = load_config(None)
    ledger = Ledger(cfg.catalogue, None)
    instr = cfg.catalogue.instruments["SGE.AU9999"]
    tz = ledger._tz[instr.venue]
    day = datetime.fromtimestamp(T0 // 10**9, tz).date()
    midnight = int(datetime.combine(day + timedelta(days=1), datetime.min.time(), tz).timestamp()) * 10**9
    assert ledger.trading_day(instr, midnight - 1) == day
    assert ledger.trading_day(instr, midnight) == day + timedelta(days=1)
    assert ledger.fill_days(instr, midnight - 1)[0] == day
    assert ledger.fill_days(instr, midnight)[0] == day + timedelta(days=1)
