"""The calendar page's preview: "a message at Fri 21:30 is due Mon 9:30", and why.

A read over ``routing.calendars`` (no database): the due time of a target counted in the
calendar's service time, and the local days it crosses with the service time each one gives
(or why it gives none: a public holiday, an extra closed day, no opening hours).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import holidays as holidays_package

from routing.calendars import Calendar, CalendarError

# The breakdown lists at most this many days (a target of weeks is still computed).
MAX_DAYS = 21


@dataclass
class PreviewDay:
    day: date
    seconds: int
    reason: str = ""  # "holiday" | "closed_day" | "no_hours" when it gives no service time
    holiday_name: str = ""


@dataclass
class Preview:
    at: datetime  # in the calendar's zone
    minutes: int
    due: datetime | None  # in the calendar's zone; None: the calendar never opens
    open_at_start: bool
    days: list[PreviewDay] = field(default_factory=list)
    wall_seconds: int = 0

    @property
    def wall_minutes(self) -> int:
        return self.wall_seconds // 60


def due_preview(cal: Calendar, at: datetime, minutes: int, *, names: bool = True) -> Preview:
    """When ``minutes`` of service time from ``at`` (aware) end, and the days they cross."""
    at = at.astimezone(cal.tz)
    try:
        due = cal.add_business(at, minutes * 60).astimezone(cal.tz)
    except CalendarError:
        return Preview(at=at, minutes=minutes, due=None, open_at_start=cal.is_open(at))
    preview = Preview(at=at, minutes=minutes, due=due, open_at_start=cal.is_open(at),
                      wall_seconds=round((due - at).total_seconds()))
    if cal.always_open:
        return preview
    day = at.date()
    while day <= due.date() and len(preview.days) < MAX_DAYS:
        start = max(at, datetime.combine(day, time(0), cal.tz))
        end = min(due, datetime.combine(day + timedelta(days=1), time(0), cal.tz))
        seconds = cal.business_seconds(start, end)
        entry = PreviewDay(day=day, seconds=seconds)
        if not seconds:
            entry.reason, entry.holiday_name = _why_closed(cal, day, names=names)
        preview.days.append(entry)
        day += timedelta(days=1)
    return preview


def _why_closed(cal: Calendar, day: date, *, names: bool) -> tuple[str, str]:
    if day in cal.closed_days:
        return "closed_day", ""
    if cal.country and cal.is_closed_day(day):
        name = ""
        if names:
            table = holidays_package.country_holidays(cal.country, subdiv=cal.subdivision or None, years=day.year)
            name = table.get(day) or ""
        return "holiday", name
    if not cal.periods.get(day.weekday()):
        return "no_hours", ""
    return "", ""  # open that day, but not between the instants counted
