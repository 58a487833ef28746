"""Figures for the dashboard."""

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from crm_web.accounts.models import User
from crm_web.customers.models import Customer
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.privacy.models import AuditEntry

# The changes "Recent changes" shows: the business's records, by the name a person gives them.
# Sign-ins (a user's last_login_at), sessions, tokens and the machinery's own bookkeeping
# (escalation points, outbox rows, totals, batches of recomputed due times) stay in the audit
# log, off the dashboard.
RECENT_KINDS = {
    "customers": _l("Customer"),
    "customer_notes": _l("Note"),
    "communications": _l("Communication"),
    "customer_documents": _l("Document"),
    "leads": _l("Lead"),
    "opportunities": _l("Deal"),
    "quotes": _l("Quote"),
    "activities": _l("Activity"),
    "events": _l("Event"),
    "tickets": _l("Ticket"),
    "sla_policies": _l("SLA policy"),
    "pipeline_stages": _l("Pipeline stage"),
    "import_jobs": _l("Import"),
}
ACTIONS = {"create": _l("created"), "update": _l("updated"), "delete": _l("deleted")}


@dataclass(frozen=True)
class Change:
    """One line of "Recent changes": who did what to which record, and when."""

    who: str | None
    action: str
    kind: str
    row_id: str
    created_at: datetime


@dataclass
class Summary:
    customers: int
    active_customers: int
    users: int
    recent_changes: list[Change]


def recent_changes(limit: int = 8) -> list[Change]:
    """The latest changes to the organization's business records, newest first."""
    rows = db.session.execute(
        select(AuditEntry, User.name)
        .outerjoin(
            User,
            (User.id == AuditEntry.user_id) & (User.organization_id == AuditEntry.organization_id),
        )
        .where(
            AuditEntry.organization_id == current_organization_id(),
            AuditEntry.table_name.in_(list(RECENT_KINDS)),
            # Set-based bookkeeping (due times recomputed for a batch of tickets) lists its rows.
            ~func.coalesce(AuditEntry.new_values.has_key("ids"), False),
        )
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    ).all()
    return [
        Change(
            who=name,
            action=str(ACTIONS.get(entry.action, entry.action)),
            kind=str(RECENT_KINDS[entry.table_name]),
            row_id=entry.row_id,
            created_at=entry.created_at,
        )
        for entry, name in rows
    ]


def summary() -> Summary:
    org = current_organization_id()
    customers, active = db.session.execute(
        select(func.count(), func.count().filter(Customer.is_active)).where(
            Customer.organization_id == org
        )
    ).one()
    users = db.session.scalar(
        select(func.count()).where(User.organization_id == org, User.is_active)
    )
    return Summary(customers, active, users, recent_changes())
