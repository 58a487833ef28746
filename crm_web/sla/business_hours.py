"""Business-hours arithmetic: pure functions over an organization's working calendar.

A calendar is a timezone, working windows per weekday in local wall-clock time, and holidays.
A window whose end is not after its start runs past midnight into the next day (22:00-06:00);
00:00-00:00 is the whole day. A window belongs to the day it starts on: a holiday removes the
windows that start on it, not the tail of the night shift that began the evening before.

Local times become instants through zoneinfo, so on a DST change day 09:00-17:00 is still
8 real hours while 00:00-06:00 is 5 or 7. A window edge inside the spring-forward gap lands
after the gap (fold=0); an ambiguous edge at fall-back takes its first occurrence.

The SLA clock (`Clock`) counts business seconds and stops while paused (waiting on the
customer); its deadline is recomputed from the moment it runs again.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import gettext as _

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# How far ahead a search for working time may look before the calendar is declared empty.
MAX_SCAN_DAYS = 3 * 366
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, order=True)
class Window:
    """Working hours within one day, in local time; end <= start runs into the next day."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Calendar:
    """When an organization works: windows per weekday (0 = Monday) and holidays, in its timezone."""

    timezone: str = "UTC"
    weekly: tuple[tuple[Window, ...], ...] = field(default_factory=lambda: ((),) * 7)
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError("A calendar has windows for exactly seven weekdays.")
        if not any(self.weekly):
            raise ValueError("A calendar needs at least one working window.")
        # Sorted windows keep open_intervals' output in order.
        object.__setattr__(self, "weekly", tuple(tuple(sorted(day)) for day in self.weekly))
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"Unknown time zone: {self.timezone}.") from None

    @classmethod
    def always_open(cls, timezone: str = "UTC") -> "Calendar":
        """Every hour of every day (targets measured in calendar time)."""
        return cls(timezone, ((Window(time(0), time(0)),),) * 7)


def parse_windows(text: str) -> tuple[Window, ...]:
    """Windows from text such as "09:00-12:00, 13:00-17:30" ("" = a day off); ValueError if malformed."""
    windows = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        match = _WINDOW.match(part)
        if not match:
            raise ValueError(_('"%(text)s" is not a window like 09:00-17:00.', text=part))
        start_h, start_m, end_h, end_m = (int(group) for group in match.groups())
        if max(start_h, end_h) > 24 or max(start_m, end_m) > 59 or (start_h, start_m) >= (24, 0):
            raise ValueError(_('"%(text)s" is not a time of day.', text=part))
        if (end_h, end_m) > (24, 0):
            raise ValueError(
                _('"%(text)s" ends after midnight: write it as 22:00-06:00.', text=part)
            )
        # 24:00 is midnight, the end of the day.
        windows.append(Window(time(start_h % 24, start_m), time(end_h % 24, end_m)))
    return tuple(sorted(windows))


def format_windows(windows: tuple[Window, ...]) -> str:
    """The text form parse_windows reads."""
    return ", ".join(str(window) for window in windows)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("Business-hours arithmetic needs timezone-aware datetimes.")
    return moment.astimezone(UTC)


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def open_intervals(calendar: Calendar, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Working intervals in UTC, in order and never overlapping, from `since` on."""
    zone = ZoneInfo(calendar.timezone)
    cursor = _aware(since)
    # Start a day early: last night's overnight window may still be open.
    day = cursor.astimezone(zone).date() - timedelta(days=1)
    for _scanned in range(MAX_SCAN_DAYS):
        if day not in calendar.holidays:
            for window in calendar.weekly[day.weekday()]:
                end_day = day + timedelta(days=1) if window.end <= window.start else day
                start = max(_instant(day, window.start, zone), cursor)
                end = _instant(end_day, window.end, zone)
                # Clipping at the cursor drops overlaps (an overnight window running into the
                # next day's first one) so no second is counted twice.
                if end > start:
                    yield start, end
                    cursor = end
        day += timedelta(days=1)
    raise ValueError(f"No working time within {MAX_SCAN_DAYS} days: check the holidays.")


def add_business_time(start: datetime, seconds: float, calendar: Calendar) -> datetime:
    """The moment `seconds` of working time after `start` (start itself if seconds <= 0)."""
    return add_business_times(start, [seconds], calendar)[0]


def add_business_times(start: datetime, seconds: list[float], calendar: Calendar) -> list[datetime]:
    """add_business_time for several amounts from one start, in one walk of the calendar
    (a ticket's warning points and deadline)."""
    start = _aware(start)
    moments: list[datetime | None] = [start if amount <= 0 else None for amount in seconds]
    pending = sorted(
        (timedelta(seconds=amount), index) for index, amount in enumerate(seconds) if amount > 0
    )
    if not pending:
        return moments
    used = timedelta(0)
    for opens, closes in open_intervals(calendar, start):
        length = closes - opens
        while pending and pending[0][0] <= used + length:
            amount, index = pending.pop(0)
            moments[index] = opens + (amount - used)
        if not pending:
            return moments
        used += length
    raise AssertionError("open_intervals ends by raising")  # pragma: no cover


def business_seconds_between(start: datetime, end: datetime, calendar: Calendar) -> float:
    """Working seconds from `start` to `end` (0 if end is not after start)."""
    start, end = _aware(start), _aware(end)
    total = timedelta(0)
    if end <= start:
        return 0.0
    for opens, closes in open_intervals(calendar, start):
        if opens >= end:
            break
        total += min(closes, end) - opens
    return total.total_seconds()


@dataclass(frozen=True)
class Clock:
    """An SLA clock: working seconds used before `running_since`; running_since None = paused."""

    elapsed_seconds: float = 0.0
    running_since: datetime | None = None

    @property
    def running(self) -> bool:
        return self.running_since is not None

    def elapsed(self, at: datetime, calendar: Calendar) -> float:
        """Working seconds used up to `at`."""
        if self.running_since is None:
            return self.elapsed_seconds
        return self.elapsed_seconds + business_seconds_between(self.running_since, at, calendar)

    def pause(self, at: datetime, calendar: Calendar) -> "Clock":
        """Stop counting at `at` (idempotent)."""
        if self.running_since is None:
            return self
        return Clock(self.elapsed(at, calendar), None)

    def resume(self, at: datetime) -> "Clock":
        """Count again from `at` (idempotent)."""
        if self.running_since is not None:
            return self
        return Clock(self.elapsed_seconds, _aware(at))

    def due(self, target_seconds: float, calendar: Calendar) -> datetime | None:
        """When the used time reaches `target_seconds`; None while paused.

        A target already used up is due the moment the clock last started.
        """
        return self.dues([target_seconds], calendar)[0]

    def dues(self, targets_seconds: list[float], calendar: Calendar) -> list[datetime | None]:
        """`due` for several targets, in one walk of the calendar."""
        if self.running_since is None:
            return [None] * len(targets_seconds)
        return add_business_times(
            self.running_since,
            [target - self.elapsed_seconds for target in targets_seconds],
            calendar,
        )
