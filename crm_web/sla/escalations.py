"""Firing escalation points (run by the worker): the thread event, the log entry, the breach
actions and the notifications of a warning or a breach.

Delivery guarantee:
- An escalation point fires exactly once while it stays relevant. At least once: its row
  stays pending until fired, and the sweep re-enqueues pending rows whose message was lost.
  At most once: the row is unique per (ticket, target, level, due time), and firing locks
  the ticket, then the row, and requires it to be still pending and still relevant (ticket
  not answered/resolved, not paused, due time unchanged). The thread event, the log entry,
  the breach actions and the notifications' outbox rows commit together.
- The notifications (one per recipient and channel, unique per escalation) go out through the
  outbox (crm_web.outbox.delivery): at least once, with a stable Message-ID, so a slow mail
  server never delays an escalation in the thread.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import insert, or_, select, text

from crm_web import labels
from crm_web.accounts.models import User
from crm_web.db import atomic, current_organization_id, current_tenant
from crm_web.errors import ValidationError
from crm_web.extensions import db
from crm_web.formatting import lowercase, percent
from crm_web.messaging import sms
from crm_web.outbox import services as outbox
from crm_web.sla import clock
from crm_web.sla.messages import NOTIFICATION_KINDS
from crm_web.sla.models import BREACH_LEVEL, TARGETS, SlaEscalation, SlaSettings
from crm_web.sla.policies import get_settings
from crm_web.tickets import services as tickets
from crm_web.tickets.models import PRIORITIES, Ticket, TicketMessage

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
    done = []
    if settings.breach_raise_priority and ticket.priority != PRIORITIES[-1]:
        raised = PRIORITIES[PRIORITIES.index(ticket.priority) + 1]
        tickets.record_event(
            ticket,
            _(
                "Priority: %(previous)s → %(priority)s (SLA breach).",
                previous=lowercase(labels.label(ticket.priority, "priority")),
                priority=lowercase(labels.label(raised, "priority")),
            ),
            event="priority",
            **{"from": ticket.priority, "to": raised},
        )
        ticket.priority = raised
        db.session.flush()
        clock.ticket_changed(ticket, frozenset({"priority"}))
        done.append(
            _(
                "priority raised to %(priority)s",
                priority=lowercase(labels.label(raised, "priority")),
            )
        )
    reassign_to = settings.breach_reassign_to_id
    if reassign_to and reassign_to != ticket.assignee_id:
        try:
            tickets.assign(ticket.id, reassign_to)
        except ValidationError:
            # Deactivated since the setting was saved: escalate anyway, and say why not.
            done.append(_("not reassigned: the chosen user can no longer take tickets"))
        else:
            done.append(_("reassigned to %(name)s", name=db.session.get(User, reassign_to).name))
    return done


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
        outcomes[row.id] = (
            "fired",
            (
                _("Notified %(recipients)s", recipients=notified)
                if notified
                else _("Nobody to notify")
            )[:300],
        )
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
            clock.audit_batch("sla_escalations", "update", ids, status=status, fired_at=now)
    if fired:
        _write_fired(fired, recipients, settings, now)
    clock.expire_changed({row.id for row in rows}, {row.ticket_id for row in rows})
    return {id_: status for id_, (status, _outcome) in outcomes.items()}


def _write_fired(fired: list, recipients: dict, settings: SlaSettings, now: datetime) -> None:
    """The thread events, breach flags, breach actions and notification rows of fired points."""
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
    clock.audit_batch(
        "ticket_messages", "create", list(event_ids), kind="event", event="sla_escalation"
    )
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
                clock.audit_batch("tickets", "update", ticket_ids, **{f"{target}_breached": True})
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
    due = _local(row.due_at, timezone)
    if row.target == "first_response":
        if row.level >= BREACH_LEVEL:
            return _("SLA breached: the first response was due %(due)s.", due=due)
        return _(
            "SLA warning: %(percent)s of the first response time used; due %(due)s.",
            percent=percent(row.level),
            due=due,
        )
    if row.level >= BREACH_LEVEL:
        return _("SLA breached: the resolution was due %(due)s.", due=due)
    return _(
        "SLA warning: %(percent)s of the resolution time used; due %(due)s.",
        percent=percent(row.level),
        due=due,
    )


def _run_breach_actions(breaches: list, settings: SlaSettings) -> None:
    """Raise the priority or reassign, once per ticket, and add what was done to the outcome."""
    clock.expire_changed({row.id for row in breaches}, {row.ticket_id for row in breaches})
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
    now = now or clock.current_time()
    if escalation.fire_at > now + EARLY_TOLERANCE:
        # Early (a clock ahead of the database's, or a message sent for a later moment):
        # wait for the moment instead of firing before it.
        escalation.enqueued_at = now
        clock.enqueue_fire(escalation.organization_id, escalation.id, escalation.fire_at, now)
        return "pending"
    return _fire_locked([escalation_id], now)[escalation_id]


@atomic
def fire_due_escalations(*, now: datetime | None = None, limit: int = FIRE_BATCH) -> int:
    """Fire (or skip) up to `limit` of the organization's points that are due, in one
    transaction; returns how many it took. Points locked elsewhere are left to their holder;
    points not yet due are left to their own messages (a batch never fires early)."""
    now = now or clock.current_time()
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
    now = clock.current_time()
    if moment > now + EARLY_TOLERANCE:
        clock.announce_due_points(current_organization_id(), [moment], now)
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
