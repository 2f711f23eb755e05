"""Business-time arithmetic: nights, weekends, holidays, closed days, daylight saving."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from routing.calendars import (
    ALWAYS_OPEN,
    Calendar,
    CalendarError,
    check_holiday_region,
    parse_periods,
)

MADRID = ZoneInfo("Europe/Madrid")
H = 3600


def at(y, mo, d, h=0, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=MADRID)


def weekdays(opens, closes, days=range(5)):
    return [{"weekday": d, "opens": opens, "closes": closes} for d in days]


@pytest.fixture
def telegram():
    """012's Telegram-like service: weekdays 8:00–22:00, Catalonia's holidays, La Mercè closed."""
    return Calendar(timezone="Europe/Madrid", periods=weekdays("08:00", "22:00"), country="ES",
                    subdivision="CT", closed_days=["2026-09-24"])


@pytest.fixture
def x_service():
    return Calendar(timezone="Europe/Madrid", periods=weekdays("08:00", "17:00"), country="ES",
                    subdivision="CT", closed_days=["2026-09-24"])


def test_friday_2130_is_due_monday_0930(telegram):
    # 2026-10-16 is a Friday: 30 minutes that evening, 90 on Monday from 8:00.
    assert telegram.add_business(at(2026, 10, 16, 21, 30), 120 * 60) == at(2026, 10, 19, 9, 30)


def test_friday_2130_is_due_tuesday_when_monday_is_a_holiday(telegram):
    # Monday 2026-12-07 is a working day, Tuesday 8 December (Immaculada) is not; take a week
    # where the Monday is the holiday: Friday 2026-04-03 is Good Friday and Monday 6 April is
    # Easter Monday in Catalonia, so Thursday 2 April 21:30 → Tuesday 7 April 9:30.
    assert telegram.add_business(at(2026, 4, 2, 21, 30), 120 * 60) == at(2026, 4, 7, 9, 30)
    # The same with a Monday the admin closed: Friday 2026-09-18 21:30, Monday 21 closed.
    closed_monday = Calendar(timezone="Europe/Madrid", periods=weekdays("08:00", "22:00"), country="ES",
                             subdivision="CT", closed_days=["2026-09-21"])
    assert closed_monday.add_business(at(2026, 9, 18, 21, 30), 120 * 60) == at(2026, 9, 22, 9, 30)


def test_catalan_holidays_and_la_merce_are_closed(telegram):
    for day in (date(2026, 12, 8), date(2026, 12, 25), date(2026, 9, 11), date(2026, 9, 24)):
        assert telegram.is_closed_day(day)
        assert not telegram.is_open(datetime.combine(day, datetime.min.time(), MADRID) + timedelta(hours=10))
    assert not telegram.is_closed_day(date(2026, 12, 9))
    # Saturday 26 December (Sant Esteve) is a holiday too, and a weekend: nothing opens until Monday 28.
    assert telegram.next_opening(at(2026, 12, 24, 22, 0)) == at(2026, 12, 28, 8, 0)
    # Immaculada: Monday 7 December at 21:00 is due Wednesday 9 at 9:00.
    assert telegram.add_business(at(2026, 12, 7, 21, 0), 2 * H) == at(2026, 12, 9, 9, 0)


def test_la_merce_only_as_a_closed_day():
    plain = Calendar(timezone="Europe/Madrid", periods=weekdays("08:00", "17:00"), country="ES", subdivision="CT")
    assert plain.is_open(at(2026, 9, 24, 10))  # not in the package: a municipal holiday
    merce = Calendar(timezone="Europe/Madrid", periods=weekdays("08:00", "17:00"), country="ES",
                     subdivision="CT", closed_days=["2026-09-24"])
    assert not merce.is_open(at(2026, 9, 24, 10))
    assert merce.add_business(at(2026, 9, 23, 16, 0), 2 * H) == at(2026, 9, 25, 9, 0)


def test_nights_and_weekends(x_service):
    assert x_service.is_open(at(2026, 10, 14, 8, 0))
    assert not x_service.is_open(at(2026, 10, 14, 17, 0))  # closes at 17:00 sharp
    assert not x_service.is_open(at(2026, 10, 14, 7, 59))
    assert not x_service.is_open(at(2026, 10, 17, 12, 0))  # Saturday
    # Wednesday 16:00 + 2 h: 1 h that day, 1 h Thursday morning.
    assert x_service.add_business(at(2026, 10, 14, 16, 0), 2 * H) == at(2026, 10, 15, 9, 0)
    # Exactly the rest of the day: due at closing time, not at the next opening.
    assert x_service.add_business(at(2026, 10, 14, 15, 0), 2 * H) == at(2026, 10, 14, 17, 0)
    assert x_service.business_seconds(at(2026, 10, 16, 16, 0), at(2026, 10, 19, 9, 0)) == 2 * H


def test_start_outside_hours_counts_from_the_opening(x_service):
    assert x_service.add_business(at(2026, 10, 14, 3, 0), 2 * H) == at(2026, 10, 14, 10, 0)
    assert x_service.add_business(at(2026, 10, 17, 11, 0), 2 * H) == at(2026, 10, 19, 10, 0)  # Saturday
    assert x_service.next_opening(at(2026, 10, 14, 18, 0)) == at(2026, 10, 15, 8, 0)
    assert x_service.next_opening(at(2026, 10, 14, 9, 0)) == at(2026, 10, 14, 9, 0)
    assert x_service.business_seconds(at(2026, 10, 17, 11, 0), at(2026, 10, 18, 23, 0)) == 0
    assert x_service.business_seconds(at(2026, 10, 14, 10, 0), at(2026, 10, 14, 9, 0)) == 0


def test_several_periods_a_day():
    split = Calendar(
        timezone="Europe/Madrid",
        periods=weekdays("09:00", "14:00") + weekdays("16:00", "19:00") + [{"weekday": 5, "opens": "10:00", "closes": "13:00"}],
    )
    assert split.is_open(at(2026, 10, 14, 13, 59))
    assert not split.is_open(at(2026, 10, 14, 15, 0))
    assert split.add_business(at(2026, 10, 14, 13, 0), 2 * H) == at(2026, 10, 14, 17, 0)
    assert split.next_opening(at(2026, 10, 14, 14, 30)) == at(2026, 10, 14, 16, 0)
    # Friday 18:00: 1 h Friday, then Saturday morning.
    assert split.add_business(at(2026, 10, 16, 18, 0), 2 * H) == at(2026, 10, 17, 11, 0)
    assert split.business_seconds(at(2026, 10, 14, 0, 0), at(2026, 10, 15, 0, 0)) == 8 * H


def test_overlapping_periods_are_merged_and_bad_ones_refused():
    assert parse_periods(weekdays("08:00", "12:00", [0]) + weekdays("11:00", "14:00", [0])) == {0: ((480, 840),)}
    for bad in (
        [{"weekday": 7, "opens": "08:00", "closes": "10:00"}],
        [{"weekday": 0, "opens": "8:00", "closes": "10:00"}],
        [{"weekday": 0, "opens": "10:00", "closes": "10:00"}],
        [{"weekday": 0, "opens": "24:00", "closes": "24:00"}],
        [{"weekday": 0, "opens": "08:00", "closes": "25:00"}],
        [{"weekday": True, "opens": "08:00", "closes": "10:00"}],
        ["08:00-10:00"],
    ):
        with pytest.raises(CalendarError):
            parse_periods(bad)
    with pytest.raises(CalendarError):
        Calendar(timezone="Europe/Barcelona_City")
    with pytest.raises(CalendarError):
        check_holiday_region("XX")
    with pytest.raises(CalendarError):
        check_holiday_region("ES", "ZZ")
    check_holiday_region("ES", "CT")


def test_midnight_periods_and_around_the_clock():
    late = Calendar(timezone="Europe/Madrid", periods=weekdays("20:00", "24:00") + weekdays("00:00", "02:00", [1]))
    # Monday 23:00 + 2 h: 1 h to midnight, 1 h from Tuesday 00:00.
    assert late.add_business(at(2026, 10, 12, 23, 0), 2 * H) == at(2026, 10, 13, 1, 0)
    assert late.next_closing(at(2026, 10, 12, 23, 0)) == at(2026, 10, 13, 2, 0)
    assert ALWAYS_OPEN.add_business(at(2026, 10, 17, 3, 0), 2 * H) == at(2026, 10, 17, 5, 0)
    assert ALWAYS_OPEN.business_seconds(at(2026, 10, 17, 3, 0), at(2026, 10, 18, 3, 0)) == 24 * H
    assert ALWAYS_OPEN.is_open(at(2026, 12, 25, 3, 0))
    assert ALWAYS_OPEN.next_closing(at(2026, 12, 25, 3, 0)) is None


def test_daylight_saving_days_are_as_long_as_the_wall_says():
    every_day = Calendar(timezone="Europe/Madrid", periods=weekdays("00:00", "24:00", range(7)))
    # Sunday 29 March 2026 has 23 hours in Madrid, Sunday 25 October 25.
    assert every_day.business_seconds(at(2026, 3, 29), at(2026, 3, 30)) == 23 * H
    assert every_day.business_seconds(at(2026, 10, 25), at(2026, 10, 26)) == 25 * H
    # Two hours of service from 1:00 on the spring-forward night end at 4:00 on the wall.
    assert every_day.add_business(at(2026, 3, 29, 1, 0), 2 * H) == at(2026, 3, 29, 4, 0)
    # On the fall-back night the wall shows 2:00 twice: two hours after 1:00 it reads 2:00 again.
    due = every_day.add_business(at(2026, 10, 25, 1, 0), 2 * H)
    assert due.astimezone(UTC) == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    assert due.astimezone(MADRID).strftime("%H:%M %Z") == "02:00 CET"


def test_opening_hours_stay_on_the_wall_across_daylight_saving():
    sunday = Calendar(timezone="Europe/Madrid", periods=[{"weekday": 6, "opens": "08:00", "closes": "22:00"},
                                                         {"weekday": 0, "opens": "08:00", "closes": "22:00"}])
    # Saturday 28 March 21:30 (CET) → Sunday 29 (CEST) 8:00 + 2 h = 10:00 local, 08:00 UTC.
    due = sunday.add_business(at(2026, 3, 28, 21, 30), 2 * H)
    assert due == at(2026, 3, 29, 10, 0)
    assert due.astimezone(UTC).hour == 8
    due = sunday.add_business(at(2026, 10, 24, 21, 30), 2 * H)
    assert due == at(2026, 10, 25, 10, 0)
    assert due.astimezone(UTC).hour == 9
    assert sunday.business_seconds(at(2026, 10, 24, 0), at(2026, 10, 27, 0)) == 28 * H


def test_add_and_measure_agree(telegram):
    start = at(2026, 12, 4, 19, 17)
    for minutes in (1, 59, 120, 600, 1440, 5000):
        due = telegram.add_business(start, minutes * 60)
        assert telegram.business_seconds(start, due) == minutes * 60
        assert telegram.is_open(due - timedelta(seconds=1))


def test_never_open_calendar_says_so():
    closed = Calendar(timezone="Europe/Madrid", periods=[])
    assert closed.next_opening(at(2026, 1, 1)) is None
    with pytest.raises(CalendarError):
        closed.add_business(at(2026, 1, 1), 60)


def test_fast_enough_for_the_scan(telegram):
    """100,000 due times in well under a second once the days are cached (a figure, not a gate)."""
    start = at(2026, 10, 1, 7, 0)
    telegram.add_business(start, 120 * 60)
    began = time.perf_counter()
    for i in range(100_000):
        telegram.add_business(start + timedelta(minutes=i % 5000), 120 * 60)
    assert time.perf_counter() - began < 10
