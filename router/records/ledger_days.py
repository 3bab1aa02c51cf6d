"""A fill's trading day and value date for the books of record (`FillDays`, a mixin of `records.ledger.Ledger`).

`trading_day` is the day the venue calendars give a fill's instant, or the venue's local date while
they say closed (a service run with sessions always open); `value_date` is that day plus the
instrument's settlement cycle in business days of its settlement calendar (its trading schedule's
days unless it names one), on a day its payment calendar is open too. `fill_days` answers both from
a memo per instrument, kept for the interval in which neither can change (`_days_until`), so a
stream of fills asks the calendars once per interval instead of per fill.

Not here: trades, positions, money (records.ledger), the calendars themselves (router.domain.calendar).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from router.domain.catalogue import Instrument


class FillDays:
    """Mixin of `Ledger`: needs `calendars` (or None) and `_tz` (venue -> ZoneInfo)."""

    calendars: Any
    _tz: dict

    def trading_day(self, instr: Instrument, now_ns: int) -> date:
        """The trading day a fill at `now_ns` counts for; the venue's local date when the calendar
        says the session is closed (a service run with sessions always open)."""
        if self.calendars is not None:
            day = self.calendars.trading_day(instr.schedule, now_ns)
            if day is not None:
                return day
        return self.local_date(instr, now_ns)

    def local_date(self, instr: Instrument, now_ns: int) -> date:
        """The date at `now_ns` in the instrument's venue's time zone."""
        # Whole seconds by integer division: a local date changes on a whole second, and float seconds
        # (~240 ns apart at today's epoch) put the last instants before midnight on the next date.
        return datetime.fromtimestamp(now_ns // 10**9, timezone.utc).astimezone(self._tz[instr.venue]).date()

    def value_date(self, instr: Instrument, day: date) -> date:
        """T+N cycles settle N business days after the trade, T+0 and deferred contracts on the day.
        The days counted are the instrument's `settlement_calendar`'s (default: its trading schedule's);
        a `payment_calendar` (the settlement currency's) must also be open on the value date, which
        moves to the next day open in both, but its holidays before the value date add no day: the spot
        convention of a currency against USD (Loco London: two London days, then a New York one)."""
        cycle = instr.settlement_cycle
        cal = self.calendars
        if not cycle.startswith("T+") or cal is None:
            return day
        count, pay = instr.settlement_calendar, instr.payment_calendar

        def after(d: date) -> date:
            return cal.next_trading_day(instr.schedule, d) if count is None else cal.next_business_day(count, d)

        for _ in range(int(cycle[2:])):
            day = after(day)
        while pay is not None and not cal.is_business_day(pay, day):
            day = after(day)
        return day

    # A fill's trading day and value date, per instrument, for the interval of the last fill:
    # symbol -> (from ns, until ns, trading day, value date). Within [from, until) the calendar's
    # (session state, trading day) does not change (`Calendars.next_change`) and, while it says closed,
    # neither does the venue's local date (`_days_until`), so both dates are those of the last fill
    # there; a fill outside it asks again. A pure memo of the calendars (never state: state_hash SKIP);
    # it took a quarter of `on_fill`'s time (benchmarks/README.md, "Fills: core events to state").
    _days_memo: dict[str, tuple[int, int, date, date]] | None = None

    def fill_days(self, instr: Instrument, now_ns: int) -> tuple[date, date]:
        """(trading day, value date) of a fill of `instr` at `now_ns`: `trading_day` and `value_date`."""
        memo = self._days_memo
        if memo is None:
            memo = self._days_memo = {}
        got = memo.get(instr.symbol)
        if got is not None and got[0] <= now_ns < got[1]:
            return got[2], got[3]
        day = self.trading_day(instr, now_ns)
        value_date = self.value_date(instr, day)
        until = self._days_until(instr, now_ns, day)
        if until is not None and until > now_ns:
            memo[instr.symbol] = (now_ns, until, day, value_date)
        return day, value_date

    def _days_until(self, instr: Instrument, now_ns: int, day: date) -> int | None:
        """Until when (UTC ns, exclusive) a fill of `instr` counts for the `day` a fill at `now_ns` does:
        the calendar's next change; while it says closed (`day` is the venue's local date: a service
        run with sessions always open, the round trip at night or at a weekend) also the venue's next
        local midnight. None: keep nothing."""
        cal = self.calendars
        until = None
        if cal is not None:
            until = cal.next_change(instr.schedule, now_ns)
            if cal.trading_day(instr.schedule, now_ns) is not None:
                return until
        tz = self._tz[instr.venue]
        midnight = int(datetime.combine(day + timedelta(days=1), datetime.min.time(), tz).timestamp()) * 10**9
        return midnight if until is None else min(until, midnight)
