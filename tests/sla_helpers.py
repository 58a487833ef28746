"""Helpers for the SLA tests: a clock both the SLA and the tickets domain read.

Not a test module; the SLA test files import from it.
"""

from datetime import UTC, datetime

from crm_web.sla import clock as sla_clock
from crm_web.tickets import services as tickets


class Frozen:
    """The time both domains see (worker threads included); tests move `now`."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)


def freeze(monkeypatch, now: datetime) -> Frozen:
    clock = Frozen(now)
    monkeypatch.setattr(sla_clock, "current_time", clock)
    monkeypatch.setattr(tickets, "_now", clock)
    return clock
