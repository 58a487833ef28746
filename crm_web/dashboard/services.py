"""Figures for the dashboard."""

from dataclasses import dataclass

from sqlalchemy import func, select

from crm_web.accounts.models import User
from crm_web.customers.models import Customer
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.privacy.models import AuditEntry


@dataclass
class Summary:
    customers: int
    active_customers: int
    users: int
    recent_changes: list[AuditEntry]


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
    recent = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.organization_id == org)
        .order_by(AuditEntry.id.desc())
        .limit(8)
    )
    return Summary(customers, active, users, list(recent))
