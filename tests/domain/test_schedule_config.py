"""The schedule configuration (router.domain.schedule_config): every bad `schedules` / `calendars`
value is refused with a ConfigError naming its key, read through `Calendars.from_config` as the
configuration loader does."""
from __future__ import annotations

import copy

import pytest

from router.domain.calendar import Calendars
from router.domain.errors import ConfigError


def _base() -> dict:
    return {
        "schedules": {"S": {"tz": "Asia/Shanghai", "calendar": "X", "weekdays": ["Mon", "Fri"], "windows": [
            {"state": "auction", "start": "08:50", "end": "09:00"},
            {"state": "continuous", "start": "09:00", "end": "15:00"}]}},
        "calendars": {"X": {"holidays": ["2025-01-01", "2025-02-01..2025-02-03"], "covers_until": "2025-12-31"}},
    }


def _set(path: list, value: object):
    def mutate(cfg: dict) -> None:
        node = cfg
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value
    return mutate


W1 = ["schedules", "S", "windows", 1]
ERRORS = [
    (_set(W1 + ["start"], "25:00"), "schedules.S.windows[1].start", "'25:00' is not HH:MM"),
    (_set(W1 + ["end"], "9:5"), "schedules.S.windows[1].end", "'9:5' is not HH:MM"),
    (_set(["schedules", "S", "calendar"], "CN"), "schedules.S.calendar", "unknown calendar 'CN'"),
    (_set(["calendars", "X", "holidays", 0], "2025-13-01"), "calendars.X.holidays[0]", "is not a date"),
    (_set(["calendars", "X", "holidays", 0], 20250101), "calendars.X.holidays[0]", "is not a date"),
    (_set(["calendars", "X", "holidays", 1], "2025-02-03..2025-02-01"), "calendars.X.holidays[1]",
     "ends before it starts"),
    (_set(["calendars", "X", "holidays"], "2025-01-01"), "calendars.X.holidays", "must be a list"),
    (_set(["calendars", "X", "holdays"], []), "calendars.X.holdays", "unknown key"),
    (_set(["schedules", "S", "weekdays", 1], "Friday"), "schedules.S.weekdays[1]", "unknown weekday 'Friday'"),
    (_set(["schedules", "S", "weekdays"], []), "schedules.S.weekdays", "non-empty list"),
    (_set(W1 + ["end"], "02:30"), "schedules.S.windows[1].end", "set end_day"),
    (_set(W1 + ["end_day"], "1"), "schedules.S.windows[1].end_day", "not an integer"),
    (_set(W1 + ["end_day"], 9), "schedules.S.windows[1].end_day", "outside -7..7"),
    (_set(W1 + ["state"], "open"), "schedules.S.windows[1].state", "'open' is not one of"),
    (_set(W1 + ["strat"], "09:00"), "schedules.S.windows[1].strat", "unknown key"),
    (_set(W1 + ["night"], "yes"), "schedules.S.windows[1].night", "not true/false"),
    (_set(W1 + ["start"], "08:55"), "schedules.S.windows[1]", "overlaps windows[0]"),
    (_set(W1 + ["end_day"], 1), "schedules.S.windows", "more than 24 h"),
    (_set(["schedules", "S", "windows"], []), "schedules.S.windows", "non-empty list"),
    (_set(["schedules", "S", "tz"], "Asia/Beijing"), "schedules.S.tz", "unknown time zone 'Asia/Beijing'"),
    (_set(["schedules", "S", "tz"], 8), "schedules.S.tz", "not a time-zone name"),
    (_set(["schedules", "S", "friday_night"], 1), "schedules.S.friday_night", "not true/false"),
    (_set(["schedules", "S", "windows", 0], {"state": "auction", "start": "08:50"}),
     "schedules.S.windows[0].end", "missing"),
    (_set(["schedules", "S", "windows", 0], {"state": "auction", "start": "08:50", "end": "09:00", "night": True,
                                             "if_no_night": True}),
     "schedules.S.windows[0].if_no_night", "cannot depend"),
    (_set(["schedules", "S"], ["not", "a", "table"]), "schedules.S", "must be a table"),
    (_set(["schedules"], []), "schedules", "must be a table"),
    (_set(["calendars", "X", "covers_until"], "end of 2026"), "calendars.X.covers_until", "is not a date"),
    (lambda cfg: cfg["calendars"]["X"].pop("covers_until"), "calendars.X.covers_until", "missing"),
    (_set(["calendars", "X", "covers_until"], "2025-01-31"), "calendars.X.holidays", "after covers_until"),
    (_set(["calendars"], ["X"]), "calendars", "must be a table"),
]


@pytest.mark.parametrize("mutate, key, problem", ERRORS, ids=[e[1] + ":" + e[2] for e in ERRORS])
def test_config_errors_name_the_key(mutate, key: str, problem: str) -> None:
    cfg = _base()
    Calendars.from_config(copy.deepcopy(cfg["schedules"]), copy.deepcopy(cfg["calendars"]))  # base is valid
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        Calendars.from_config(cfg["schedules"], cfg["calendars"])
    assert err.value.key == key
    assert problem in err.value.problem
    assert str(err.value).startswith(f"{key}: ")
