"""Working days and due times (R2's DAML notice period, R3's KIRAT deadlines).

Bank holidays come from the ``holidays`` package; the region's calendar (country and subdivision) and
time zone are ruleset data. All due times are expressed in the ruleset's time zone, with its offset.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

END_OF_DAY = time(23, 59, 59)


@lru_cache(maxsize=None)  # noqa: UP033 -- at most 9,998 years per calendar: a partner cycling years costs ~1 ms each once
def _bank_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return frozenset(calendar.keys())


def is_working_day(day: date, country: str, subdivision: str | None) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(country, subdivision, day.year)


@lru_cache(maxsize=4096)
def nth_working_day_after(start: date, n: int, country: str, subdivision: str | None) -> date:
    """The n-th working day after ``start``: n=1 is the first working day after it."""
    day, counted = start, 0
    while counted < n:
        day += timedelta(days=1)
        if is_working_day(day, country, subdivision):
            counted += 1
    return day


def end_of_working_day(start: date, n: int, country: str, subdivision: str | None, zone: ZoneInfo) -> datetime:
    """23:59:59 local time at the end of the n-th working day after ``start``."""
    return datetime.combine(nth_working_day_after(start, n, country, subdivision), END_OF_DAY, tzinfo=zone)


def hours_after(moment: datetime, hours: int, zone: ZoneInfo) -> datetime:
    """``moment`` plus exactly ``hours`` hours of elapsed time, shown in ``zone``."""
    return (moment + timedelta(hours=hours)).astimezone(zone)


def check_calendar(country: str, subdivision: str | None) -> None:
    """Raise ``ValueError`` (NotImplementedError from holidays) if the calendar does not exist."""
    try:
        holidays.country_holidays(country, subdiv=subdivision, years=2026)
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from None
