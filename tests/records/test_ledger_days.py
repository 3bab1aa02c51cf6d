"""The ledger's per-instrument memo of a fill's trading day and value date (`Ledger.fill_days`) gives
exactly what the calendars give asked afresh (`trading_day`, `value_date`), in time order, out of
order, and on both sides of every instant where a calendar's session state or trading day changes.
Loco London's T+2 value dates are counted on the London settlement calendar and land on a New York
business day, through the order flow into the ledger and the obligations; every other instrument's
value date is its trading day."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from router.config import load_config
from router.records.ledger import Ledger
from router.records.obligations import obligations_view
from tests.orders.test_flow import HK, SH, Harness

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


# (trade date, value date) of HKGX.LLG: two London business days (England and Wales bank holidays)
# after the trade, then the first day open in both London and New York (Federal Reserve holidays) when
# that one is not; a New York holiday before the value date does not count as a day (spot convention
# of a currency against USD). The trading calendar closes only on 1 Jan, Good Friday and 25 Dec.
LLG_VALUE_DATES = [
    (date(2026, 4, 2), date(2026, 4, 8)),      # Good Friday 04-03 and Easter Monday 04-06 in London
    (date(2026, 5, 1), date(2026, 5, 6)),      # Early May bank holiday 05-04
    (date(2026, 8, 28), date(2026, 9, 2)),     # Summer bank holiday 08-31
    (date(2025, 12, 24), date(2025, 12, 30)),  # Christmas 12-25 and Boxing Day 12-26
    (date(2026, 12, 23), date(2026, 12, 29)),  # Christmas (Fri) and Boxing Day's substitute Mon 12-28
    (date(2026, 11, 25), date(2026, 11, 27)),  # Thanksgiving 11-26 on T+1: London counts it, NY open 11-27
    (date(2026, 11, 24), date(2026, 11, 27)),  # Thanksgiving on T+2: the next day open in both
    (date(2026, 9, 3), date(2026, 9, 8)),      # Labor Day 09-07 on T+2
    (date(2026, 7, 1), date(2026, 7, 3)),      # 4 July is a Saturday: the Fed is open on Friday 07-03
    (date(2026, 12, 30), date(2027, 1, 4)),    # New Year's Day 2027: a value date in the next year
]


def test_loco_london_value_dates_count_london_business_days_and_land_on_a_new_york_one() -> None:
    h = Harness()
    h.ledger = Ledger(h.cfg.catalogue, h.cfg.sections["calendars"])
    h.flow.fills = h.ledger
    for k, (trade_date, value_date) in enumerate(LLG_VALUE_DATES):
        # 10:00 in New York: inside the LLG session of that trading day.
        h.now = int(datetime.combine(trade_date, datetime.min.time().replace(hour=10),
                                     ZoneInfo("America/New_York")).timestamp()) * 10**9
        buyer, seller = (SH, HK) if k % 2 == 0 else (HK, SH)
        h.order(seller, "HKGX.LLG", 2, 1, "2400.00", clordid=f"S{k}")
        h.order(buyer, "HKGX.LLG", 1, 1, "2400.00", clordid=f"B{k}")
        traded = [(t.trading_day, t.value_date) for t in h.ledger.trades[-2:]]
        assert traded == [(trade_date, value_date)] * 2, trade_date
        view = obligations_view(h.ledger.trades, trade_date, None)
        assert {o["value_date"] for o in view["totals"]} == {value_date.isoformat()}, trade_date


def test_every_other_instrument_settles_on_its_trading_day() -> None:
    """The instruments without a settlement calendar are T+0 or deferred: over every weekday of
    2025-2026 their value date is the trading day (what they were before settlement calendars)."""
    cfg = load_config(None)
    ledger = Ledger(cfg.catalogue, cfg.sections["calendars"])
    others = [i for i in cfg.catalogue.instruments.values() if i.symbol != "HKGX.LLG"]
    assert others and {i.settlement_cycle for i in others} <= {"T+0", "deferred"}
    day = date(2025, 1, 1)
    while day <= date(2026, 12, 31):
        for instr in others:
            assert ledger.value_date(instr, day) == day, (instr.symbol, day)
        day += timedelta(days=1)


@pytest.mark.parametrize("cycle, expected", [("T+1", date(2026, 4, 7)), ("T+2", date(2026, 4, 8))])
def test_without_a_payment_calendar_the_settlement_calendar_alone_counts(cycle, expected) -> None:
    from router.config import build_config, embedded_defaults

    tree = embedded_defaults()
    tree["instruments"]["HKGX.LLG"].pop("payment_calendar")
    tree["instruments"]["HKGX.LLG"]["settlement_cycle"] = cycle
    cfg = build_config(tree)
    ledger = Ledger(cfg.catalogue, cfg.sections["calendars"])
    assert ledger.value_date(cfg.catalogue.instruments["HKGX.LLG"], date(2026, 4, 2)) == expected
