"""`Sequencer._rotate`: the journal file's day per commit, kept for the calendar interval of the last
commit, is the day the calendars give at every commit: across sessions, breaks, nights, weekends and
holidays, with time going back, calendars replaced, and without calendars (the UTC date)."""
from __future__ import annotations

import random
import types
from datetime import datetime, timezone

import pytest

from router.config import build_config, embedded_defaults
from router.records.sequencer import Sequencer

CONFIG = build_config(embedded_defaults())
CAL = CONFIG.sections["calendars"]
BOOKS = CONFIG.catalogue.by_book()
T0 = 1_767_225_600_000_000_000          # 2026-01-01 00:00 UTC
HOUR = 3_600_000_000_000


class _Journal:
    def __init__(self) -> None:
        self.trading_day: str | None = None
        self.rotations: list[str] = []

    def rotate(self, day: str) -> None:
        self.trading_day = day
        self.rotations.append(day)


def _app(calendars) -> Sequencer:
    app = Sequencer.__new__(Sequencer)
    app.journal = _Journal()
    app.flow = types.SimpleNamespace(calendars=calendars, books=BOOKS)
    return app


def _expected(journal_day: str | None, calendars, now_ns: int) -> str | None:
    """The day the journal should be on after a commit at `now_ns`: asked afresh (the rule itself)."""
    day = calendars.trading_day(BOOKS[0].schedule, now_ns) if calendars is not None else None
    if day is None:
        if journal_day is not None:
            return journal_day
        return str(datetime.fromtimestamp(now_ns // 1_000_000_000, timezone.utc).date())
    return str(day)


def _commit_times(seed: int) -> list[int]:
    """Sixty days of commits minutes to hours apart, now and then a few minutes back in time."""
    rng = random.Random(seed)
    now, out = T0, []
    while now < T0 + 60 * 24 * HOUR:
        now += rng.choice([60_000_000_000, 7 * 60_000_000_000, HOUR, 5 * HOUR])
        if rng.random() < 0.05:
            now -= rng.randrange(1, 10) * 60_000_000_000
        out.append(now)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_day_kept_per_interval_is_the_calendars_day_at_every_commit(seed) -> None:
    app = _app(CAL)
    for now in _commit_times(seed):
        want = _expected(app.journal.trading_day, CAL, now)
        app._rotate(now)
        assert app.journal.trading_day == want, now
    assert len(app.journal.rotations) > 30          # weekdays of sixty days, holidays aside


def test_replaced_calendars_are_asked_and_no_calendars_give_the_utc_date() -> None:
    app = _app(CAL)
    app._rotate(T0 + 5 * 24 * HOUR + 2 * HOUR)        # 2026-01-06 10:00 in Shanghai: that day
    assert app.journal.trading_day == "2026-01-06"
    other = types.SimpleNamespace(trading_day=lambda schedule, now: datetime(2030, 1, 1).date(),
                                  next_change=lambda schedule, now: now + HOUR)
    app.flow.calendars = other
    app._rotate(T0 + 5 * 24 * HOUR + 2 * HOUR + 1)
    assert app.journal.trading_day == "2030-01-01"
    bare = _app(None)
    bare._rotate(T0 + 5)
    assert bare.journal.trading_day == "2026-01-01"
    bare._rotate(T0 + 30 * HOUR)                       # a closed day stays in the current file without calendars too
    assert bare.journal.trading_day == "2026-01-01"


def test_a_commit_back_before_the_kept_interval_asks_again() -> None:
    """A commit in the night session (the next trading day), then one timed back in the afternoon before
    it (the day before): the second gets the afternoon's day, as the calendars say."""
    night = T0 + 5 * 24 * HOUR + 12 * HOUR + 5 * 60_000_000_000       # 2026-01-06 20:05 in Shanghai
    afternoon = T0 + 5 * 24 * HOUR + 6 * HOUR + 55 * 60_000_000_000   # 2026-01-06 14:55 in Shanghai
    assert str(CAL.trading_day(BOOKS[0].schedule, night)) == "2026-01-07"
    app = _app(CAL)
    app._rotate(night)
    app._rotate(afternoon)
    assert app.journal.rotations == ["2026-01-07", "2026-01-06"]
