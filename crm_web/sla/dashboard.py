"""Figures for the SLA dashboard: open tickets, breach rate, response and resolution times.

Times are SLA working time (pauses while waiting on the customer excluded), as the clock
measured them. Weeks start on Monday in the organization's timezone: the breach rate and the
first-response times belong to the week a ticket was created, resolution times to the week
it was resolved. A ticket counts as breached when either target was missed, or its live
deadline has passed while it is still open.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select

from crm_web.accounts.models import User
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.sla.policies import get_settings
from crm_web.tickets.models import ACTIVE_STATUSES, PRIORITIES, Ticket

WEEK_CHOICES = (4, 8, 12, 26)


@dataclass(frozen=True)
class Times:
    """How many, and the median and 90th percentile of a duration in seconds."""

    count: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class Week:
    start: date
    tickets: int
    breached: int
    first_response: Times
    resolution: Times

    @property
    def breach_rate(self) -> float | None:
        return self.breached / self.tickets if self.tickets else None


@dataclass(frozen=True)
class AgentRow:
    user_id: int | None
    name: str
    tickets: int
    breached: int
    first_response: Times
    resolution: Times


@dataclass(frozen=True)
class Dashboard:
    weeks: list[Week]
    agents: list[AgentRow]
    # status -> priority -> count, over active tickets
    open_tickets: dict[str, dict[str, int]]
    tickets: int
    breached: int
    timezone: str

    @property
    def breach_rate(self) -> float | None:
        return self.breached / self.tickets if self.tickets else None

    @property
    def open_total(self) -> int:
        return sum(sum(row.values()) for row in self.open_tickets.values())


def _breached():
    return or_(
        Ticket.first_response_breached,
        Ticket.resolution_breached,
        and_(Ticket.sla_due_at < func.now(), Ticket.status.in_(ACTIVE_STATUSES)),
    )


def _percentiles(column):
    return (
        func.count(column),
        func.percentile_cont(0.5).within_group(column),
        func.percentile_cont(0.9).within_group(column),
    )


def _times(count, median, p90) -> Times:
    return Times(int(count or 0), median, p90)


def _week_of(moment, timezone: str):
    return func.date_trunc("week", func.timezone(timezone, moment))


def build(weeks: int = 8, *, today: date | None = None) -> Dashboard:
    """The dashboard over the last `weeks` weeks (this one included)."""
    organization_id = current_organization_id()
    timezone = get_settings().timezone
    today = today or datetime.now(ZoneInfo(timezone)).date()
    first_week = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    since = datetime.combine(first_week, datetime.min.time(), tzinfo=ZoneInfo(timezone)).astimezone(
        UTC
    )
    in_org = Ticket.organization_id == organization_id
    created = and_(in_org, Ticket.created_at >= since)
    resolved = and_(in_org, Ticket.resolved_at >= since)

    by_week: dict[date, dict] = {first_week + timedelta(weeks=n): {} for n in range(weeks)}
    week = _week_of(Ticket.created_at, timezone).label("week")
    for start, tickets, breached, *fr in db.session.execute(
        select(
            week,
            func.count(),
            func.count().filter(_breached()),
            *_percentiles(Ticket.first_response_seconds),
        )
        .where(created)
        .group_by(week)
    ):
        by_week.setdefault(start.date(), {}).update(
            tickets=tickets, breached=breached, first_response=_times(*fr)
        )
    resolved_week = _week_of(Ticket.resolved_at, timezone).label("week")
    for start, *res in db.session.execute(
        select(resolved_week, *_percentiles(Ticket.resolution_seconds))
        .where(resolved)
        .group_by(resolved_week)
    ):
        by_week.setdefault(start.date(), {})["resolution"] = _times(*res)
    empty = Times(0, None, None)
    week_rows = [
        Week(
            start=start,
            tickets=values.get("tickets", 0),
            breached=values.get("breached", 0),
            first_response=values.get("first_response", empty),
            resolution=values.get("resolution", empty),
        )
        for start, values in sorted(by_week.items())
    ]

    return Dashboard(
        weeks=week_rows,
        agents=_agents(created, resolved),
        open_tickets=_open_tickets(in_org),
        tickets=sum(w.tickets for w in week_rows),
        breached=sum(w.breached for w in week_rows),
        timezone=timezone,
    )


def _agents(created, resolved) -> list[AgentRow]:
    """Per assignee (unassigned as one row), busiest first."""
    rows: dict[int | None, dict] = {}
    for user_id, tickets, breached, *fr in db.session.execute(
        select(
            Ticket.assignee_id,
            func.count(),
            func.count().filter(_breached()),
            *_percentiles(Ticket.first_response_seconds),
        )
        .where(created)
        .group_by(Ticket.assignee_id)
    ):
        rows.setdefault(user_id, {}).update(
            tickets=tickets, breached=breached, first_response=_times(*fr)
        )
    for user_id, *res in db.session.execute(
        select(Ticket.assignee_id, *_percentiles(Ticket.resolution_seconds))
        .where(resolved)
        .group_by(Ticket.assignee_id)
    ):
        rows.setdefault(user_id, {})["resolution"] = _times(*res)
    ids = [user_id for user_id in rows if user_id is not None]
    names = dict(
        db.session.execute(
            select(User.id, User.name).where(
                User.organization_id == current_organization_id(), User.id.in_(ids)
            )
        ).all()
    )
    empty = Times(0, None, None)
    agents = [
        AgentRow(
            user_id=user_id,
            name=names.get(user_id, _("Unassigned")) if user_id else _("Unassigned"),
            tickets=values.get("tickets", 0),
            breached=values.get("breached", 0),
            first_response=values.get("first_response", empty),
            resolution=values.get("resolution", empty),
        )
        for user_id, values in rows.items()
    ]
    return sorted(agents, key=lambda row: (-row.tickets, row.user_id is None, row.name.lower()))


def _open_tickets(in_org) -> dict[str, dict[str, int]]:
    matrix = {status: dict.fromkeys(reversed(PRIORITIES), 0) for status in ACTIVE_STATUSES}
    for status, priority, count in db.session.execute(
        select(Ticket.status, Ticket.priority, func.count())
        .where(in_org, Ticket.status.in_(ACTIVE_STATUSES))
        .group_by(Ticket.status, Ticket.priority)
    ):
        matrix[status][priority] = count
    return matrix
