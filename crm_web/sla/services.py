"""SLA clocks, due times and escalations.

The tickets domain calls `ticket_changed` whenever a ticket is created or changes; it moves
the ticket's clock (running, paused while waiting on the customer, stopped when resolved),
stores the due times and keeps one escalation row per point to fire: each warning level
(default 50% and 80% of the target) and the breach, for the first response and the
resolution. Points due soon get a delayed message at once; the sweep (every minute) sends
the rest as their moment nears and re-sends what a lost message or a dead worker missed.
Firing a point writes its notifications to the outbox, whose own workers send them, so a
slow mail server never delays an escalation in the thread.

Delivery guarantee:
- An escalation point fires exactly once while it stays relevant. At least once: its row
  stays pending until fired, and the sweep re-enqueues pending rows whose message was lost.
  At most once: the row is unique per (ticket, target, level, due time), and firing locks
  the ticket, then the row, and requires it to be still pending and still relevant (ticket
  not answered/resolved, not paused, due time unchanged). The thread event, the log entry,
  the breach actions and the notifications' outbox rows commit together.
- The notifications (one per recipient and channel, unique per escalation) go out through the
  outbox (crm_web.outbox.delivery): at least once, with a stable Message-ID.
"""

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from flask import current_app
from sqlalchemy import func, insert, or_, select, text

from crm_web import jobs
from crm_web.accounts.models import Organization, User
from crm_web.customers.models import Customer
from crm_web.db import atomic, current_organization_id, current_tenant, tenant_scope
from crm_web.errors import NotFound, ValidationError, check_fields
from crm_web.extensions import db
from crm_web.messaging import sms
from crm_web.outbox import services as outbox
from crm_web.privacy.audit import record
from crm_web.sla.business_hours import (
    WEEKDAYS,
    Calendar,
    Clock,
    format_windows,
    parse_windows,
)
from crm_web.sla.models import (
    BREACH_LEVEL,
    MAX_TARGET_MINUTES,
    TARGETS,
    SlaEscalation,
    SlaHoliday,
    SlaPolicy,
    SlaSettings,
)
from crm_web.tickets.models import PRIORITIES, Ticket

log = logging.getLogger("crm.sla")

RUNNING_STATUSES = ("new", "open", "in_progress")
STOPPED_STATUSES = ("resolved", "closed")
DEFAULT_WEEKLY_HOURS = ["09:00-17:00"] * 5 + ["", ""]
DEFAULT_WARNING_PERCENTS = [50, 80]
# Built-in targets per priority (minutes to first response, to resolution, business hours
# only?), after seed 004's route_support_ticket; an organization's policies override them.
DEFAULT_TARGETS = {
    "urgent": (15, 60, False),
    "high": (60, 240, True),
    "normal": (240, 2880, True),
    "low": (480, 5760, True),
}
# Points due this soon get their delayed message when computed; later ones from the sweep.
SCHEDULE_AHEAD = timedelta(minutes=5)
# Work enqueued this long ago and still not done is enqueued again.
STALE_AFTER = timedelta(minutes=5)
BREACHING_SOON = timedelta(hours=1)
SWEEP_BATCH = 5000
TARGET_LABELS = {"first_response": "first response", "resolution": "resolution"}
# The outbox kinds of an escalation's notifications (crm_web.sla.messages), by channel.
NOTIFICATION_KINDS = {"email": "sla_escalation", "sms": "sla_escalation_sms"}


def _now() -> datetime:
    return datetime.now(UTC)


# -- settings, calendar and policies ----------------------------------------------------------


def get_settings() -> SlaSettings:
    """The organization's SLA settings (unsaved defaults when it never saved any)."""
    organization_id = current_organization_id()
    settings = db.session.get(SlaSettings, organization_id)
    if settings is not None:
        return settings
    timezone = db.session.scalar(
        select(Organization.timezone).where(Organization.id == organization_id)
    )
    return SlaSettings(
        organization_id=organization_id,
        timezone=timezone or "UTC",
        weekly_hours=list(DEFAULT_WEEKLY_HOURS),
        warning_percents=list(DEFAULT_WARNING_PERCENTS),
        breach_raise_priority=False,
        breach_reassign_to_id=None,
        sms_numbers=[],
    )


def list_holidays() -> list[SlaHoliday]:
    return list(
        db.session.scalars(
            select(SlaHoliday)
            .where(SlaHoliday.organization_id == current_organization_id())
            .order_by(SlaHoliday.day)
        )
    )


def business_calendar(settings: SlaSettings | None = None) -> Calendar:
    """The organization's business-hours calendar, holidays included."""
    settings = settings or get_settings()
    days = db.session.scalars(
        select(SlaHoliday.day).where(SlaHoliday.organization_id == current_organization_id())
    )
    weekly = tuple(parse_windows(hours) for hours in settings.weekly_hours)
    return Calendar(settings.timezone, weekly, frozenset(days))


@dataclass(frozen=True)
class Targets:
    """The policy a ticket runs under: a saved policy (with its id) or a built-in default."""

    policy_id: int | None
    priority: str
    customer_tag: str
    first_response_minutes: int
    resolution_minutes: int
    business_hours: bool

    def seconds(self, target: str) -> float:
        minutes = (
            self.first_response_minutes if target == "first_response" else self.resolution_minutes
        )
        return minutes * 60.0


def default_targets(priority: str) -> Targets:
    first_response, resolution, business_hours = DEFAULT_TARGETS[priority]
    return Targets(None, priority, "", first_response, resolution, business_hours)


def _targets(policy: SlaPolicy) -> Targets:
    return Targets(
        policy.id,
        policy.priority,
        policy.customer_tag,
        policy.first_response_minutes,
        policy.resolution_minutes,
        policy.business_hours,
    )


def targets_for(priority: str, customer_tags: list[str]) -> Targets:
    """The strictest policy for this priority and one of the customer's tags, else the
    priority's general policy, else the built-in default."""
    policies = db.session.scalars(
        select(SlaPolicy).where(
            SlaPolicy.organization_id == current_organization_id(),
            SlaPolicy.priority == priority,
            or_(SlaPolicy.customer_tag == "", SlaPolicy.customer_tag.in_(customer_tags or [""])),
        )
    ).all()
    return _choose_targets(priority, customer_tags, policies)


def _choose_targets(priority: str, customer_tags: list[str], policies) -> Targets:
    matching = [
        policy
        for policy in policies
        if policy.priority == priority
        and (not policy.customer_tag or policy.customer_tag in customer_tags)
    ]
    tagged = [policy for policy in matching if policy.customer_tag]
    if tagged:
        return _targets(min(tagged, key=lambda p: (p.resolution_minutes, p.first_response_minutes)))
    general = [policy for policy in matching if not policy.customer_tag]
    if general:
        return _targets(general[0])
    return default_targets(priority)


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
        return _choose_targets(priority, customer_tags, self.policies)

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


def policy_table() -> list[tuple[Targets, bool]]:
    """Every priority's general targets (saved or default: the flag says saved), then the
    tag-specific policies."""
    policies = list(
        db.session.scalars(
            select(SlaPolicy)
            .where(SlaPolicy.organization_id == current_organization_id())
            .order_by(SlaPolicy.customer_tag, SlaPolicy.id)
        )
    )
    general = {policy.priority: policy for policy in policies if not policy.customer_tag}
    rows = []
    for priority in reversed(PRIORITIES):
        policy = general.get(priority)
        rows.append((_targets(policy), True) if policy else (default_targets(priority), False))
    rows.extend((_targets(policy), True) for policy in policies if policy.customer_tag)
    return rows


def _clean_timezone(timezone: str, errors: dict) -> str:
    timezone = timezone.strip()
    try:
        ZoneInfo(timezone)
    except (KeyError, ValueError):
        errors["timezone"] = "Unknown time zone; use a name such as Europe/Istanbul."
    return timezone


def _clean_percents(percents: list[int] | str, errors: dict) -> list[int]:
    if isinstance(percents, str):
        percents = [part.strip() for part in percents.split(",") if part.strip()]
    try:
        values = sorted({int(value) for value in percents})
    except (TypeError, ValueError):
        values = None
    if values is None or any(not 1 <= value < BREACH_LEVEL for value in values) or len(values) > 5:
        errors["warning_percents"] = "Give up to five whole percentages between 1 and 99."
        return []
    return values


def normalize_phone(number: str) -> str:
    """A phone number in E.164 (+905321112233); ValueError if it is not a valid one."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        raise ValueError(
            f"{number} is not a phone number; write it with its country code."
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{number} is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@atomic
def update_settings(
    *,
    timezone: str,
    weekly_hours: list[str],
    warning_percents: list[int] | str,
    breach_raise_priority: bool,
    breach_reassign_to_id: int | None,
    sms_numbers: list[str] | str,
) -> SlaSettings:
    """Save the business hours and the escalation rules; a change of the hours, time zone or
    warning points recomputes the open tickets' due times and escalations with it."""
    errors: dict[str, str] = {}
    timezone = _clean_timezone(timezone, errors)
    if len(weekly_hours) != 7:
        raise ValidationError("Give the working hours of all seven days.")
    windows = []
    for day, hours in zip(WEEKDAYS, weekly_hours, strict=True):
        try:
            windows.append(format_windows(parse_windows(hours or "")))
        except ValueError as exc:
            errors[f"hours_{day.lower()}"] = str(exc)
    if not errors and not any(windows):
        errors["hours_monday"] = "Give at least one day some working hours."
    percents = _clean_percents(warning_percents, errors)
    if breach_reassign_to_id is not None:
        user = db.session.scalar(
            select(User).where(
                User.id == breach_reassign_to_id,
                User.organization_id == current_organization_id(),
                User.is_active,
                User.role.in_(("support", "manager", "admin")),
            )
        )
        if user is None:
            errors["breach_reassign_to_id"] = "Choose an active support agent, manager or admin."
    if isinstance(sms_numbers, str):
        sms_numbers = sms_numbers.replace("\n", ",").split(",")
    numbers = []
    for number in filter(None, (n.strip() for n in sms_numbers)):
        try:
            numbers.append(normalize_phone(number))
        except ValueError as exc:
            errors["sms_numbers"] = str(exc)
    if len(numbers) > 10:
        errors["sms_numbers"] = "Text at most ten numbers."
    check_fields(errors)
    settings = db.session.get(SlaSettings, current_organization_id())
    if settings is None:
        settings = SlaSettings(organization_id=current_organization_id())
        db.session.add(settings)
        before = None
    else:
        before = (settings.timezone, list(settings.weekly_hours), list(settings.warning_percents))
    settings.timezone = timezone
    settings.weekly_hours = windows
    settings.warning_percents = percents
    settings.breach_raise_priority = breach_raise_priority
    settings.breach_reassign_to_id = breach_reassign_to_id
    settings.sms_numbers = list(dict.fromkeys(numbers))
    db.session.flush()
    if before != (timezone, windows, percents):
        follow_change()
    return settings


@atomic
def add_holiday(day: date, name: str = "") -> SlaHoliday:
    """Make a day a holiday: the clocks of business-hours policies do not run on it."""
    if len(name.strip()) > 100:
        raise ValidationError("The name is too long.", {"name": "At most 100 characters."})
    organization_id = current_organization_id()
    if db.session.scalar(
        select(SlaHoliday.id).where(
            SlaHoliday.organization_id == organization_id, SlaHoliday.day == day
        )
    ):
        raise ValidationError("That day is a holiday already.", {"day": "Already a holiday."})
    holiday = SlaHoliday(organization_id=organization_id, day=day, name=name.strip())
    db.session.add(holiday)
    db.session.flush()
    follow_change()
    return holiday


@atomic
def delete_holiday(holiday_id: int) -> None:
    holiday = db.session.scalar(
        select(SlaHoliday).where(
            SlaHoliday.id == holiday_id, SlaHoliday.organization_id == current_organization_id()
        )
    )
    if holiday is None:
        raise NotFound("No such holiday.")
    db.session.delete(holiday)
    db.session.flush()
    follow_change()


@atomic
def save_policy(
    *,
    priority: str,
    customer_tag: str = "",
    first_response_minutes: int | None,
    resolution_minutes: int | None,
    business_hours: bool,
) -> SlaPolicy:
    """Create or change the policy for a priority (and customer tag): the targets in minutes."""
    errors: dict[str, str] = {}
    if priority not in PRIORITIES:
        errors["priority"] = f"Choose one of: {', '.join(PRIORITIES)}."
    customer_tag = customer_tag.strip().lower()
    if len(customer_tag) > 40:
        errors["customer_tag"] = "At most 40 characters."
    for field, value in (
        ("first_response_minutes", first_response_minutes),
        ("resolution_minutes", resolution_minutes),
    ):
        if not isinstance(value, int) or not 1 <= value <= MAX_TARGET_MINUTES:
            errors[field] = f"Give whole minutes from 1 to {MAX_TARGET_MINUTES:,}."
    check_fields(errors)
    organization_id = current_organization_id()
    policy = db.session.scalar(
        select(SlaPolicy).where(
            SlaPolicy.organization_id == organization_id,
            SlaPolicy.priority == priority,
            SlaPolicy.customer_tag == customer_tag,
        )
    )
    targets = (first_response_minutes, resolution_minutes, business_hours)
    if policy is None:
        policy = SlaPolicy(
            organization_id=organization_id, priority=priority, customer_tag=customer_tag
        )
        db.session.add(policy)
    elif (
        policy.first_response_minutes,
        policy.resolution_minutes,
        policy.business_hours,
    ) == targets:
        return policy
    policy.first_response_minutes = first_response_minutes
    policy.resolution_minutes = resolution_minutes
    policy.business_hours = business_hours
    db.session.flush()
    follow_change(priority=priority)
    return policy


@atomic
def delete_policy(policy_id: int) -> None:
    """Remove a policy: its open tickets fall back to the general or built-in targets."""
    from crm_web.sla import recompute

    # Before the delete locks the tickets that name the policy (ON DELETE SET NULL): a running
    # recompute chunk holds this lock while it locks tickets, so the other order deadlocks.
    recompute.hold()
    policy = db.session.scalar(
        select(SlaPolicy).where(
            SlaPolicy.id == policy_id, SlaPolicy.organization_id == current_organization_id()
        )
    )
    if policy is None:
        raise NotFound("No such policy.")
    db.session.delete(policy)
    db.session.flush()
    follow_change(priority=policy.priority)


# -- the clock: called by the tickets domain --------------------------------------------------


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
    now = now or _now()
    state = SlaContext().clock_state(ticket, _customer_tags(ticket.customer_id), now)
    for column, value in state.columns.items():
        setattr(ticket, column, value)
    for escalation_id, fire_at in reschedule_points([state], now):
        _enqueue_fire(ticket.organization_id, escalation_id, fire_at, now)


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


def follow_change(*, priority: str | None = None) -> None:
    """Make the open tickets follow a policy or calendar change (see crm_web.sla.recompute)."""
    from crm_web.sla import recompute

    recompute.follow_change([priority] if priority else None)


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


def reschedule_points(states: list[ClockState], now: datetime) -> list[tuple[int, datetime]]:
    """Keep one pending escalation row per point of these tickets' current due times and
    cancel the others, set-based (a read and at most two writes for any number of tickets);
    returns (id, fire_at) of the points due within SCHEDULE_AHEAD, which want a message now.
    The caller holds the tickets' locks."""
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
    scheduled = []
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
    expire_changed(set(cancelled) | {row.id for row in rows}, set())
    return [(row.id, row.fire_at) for row in rows if row.enqueued_at is not None]


def _why_cancelled(state: ClockState, target: str) -> str:
    if state.status in STOPPED_STATUSES:
        return f"Ticket {state.status}."
    if state.status == "waiting_on_customer":
        return "Clock paused: waiting on the customer."
    if target == "first_response" and state.first_responded_at is not None:
        return "Answered."
    return "The due time moved." if state.dues[target] else "No deadline any more."


def _enqueue_fire(organization_id: int, escalation_id: int, fire_at: datetime, now: datetime):
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


@dataclass(frozen=True)
class QueueClauses:
    """What the ticket queue needs from the SLA: its sort key and the breach filters."""

    due_sort: object
    breaching_soon: object
    breached: object


def queue_clauses(due_sort=Ticket.sla_due_sort) -> QueueClauses:
    """Sort key and filters over live deadlines (a paused or stopped clock has none), on the
    tickets table or a view of it (`due_sort`: its sla_due_sort column)."""
    now = func.now()
    # Written over the sort key (NULL sorts as 9999-12-31, never in range), so both filters are
    # range scans of ix_tickets_org_sla_due instead of walking it from the first deadline.
    return QueueClauses(
        due_sort=due_sort,
        breaching_soon=due_sort.between(now, now + BREACHING_SOON),
        breached=due_sort < now,
    )


# -- firing escalations (run by the worker) ---------------------------------------------------

# Points fired in one transaction by a worker woken for one of them.
FIRE_BATCH = 500
# A message may arrive a little before its moment (clocks differ); this early still fires.
EARLY_TOLERANCE = timedelta(seconds=1)

# Due points with their tickets, locked; rows another transaction holds (a ticket being
# changed, a concurrent batch) are left for it, so two workers never take the same ticket.
_CLAIM_DUE_POINTS = text(
    """
    SELECT e.id FROM sla_escalations e
      JOIN tickets t ON t.organization_id = e.organization_id AND t.id = e.ticket_id
     WHERE e.organization_id = :org AND e.status = 'pending' AND e.fire_at <= :until
     ORDER BY e.fire_at
     LIMIT :batch
       FOR UPDATE OF e, t SKIP LOCKED
    """
)
# Why each locked point no longer calls for an escalation (NULL when it still does). A
# warning fired late (the worker was down) is superseded by a higher level that has passed.
_RELEVANCE = text(
    """
    SELECT e.id, e.ticket_id, e.target, e.level, e.due_at, t.assignee_id, t.department,
           CASE
             WHEN t.status IN ('resolved', 'closed')
               THEN 'Ticket ' || t.status || ' before the escalation.'
             WHEN t.status = 'waiting_on_customer' THEN 'Clock paused: waiting on the customer.'
             WHEN e.target = 'first_response' AND t.first_responded_at IS NOT NULL
               THEN 'Answered before the escalation.'
             WHEN e.due_at IS DISTINCT FROM CASE e.target WHEN 'first_response'
                    THEN t.first_response_due_at ELSE t.resolution_due_at END
               THEN 'The due time moved.'
             WHEN e.level < :breach THEN (
               SELECT 'Superseded: ' || CASE WHEN max(later.level) >= :breach THEN 'the breach'
                                             ELSE 'the ' || max(later.level) || '% point' END
                      || ' has passed too.'
                 FROM sla_escalations later
                WHERE later.organization_id = e.organization_id
                  AND later.ticket_id = e.ticket_id AND later.target = e.target
                  AND later.due_at = e.due_at AND later.level > e.level
                  AND later.fire_at <= :now
               HAVING count(*) > 0)
           END AS reason
      FROM sla_escalations e
      JOIN tickets t ON t.organization_id = e.organization_id AND t.id = e.ticket_id
     WHERE e.organization_id = :org AND e.id = ANY(:ids) AND e.status = 'pending'
     ORDER BY e.fire_at, e.id
    """
)
_SET_OUTCOMES = text(
    """
    UPDATE sla_escalations e SET status = v.status, fired_at = :now, outcome = v.outcome
      FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:outcomes AS text[]))
           AS v(id, status, outcome)
     WHERE e.organization_id = :org AND e.id = v.id
    """
)
_MARK_BREACHED = text(
    """
    UPDATE tickets SET first_response_breached = first_response_breached OR id = ANY(:first),
                       resolution_breached = resolution_breached OR id = ANY(:resolution),
                       updated_at = now()
     WHERE organization_id = :org AND id = ANY(:first || :resolution)
    """
)


def _lock_escalation(escalation_id: int) -> SlaEscalation | None:
    """The escalation, locked with its ticket: the ticket first, the order the tickets domain
    uses when it calls ticket_changed, so the two never deadlock."""
    organization_id = current_organization_id()
    ticket_id = db.session.scalar(
        select(SlaEscalation.ticket_id).where(
            SlaEscalation.id == escalation_id, SlaEscalation.organization_id == organization_id
        )
    )
    if ticket_id is None:
        return None
    db.session.execute(
        select(Ticket.id)
        .where(Ticket.id == ticket_id, Ticket.organization_id == organization_id)
        .with_for_update()
    )
    return db.session.scalar(
        select(SlaEscalation)
        .where(SlaEscalation.id == escalation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _local(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")


@dataclass(frozen=True)
class Recipient:
    channel: str
    address: str
    user_id: int | None = None
    name: str = ""


class _Staff:
    """The users a batch of escalations may notify, read in one query."""

    def __init__(self, organization_id: int, assignee_ids: set[int]):
        self.users = db.session.execute(
            select(User.id, User.name, User.email, User.role, User.department, User.is_active)
            .where(
                User.organization_id == organization_id,
                or_(User.id.in_(assignee_ids), User.role.in_(("manager", "admin"))),
            )
            .order_by(User.id)
        ).all()
        self.by_id = {user.id: user for user in self.users}

    def managers(self, department: str) -> list:
        """The team's leads (managers of its department), else every manager, else the admins."""
        reachable = [user for user in self.users if user.is_active and user.email]
        if department:
            leads = [
                user
                for user in reachable
                if user.role == "manager" and user.department.lower() == department.lower()
            ]
            if leads:
                return leads
        for role in ("manager", "admin"):
            users = [user for user in reachable if user.role == role]
            if users:
                return users
        return []

    def recipients(
        self, *, is_breach: bool, assignee_id: int | None, department: str, sms_numbers: list[str]
    ) -> list[Recipient]:
        """Warnings go to the assignee (the team leads when nobody has it); a breach to the team
        leads by email, and by SMS to the configured numbers when a gateway is set up."""
        users = []
        if not is_breach and assignee_id:
            assignee = self.by_id.get(assignee_id)
            if assignee is not None and assignee.is_active:
                users = [assignee]
        if not users:
            users = self.managers(department)
        recipients = [Recipient("email", user.email, user.id, user.name) for user in users]
        if is_breach and sms.is_configured(current_app.config):
            recipients += [Recipient("sms", number) for number in sms_numbers]
        return recipients


def _breach_actions(ticket: Ticket, settings: SlaSettings) -> list[str]:
    from crm_web.tickets import services as tickets

    done = []
    if settings.breach_raise_priority and ticket.priority != PRIORITIES[-1]:
        raised = PRIORITIES[PRIORITIES.index(ticket.priority) + 1]
        tickets.record_event(
            ticket,
            f"Priority: {ticket.priority} → {raised} (SLA breach).",
            event="priority",
            **{"from": ticket.priority, "to": raised},
        )
        ticket.priority = raised
        db.session.flush()
        ticket_changed(ticket, frozenset({"priority"}))
        done.append(f"priority raised to {raised}")
    reassign_to = settings.breach_reassign_to_id
    if reassign_to and reassign_to != ticket.assignee_id:
        try:
            tickets.assign(ticket.id, reassign_to)
        except ValidationError:
            # Deactivated since the setting was saved: escalate anyway, and say why not.
            done.append("not reassigned: the chosen user can no longer take tickets")
        else:
            done.append(f"reassigned to {db.session.get(User, reassign_to).name}")
    return done


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


def _fire_locked(escalation_ids: list[int], now: datetime) -> dict[int, str]:
    """Fire or skip these points, which this transaction has locked with their tickets;
    returns each pending one's status after.

    Set-based: one statement judges relevance, and the thread events, the log entries (the
    rows themselves), the breach flags and the notification rows are each written by one
    statement. Only the breach actions (raise the priority, reassign), when configured,
    go through the tickets domain ticket by ticket.
    """
    organization_id = current_organization_id()
    db.session.flush()
    rows = db.session.execute(
        _RELEVANCE,
        {"org": organization_id, "ids": escalation_ids, "now": now, "breach": BREACH_LEVEL},
    ).all()
    if not rows:
        return {}
    fired = [row for row in rows if row.reason is None]
    settings = get_settings() if fired else None
    staff = _Staff(organization_id, {row.assignee_id for row in fired if row.assignee_id})
    outcomes, recipients = {}, {}
    for row in rows:
        if row.reason is not None:
            outcomes[row.id] = ("skipped", row.reason)
            continue
        recipients[row.id] = staff.recipients(
            is_breach=row.level >= BREACH_LEVEL,
            assignee_id=row.assignee_id,
            department=row.department,
            sms_numbers=settings.sms_numbers,
        )
        notified = ", ".join(f"{r.address} ({r.channel})" for r in recipients[row.id])
        outcomes[row.id] = ("fired", f"Notified {notified or 'nobody to notify'}"[:300])
    db.session.execute(
        _SET_OUTCOMES,
        {
            "org": organization_id,
            "now": now,
            "ids": list(outcomes),
            "statuses": [status for status, _outcome in outcomes.values()],
            "outcomes": [outcome for _status, outcome in outcomes.values()],
        },
    )
    for status in ("fired", "skipped"):
        if ids := [id_ for id_, (done, _outcome) in outcomes.items() if done == status]:
            audit_batch("sla_escalations", "update", ids, status=status, fired_at=now)
    if fired:
        _write_fired(fired, recipients, settings, now)
    expire_changed({row.id for row in rows}, {row.ticket_id for row in rows})
    return {id_: status for id_, (status, _outcome) in outcomes.items()}


def _write_fired(fired: list, recipients: dict, settings: SlaSettings, now: datetime) -> None:
    """The thread events, breach flags, breach actions and notification rows of fired points."""
    from crm_web.tickets.models import TicketMessage

    organization_id = current_organization_id()
    breaches = [row for row in fired if row.level >= BREACH_LEVEL]
    event_ids = db.session.scalars(
        insert(TicketMessage.__table__).returning(TicketMessage.__table__.c.id),
        [
            {
                "organization_id": organization_id,
                "ticket_id": row.ticket_id,
                "kind": "event",
                "author_user_id": current_tenant().user_id,
                "body": _escalation_text(row, settings.timezone),
                "data": {
                    "event": "sla_escalation",
                    "target": row.target,
                    "level": row.level,
                    "due_at": row.due_at.isoformat(),
                },
                "email_status": "",
            }
            for row in fired
        ],
    ).all()
    audit_batch("ticket_messages", "create", list(event_ids), kind="event", event="sla_escalation")
    if breaches:
        by_target = {
            target: [row.ticket_id for row in breaches if row.target == target]
            for target in TARGETS
        }
        db.session.execute(
            _MARK_BREACHED,
            {
                "org": organization_id,
                "first": by_target["first_response"],
                "resolution": by_target["resolution"],
            },
        )
        for target, ticket_ids in by_target.items():
            if ticket_ids:
                audit_batch("tickets", "update", ticket_ids, **{f"{target}_breached": True})
    if breaches and (settings.breach_raise_priority or settings.breach_reassign_to_id):
        _run_breach_actions(breaches, settings)
    outbox.queue_many(
        [
            outbox.Item(
                kind_name=NOTIFICATION_KINDS[recipient.channel],
                recipient=outbox.Recipient(
                    recipient.address, recipient.name, user_id=recipient.user_id
                ),
                source_id=row.id,
                context={"escalation_id": row.id},
                dedupe_key=f"sla:{row.id}:{recipient.channel}",
            )
            for row in fired
            for recipient in recipients[row.id]
        ]
    )


def _escalation_text(row, timezone: str) -> str:
    what = TARGET_LABELS[row.target]
    due = _local(row.due_at, timezone)
    if row.level >= BREACH_LEVEL:
        return f"SLA breached: the {what} was due {due}."
    return f"SLA warning: {row.level}% of the {what} time used; due {due}."


def expire_changed(escalation_ids: set[int], ticket_ids: set[int]) -> None:
    """Read again the rows set-based statements changed under the session's objects (it keeps
    them across commits, and they may be read after the tenant is gone)."""
    db.session.flush()
    for obj in list(db.session.identity_map.values()):
        if (isinstance(obj, SlaEscalation) and obj.id in escalation_ids) or (
            isinstance(obj, Ticket) and obj.id in ticket_ids
        ):
            db.session.refresh(obj)


def _run_breach_actions(breaches: list, settings: SlaSettings) -> None:
    """Raise the priority or reassign, once per ticket, and add what was done to the outcome."""
    expire_changed({row.id for row in breaches}, {row.ticket_id for row in breaches})
    done_tickets = set()
    for row in breaches:
        if row.ticket_id in done_tickets:
            continue
        done_tickets.add(row.ticket_id)
        ticket = db.session.get(Ticket, row.ticket_id)
        actions = _breach_actions(ticket, settings)
        if actions:
            escalation = db.session.get(SlaEscalation, row.id)
            escalation.outcome = "; ".join([escalation.outcome, *actions])[:300]


@atomic
def fire_escalation(escalation_id: int, *, now: datetime | None = None) -> str:
    """Fire one escalation point if it is due and still relevant; returns its status after.

    Firing writes the ticket thread event, the log entry (the row itself), the breach
    actions and the notification rows in this one transaction.
    """
    escalation = _lock_escalation(escalation_id)
    if escalation is None:
        return "missing"
    if escalation.status != "pending":
        return escalation.status
    now = now or _now()
    if escalation.fire_at > now + EARLY_TOLERANCE:
        # Early (a clock ahead of the database's, or a message sent for a later moment):
        # wait for the moment instead of firing before it.
        escalation.enqueued_at = now
        _enqueue_fire(escalation.organization_id, escalation.id, escalation.fire_at, now)
        return "pending"
    return _fire_locked([escalation_id], now)[escalation_id]


@atomic
def fire_due_escalations(*, now: datetime | None = None, limit: int = FIRE_BATCH) -> int:
    """Fire (or skip) up to `limit` of the organization's points that are due, in one
    transaction; returns how many it took. Points locked elsewhere are left to their holder;
    points not yet due are left to their own messages (a batch never fires early)."""
    now = now or _now()
    ids = db.session.scalars(
        _CLAIM_DUE_POINTS, {"org": current_organization_id(), "until": now, "batch": limit}
    ).all()
    return len(_fire_locked(list(ids), now)) if ids else 0


def fire_escalation_and_due(escalation_id: int) -> str:
    """What the worker does with a point's message: fire every point of the organization that
    is due, a batch per transaction, then this one if it is still pending (its ticket was
    locked by a change or another batch, or the message came early).

    Points due at the same moment (a Monday morning, a policy change) thus cost a few
    set-based transactions instead of one each; the messages of the points a batch took
    find them fired and stop at one read.
    """
    status = db.session.scalar(
        select(SlaEscalation.status).where(
            SlaEscalation.id == escalation_id,
            SlaEscalation.organization_id == current_organization_id(),
        )
    )
    db.session.commit()
    if status != "pending":
        return status or "missing"
    while fire_due_escalations() == FIRE_BATCH:
        pass
    return fire_escalation(escalation_id)


def fire_due_by(moment: datetime) -> int:
    """What the worker does with a due moment's message (see announce_due_points): fire
    every point of the organization due by then, a batch per transaction; returns how many
    it took. A message more than EARLY_TOLERANCE early is sent again for its moment."""
    now = _now()
    if moment > now + EARLY_TOLERANCE:
        announce_due_points(current_organization_id(), [moment], now)
        db.session.commit()
        return 0
    if moment > now:
        # A little early (clocks differ): the points of that second are due in a moment.
        time.sleep((moment - now).total_seconds())
    taken = 0
    while True:
        batch = fire_due_escalations()
        taken += batch
        if batch < FIRE_BATCH:
            return taken


# -- the sweep (scheduler, every minute) ------------------------------------------------------


def sweep(*, now: datetime | None = None) -> int:
    """Enqueue escalation work that is due soon or was missed, and recomputes whose worker
    stopped, across organizations; returns how many messages it enqueued. Safe to run twice
    at once: rows are claimed with FOR UPDATE SKIP LOCKED and a conditional update."""
    now = now or _now()
    organization_ids = sorted(
        set(
            db.session.scalars(
                text("SELECT sla_organizations_with_work(:until, :stale)"),
                {"until": now + SCHEDULE_AHEAD, "stale": now - STALE_AFTER},
            )
        )
        | set(
            db.session.scalars(
                text("SELECT sla_organizations_with_stale_recomputes(:stale)"),
                {"stale": now - STALE_AFTER},
            )
        )
    )
    db.session.commit()
    enqueued = 0
    for organization_id in organization_ids:
        with tenant_scope(organization_id):
            enqueued += _sweep_organization(organization_id, now)
    if enqueued:
        log.info(
            "sla sweep enqueued %s messages for %s organizations", enqueued, len(organization_ids)
        )
    return enqueued


_CLAIM_DUE = text(
    """
    WITH claimed AS (
        SELECT e.id FROM sla_escalations e
         WHERE e.organization_id = :org AND e.status = 'pending' AND e.fire_at <= :until
           AND (e.enqueued_at IS NULL OR e.enqueued_at < :stale)
         ORDER BY e.fire_at
         LIMIT :batch
           FOR UPDATE SKIP LOCKED
    )
    UPDATE sla_escalations SET enqueued_at = :now
     WHERE id IN (SELECT id FROM claimed) AND (enqueued_at IS NULL OR enqueued_at < :stale)
    RETURNING id, fire_at
    """
)


@atomic
def _sweep_organization(organization_id: int, now: datetime) -> int:
    from crm_web.sla import recompute

    restarted = recompute.restart_stale_job(now)
    rows = db.session.execute(
        _CLAIM_DUE,
        {
            "org": organization_id,
            "now": now,
            "until": now + SCHEDULE_AHEAD,
            "stale": now - STALE_AFTER,
            "batch": SWEEP_BATCH,
        },
    ).all()
    for escalation_id, fire_at in rows:
        _enqueue_fire(organization_id, escalation_id, fire_at, now)
    if rows:
        record(
            db.session,
            organization_id=organization_id,
            action="update",
            table_name="sla_escalations",
            row_id=rows[0][0],
            new={"enqueued_at": now, "ids": [row[0] for row in rows]},
        )
    return len(rows) + restarted


# -- reading ----------------------------------------------------------------------------------


def escalation_log(*, cursor: str | None = None, limit: int = 50):
    """Fired and skipped escalations, newest first, with their tickets and notifications."""
    from crm_web.pagination import keyset_page

    stmt = select(SlaEscalation).where(
        SlaEscalation.organization_id == current_organization_id(),
        SlaEscalation.status.in_(("fired", "skipped")),
    )
    page = keyset_page(stmt, (SlaEscalation.id,), cursor=cursor, limit=limit)
    ids = [row.id for row in page.items]
    ticket_ids = {row.ticket_id for row in page.items}
    notifications = {}
    for message in outbox.messages_for(tuple(NOTIFICATION_KINDS.values()), ids):
        notifications.setdefault(message.source_id, []).append(message)
    tickets = {
        ticket.id: ticket
        for ticket in db.session.scalars(
            select(Ticket).where(
                Ticket.organization_id == current_organization_id(), Ticket.id.in_(ticket_ids)
            )
        )
    }
    return page, tickets, notifications


def current_breaches(*, cursor: str | None = None, limit: int = 50):
    """Active tickets whose live deadline has passed, most overdue first (keyset by due, id)."""
    from crm_web.pagination import keyset_page
    from crm_web.tickets.models import ACTIVE_STATUSES

    stmt = select(Ticket).where(
        Ticket.organization_id == current_organization_id(),
        Ticket.status.in_(ACTIVE_STATUSES),
        queue_clauses().breached,
    )
    return keyset_page(
        stmt, (Ticket.sla_due_sort, Ticket.id), cursor=cursor, limit=limit, descending=False
    )
