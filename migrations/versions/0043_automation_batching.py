"""Automations in batches: the customers' index on their birth dates, so the daily birthday run
finds the day's birthdays among a million customers without reading them all (it asks for the
dates of those days in every year: crm_web.automations.triggers); the due enrollments' index in the order the runner
takes them, (next_run_at, id), so a batch is the index's first rows rather than a sort of every
due row; and a step run no longer copies its message's outbox id (the outbox row names its run
as its source: the copy cost an UPDATE per batch).

Revision ID: 0043_automation_batching
Revises: 0042_survey_analytics
"""

import sqlalchemy as sa
from alembic import op

revision = "0043_automation_batching"
down_revision = "0042_survey_analytics"
branch_labels = None
depends_on = None


def _due_index(*columns: str) -> None:
    op.drop_index("ix_automation_enrollments_due", table_name="automation_enrollments")
    op.create_index(
        "ix_automation_enrollments_due",
        "automation_enrollments",
        list(columns),
        postgresql_where=sa.text("state = 'active'"),
    )


def upgrade():
    op.create_index(
        "ix_customers_org_birth_date",
        "customers",
        ["organization_id", "birth_date"],
        postgresql_where=sa.text("birth_date IS NOT NULL"),
    )
    _due_index("organization_id", "next_run_at", "id")
    op.drop_column("automation_step_runs", "outbox_id")


def downgrade():
    op.add_column("automation_step_runs", sa.Column("outbox_id", sa.BigInteger(), nullable=True))
    _due_index("organization_id", "next_run_at")
    op.drop_index("ix_customers_org_birth_date", table_name="customers")
