"""Trading calendars: each rule of gold-reference.md 1.2 / 3.1 / 6.3 / 7 against the shipped default schedules."""
from __future__ import annotations

import tomllib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.domain.calendar import Calendars, SessionState, to_utc_ns

DEFAULTS = Path(__file__).resolve().parents[2] / "router" / "default_calendars.toml"
BJ = ZoneInfo("Asia/Shanghai")
HK = ZoneInfo("Asia/Hong_Kong")
C, A, T, B = SessionState.CLOSED, SessionState.AUCTION, SessionState.CONTINUOUS, SessionState.BREAK


def load_defaults() -> dict:
    with DEFAULTS.open("rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def cal() -> Calendars:
    cfg = load_defaults()
    return Calendars.from_config(cfg["schedules"], cfg["calendars"])


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=BJ)


def hk(*args: int) -> datetime:
    return datetime(*args, tzinfo=HK)


def state_day(cal: Calendars, schedule: str, t: datetime) -> tuple[SessionState, date | None]:
    return cal.session_state(schedule, t), cal.trading_day(schedule, t)


def test_defaults_define_the_five_schedules(cal: Calendars) -> None:
    assert cal.schedule_names() == {"SGE_SPOT", "SGE_DEFERRED", "HKGX_OUTCRY", "HKGX_EPLATFORM", "HKGX_LLG"}
    assert "SGE_SPOT" in cal and "NOPE" not in cal


# ---------------------------------------------------------------- SGE night session -> next trading day

@pytest.mark.parametrize("schedule", ["SGE_SPOT", "SGE_DEFERRED"])
def test_night_session_belongs_to_next_trading_day(cal: Calendars, schedule: str) -> None:
    # 2025-09-22 is a Monday.
    assert state_day(cal, schedule, bj(2025, 9, 22, 19, 55)) == (A, date(2025, 9, 23))
    assert state_day(cal, schedule, bj(2025, 9, 22, 21, 0)) == (T, date(2025, 9, 23))
    assert state_day(cal, schedule, bj(2025, 9, 23, 2, 29)) == (T, date(2025, 9, 23))
    assert state_day(cal, schedule, bj(2025, 9, 23, 2, 30)) == (C, None)
    assert state_day(cal, schedule, bj(2025, 9, 25, 22, 0)) == (T, date(2025, 9, 26))  # Thursday -> Friday


def test_friday_night_maps_to_monday(cal: Calendars) -> None:
    assert state_day(cal, "SGE_SPOT", bj(2025, 9, 26, 19, 50)) == (A, date(2025, 9, 29))
    assert state_day(cal, "SGE_SPOT", bj(2025, 9, 26, 23, 0)) == (T, date(2025, 9, 29))
    assert state_day(cal, "SGE_SPOT", bj(2025, 9, 27, 2, 0)) == (T, date(2025, 9, 29))  # Saturday small hours
    assert state_day(cal, "SGE_SPOT", bj(2025, 9, 27, 3, 0)) == (C, None)
    # Monday had a night session, so there is no day call auction.
    assert state_day(cal, "SGE_SPOT", bj(2025, 9, 29, 8, 55)) == (C, None)
    assert state_day(cal, "SGE_SPOT", bj(2025, 9, 29, 9, 0)) == (T, date(2025, 9, 29))


def test_friday_night_flag_off_drops_friday_night_and_restores_monday_auction() -> None:
    cfg = load_defaults()
    cfg["schedules"]["SGE_SPOT"]["friday_night"] = False
    cal = Calendars.from_config(cfg["schedules"], cfg["calendars"])
    assert state_day(cal, "SGE_SPOT", bj(2025, 9, 26, 19, 55)) == (C, None)
    assert state_day(cal, "SGE_SPOT", bj(2025, 9, 26, 23, 0)) == (C, None)
    assert state_day(cal, "SGE_SPOT", bj(2025, 9, 29, 8, 50)) == (A, date(2025, 9, 29))
    # Weekday nights are unaffected by the flag.
    assert state_day(cal, "SGE_SPOT", bj(2025, 9, 29, 21, 0)) == (T, date(2025, 9, 30))
    assert state_day(cal, "SGE_SPOT", bj(2025, 9, 30, 8, 55)) == (C, None)


@pytest.mark.parametrize("eve, after", [(date(2025, 4, 3), date(2025, 4, 7)), (date(2025, 9, 30), date(2025, 10, 9))])
def test_no_night_session_on_eve_of_holiday(cal: Calendars, eve: date, after: date) -> None:
    y, m, d = eve.year, eve.month, eve.day
    assert state_day(cal, "SGE_SPOT", bj(y, m, d, 10, 0)) == (T, eve)  # the eve's own day session trades
    for hh, mm in [(19, 50), (19, 55), (20, 0), (23, 59)]:
        assert state_day(cal, "SGE_SPOT", bj(y, m, d, hh, mm)) == (C, None)
    nxt = eve + timedelta(days=1)
    assert state_day(cal, "SGE_SPOT", bj(nxt.year, nxt.month, nxt.day, 1, 0)) == (C, None)
    # The first day after the holiday opens with the day call auction.
    assert state_day(cal, "SGE_SPOT", bj(after.year, after.month, after.day, 8, 50)) == (A, after)
    assert cal.next_trading_day("SGE_SPOT", eve) == after


def test_friday_before_holiday_monday_has_no_night(cal: Calendars) -> None:
    # Dragon Boat 2025: Sat 05-31 .. Mon 06-02; Friday 05-30 evening is a holiday eve even with the flag on.
    assert state_day(cal, "SGE_SPOT", bj(2025, 5, 30, 21, 0)) == (C, None)
    assert state_day(cal, "SGE_SPOT", bj(2025, 6, 2, 10, 0)) == (C, None)
    assert state_day(cal, "SGE_SPOT", bj(2025, 6, 3, 8, 55)) == (A, date(2025, 6, 3))


def test_night_before_spring_festival_make_up_sunday_is_still_a_weekend(cal: Calendars) -> None:
    # Sunday 2025-01-26 was a make-up workday; SGE does not trade it, so Friday 01-24 night runs into Monday.
    assert state_day(cal, "SGE_SPOT", bj(2025, 1, 26, 10, 0)) == (C, None)
    assert not cal.is_trading_day("SGE_SPOT", date(2025, 1, 26))
    assert state_day(cal, "SGE_SPOT", bj(2025, 1, 24, 21, 0)) == (T, date(2025, 1, 27))
    # Monday 01-27 is the eve of the Spring Festival.
    assert state_day(cal, "SGE_SPOT", bj(2025, 1, 27, 21, 0)) == (C, None)
    assert state_day(cal, "SGE_SPOT", bj(2025, 2, 5, 8, 55)) == (A, date(2025, 2, 5))


# ---------------------------------------------------------------- SGE day session, T+D break

def test_day_auction_only_without_preceding_night(cal: Calendars) -> None:
    assert state_day(cal, "SGE_SPOT", bj(2025, 9, 24, 8, 55)) == (C, None)  # Wednesday, night ran on Tuesday
    assert state_day(cal, "SGE_SPOT", bj(2025, 10, 9, 8, 49)) == (C, None)
    assert state_day(cal, "SGE_SPOT", bj(2025, 10, 9, 8, 50)) == (A, date(2025, 10, 9))
    assert state_day(cal, "SGE_SPOT", bj(2025, 10, 9, 9, 0)) == (T, date(2025, 10, 9))


def test_deferred_lunch_break(cal: Calendars) -> None:
    day = date(2025, 9, 24)
    assert state_day(cal, "SGE_DEFERRED", bj(2025, 9, 24, 11, 29)) == (T, day)
    assert state_day(cal, "SGE_DEFERRED", bj(2025, 9, 24, 11, 30)) == (B, day)
    assert state_day(cal, "SGE_DEFERRED", bj(2025, 9, 24, 13, 29)) == (B, day)
    assert state_day(cal, "SGE_DEFERRED", bj(2025, 9, 24, 13, 30)) == (T, day)
    assert state_day(cal, "SGE_DEFERRED", bj(2025, 9, 24, 15, 30)) == (C, None)
    # Spot contracts trade straight through lunch.
    assert state_day(cal, "SGE_SPOT", bj(2025, 9, 24, 12, 0)) == (T, day)


# ---------------------------------------------------------------- HKGX

def test_hkgx_outcry_hours_and_break(cal: Calendars) -> None:
    day = date(2025, 9, 24)
    expected = [((8, 59), C, None), ((9, 0), T, day), ((11, 59), T, day), ((12, 0), B, day), ((13, 59), B, day),
                ((14, 0), T, day), ((16, 59), T, day), ((17, 0), C, None), ((21, 0), C, None)]
    for (hh, mm), state, tday in expected:
        assert state_day(cal, "HKGX_OUTCRY", hk(2025, 9, 24, hh, mm)) == (state, tday), (hh, mm)


def test_hk_only_holidays_leave_sge_open(cal: Calendars) -> None:
    # Good Friday and Christmas: HKGX shut, SGE trading (one-venue-only days).
    for d in (date(2025, 4, 18), date(2025, 12, 25)):
        t = hk(d.year, d.month, d.day, 10, 0)
        assert state_day(cal, "HKGX_OUTCRY", t) == (C, None)
        assert state_day(cal, "SGE_SPOT", t) == (T, d)
    # Golden Week: SGE shut, HKGX open apart from 1 October itself.
    assert state_day(cal, "HKGX_OUTCRY", hk(2025, 10, 3, 10, 0)) == (T, date(2025, 10, 3))
    assert state_day(cal, "SGE_SPOT", hk(2025, 10, 3, 10, 0)) == (C, None)


def test_eplatform_crosses_midnight(cal: Calendars) -> None:
    tue, fri = date(2025, 9, 23), date(2025, 9, 26)
    assert state_day(cal, "HKGX_EPLATFORM", hk(2025, 9, 23, 7, 0)) == (T, tue)
    assert state_day(cal, "HKGX_EPLATFORM", hk(2025, 9, 23, 23, 59)) == (T, tue)
    assert state_day(cal, "HKGX_EPLATFORM", hk(2025, 9, 24, 4, 59)) == (T, tue)
    assert state_day(cal, "HKGX_EPLATFORM", hk(2025, 9, 24, 5, 0)) == (B, date(2025, 9, 24))
    assert state_day(cal, "HKGX_EPLATFORM", hk(2025, 9, 27, 4, 0)) == (T, fri)  # Saturday small hours
    assert state_day(cal, "HKGX_EPLATFORM", hk(2025, 9, 27, 6, 0)) == (C, None)
    assert state_day(cal, "HKGX_EPLATFORM", hk(2025, 9, 29, 6, 0)) == (C, None)  # before Monday: no break
    assert state_day(cal, "HKGX_EPLATFORM", hk(2025, 9, 29, 7, 0)) == (T, date(2025, 9, 29))


def test_llg_week_shifts_with_us_dst(cal: Calendars) -> None:
    # Northern winter (EST): Mon 07:05 .. Sat 05:55 HKT.
    assert state_day(cal, "HKGX_LLG", hk(2025, 1, 6, 7, 4)) == (C, None)
    assert state_day(cal, "HKGX_LLG", hk(2025, 1, 6, 7, 5)) == (T, date(2025, 1, 6))
    assert state_day(cal, "HKGX_LLG", hk(2025, 1, 11, 5, 54)) == (T, date(2025, 1, 10))
    assert state_day(cal, "HKGX_LLG", hk(2025, 1, 11, 5, 55)) == (C, None)
    # US daylight saving (EDT): one hour earlier, Mon 06:05 .. Sat 04:55 HKT.
    assert state_day(cal, "HKGX_LLG", hk(2025, 7, 7, 6, 4)) == (C, None)
    assert state_day(cal, "HKGX_LLG", hk(2025, 7, 7, 6, 5)) == (T, date(2025, 7, 7))
    assert state_day(cal, "HKGX_LLG", hk(2025, 7, 12, 4, 54)) == (T, date(2025, 7, 11))
    assert state_day(cal, "HKGX_LLG", hk(2025, 7, 12, 4, 55)) == (C, None)
    # Daily break between consecutive days, counted for the coming day.
    assert state_day(cal, "HKGX_LLG", hk(2025, 7, 8, 5, 0)) == (B, date(2025, 7, 8))
    assert state_day(cal, "HKGX_LLG", hk(2025, 1, 8, 6, 0)) == (B, date(2025, 1, 8))
    assert cal.next_change("HKGX_LLG", hk(2025, 1, 8, 6, 0)) == to_utc_ns(hk(2025, 1, 8, 7, 5))


def test_llg_week_spanning_the_dst_switch(cal: Calendars) -> None:
    # US clocks went forward on Sunday 2025-03-09: Friday 03-07 closed in winter time, Monday 03-10 opened in summer.
    assert state_day(cal, "HKGX_LLG", hk(2025, 3, 8, 5, 54)) == (T, date(2025, 3, 7))
    assert state_day(cal, "HKGX_LLG", hk(2025, 3, 10, 6, 5)) == (T, date(2025, 3, 10))
    assert state_day(cal, "HKGX_LLG", hk(2025, 3, 10, 6, 4)) == (C, None)


# ---------------------------------------------------------------- closed days

@pytest.mark.parametrize("schedule", ["SGE_SPOT", "SGE_DEFERRED", "HKGX_OUTCRY", "HKGX_EPLATFORM"])
def test_weekends_closed(cal: Calendars, schedule: str) -> None:
    for hour in range(8, 24):
        assert cal.session_state(schedule, bj(2025, 9, 27, hour, 0)) is C  # Saturday
        assert cal.session_state(schedule, bj(2025, 9, 28, hour, 0)) is C  # Sunday (a make-up workday)
    assert cal.trading_day(schedule, bj(2025, 9, 28, 12, 0)) is None


def test_holidays_closed(cal: Calendars) -> None:
    for d in (date(2025, 1, 1), date(2025, 1, 30), date(2025, 5, 2), date(2025, 10, 8), date(2026, 2, 18),
              date(2026, 10, 6)):
        assert not cal.is_trading_day("SGE_SPOT", d)
        for hour in (9, 10, 14, 20, 22):
            assert state_day(cal, "SGE_SPOT", bj(d.year, d.month, d.day, hour, 0)) == (C, None)
    assert state_day(cal, "HKGX_OUTCRY", hk(2026, 2, 17, 10, 0)) == (C, None)
    assert state_day(cal, "HKGX_OUTCRY", hk(2026, 2, 20, 10, 0)) == (T, date(2026, 2, 20))


# ---------------------------------------------------------------- API details

def test_int_ns_and_aware_datetime_agree(cal: Calendars) -> None:
    t = bj(2025, 9, 22, 21, 0)
    ns = to_utc_ns(t)
    assert ns == int(t.timestamp()) * 1_000_000_000
    assert cal.session_state("SGE_SPOT", ns) is cal.session_state("SGE_SPOT", t.astimezone(timezone.utc))
    assert cal.trading_day("SGE_SPOT", ns + 999) == date(2025, 9, 23)
    with pytest.raises(TypeError):
        cal.session_state("SGE_SPOT", datetime(2025, 9, 22, 21, 0))
    with pytest.raises(TypeError):
        cal.session_state("SGE_SPOT", True)
    with pytest.raises(KeyError):
        cal.session_state("NOPE", ns)


def test_next_change_and_sessions(cal: Calendars) -> None:
    assert cal.next_change("SGE_SPOT", bj(2025, 9, 26, 15, 30)) == to_utc_ns(bj(2025, 9, 26, 19, 50))
    # Across the National Day closure: the next change is the day auction on 10-09.
    assert cal.next_change("SGE_SPOT", bj(2025, 9, 30, 15, 30)) == to_utc_ns(bj(2025, 10, 9, 8, 50))
    monday = cal.sessions("SGE_DEFERRED", date(2025, 9, 29))
    assert [(s, st) for s, _, st in monday] == [
        (to_utc_ns(bj(2025, 9, 26, 19, 50)), A), (to_utc_ns(bj(2025, 9, 26, 20, 0)), T),
        (to_utc_ns(bj(2025, 9, 29, 9, 0)), T), (to_utc_ns(bj(2025, 9, 29, 11, 30)), B),
        (to_utc_ns(bj(2025, 9, 29, 13, 30)), T)]
    assert cal.sessions("SGE_SPOT", date(2025, 10, 1)) == []
    assert cal.next_trading_day("HKGX_OUTCRY", date(2025, 12, 24)) == date(2025, 12, 29)


def test_next_open_skips_breaks_and_closures(cal: Calendars) -> None:
    # From the T+D lunch break the next open is 13:30; from the eve of National Day it is the 10-09 auction.
    assert cal.next_open("SGE_DEFERRED", bj(2025, 9, 24, 12, 0)) == to_utc_ns(bj(2025, 9, 24, 13, 30))
    assert cal.next_open("SGE_SPOT", bj(2025, 9, 30, 21, 0)) == to_utc_ns(bj(2025, 10, 9, 8, 50))
    # While open, the next open is the following session, not the current one.
    assert cal.next_open("HKGX_OUTCRY", hk(2025, 9, 26, 10, 0)) == to_utc_ns(hk(2025, 9, 26, 14, 0))
    assert cal.next_open("HKGX_OUTCRY", hk(2025, 9, 26, 15, 0)) == to_utc_ns(hk(2025, 9, 29, 9, 0))


def test_holiday_lists_state_their_coverage(cal: Calendars) -> None:
    for name in cal.schedule_names():
        assert cal.covered_until(name) == date(2026, 12, 31)


def test_schedule_without_trading_days_has_no_next_change() -> None:
    cal = Calendars.from_config(
        {"S": {"tz": "UTC", "calendar": "X", "weekdays": ["Sat"],
               "windows": [{"state": "continuous", "start": "09:00", "end": "10:00"}]}},
        {"X": {"covers_until": "2025-12-31", "holidays": [f"2025-{m:02d}-01..2025-{m:02d}-28" for m in range(1, 4)]
               + ["2025-01-29..2025-01-31", "2025-03-29..2025-03-31"]}})
    # Saturdays 2025-01-04 .. 03-29 are all holidays: more than 60 days without a change.
    t = datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert cal.session_state("S", t) is C
    assert cal.next_change("S", t) is None
    assert cal.next_change("S", datetime(2025, 3, 1, tzinfo=timezone.utc)) == to_utc_ns(
        datetime(2025, 4, 5, 9, 0, tzinfo=timezone.utc))


def test_toml_native_dates_accepted() -> None:
    cfg = tomllib.loads("""
[schedules.S]
tz = "Asia/Hong_Kong"
calendar = "X"
windows = [{ state = "continuous", start = "09:00", end = "10:00" }]
[calendars.X]
covers_until = 2025-12-31
holidays = [2025-09-24]
""")
    cal = Calendars.from_config(cfg["schedules"], cfg["calendars"])
    assert cal.session_state("S", hk(2025, 9, 24, 9, 30)) is C
    assert cal.session_state("S", hk(2025, 9, 25, 9, 30)) is T


# ---------------------------------------------------------------- properties

START_2025 = to_utc_ns(datetime(2025, 1, 1, tzinfo=timezone.utc))
END_2026 = to_utc_ns(datetime(2026, 12, 20, tzinfo=timezone.utc))
SCHEDULES = ["SGE_SPOT", "SGE_DEFERRED", "HKGX_OUTCRY", "HKGX_EPLATFORM", "HKGX_LLG"]
instants = st.integers(min_value=START_2025, max_value=END_2026)


@settings(max_examples=300, deadline=None)
@given(schedule=st.sampled_from(SCHEDULES), t=instants)
def test_open_states_always_have_a_real_trading_day(cal: Calendars, schedule: str, t: int) -> None:
    state, day = cal.session_state(schedule, t), cal.trading_day(schedule, t)
    if state is C:
        assert day is None
    else:
        assert day is not None
        assert day.weekday() < 5
        assert cal.is_trading_day(schedule, day)
        # Nothing counts for a day that has already ended in the venue's clock (night sessions count forward).
        assert day >= (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=t // 1000)).astimezone(
            BJ).date() - timedelta(days=1)


@settings(max_examples=200, deadline=None)
@given(schedule=st.sampled_from(SCHEDULES), t=instants, frac=st.floats(0, 1, exclude_max=True))
def test_state_constant_until_next_change(cal: Calendars, schedule: str, t: int, frac: float) -> None:
    nxt = cal.next_change(schedule, t)
    assert nxt is not None and nxt > t
    here = state_day(cal, schedule, t)
    inside = t + int((nxt - t) * frac)
    assert state_day(cal, schedule, inside) == here
    assert state_day(cal, schedule, nxt - 1) == here
    assert state_day(cal, schedule, nxt) != here


@settings(max_examples=100, deadline=None)
@given(schedule=st.sampled_from(SCHEDULES), ts=st.lists(instants, min_size=1, max_size=8))
def test_cached_answers_match_a_cold_instance(cal: Calendars, schedule: str, ts: list[int]) -> None:
    cfg = load_defaults()
    for t in ts:
        cold = Calendars.from_config(cfg["schedules"], cfg["calendars"])
        assert state_day(cal, schedule, t) == state_day(cold, schedule, t)


# ---------------------------------------------------------------- past the end of a holiday list

def test_days_past_covers_until_are_closed_not_trading(cal: Calendars) -> None:
    assert cal.is_trading_day("SGE_SPOT", date(2026, 12, 31))
    assert not cal.is_trading_day("SGE_SPOT", date(2027, 1, 4))          # a Monday, but unknown
    assert cal.session_state("SGE_SPOT", bj(2027, 1, 4, 10, 0)) is C
    assert cal.trading_day("SGE_SPOT", bj(2027, 1, 4, 10, 0)) is None
    assert not cal.covers("SGE_SPOT", bj(2027, 1, 4, 10, 0))
    assert cal.covers("SGE_SPOT", bj(2026, 12, 31, 23, 59))
    # The night of 31 December would count for an unknown day: no night session.
    assert cal.session_state("SGE_SPOT", bj(2026, 12, 31, 21, 0)) is C
    assert cal.session_state("SGE_SPOT", bj(2026, 12, 31, 10, 0)) is T
    assert cal.calendar_name("HKGX_OUTCRY") == "HK_HKGX"
    with pytest.raises(ValueError, match="covers only until 2026-12-31"):
        cal.next_trading_day("SGE_SPOT", date(2026, 12, 31))


# ---------------------------------------------------------------- settlement calendars

def test_settlement_calendars_count_their_own_business_days(cal: Calendars) -> None:
    """LONDON and US_FED are counted on their own, whatever any schedule trades: Easter Monday is a
    trading day of the LLG schedule but not a London business day; the Fed stays open on the Friday
    before a Saturday holiday (4 July 2026) and closes on the Monday after a Sunday one (4 July 2027)."""
    assert {"LONDON", "US_FED"} <= cal.calendar_names()
    assert cal.is_trading_day("HKGX_LLG", date(2026, 4, 6)) and not cal.is_business_day("LONDON", date(2026, 4, 6))
    assert cal.next_business_day("LONDON", date(2026, 4, 2)) == date(2026, 4, 7)
    assert cal.next_business_day("LONDON", date(2026, 12, 24)) == date(2026, 12, 29)   # 28th: Boxing Day moved
    assert cal.is_business_day("US_FED", date(2026, 7, 3)) and not cal.is_business_day("US_FED", date(2027, 7, 5))
    assert cal.next_business_day("US_FED", date(2026, 11, 25)) == date(2026, 11, 27)   # Thanksgiving
    assert not cal.is_business_day("LONDON", date(2026, 3, 7))                           # a Saturday
    for name in ("LONDON", "US_FED"):
        assert cal.calendar_covered_until(name) == date(2027, 12, 31)
        with pytest.raises(ValueError, match=f"calendar {name} covers only until 2027-12-31"):
            cal.next_business_day(name, date(2027, 12, 31))


def test_settlement_holidays_fall_on_weekdays_and_hold_each_year_s_count() -> None:
    """A mistyped date tends to land on a weekend or drop a holiday: England and Wales have eight bank
    holidays a year; the Fed eleven, less those on a Saturday (none moved to the Friday)."""
    cals = load_defaults()["calendars"]
    for name, per_year in (("LONDON", {2025: 8, 2026: 8, 2027: 8}), ("US_FED", {2025: 11, 2026: 10, 2027: 9})):
        days = [date.fromisoformat(d) for d in cals[name]["holidays"]]
        assert all(d.weekday() < 5 for d in days), name
        assert {y: sum(d.year == y for d in days) for y in per_year} == per_year, name
