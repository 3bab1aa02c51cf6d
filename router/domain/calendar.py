"""Trading calendars: which session state a schedule is in at a UTC instant, and which trading day it counts for.

A *schedule* (SGE_SPOT, HKGX_OUTCRY, ...) is a venue time zone, a holiday *calendar*, the trading weekdays and a
list of windows in local wall-clock time.  Instruments name a schedule; the router asks
`Calendars.session_state(schedule, utc_ns)` on every order, so answers come from a per-schedule cache of the
piecewise-constant timeline of one local day (a bisect, no zoneinfo work on the hot path).

Rules implemented (gold-reference.md sections 1.2, 3.1, 6.3, 7):
* Windows belong to a trading day D (a trading weekday that is not a holiday).  `start_day`/`end_day` shift a
  window by whole local days relative to D, so "07:00-05:00+1" is `end_day = 1`.
* `night = true` windows belong to D but are placed on the evening of the previous trading day P (SGE: night
  trades count for the next trading day; Friday night counts for Monday).  The night is skipped when any day
  between P and D is a holiday (no night session on the eve of a holiday), and, when `friday_night = false`,
  also when a weekend lies between them.
* `if_no_night = true` windows (SGE day call auction) exist only when D had no night session.
* `state = "break"` windows count only when a trading window ends exactly where the break starts and another
  starts exactly where it ends; otherwise that time is CLOSED (no "break" before Monday's first session).

* A calendar's `covers_until` (required) is the last date its holiday list is known to be complete.  A date
  after it is NOT a trading day: nobody knows yet whether it is a holiday, so the schedule is CLOSED there and
  `covers(schedule, utc)` is False (the router rejects with `calendar_unknown`).  The end is stated rather than
  inferred from the last listed holiday because a list can be complete to 31 December with its last holiday
  on the 25th, and a forgotten year must fail closed, not open.

* A calendar can also be used on its own, as a *settlement calendar* (`is_business_day`, `next_business_day`):
  its business days are Monday to Friday outside its holidays, whatever any schedule trades, and asking past
  its `covers_until` raises ValueError.  Instruments name them to count value dates (records.ledger_days).

Choices: `trading_day` returns None whenever the state is CLOSED (the router should not assign closed-time
orders to a day); during a break it returns the day of the break's own window.  `next_change` reports the next
instant at which the (state, trading day) pair changes.

Not done here: reading the `schedules` / `calendars` tables (`router.domain.schedule_config`, which
also defines `SessionState`; re-exported here), typhoon/black-rainstorm suspensions and half days (no feed
for them yet), make-up weekend workdays (SGE does not trade on them, so weekends are simply non-trading),
clock reads and any I/O.
"""
from __future__ import annotations

import bisect
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from router.domain.errors import ConfigError
from router.domain.schedule_config import NIGHT_LOOKBACK_DAYS, Schedule, SessionState, parse_calendars, parse_schedule

__all__ = ["SessionState", "Calendars", "to_utc_ns"]


_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_DAY = timedelta(days=1)
# How far next_change looks before concluding a schedule never changes state (e.g. no windows at all).
_NEXT_CHANGE_HORIZON_DAYS = 60
_BUCKET_CACHE_DAYS = 64


class _Bucket:
    """The timeline of one local day: segment i covers [starts[i], starts[i+1]) (the last one up to hi)."""

    __slots__ = ("lo", "hi", "starts", "states", "days")

    def __init__(self, lo: int, hi: int, starts: list[int], states: list[SessionState],
                 days: list[date | None]) -> None:
        self.lo, self.hi, self.starts, self.states, self.days = lo, hi, starts, states, days

    def index(self, t: int) -> int:
        return bisect.bisect_right(self.starts, t) - 1


def to_utc_ns(t: int | datetime) -> int:
    """UTC nanoseconds since the epoch from an int (passed through) or an aware datetime."""
    if isinstance(t, bool):
        raise TypeError("time must be int UTC ns or an aware datetime, not bool")
    if isinstance(t, int):
        return t
    if isinstance(t, datetime):
        if t.tzinfo is None or t.utcoffset() is None:
            raise TypeError("naive datetime: pass an aware datetime or int UTC ns")
        return ((t - _EPOCH_UTC) // _US) * 1000
    raise TypeError(f"time must be int UTC ns or an aware datetime, not {type(t).__name__}")


def _local_ns(tz: ZoneInfo, day: date, minutes: int) -> int:
    """UTC ns of a local wall-clock time; nonexistent/ambiguous DST times resolve with fold=0 (deterministic)."""
    naive = datetime(day.year, day.month, day.day) + timedelta(minutes=minutes)
    offset = naive.replace(tzinfo=tz).utcoffset()
    return ((naive - offset - _EPOCH) // _US) * 1000


def _local_date(tz: ZoneInfo, t: int) -> date:
    return (_EPOCH_UTC + timedelta(microseconds=t // 1000)).astimezone(tz).date()



# ---------------------------------------------------------------- the calendars

class Calendars:
    """All schedules of a configuration; answers are pure functions of (schedule, instant), cached per local day."""

    def __init__(self, schedules: dict[str, Schedule],
                 calendars: dict[str, tuple[frozenset[date], date]] | None = None) -> None:
        self._schedules = schedules
        self._calendars = calendars or {}       # name -> (holidays, covers_until): settlement day counts
        self._buckets: dict[str, dict[date, _Bucket]] = {n: {} for n in schedules}
        self._last: dict[str, _Bucket] = {}

    @classmethod
    def from_config(cls, schedules: dict, calendars: dict) -> "Calendars":
        """Build from the `schedules` and `calendars` tables; raises ConfigError naming the offending key."""
        if not isinstance(calendars, dict):
            raise ConfigError("calendars", "must be a table of calendars")
        if not isinstance(schedules, dict):
            raise ConfigError("schedules", "must be a table of schedules")
        cals = parse_calendars(calendars)
        return cls({name: parse_schedule(f"schedules.{name}", raw, cals) for name, raw in schedules.items()}, cals)

    def schedule_names(self) -> frozenset[str]:
        return frozenset(self._schedules)

    def __contains__(self, schedule_name: object) -> bool:
        return schedule_name in self._schedules

    def covered_until(self, schedule_name: str) -> date:
        """Last day the schedule's holiday list is known to cover (calendar `covers_until`).

        Past it no day is a trading day (the schedule is CLOSED), so start-up warns as the date nears.
        """
        return self._schedules[schedule_name].covered_until

    def calendar_name(self, schedule_name: str) -> str:
        """The `[calendars.*]` table the schedule takes its holidays from."""
        return self._schedules[schedule_name].calendar

    def covers(self, schedule_name: str, utc: int | datetime) -> bool:
        """False when the venue-local date of `utc` is past the holiday list's `covers_until`."""
        s = self._schedules[schedule_name]
        return _local_date(s.tz, to_utc_ns(utc)) <= s.covered_until

    # -- day-level queries
    def is_trading_day(self, schedule_name: str, day: date) -> bool:
        return self._is_trading(self._schedules[schedule_name], day)

    def next_trading_day(self, schedule_name: str, day: date) -> date:
        """The first trading day strictly after `day` (holiday lists must cover the dates asked about)."""
        s = self._schedules[schedule_name]
        d = day + _DAY
        for _ in range(400):
            if self._is_trading(s, d):
                return d
            if d > s.covered_until:
                raise ValueError(f"{schedule_name}: calendar {s.calendar} covers only until {s.covered_until}")
            d += _DAY
        raise ValueError(f"{schedule_name}: no trading day within 400 days after {day}")

    # -- settlement days: a calendar's own business days, whatever any schedule trades
    def calendar_names(self) -> frozenset[str]:
        return frozenset(self._calendars)

    def calendar_covered_until(self, calendar: str) -> date:
        return self._calendars[calendar][1]

    def is_business_day(self, calendar: str, day: date) -> bool:
        """Monday to Friday and not a holiday of `calendar`; ValueError past its `covers_until`."""
        holidays, until = self._calendars[calendar]
        if day > until:
            raise ValueError(f"calendar {calendar} covers only until {until}")
        return day.weekday() < 5 and day not in holidays

    def next_business_day(self, calendar: str, day: date) -> date:
        """The first business day of `calendar` strictly after `day` (ValueError past its list)."""
        d = day + _DAY
        while not self.is_business_day(calendar, d):
            d += _DAY
        return d

    def sessions(self, schedule_name: str, trading_day: date) -> list[tuple[int, int, SessionState]]:
        """The windows (UTC ns start, end, state) that count for `trading_day`, breaks filtered as in the timeline."""
        s = self._schedules[schedule_name]
        wins = self._timeline(s, trading_day - timedelta(days=s.back_days), trading_day + timedelta(days=s.fwd_days))
        return [(a, b, st) for a, b, st, d in wins if d == trading_day]

    # -- instant queries (hot path)
    def session_state(self, schedule_name: str, utc: int | datetime) -> SessionState:
        t = to_utc_ns(utc)
        b = self._bucket_at(schedule_name, t)
        return b.states[b.index(t)]

    def trading_day(self, schedule_name: str, utc: int | datetime) -> date | None:
        """The trading day an order at `utc` counts for; None while CLOSED."""
        t = to_utc_ns(utc)
        b = self._bucket_at(schedule_name, t)
        return b.days[b.index(t)]

    def next_change(self, schedule_name: str, utc: int | datetime) -> int | None:
        """UTC ns of the next instant after `utc` where (state, trading day) changes; None beyond 60 days."""
        t = to_utc_ns(utc)
        b = self._bucket_at(schedule_name, t)
        i = b.index(t)
        current = (b.states[i], b.days[i])
        for _ in range(_NEXT_CHANGE_HORIZON_DAYS):
            for j in range(i + 1, len(b.starts)):
                if (b.states[j], b.days[j]) != current:
                    return b.starts[j]
            nxt = self._bucket_at(schedule_name, b.hi)
            if (nxt.states[0], nxt.days[0]) != current:
                return nxt.lo
            b, i = nxt, 0
        return None

    def next_open(self, schedule_name: str, utc: int | datetime) -> int | None:
        """UTC ns of the next instant after `utc` in AUCTION or CONTINUOUS (for parking orders); None if none soon."""
        t = to_utc_ns(utc)
        for _ in range(64):
            nxt = self.next_change(schedule_name, t)
            if nxt is None:
                return None
            if self.session_state(schedule_name, nxt) in (SessionState.AUCTION, SessionState.CONTINUOUS):
                return nxt
            t = nxt
        return None

    # -- internals
    @staticmethod
    def _is_trading(s: Schedule, d: date) -> bool:
        return d.weekday() in s.weekdays and d not in s.holidays and d <= s.covered_until

    def _night_evening(self, s: Schedule, d: date) -> date | None:
        """The evening that holds D's night session, or None when that night is skipped."""
        p = d - _DAY
        for _ in range(NIGHT_LOOKBACK_DAYS):
            if p in s.holidays:
                return None
            if self._is_trading(s, p):
                return p if p == d - _DAY or s.friday_night else None
            p -= _DAY
        return None

    def _day_windows(self, s: Schedule, d: date) -> list[tuple[int, int, SessionState, date]]:
        if not self._is_trading(s, d):
            return []
        evening = self._night_evening(s, d) if s.has_night else None
        out = []
        for w in s.windows:
            if w.night:
                if evening is None:
                    continue
                base = evening
            else:
                if w.if_no_night and evening is not None:
                    continue
                base = d
            start = _local_ns(s.tz, base + timedelta(days=w.start_day), w.start_min)
            end = _local_ns(s.tz, base + timedelta(days=w.end_day), w.end_min)
            out.append((start, end, w.state, d))
        return out

    def _timeline(self, s: Schedule, first: date, last: date) -> list[tuple[int, int, SessionState, date]]:
        """Windows of trading days first..last, sorted, breaks without trading on both sides dropped."""
        wins: list[tuple[int, int, SessionState, date]] = []
        d = first
        while d <= last:
            wins.extend(self._day_windows(s, d))
            d += _DAY
        wins.sort(key=lambda w: (w[0], w[1]))
        ends = {w[1] for w in wins if w[2] is not SessionState.BREAK}
        starts = {w[0] for w in wins if w[2] is not SessionState.BREAK}
        return [w for w in wins if w[2] is not SessionState.BREAK or (w[0] in ends and w[1] in starts)]

    def _build(self, s: Schedule, day: date, lo: int, hi: int) -> _Bucket:
        wins = self._timeline(s, day - timedelta(days=s.back_days), day + timedelta(days=s.fwd_days))
        starts, states, days = [lo], [SessionState.CLOSED], [None]
        cursor = lo
        for a, b, st, d in wins:
            # A DST transition can stretch a 24 h wall-clock day; the earlier window wins any overlap.
            a, b = max(a, lo, cursor), min(b, hi)
            if a >= b:
                continue
            if a > cursor:
                starts.append(cursor), states.append(SessionState.CLOSED), days.append(None)
            starts.append(a), states.append(st), days.append(d)
            cursor = b
        if cursor < hi:
            starts.append(cursor), states.append(SessionState.CLOSED), days.append(None)
        # Merge neighbours with the same answer so next_change only sees real changes.
        m_starts, m_states, m_days = [], [], []
        for a, st, d in zip(starts, states, days):
            if a >= hi:
                continue
            if m_starts and m_states[-1] is st and m_days[-1] == d:
                continue
            if m_starts and m_starts[-1] == a:
                m_states[-1], m_days[-1] = st, d
                continue
            m_starts.append(a), m_states.append(st), m_days.append(d)
        return _Bucket(lo, hi, m_starts, m_states, m_days)

    def _bucket_at(self, schedule_name: str, t: int) -> _Bucket:
        b = self._last.get(schedule_name)
        if b is not None and b.lo <= t < b.hi:
            return b
        s = self._schedules[schedule_name]
        day = _local_date(s.tz, t)
        cache = self._buckets[schedule_name]
        b = cache.get(day)
        if b is None:
            b = self._build(s, day, _local_ns(s.tz, day, 0), _local_ns(s.tz, day + _DAY, 0))
            if len(cache) >= _BUCKET_CACHE_DAYS:
                cache.clear()
            cache[day] = b
        if not b.lo <= t < b.hi:
            # Only reachable in zones whose midnight falls in a DST gap: answer from a one-off bucket.
            return self._build(s, day, min(b.lo, t), max(b.hi, t + 1))
        self._last[schedule_name] = b
        return b
