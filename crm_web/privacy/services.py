"""Reading the audit trail."""

from sqlalchemy import select

from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.pagination import Page, keyset_page
from crm_web.privacy.models import AuditEntry

ACTIONS = ("create", "update", "delete")


def audit_tables() -> list[str]:
    """The tables this organization's trail mentions, for the filter."""
    return list(
        db.session.scalars(
            select(AuditEntry.table_name)
            .where(AuditEntry.organization_id == current_organization_id())
            .distinct()
            .order_by(AuditEntry.table_name)
        )
    )


def search_audit_log(
    *,
    table_name: str = "",
    action: str = "",
    user_id: int | None = None,
    row_id: str = "",
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """The newest entries first, filtered; keyset-paginated by id."""
    stmt = select(AuditEntry).where(AuditEntry.organization_id == current_organization_id())
    if table_name:
        stmt = stmt.where(AuditEntry.table_name == table_name)
    if action in ACTIONS:
        stmt = stmt.where(AuditEntry.action == action)
    if user_id:
        stmt = stmt.where(AuditEntry.user_id == user_id)
    if row_id:
        stmt = stmt.where(AuditEntry.row_id == row_id)
    return keyset_page(stmt, (AuditEntry.id,), cursor=cursor, limit=limit)
