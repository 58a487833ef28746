"""The SLA clock of a ticket and the escalation points its due times call for.

The tickets domain calls `ticket_changed` whenever a ticket is created or changes; it moves
the ticket's clock (running, paused while waiting on the customer, stopped when resolved),
stores the due times and keeps one escalation row per point to fire: each warning level
(default 50% and 80% of the target) and the breach, for the first response and the
resolution. Points due soon get a delayed message at once; the sweep (`crm_web.sla.sweep`,
every minute) sends the rest as their moment nears and re-sends what a lost message or a dead
worker missed. Firing them is `crm_web.sla.escalations`.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select, text

from crm_web import jobs, labels
from crm_web.customers.models import Customer
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.formatting import lowercase
from crm_web.privacy.audit import record
from crm_web.sla.business_hours import Calendar, Clock
from crm_web.sla.models import BREACH_LEVEL, TARGETS, SlaEscalation, SlaPolicy
from crm_web.sla.policies import (
    Targets,
    business_calendar,
    choose_targets,
    get_settings,
)
from crm_web.tickets.models import Ticket

RUNNING_STATUSES = ("new", "open", "in_progress")
STOPPED_STATUSES = ("resolved", "closed")
# Points due this soon get their delayed message when computed; later ones from the sweep.
SCHEDULE_AHEAD = timedelta(minutes=5)


def current_time() -> datetime:
    """Now, in UTC: the one clock every SLA module reads (tests set it)."""
    return datetime.now(UTC)


class SlaContext:
    """The organization's settings, calendar and policies, read once (for one ticket's
    change, or a chunk of open tickets recomputed after a policy change)."""

    def __init__(self):
        self.settings = get_settings()
        self.business = business_calendar(self.settings)
        self.always = Calendar.always_open(self.settings.timezone)

        self.policies = list(
            db.session.scalars(
                select(SlaPolicy)
                .where(SlaPolicy.organization_id == current_organization_id())
                .order_by(SlaPolicy.id)
            )
        )

    def targets(self, priority: str, customer_tags: list[str]) -> Targets:
        return choose_targets(priority, customer_tags, self.policies)

    def calendar(self, targets: Targets) -> Calendar:
        """The business calendar, or around the clock for targets that say so."""
        return self.business if targets.business_hours else self.always

    def clock_state(self, ticket, customer_tags: list[str], now: datetime) -> "ClockState":
        """The clock of `ticket` (a Ticket, or a row with its priority, status and SLA
        columns) under this organization's rules."""
        targets = self.targets(ticket.priority, customer_tags)
        return clock_state(
            ticket, targets, self.calendar(targets), self.settings.warning_percents, now
        )


def _customer_tags(customer_id: int) -> list[str]:
    return list(
        db.session.scalar(
            select(Customer.tags).where(
                Customer.id == customer_id, Customer.organization_id == current_organization_id()
            )
        )
        or []
    )


def ticket_changed(
    ticket: Ticket,
    changed: frozenset[str],
    *,
    now: datetime | None = None,
) -> None:
    """(Re)compute a ticket's SLA clock and due times, and schedule its escalations.

    The tickets domain calls this in its transaction, after flushing, whenever it creates a
    ticket or changes its status, priority, customer, assignee or first response; `changed`
    names what changed ("created" for a new ticket). The clock runs in new/open/in progress,
    pauses while waiting on the customer and stops when resolved or closed (a reopened
    ticket's clock runs on from where it stopped). Escalation messages go out after commit.
    """
    now = now or current_time()
    state = SlaContext().clock_state(ticket, _customer_tags(ticket.customer_id), now)
    for column, value in state.columns.items():
        setattr(ticket, column, value)
    for escalation_id, fire_at in reschedule_points([state], now):
        enqueue_fire(ticket.organization_id, escalation_id, fire_at, now)


@dataclass(frozen=True)
class ClockState:
    """What the SLA clock makes of one ticket: the new values of its SLA columns, its live
    due times and the escalation points they call for ((target, level, due) -> fire_at)."""

    ticket_id: int
    status: str
    first_responded_at: datetime | None
    columns: dict[str, object]
    dues: dict[str, datetime | None]
    points: dict[tuple[str, int, datetime], datetime]


def clock_state(
    ticket, targets: Targets, calendar: Calendar, warning_percents, now: datetime
) -> ClockState:
    """The clock of `ticket` (a Ticket, or a row with its status and SLA columns) at `now`,
    under these targets and calendar: a pure computation, written by the caller."""
    clock = Clock(ticket.sla_elapsed_seconds or 0.0, ticket.sla_clock_started_at)
    first_response_seconds = ticket.first_response_seconds
    first_response_breached = ticket.first_response_breached
    resolution_seconds = ticket.resolution_seconds
    resolution_breached = ticket.resolution_breached
    if ticket.status in RUNNING_STATUSES:
        if resolution_seconds is not None:
            # Reopened: the resolution is undone and its clock runs on from where it stopped.
            resolution_seconds, resolution_breached = None, False
        clock = clock.resume(now)
    else:
        clock = clock.pause(now, calendar)
    if ticket.first_responded_at is not None and first_response_seconds is None:
        first_response_seconds = clock.elapsed(ticket.first_responded_at, calendar)
        if first_response_seconds > targets.seconds("first_response"):
            first_response_breached = True
    if ticket.status in STOPPED_STATUSES and resolution_seconds is None:
        resolution_seconds = clock.elapsed_seconds
        resolution_breached = resolution_seconds > targets.seconds("resolution")

    # Every level of both targets in one walk of the calendar; the breach is the due time.
    live_targets = [t for t in TARGETS if t == "resolution" or ticket.first_responded_at is None]
    levels = [*sorted(set(warning_percents)), BREACH_LEVEL]
    wanted = [(target, level) for target in live_targets for level in levels]
    moments = dict(
        zip(
            wanted,
            clock.dues(
                [targets.seconds(target) * level / 100 for target, level in wanted],
                calendar,
            ),
            strict=True,
        )
    )
    dues = {target: moments.get((target, BREACH_LEVEL)) for target in TARGETS}
    points = {
        (target, level, dues[target]): moments[(target, level)]
        for target, level in wanted
        if dues[target] is not None
    }
    return ClockState(
        ticket_id=ticket.id,
        status=ticket.status,
        first_responded_at=ticket.first_responded_at,
        columns={
            "sla_policy_id": targets.policy_id,
            "sla_elapsed_seconds": clock.elapsed_seconds,
            "sla_clock_started_at": clock.running_since,
            "first_response_due_at": dues["first_response"],
            "resolution_due_at": dues["resolution"],
            "sla_due_at": min((due for due in dues.values() if due), default=None),
            "first_response_seconds": first_response_seconds,
            "first_response_breached": first_response_breached,
            "resolution_seconds": resolution_seconds,
            "resolution_breached": resolution_breached,
        },
        dues=dues,
        points=points,
    )


# The escalation points worth knowing about when rescheduling: pending ones, fired breaches
# (a breach is not repeated for a later due time), and any at a due time wanted again. Ticket
# by ticket, each an index range: OFFSET 0 keeps the planner from joining every point of the
# organization instead, which it prefers when its statistics are behind (a new organization
# whose points were all just made) and then takes a second a chunk.
_KNOWN_POINTS = text(
    """
    SELECT e.id, e.ticket_id, e.target, e.level, e.due_at, e.status
      FROM unnest(CAST(:tickets AS bigint[]), CAST(:first_response_dues AS timestamptz[]),
                  CAST(:resolution_dues AS timestamptz[]))
           AS t(id, first_response_due, resolution_due)
     CROSS JOIN LATERAL (
           SELECT * FROM sla_escalations e
            WHERE e.organization_id = :org AND e.ticket_id = t.id
              AND (e.status = 'pending' OR (e.status = 'fired' AND e.level = :breach)
                   OR e.due_at IN (t.first_response_due, t.resolution_due))
           OFFSET 0) e
    """
)
_CANCEL_POINTS = text(
    """
    UPDATE sla_escalations e SET status = 'cancelled', outcome = v.outcome
      FROM unnest(CAST(:ids AS bigint[]), CAST(:outcomes AS text[])) AS v(id, outcome)
     WHERE e.organization_id = :org AND e.id = v.id
    """
)
# New points, and cancelled ones whose due time came back (say, a priority changed and
# changed back): a cancelled point never fired, so it still may.
_SCHEDULE_POINTS = text(
    """
    INSERT INTO sla_escalations (organization_id, ticket_id, target, level, due_at, fire_at,
                                 status, enqueued_at, outcome)
    SELECT :org, v.ticket_id, v.target, v.level, v.due_at, v.fire_at, 'pending', v.enqueued_at, ''
      FROM unnest(CAST(:tickets AS bigint[]), CAST(:targets AS text[]),
                  CAST(:levels AS smallint[]), CAST(:dues AS timestamptz[]),
                  CAST(:fire_ats AS timestamptz[]), CAST(:enqueued_ats AS timestamptz[]))
           AS v(ticket_id, target, level, due_at, fire_at, enqueued_at)
        ON CONFLICT (organization_id, ticket_id, target, level, due_at) DO UPDATE
       SET status = 'pending', outcome = '', fire_at = excluded.fire_at,
           enqueued_at = excluded.enqueued_at
    RETURNING id, fire_at, enqueued_at, xmax = 0 AS created
    """
)


# Points whose moment passed before tickets were loaded (demo data): written as fired then,
# with nobody notified, so the escalation log tells the tickets' story without a flood of mail.
_RECORD_PASSED_POINTS = text(
    """
    INSERT INTO sla_escalations (organization_id, ticket_id, target, level, due_at, fire_at,
                                 status, enqueued_at, fired_at, outcome)
    SELECT :org, v.ticket_id, v.target, v.level, v.due_at, v.fire_at, 'fired', v.fire_at,
           v.fire_at, :outcome
      FROM unnest(CAST(:tickets AS bigint[]), CAST(:targets AS text[]),
                  CAST(:levels AS smallint[]), CAST(:dues AS timestamptz[]),
                  CAST(:fire_ats AS timestamptz[]))
           AS v(ticket_id, target, level, due_at, fire_at)
        ON CONFLICT (organization_id, ticket_id, target, level, due_at) DO NOTHING
    RETURNING id
    """
)
PASSED_OUTCOME = "Passed before the tickets were loaded; nobody was notified."


def reschedule_points(
    states: list[ClockState], now: datetime, *, loaded: bool = False
) -> list[tuple[int, datetime]]:
    """Keep one pending escalation row per point of these tickets' current due times and
    cancel the others, set-based (a read and at most three writes for any number of tickets);
    returns (id, fire_at) of the points due within SCHEDULE_AHEAD, which want a message now.
    The caller holds the tickets' locks. `loaded`: the tickets were just loaded with a history
    (demo data): points already passed are written as fired back then, and fire no message."""
    organization_id = current_organization_id()
    known: dict[int, dict[tuple[str, int, datetime], tuple[int, str]]] = {}
    for row in db.session.execute(
        _KNOWN_POINTS,
        {
            "org": organization_id,
            "tickets": [state.ticket_id for state in states],
            "first_response_dues": [state.dues["first_response"] for state in states],
            "resolution_dues": [state.dues["resolution"] for state in states],
            "breach": BREACH_LEVEL,
        },
    ):
        known.setdefault(row.ticket_id, {})[(row.target, row.level, row.due_at)] = (
            row.id,
            row.status,
        )

    cancelled: dict[int, str] = {}
    scheduled, passed = [], []
    for state in states:
        existing = known.get(state.ticket_id, {})
        breached = {
            target
            for (target, level, _due), (_id, status) in existing.items()
            if level >= BREACH_LEVEL and status == "fired"
        }
        for key, (escalation_id, status) in existing.items():
            if status == "pending" and key not in state.points:
                cancelled[escalation_id] = _why_cancelled(state, key[0])
        for key, fire_at in state.points.items():
            target, level, due = key
            if key in existing and existing[key][1] != "cancelled":
                continue  # pending already, or fired or skipped for this very due time
            if loaded and fire_at <= now:
                passed.append((state.ticket_id, target, level, due, fire_at))
                continue
            if fire_at <= now and (level != BREACH_LEVEL or target in breached):
                # A warning whose moment passed while the clock was paused or the policy
                # stricter is stale; a breach already escalated for an earlier due time is
                # not repeated.
                continue
            enqueued_at = now if fire_at <= now + SCHEDULE_AHEAD else None
            scheduled.append((state.ticket_id, target, level, due, fire_at, enqueued_at))

    if cancelled:
        db.session.execute(
            _CANCEL_POINTS,
            {"org": organization_id, "ids": list(cancelled), "outcomes": list(cancelled.values())},
        )
        audit_batch("sla_escalations", "update", list(cancelled), status="cancelled")
    rows = []
    if scheduled:
        columns = [list(column) for column in zip(*scheduled, strict=True)]
        rows = db.session.execute(
            _SCHEDULE_POINTS,
            {
                "org": organization_id,
                "tickets": columns[0],
                "targets": columns[1],
                "levels": columns[2],
                "dues": columns[3],
                "fire_ats": columns[4],
                "enqueued_ats": columns[5],
            },
        ).all()
        for created in (True, False):
            if ids := [row.id for row in rows if row.created is created]:
                action = "create" if created else "update"
                audit_batch("sla_escalations", action, ids, status="pending")
    if passed:
        columns = [list(column) for column in zip(*passed, strict=True)]
        keys = ("tickets", "targets", "levels", "dues", "fire_ats")
        ids = db.session.scalars(
            _RECORD_PASSED_POINTS,
            {
                "org": organization_id,
                "outcome": PASSED_OUTCOME,
                **dict(zip(keys, columns, strict=True)),
            },
        ).all()
        if ids:
            audit_batch("sla_escalations", "create", list(ids), status="fired")
    expire_changed(set(cancelled) | {row.id for row in rows}, set())
    return [(row.id, row.fire_at) for row in rows if row.enqueued_at is not None]


def _why_cancelled(state: ClockState, target: str) -> str:
    if state.status in STOPPED_STATUSES:
        return _(
            "Ticket %(status)s.", status=lowercase(labels.label(state.status, "ticket_status"))
        )
    if state.status == "waiting_on_customer":
        return _("Clock paused: waiting on the customer.")
    if target == "first_response" and state.first_responded_at is not None:
        return _("Answered.")
    return _("The due time moved.") if state.dues[target] else _("No deadline any more.")


def enqueue_fire(organization_id: int, escalation_id: int, fire_at: datetime, now: datetime):
    """After commit, a message that fires the point at its moment (at once if that has passed)."""
    delay_ms = int((fire_at - now).total_seconds() * 1000)
    # Due already: straight to the queue rather than through the broker's delay queue.
    jobs.enqueue_after_commit(
        jobs.FIRE_SLA_ESCALATION,
        organization_id,
        escalation_id,
        delay_ms=delay_ms if delay_ms > 0 else None,
    )


def announce_due_points(
    organization_id: int,
    fire_ats: list[datetime],
    now: datetime,
    announced: set[datetime] | None = None,
) -> None:
    """After commit, one message per second in which these points fall due (one at once for
    those past), each firing every point of the organization due by then: for many points
    at a time (a recompute), where a message each would flood the queue. `announced` holds
    the moments that have a message already."""
    announced = set() if announced is None else announced
    for moment in sorted(
        {now if fire_at <= now else _whole_second(fire_at) for fire_at in fire_ats}
    ):
        if moment in announced:
            continue
        announced.add(moment)
        delay_ms = int((moment - now).total_seconds() * 1000)
        jobs.enqueue_after_commit(
            jobs.FIRE_DUE_SLA_ESCALATIONS,
            organization_id,
            moment.isoformat(),
            delay_ms=delay_ms if delay_ms > 0 else None,
        )


def _whole_second(moment: datetime) -> datetime:
    """Rounded up to a whole second: a message for that second finds all its points due."""
    if moment.microsecond:
        return moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment


def audit_batch(table_name: str, action: str, ids: list[int], **values) -> None:
    """One audit row for a set-based change: what it did and to which rows."""
    record(
        db.session,
        organization_id=current_organization_id(),
        action=action,
        table_name=table_name,
        row_id=ids[0],
        new={**values, "ids": ids},
    )


def expire_changed(escalation_ids: set[int], ticket_ids: set[int]) -> None:
    """Read again the rows set-based statements changed under the session's objects (it keeps
    them across commits, and they may be read after the tenant is gone)."""
    db.session.flush()
    for obj in list(db.session.identity_map.values()):
        if (isinstance(obj, SlaEscalation) and obj.id in escalation_ids) or (
            isinstance(obj, Ticket) and obj.id in ticket_ids
        ):
            db.session.refresh(obj)
