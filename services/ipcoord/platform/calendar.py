"""Clocks and working days, shared by every service that watches deadlines."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Protocol

import chinese_calendar

log = logging.getLogger(__name__)

# Deadlines are counted in China Standard Time, where the bureaus work.
CST = timezone(timedelta(hours=8), "CST")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _parse_dates(text: str) -> frozenset[date]:
    return frozenset(date.fromisoformat(d.strip()) for d in text.split(",") if d.strip())


@dataclass(frozen=True)
class WorkingCalendar:
    """China's working days: the State Council's statutory holidays and make-up working days
    (from chinesecalendar), overridden by configuration.

    A day in ``holidays`` is never a working day and one in ``extra_working_days`` always is,
    whatever the library says (a local holiday, a correction before the library has it). For a
    year the library does not cover (before 2004, or after the last schedule it ships: the State
    Council publishes each year's late in the year before), weekdays are working days and
    weekends are not, plus the same overrides; the first such day of each year logs a warning.
    ``statutory=False`` ignores the library altogether (weekends plus overrides)."""

    holidays: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    statutory: bool = True
    # Years already warned about: one warning per year, not one per deadline.
    _uncovered_years: set[int] = field(default_factory=set, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        both = self.holidays & self.extra_working_days
        if both:
            days = ", ".join(sorted(d.isoformat() for d in both))
            raise ValueError(f"{days}: both a holiday and an extra working day")

    @classmethod
    def parse(cls, holidays: str = "", extra_working_days: str = "") -> WorkingCalendar:
        """From comma-separated YYYY-MM-DD lists (tests; services pass Settings' typed dates)."""
        return cls(_parse_dates(holidays), _parse_dates(extra_working_days))

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        if day in self.holidays:
            return False
        statutory = self._statutory_working_day(day) if self.statutory else None
        return day.weekday() < 5 if statutory is None else statutory

    def _statutory_working_day(self, day: date) -> bool | None:
        """The statutory answer for ``day``, or None for a year chinesecalendar does not cover."""
        try:
            return _statutory_workday(day)
        except NotImplementedError:
            if day.year not in self._uncovered_years:
                self._uncovered_years.add(day.year)
                log.warning(
                    "no statutory holidays known for %d (chinesecalendar %s): counting "
                    "weekdays as working days, with IPCOORD_HOLIDAYS and "
                    "IPCOORD_EXTRA_WORKING_DAYS as overrides; upgrade chinesecalendar or list "
                    "the year's holidays",
                    day.year,
                    chinese_calendar.__version__,
                )
            return None

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """End of the ``days``-th working day after ``start``'s local day (23:59:59 CST)."""
        day = start.astimezone(CST).date()
        remaining = days
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return datetime.combine(day, time(23, 59, 59), CST).astimezone(UTC)


@functools.lru_cache(maxsize=8192)
def _statutory_workday(day: date) -> bool:
    # chinesecalendar checks each date against its whole table (about 30 us a day); every
    # deadline counts ten or more days, so a listing spent 2.5 ms here. Days are few: cache.
    return chinese_calendar.is_workday(day)
