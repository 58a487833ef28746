"""Automations: journeys (a trigger and a tree of steps), their enrollments with the guard that
enrolls a customer once per occurrence, one row per step run, and an organization's holiday
calendar.

Revision ID: 0035_automations
Revises: 0034_expiry_room_sms_keywords
"""

import sqlalchemy as sa
from alembic import op
from helpers import (
    create_definer_function,
    disable_tenant_rls,
    enable_tenant_rls,
    foreign_key,
    organization_fk,
    timestamps,
)
from sqlalchemy.dialects import postgresql

revision = "0035_automations"
down_revision = "0034_expiry_room_sms_keywords"
branch_labels = None
depends_on = None

TABLES = (
    "automations",
    "automation_enrollments",
    "automation_step_runs",
    "organization_holidays",
)

# The scheduler's run walks every organization with an active automation, before any tenant.
AUTOMATION_ORGANIZATIONS = "automation_organizations()"


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade():
    op.create_table(
        "automations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("trigger_kind", sa.String(30), nullable=False),
        sa.Column("trigger_config", postgresql.JSONB(), nullable=False),
        sa.Column("steps", postgresql.JSONB(), nullable=False),
        sa.Column("goal", postgresql.JSONB(), nullable=False),
        sa.Column("reentry", sa.String(10), nullable=False),
        sa.Column("send_hour", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        _when("activated_at"),
        sa.Column("created_by_id", sa.BigInteger()),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_automations"),
        organization_fk("automations"),
        foreign_key("automations", "created_by_id", "users", "SET NULL"),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'paused')", name=op.f("ck_automations_status_known")
        ),
        sa.CheckConstraint(
            "reentry IN ('once', 'yearly', 'every')", name=op.f("ck_automations_reentry_known")
        ),
    )
    op.create_index("ix_automations_organization_id", "automations", ["organization_id"])
    op.create_index("ix_automations_org_status", "automations", ["organization_id", "status"])

    op.create_table(
        "automation_enrollments",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("automation_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("occurrence", sa.String(64), nullable=False),
        sa.Column("step_id", sa.String(16)),
        _when("next_run_at"),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("exited_reason", sa.String(20), nullable=False),
        sa.Column("goal_reached", sa.Boolean(), nullable=False),
        sa.Column("last_message_run_id", sa.BigInteger()),
        _when("enrolled_at", nullable=False),
        _when("finished_at"),
        sa.PrimaryKeyConstraint("id", name="pk_automation_enrollments"),
        organization_fk("automation_enrollments"),
        foreign_key("automation_enrollments", "automation_id", "automations"),
        foreign_key("automation_enrollments", "customer_id", "customers"),
        sa.CheckConstraint(
            "state IN ('active', 'completed', 'exited')",
            name=op.f("ck_automation_enrollments_state_known"),
        ),
    )
    op.create_index(
        "ix_automation_enrollments_organization_id", "automation_enrollments", ["organization_id"]
    )
    op.create_index(
        "uq_automation_enrollments_occurrence",
        "automation_enrollments",
        ["organization_id", "automation_id", "customer_id", "occurrence"],
        unique=True,
    )
    op.create_index(
        "ix_automation_enrollments_due",
        "automation_enrollments",
        ["organization_id", "next_run_at"],
        postgresql_where=sa.text("state = 'active'"),
    )
    op.create_index(
        "ix_automation_enrollments_automation",
        "automation_enrollments",
        ["organization_id", "automation_id", "id"],
    )
    op.create_index(
        "ix_automation_enrollments_customer",
        "automation_enrollments",
        ["organization_id", "customer_id"],
    )

    op.create_table(
        "automation_step_runs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("automation_id", sa.BigInteger(), nullable=False),
        sa.Column("enrollment_id", sa.BigInteger(), nullable=False),
        sa.Column("step_id", sa.String(16), nullable=False),
        sa.Column("step_type", sa.String(10), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("outbox_id", sa.BigInteger()),
        _when("ran_at", nullable=False),
        _when("opened_at"),
        _when("clicked_at"),
        sa.PrimaryKeyConstraint("id", name="pk_automation_step_runs"),
        organization_fk("automation_step_runs"),
        foreign_key("automation_step_runs", "automation_id", "automations"),
        foreign_key("automation_step_runs", "enrollment_id", "automation_enrollments"),
    )
    op.create_index(
        "ix_automation_step_runs_organization_id", "automation_step_runs", ["organization_id"]
    )
    op.create_index(
        "uq_automation_step_runs_step",
        "automation_step_runs",
        ["organization_id", "enrollment_id", "step_id"],
        unique=True,
    )
    op.create_index(
        "ix_automation_step_runs_automation",
        "automation_step_runs",
        ["organization_id", "automation_id", "step_id"],
    )

    op.create_table(
        "organization_holidays",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_organization_holidays"),
        organization_fk("organization_holidays"),
    )
    op.create_index(
        "ix_organization_holidays_organization_id", "organization_holidays", ["organization_id"]
    )
    op.create_index(
        "uq_organization_holidays_day",
        "organization_holidays",
        ["organization_id", "day"],
        unique=True,
    )

    for table in TABLES:
        enable_tenant_rls(table)
    create_definer_function(
        AUTOMATION_ORGANIZATIONS,
        "SETOF bigint",
        "SELECT DISTINCT organization_id FROM automations WHERE status = 'active'",
    )


def downgrade():
    op.execute(f"DROP FUNCTION {AUTOMATION_ORGANIZATIONS}")
    for table in reversed(TABLES):
        disable_tenant_rls(table)
    for table in reversed(TABLES):
        op.drop_table(table)
