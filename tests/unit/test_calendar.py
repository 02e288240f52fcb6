"""The working-day calendar: China's statutory schedule (chinesecalendar), configured overrides,
and weekends only for years the library does not cover."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from ipcoord.platform.calendar import WorkingCalendar

NATIONAL_DAY_2026 = date(2026, 10, 1)  # a Thursday; 1-7 October are off
MAKE_UP_SATURDAY_2026 = date(2026, 10, 10)  # worked in exchange for the National Day week
SPRING_FESTIVAL_2025 = date(2025, 1, 29)  # a Wednesday
MAKE_UP_SATURDAY_2025 = date(2025, 10, 11)


def test_statutory_holidays_and_make_up_days():
    calendar = WorkingCalendar()
    assert not calendar.is_working_day(NATIONAL_DAY_2026)
    assert not calendar.is_working_day(date(2026, 10, 7))  # a Wednesday of the holiday week
    assert calendar.is_working_day(MAKE_UP_SATURDAY_2026)
    assert not calendar.is_working_day(SPRING_FESTIVAL_2025)
    assert calendar.is_working_day(MAKE_UP_SATURDAY_2025)
    assert calendar.is_working_day(date(2026, 11, 6))  # an ordinary Friday
    assert not calendar.is_working_day(date(2026, 11, 7))  # an ordinary Saturday


def test_deadlines_skip_the_national_day_week():
    # Wednesday 30 September 2026, 10:00 CST: the next working day is Thursday 8 October.
    start = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)
    end = WorkingCalendar().add_working_days(start, 1)
    assert end == datetime(2026, 10, 8, 15, 59, 59, tzinfo=UTC)  # 23:59:59 CST


def test_configured_days_override_the_library():
    calendar = WorkingCalendar(
        holidays=frozenset({date(2026, 11, 9)}),  # a local holiday on a statutory Monday
        extra_working_days=frozenset({NATIONAL_DAY_2026}),
    )
    assert not calendar.is_working_day(date(2026, 11, 9))
    assert calendar.is_working_day(NATIONAL_DAY_2026)
    assert calendar.is_working_day(MAKE_UP_SATURDAY_2026)  # the rest still from the library


def test_a_day_cannot_be_both_holiday_and_working_day():
    with pytest.raises(ValueError, match="2026-10-10: both"):
        WorkingCalendar.parse(holidays="2026-10-10", extra_working_days="2026-10-10")


def test_a_year_the_library_does_not_cover_is_weekends_plus_overrides(caplog):
    calendar = WorkingCalendar(
        holidays=frozenset({date(2099, 1, 1)}), extra_working_days=frozenset({date(2099, 1, 4)})
    )
    with caplog.at_level("WARNING", logger="ipcoord.platform.calendar"):
        assert not calendar.is_working_day(date(2099, 1, 1))  # Thursday, listed as a holiday
        assert calendar.is_working_day(date(2099, 1, 2))  # Friday
        assert not calendar.is_working_day(date(2099, 1, 3))  # Saturday
        assert calendar.is_working_day(date(2099, 1, 4))  # Sunday, listed as a working day
        assert calendar.is_working_day(date(2099, 1, 5))  # Monday
    warnings = [r for r in caplog.records if "no statutory holidays known for 2099" in r.message]
    assert len(warnings) == 1  # once per year, not once per day


def test_statutory_off_is_weekends_only():
    assert WorkingCalendar(statutory=False).is_working_day(NATIONAL_DAY_2026)
