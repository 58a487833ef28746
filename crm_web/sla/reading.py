"""What the SLA pages, the API and the ticket queue read: live deadlines, current breaches and
the escalation log."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.outbox import services as outbox
from crm_web.pagination import keyset_page
from crm_web.sla.messages import NOTIFICATION_KINDS
from crm_web.sla.models import SlaEscalation
from crm_web.tickets.models import ACTIVE_STATUSES, Ticket

BREACHING_SOON = timedelta(hours=1)


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


def escalation_log(*, cursor: str | None = None, limit: int = 50):
    """Fired and skipped escalations, newest first, with their tickets and notifications."""
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
    stmt = select(Ticket).where(
        Ticket.organization_id == current_organization_id(),
        Ticket.status.in_(ACTIVE_STATUSES),
        queue_clauses().breached,
    )
    return keyset_page(
        stmt, (Ticket.sla_due_sort, Ticket.id), cursor=cursor, limit=limit, descending=False
    )
