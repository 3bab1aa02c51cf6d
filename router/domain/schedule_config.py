"""Schedule configuration: the `[schedules]` and `[calendars]` tables read into frozen values.

`parse_calendars(table)` reads each holiday calendar (its holidays, single dates or `A..B` ranges, and
the `covers_until` date its list is complete to); `parse_schedule(key, table, calendars)` reads one
schedule (time zone, calendar, trading weekdays, `friday_night`, its windows) and checks its windows
neither overlap nor span more than a day. Every problem raises a ConfigError naming the offending key.
`SessionState` (the states a window can put a schedule in) lives here because windows name them.

Not here: what state a schedule is in at an instant, trading days, timelines and their caches (all
in `router.domain.calendar`, which builds `Calendars` from what this module returns); file reading.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router.domain.errors import ConfigError

__all__ = ["SessionState", "Window", "Schedule", "NIGHT_LOOKBACK_DAYS", "parse_calendars", "parse_schedule"]


class SessionState(enum.Enum):
    CLOSED = "closed"
    AUCTION = "auction"
    CONTINUOUS = "continuous"
    BREAK = "break"


_WEEKDAYS = {"Mon": 0, "Tue": 1, "Wed": 2, "Thu": 3, "Fri": 4, "Sat": 5, "Sun": 6}
_WINDOW_STATES = {"auction": SessionState.AUCTION, "continuous": SessionState.CONTINUOUS,
                  "break": SessionState.BREAK}
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)\Z")
_SCHEDULE_KEYS = {"tz", "calendar", "weekdays", "friday_night", "windows", "note"}
_WINDOW_KEYS = {"state", "start", "end", "start_day", "end_day", "night", "if_no_night", "note"}
_CALENDAR_KEYS = {"holidays", "covers_until", "note"}
_DAY = timedelta(days=1)
# A held night session only spans weekend days, so its trading day is at most a week after the evening.
NIGHT_LOOKBACK_DAYS = 7


@dataclass(frozen=True)
class Window:
    state: SessionState
    start_day: int
    start_min: int
    end_day: int
    end_min: int
    night: bool
    if_no_night: bool


@dataclass(frozen=True)
class Schedule:
    name: str
    tz: ZoneInfo
    holidays: frozenset[date]
    weekdays: frozenset[int]
    friday_night: bool
    windows: tuple[Window, ...]
    covered_until: date
    calendar: str
    has_night: bool
    # Trading-day search range around a local date so that every window touching that date is generated.
    back_days: int
    fwd_days: int


def parse_calendars(calendars: dict) -> dict[str, tuple[frozenset[date], date]]:
    """Each calendar of the `calendars` table as (holidays, covers_until)."""
    cals = {}
    for name, raw in calendars.items():
        c = _check_keys(f"calendars.{name}", raw, _CALENDAR_KEYS)
        holidays = _parse_holidays(f"calendars.{name}.holidays", c.get("holidays", []))
        if "covers_until" not in c:
            raise ConfigError(f"calendars.{name}.covers_until",
                              "missing: the last date the holiday list is complete (later dates do not trade)")
        until = _parse_date(f"calendars.{name}.covers_until", c["covers_until"])
        late = [d for d in holidays if d > until]
        if late:
            raise ConfigError(f"calendars.{name}.holidays", f"{min(late).isoformat()} is after covers_until "
                              f"{until.isoformat()}; extend covers_until with the list")
        cals[name] = (holidays, until)
    return cals


def _parse_date(key: str, value: object) -> date:
    if isinstance(value, datetime):
        raise ConfigError(key, f"{value!r} is a date-time, not a date")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(key, f"{value!r} is not a date (YYYY-MM-DD)")


def _parse_holidays(key: str, raw: object) -> frozenset[date]:
    if not isinstance(raw, list):
        raise ConfigError(key, "must be a list of dates or 'YYYY-MM-DD..YYYY-MM-DD' ranges")
    days: set[date] = set()
    for i, item in enumerate(raw):
        k = f"{key}[{i}]"
        if isinstance(item, str) and ".." in item:
            first_s, _, last_s = item.partition("..")
            first, last = _parse_date(k, first_s.strip()), _parse_date(k, last_s.strip())
            if last < first:
                raise ConfigError(k, f"range {item!r} ends before it starts")
            d = first
            while d <= last:
                days.add(d)
                d += _DAY
        else:
            days.add(_parse_date(k, item))
    return frozenset(days)


def _parse_hhmm(key: str, value: object) -> int:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise ConfigError(key, f"{value!r} is not HH:MM")
    return int(value[:2]) * 60 + int(value[3:])


def _parse_int(key: str, value: object, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, f"{value!r} is not an integer day offset")
    if not -7 <= value <= 7:
        raise ConfigError(key, f"day offset {value} is outside -7..7")
    return value


def _parse_bool(key: str, value: object, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ConfigError(key, f"{value!r} is not true/false")
    return value


def _check_keys(key: str, raw: object, allowed: set[str]) -> dict:
    if not isinstance(raw, dict):
        raise ConfigError(key, "must be a table")
    for k in raw:
        if k not in allowed:
            raise ConfigError(f"{key}.{k}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
    return raw


def _parse_window(key: str, raw: object) -> Window:
    w = _check_keys(key, raw, _WINDOW_KEYS)
    for required in ("state", "start", "end"):
        if required not in w:
            raise ConfigError(f"{key}.{required}", "missing")
    state = _WINDOW_STATES.get(w["state"]) if isinstance(w["state"], str) else None
    if state is None:
        raise ConfigError(f"{key}.state", f"{w['state']!r} is not one of {', '.join(_WINDOW_STATES)}")
    start_min = _parse_hhmm(f"{key}.start", w["start"])
    end_min = _parse_hhmm(f"{key}.end", w["end"])
    start_day = _parse_int(f"{key}.start_day", w.get("start_day"), 0)
    end_day = _parse_int(f"{key}.end_day", w.get("end_day"), start_day)
    if (end_day, end_min) <= (start_day, start_min):
        raise ConfigError(f"{key}.end", f"{w['end']!r} (day {end_day:+d}) is not after start {w['start']!r} "
                          f"(day {start_day:+d}); set end_day for windows that cross midnight")
    night = _parse_bool(f"{key}.night", w.get("night"), False)
    if_no_night = _parse_bool(f"{key}.if_no_night", w.get("if_no_night"), False)
    if night and if_no_night:
        raise ConfigError(f"{key}.if_no_night", "a night window cannot depend on the absence of a night")
    return Window(state, start_day, start_min, end_day, end_min, night, if_no_night)


def _abs_min(w: Window, night_shift: int) -> tuple[int, int]:
    """Start/end in minutes relative to D 00:00, placing night windows on the evening of D-1 (their closest)."""
    shift = night_shift if w.night else 0
    return (w.start_day + shift) * 1440 + w.start_min, (w.end_day + shift) * 1440 + w.end_min


def parse_schedule(key: str, raw: object, calendars: dict[str, tuple[frozenset[date], date]]) -> Schedule:
    s = _check_keys(key, raw, _SCHEDULE_KEYS)
    name = key.rsplit(".", 1)[1]
    tz_name = s.get("tz")
    if not isinstance(tz_name, str) or not tz_name:
        raise ConfigError(f"{key}.tz", "missing or not a time-zone name")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{key}.tz", f"unknown time zone {tz_name!r}") from None
    cal_name = s.get("calendar")
    if cal_name not in calendars:
        raise ConfigError(f"{key}.calendar", f"unknown calendar {cal_name!r} "
                          f"(known: {', '.join(sorted(calendars)) or 'none'})")
    raw_days = s.get("weekdays", ["Mon", "Tue", "Wed", "Thu", "Fri"])
    if not isinstance(raw_days, list) or not raw_days:
        raise ConfigError(f"{key}.weekdays", "must be a non-empty list such as ['Mon', 'Tue']")
    weekdays = set()
    for i, wd in enumerate(raw_days):
        if wd not in _WEEKDAYS:
            raise ConfigError(f"{key}.weekdays[{i}]", f"unknown weekday {wd!r} (use {', '.join(_WEEKDAYS)})")
        weekdays.add(_WEEKDAYS[wd])
    friday_night = _parse_bool(f"{key}.friday_night", s.get("friday_night"), True)
    raw_windows = s.get("windows")
    if not isinstance(raw_windows, list) or not raw_windows:
        raise ConfigError(f"{key}.windows", "must be a non-empty list of windows")
    windows = tuple(_parse_window(f"{key}.windows[{i}]", w) for i, w in enumerate(raw_windows))
    # Night windows sit on the previous evening; checked at their closest (D-1) they must not overlap the day's
    # windows, and one day's windows must fit in 24 h so consecutive trading days cannot overlap either.
    spans = sorted((_abs_min(w, -1), i) for i, w in enumerate(windows))
    for (a, i), (b, j) in zip(spans, spans[1:]):
        if b[0] < a[1]:
            raise ConfigError(f"{key}.windows[{j}]", f"overlaps windows[{i}]")
    if spans[-1][0][1] - spans[0][0][0] > 1440:
        raise ConfigError(f"{key}.windows", "one trading day's windows span more than 24 h")
    return Schedule(
        name=name, tz=tz, holidays=calendars[cal_name][0], weekdays=frozenset(weekdays),
        friday_night=friday_night, windows=windows, covered_until=calendars[cal_name][1],
        calendar=cal_name,        has_night=any(w.night for w in windows),
        back_days=max(w.end_day for w in windows) + 2,
        fwd_days=NIGHT_LOOKBACK_DAYS + 2 - min(w.start_day for w in windows),
    )
