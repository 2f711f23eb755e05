"""Business time: when a service is open, and how much service time lies between instants.

Pure arithmetic over a ``Calendar`` value (no database): a time zone, opening periods per
weekday (several allowed; ``"24:00"`` closes at midnight), public holidays of a country and
region from the ``holidays`` package, extra closed days, or 24/7.

Days are walked in the calendar's own zone, so the days on which clocks change (the last
Sundays of March and October in Europe/Madrid) have exactly the service time they have on
the wall. Each local day's opening intervals are computed once per calendar, as UTC epoch
seconds, and kept: the scan and the dashboard ask the same few days over and over.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_package
from django.utils import translation
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext

# A calendar with no opening at all in this many days never opens (and says so).
HORIZON_DAYS = 3 * 366

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")

Interval = tuple[float, float]


class CalendarError(ValueError):
    """A calendar that cannot be used as given (bad zone, period or holiday region)."""


def _minutes(value: str) -> int:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise CalendarError(f"{value!r} is not a time of day as HH:MM (00:00 to 24:00)")
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def parse_periods(periods: Iterable[Mapping]) -> dict[int, tuple[tuple[int, int], ...]]:
    """``[{"weekday": 0, "opens": "08:00", "closes": "22:00"}, ...]`` → weekday → sorted
    ``(open, close)`` minutes, overlapping or touching periods merged. Raises CalendarError."""
    days: dict[int, list[tuple[int, int]]] = {}
    if periods is None:
        return {}
    for period in periods:
        if not isinstance(period, Mapping):
            raise CalendarError("each period is an object with weekday, opens and closes")
        weekday = period.get("weekday")
        if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
            raise CalendarError(f"weekday must be 0 (Monday) to 6 (Sunday), not {weekday!r}")
        opens, closes = _minutes(period.get("opens")), _minutes(period.get("closes"))
        if opens == 24 * 60:
            raise CalendarError("a period cannot open at 24:00")
        if closes <= opens:
            raise CalendarError(f"a period must close after it opens ({period.get('opens')}–{period.get('closes')})")
        days.setdefault(weekday, []).append((opens, closes))
    merged: dict[int, tuple[tuple[int, int], ...]] = {}
    for weekday, spans in days.items():
        out: list[tuple[int, int]] = []
        for opens, closes in sorted(spans):
            if out and opens <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], closes))
            else:
                out.append((opens, closes))
        merged[weekday] = tuple(out)
    return merged


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise CalendarError(f"{name!r} is not an IANA time zone") from exc


def check_holiday_region(country: str, subdivision: str = "") -> None:
    """Raise CalendarError unless the ``holidays`` package knows the country (and region)."""
    if not country:
        if subdivision:
            raise CalendarError("a holiday region needs its country")
        return
    supported = holidays_package.list_supported_countries()
    if country not in supported:
        raise CalendarError(f"{country!r} is not a country the holidays package knows")
    if subdivision and subdivision not in supported[country]:
        raise CalendarError(f"{subdivision!r} is not a region of {country} the holidays package knows")


@lru_cache(maxsize=512)
def public_holidays(country: str, subdivision: str, year: int) -> frozenset[date]:
    if not country:
        return frozenset()
    return frozenset(holidays_package.country_holidays(country, subdiv=subdivision or None, years=year).keys())


class Calendar:
    """A service calendar as a value. Build it once and reuse it (it caches its days)."""

    __slots__ = ("_days", "always_open", "closed_days", "country", "periods", "subdivision", "tz")

    def __init__(
        self, *, timezone: str = "UTC", periods: Iterable[Mapping] = (), country: str = "",
        subdivision: str = "", closed_days: Iterable[str | date] = (), always_open: bool = False,
    ) -> None:
        self.tz = zone(timezone)
        self.periods = parse_periods(periods)
        # Checked where a calendar is saved (check_holiday_region imports every country's
        # module: a second); an unknown region fails here at the first holiday look-up.
        self.country = country or ""
        self.subdivision = subdivision or ""
        self.closed_days = frozenset(d if isinstance(d, date) else _date(d) for d in closed_days or ())
        self.always_open = bool(always_open)
        self._days: dict[int, tuple[Interval, ...]] = {}

    def __repr__(self) -> str:
        return f"<Calendar {self.tz.key} {'24/7' if self.always_open else dict(self.periods)}>"

    # --- days ------------------------------------------------------------------------------

    def is_closed_day(self, day: date) -> bool:
        return day in self.closed_days or day in public_holidays(self.country, self.subdivision, day.year)

    def day_intervals(self, ordinal: int) -> tuple[Interval, ...]:
        """The opening intervals of one local day (by ``date.toordinal()``), in epoch seconds."""
        cached = self._days.get(ordinal)
        if cached is not None:
            return cached
        day = date.fromordinal(ordinal)
        spans = () if self.is_closed_day(day) else self.periods.get(day.weekday(), ())
        intervals = tuple((self._local_ts(day, opens), self._local_ts(day, closes)) for opens, closes in spans)
        self._days[ordinal] = intervals
        return intervals

    def _local_ts(self, day: date, minutes: int) -> float:
        if minutes >= 24 * 60:
            day, minutes = day + timedelta(days=1), minutes - 24 * 60
        return datetime.combine(day, time(minutes // 60, minutes % 60), self.tz).timestamp()

    def _ordinal(self, ts: float) -> int:
        return datetime.fromtimestamp(ts, self.tz).date().toordinal()

    # --- questions -------------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        if self.always_open:
            return True
        ts = at.timestamp()
        return any(s <= ts < e for s, e in self.day_intervals(self._ordinal(ts)))

    def next_opening(self, at: datetime) -> datetime | None:
        """``at`` itself when open, else the next instant the service opens (None: never)."""
        if self.always_open:
            return at
        ts = at.timestamp()
        first = self._ordinal(ts)
        for ordinal in range(first, first + HORIZON_DAYS):
            for s, e in self.day_intervals(ordinal):
                if e > ts:
                    return at if s <= ts else datetime.fromtimestamp(s, UTC)
        return None

    def next_closing(self, at: datetime) -> datetime | None:
        """When the service, open at ``at``, closes (None when it is closed or never closes)."""
        if self.always_open:
            return None
        ts = at.timestamp()
        for s, e in self.day_intervals(self._ordinal(ts)):
            if s <= ts < e:
                # Touching periods across midnight (22:00–24:00 then 00:00–02:00) are one.
                end, today = e, self._ordinal(ts)
                for ordinal in range(today + 1, today + 15):
                    following = self.day_intervals(ordinal)
                    if not following or following[0][0] > end:
                        break
                    end = following[0][1]
                return datetime.fromtimestamp(end, UTC)
        return None

    def add_business(self, start: datetime, seconds: float) -> datetime:
        """The instant at which ``seconds`` of service time have passed since ``start``."""
        if self.always_open:
            return start + timedelta(seconds=seconds)
        if seconds <= 0:
            return start
        ts, remaining = start.timestamp(), float(seconds)
        first = self._ordinal(ts)
        for ordinal in range(first, first + HORIZON_DAYS):
            for s, e in self.day_intervals(ordinal):
                if e <= ts:
                    continue
                s = max(s, ts)
                if e - s >= remaining:
                    return datetime.fromtimestamp(s + remaining, UTC)
                remaining -= e - s
        raise CalendarError(f"the calendar is not open in the {HORIZON_DAYS} days after {start.isoformat()}")

    def business_seconds(self, a: datetime, b: datetime) -> int:
        """Service seconds between ``a`` and ``b`` (0 when ``b`` is not after ``a``)."""
        if b <= a:
            return 0
        if self.always_open:
            return round((b - a).total_seconds())
        ta, tb = a.timestamp(), b.timestamp()
        total = 0.0
        for ordinal in range(self._ordinal(ta), self._ordinal(tb) + 1):
            for s, e in self.day_intervals(ordinal):
                lo, hi = max(s, ta), min(e, tb)
                if hi > lo:
                    total += hi - lo
        return round(total)


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise CalendarError(f"{value!r} is not a date as YYYY-MM-DD") from exc


ALWAYS_OPEN = Calendar(always_open=True)

_by_model: dict[tuple, Calendar] = {}


def calendar_for(model) -> Calendar:
    """The ``Calendar`` of a ``routing.models.ServiceCalendar`` row (None: served 24/7).

    Kept per (id, version): building one reads the holiday tables, and its day cache is the
    reason the scan is fast.
    """
    if model is None:
        return ALWAYS_OPEN
    key = (model.pk, model.version)
    cal = _by_model.get(key)
    if cal is None:
        cal = Calendar(
            timezone=model.timezone, periods=model.periods, country=model.holidays_country,
            subdivision=model.holidays_subdivision, closed_days=model.closed_days, always_open=model.always_open,
        )
        if len(_by_model) > 256:
            _by_model.clear()
        _by_model[key] = cal
    return cal


def opening_hours_text(model, language: str = "") -> str:
    """The weekly service hours of a ``ServiceCalendar`` row, written for a citizen in
    ``language``: "Mon–Fri 08:00–20:00; Sat 09:00–14:00" (days with the same hours joined).
    None or 24/7: "every day, 24 hours"; a calendar that never opens: empty."""
    with translation.override(language or None):
        if model is None or model.always_open:
            return gettext("every day, 24 hours")
        try:
            days = parse_periods(model.periods)
        except CalendarError:
            return ""

        def hhmm(minutes: int) -> str:
            return f"{minutes // 60:02d}:{minutes % 60:02d}"

        parts: list[str] = []
        weekday = 0
        while weekday < 7:
            spans = days.get(weekday)
            if not spans:
                weekday += 1
                continue
            last = weekday
            while last + 1 < 7 and days.get(last + 1) == spans:
                last += 1
            names = str(WEEKDAYS_ABBR[weekday]) if last == weekday else (
                f"{WEEKDAYS_ABBR[weekday]}–{WEEKDAYS_ABBR[last]}"
            )
            parts.append(f"{names} " + ", ".join(f"{hhmm(a)}–{hhmm(b)}" for a, b in spans))
            weekday = last + 1
        return "; ".join(parts)
