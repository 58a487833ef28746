"""Quiet hours: a daily window (e.g. 21:00-09:00) in the recipient's own time zone during which
no marketing message goes out; one due inside it waits for the window's end.

A window whose start is after its end spans midnight. The end is a wall-clock time of the day
it falls on, in the recipient's zone: on a DST switch day a time that does not exist (02:30 in
a spring gap) is read as the instant the clocks jumped to, and a time that exists twice is
read as its first occurrence, so a message never waits an hour too long or goes out inside
the window.
"""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class QuietHours:
    """The daily window [start, end) in local time; start == end means none."""

    start: dt.time
    end: dt.time

    def __post_init__(self):
        for moment in (self.start, self.end):
            if moment.tzinfo is not None:
                raise ValueError("Quiet hours are wall-clock times, without a zone.")

    @property
    def off(self) -> bool:
        return self.start == self.end

    def covers(self, local: dt.time) -> bool:
        """Whether a local time of day is inside the window."""
        if self.off:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def release(self, due: dt.datetime, zone: ZoneInfo) -> dt.datetime:
        """When a message due at `due` (aware) may go to a recipient in `zone`: `due` itself
        outside the window, else the window's next end, in UTC."""
        if due.tzinfo is None:
            raise ValueError("`due` must be an aware datetime.")
        local = due.astimezone(zone)
        if not self.covers(local.time().replace(tzinfo=None)):
            return due.astimezone(dt.UTC)
        day = local.date()
        if local.time().replace(tzinfo=None) >= self.end:
            day += dt.timedelta(days=1)  # before midnight, the window ends tomorrow
        return _wall_clock(day, self.end, zone)


def _wall_clock(day: dt.date, moment: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The first instant a wall clock in `zone` shows `moment` (or later, when `moment` is
    in a DST gap: the instant the clocks jumped) on `day`, in UTC."""
    naive = dt.datetime.combine(day, moment)
    readings = sorted(naive.replace(tzinfo=zone, fold=fold).astimezone(dt.UTC) for fold in (0, 1))
    for instant in readings:
        if instant.astimezone(zone).replace(tzinfo=None) == naive:
            return instant  # the first occurrence (the only one, on most days)
    # In a gap: walk the minutes from the earlier reading to the jump (clocks change on the
    # minute; a gap is at most a few hours long).
    instant = readings[0]
    while instant.astimezone(zone).replace(tzinfo=None) < naive:
        instant += dt.timedelta(minutes=1)
    return instant


def parse_window(text: str) -> QuietHours:
    """'21:00-09:00' as QuietHours; ValueError otherwise ('' is no window)."""
    if not text.strip():
        return QuietHours(dt.time(0), dt.time(0))
    start, sep, end = text.replace("–", "-").partition("-")
    if not sep:
        raise ValueError("Use a window like 21:00-09:00.")
    return QuietHours(_clock(start), _clock(end))


def _clock(text: str) -> dt.time:
    """'9:00' or '09:00' as a time of day."""
    text = text.strip()
    return dt.time.fromisoformat(text.zfill(5) if len(text) == 4 else text)
