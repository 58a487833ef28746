"""Ticket search through a tenant view: a trigram index on active tickets' subjects and a GIN
index on their tags, which the queue's search and tag filter read through `ticket_search`.

Row-level security lets a condition use an index only if its operator is leakproof; ILIKE and
@> are not, so through the table a search read every active ticket of the organization. The
view applies the tenant predicate itself (crm_web.rls.create_tenant_view), as customer_search
does for the customer list.

Revision ID: 0016_ticket_search
Revises: 0015_sla_recomputes
"""

import sqlalchemy as sa
from alembic import op
from helpers import create_tenant_view

revision = "0016_ticket_search"
down_revision = "0015_sla_recomputes"
branch_labels = None
depends_on = None

ACTIVE_PREDICATE = "status IN ('new', 'open', 'in_progress', 'waiting_on_customer')"
SEARCH_VIEW_COLUMNS = (
    "id",
    "organization_id",
    "number",
    "subject",
    "status",
    "priority",
    "channel",
    "category",
    "assignee_id",
    "department",
    "tags",
    "sla_due_sort",
)


def upgrade():
    # pg_trgm and btree_gin (for organization_id in a GIN index) come with 0003 and 0006.
    op.create_index(
        "ix_tickets_active_subject_trgm",
        "tickets",
        ["organization_id", "subject"],
        postgresql_using="gin",
        postgresql_ops={"subject": "gin_trgm_ops"},
        postgresql_where=sa.text(ACTIVE_PREDICATE),
    )
    op.create_index(
        "ix_tickets_active_tags",
        "tickets",
        ["organization_id", "tags"],
        postgresql_using="gin",
        postgresql_where=sa.text(ACTIVE_PREDICATE),
    )
    create_tenant_view("ticket_search", "tickets", SEARCH_VIEW_COLUMNS)


def downgrade():
    op.execute("DROP VIEW ticket_search")
    op.drop_index("ix_tickets_active_tags", table_name="tickets")
    op.drop_index("ix_tickets_active_subject_trgm", table_name="tickets")
