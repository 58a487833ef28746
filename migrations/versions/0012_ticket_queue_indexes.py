"""Ticket queue: a stored sort key, and an index per view in the keyset's exact order.

Under row-level security only leakproof operators make index conditions, and coalesce() is
not one: the breach filters and keyset cursors written over coalesce(sla_due_at, ...) were
applied to every active ticket read. tickets.sla_due_sort stores that value (a generated
column), so they are index ranges. "My tickets" and "unassigned" (assignee_id IS NULL is an
index condition too), the team queue and the priority filter each get an index in
(sla_due_sort, id) order; the team index also serves what (organization_id, department) did.

Revision ID: 0012_ticket_queue_indexes
Revises: 0011_failed_job_organizations
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_ticket_queue_indexes"
down_revision = "0011_failed_job_organizations"
branch_labels = None
depends_on = None

ACTIVE_PREDICATE = "status IN ('new', 'open', 'in_progress', 'waiting_on_customer')"
DUE_SORT = "coalesce(sla_due_at, '9999-12-31 00:00:00+00'::timestamptz)"
# Index name -> the column before the deadline (None: the whole organization's queue).
INDEXES = {
    "ix_tickets_org_sla_due": None,
    "ix_tickets_org_assignee_sla_due": "assignee_id",
    "ix_tickets_org_team_sla_due": "department",
    "ix_tickets_org_priority_sla_due": "priority",
}


def upgrade():
    op.drop_index("ix_tickets_org_sla_due", table_name="tickets")
    op.drop_index("ix_tickets_org_team_active", table_name="tickets")
    op.add_column(
        "tickets",
        sa.Column(
            "sla_due_sort",
            sa.DateTime(timezone=True),
            sa.Computed(DUE_SORT, persisted=True),
            nullable=False,
        ),
    )
    for name, column in INDEXES.items():
        op.create_index(
            name,
            "tickets",
            ["organization_id", *([column] if column else []), "sla_due_sort", "id"],
            postgresql_where=sa.text(ACTIVE_PREDICATE),
        )


def downgrade():
    for name in INDEXES:
        op.drop_index(name, table_name="tickets")
    op.drop_column("tickets", "sla_due_sort")
    op.create_index(
        "ix_tickets_org_team_active",
        "tickets",
        ["organization_id", "department"],
        postgresql_where=sa.text(ACTIVE_PREDICATE),
    )
    op.create_index(
        "ix_tickets_org_sla_due",
        "tickets",
        ["organization_id", sa.text(DUE_SORT), "id"],
        postgresql_where=sa.text(ACTIVE_PREDICATE),
    )
