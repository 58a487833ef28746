"""Ticket queue: an index per view that matches its keyset order by SLA due exactly.

"My tickets" and "unassigned" (assignee_id IS NULL is an index condition too), the team
queue and the priority filter each read one index range in (deadline, id) order and stop
after a page, instead of reading every active ticket of the organization and sorting.
The team index also serves what the older (organization_id, department) one did.

Revision ID: 0011_ticket_queue_indexes
Revises: 0009_sla
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_ticket_queue_indexes"
down_revision = "0009_sla"
branch_labels = None
depends_on = None

ACTIVE_PREDICATE = "status IN ('new', 'open', 'in_progress', 'waiting_on_customer')"
DUE_SORT = sa.text("coalesce(sla_due_at, '9999-12-31 00:00:00+00'::timestamptz)")
INDEXES = {
    "ix_tickets_org_assignee_sla_due": "assignee_id",
    "ix_tickets_org_team_sla_due": "department",
    "ix_tickets_org_priority_sla_due": "priority",
}


def upgrade():
    for name, column in INDEXES.items():
        op.create_index(
            name,
            "tickets",
            ["organization_id", column, DUE_SORT, "id"],
            postgresql_where=sa.text(ACTIVE_PREDICATE),
        )
    op.drop_index("ix_tickets_org_team_active", table_name="tickets")


def downgrade():
    op.create_index(
        "ix_tickets_org_team_active",
        "tickets",
        ["organization_id", "department"],
        postgresql_where=sa.text(ACTIVE_PREDICATE),
    )
    for name in INDEXES:
        op.drop_index(name, table_name="tickets")
