"""Activities and tasks, their attendees and reminders.

Revision ID: 0010_activities
Revises: 0007_pipeline
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from helpers import create_definer_function, disable_tenant_rls, enable_tenant_rls

revision = "0010_activities"
down_revision = "0007_pipeline"
branch_labels = None
depends_on = None

TABLES = ("activities", "activity_attendees", "activity_reminders")
OPEN = "status IN ('planned', 'in_progress')"

# The scheduler's sweep runs for no organization: this tells it which ones have reminders that
# came due or deliveries waiting (ids only), and the work itself runs as each tenant.
DUE_ORGANIZATIONS = "activity_reminder_organizations()"
DUE_ORGANIZATIONS_BODY = (
    "SELECT organization_id FROM activities WHERE reminder_armed AND reminder_at <= now() "
    "UNION "
    "SELECT organization_id FROM activity_reminders "
    "WHERE status = 'pending' AND next_attempt_at <= now()"
)


def timestamps():
    return [
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    ]


def foreign_key(table: str, column: str, target: str, ondelete: str):
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete=ondelete
    )


def upgrade():
    op.create_table(
        "activities",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("activity_type", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.BigInteger()),
        sa.Column("lead_id", sa.BigInteger()),
        sa.Column("opportunity_id", sa.BigInteger()),
        sa.Column("assigned_to_id", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer()),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("location", sa.String(200), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("next_action", sa.Text(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("completed_by_id", sa.BigInteger()),
        sa.Column("follow_up_of_id", sa.BigInteger()),
        sa.Column("reminder_minutes_before", sa.Integer()),
        sa.Column("reminder_at", sa.DateTime(timezone=True)),
        sa.Column("reminder_armed", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.BigInteger()),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_activities"),
        foreign_key("activities", "organization_id", "organizations", "CASCADE"),
        foreign_key("activities", "customer_id", "customers", "CASCADE"),
        foreign_key("activities", "lead_id", "leads", "CASCADE"),
        foreign_key("activities", "opportunity_id", "opportunities", "CASCADE"),
        foreign_key("activities", "assigned_to_id", "users", "CASCADE"),
        foreign_key("activities", "completed_by_id", "users", "SET NULL"),
        foreign_key("activities", "follow_up_of_id", "activities", "SET NULL"),
        foreign_key("activities", "created_by_id", "users", "SET NULL"),
        sa.CheckConstraint(
            "customer_id IS NOT NULL OR lead_id IS NOT NULL OR opportunity_id IS NOT NULL",
            name="ck_activities_linked",
        ),
        sa.CheckConstraint(
            "activity_type IN ('call', 'meeting', 'email', 'demo', 'follow_up', 'proposal')",
            name="ck_activities_type_known",
        ),
        sa.CheckConstraint(
            "status IN ('planned', 'in_progress', 'completed', 'cancelled')",
            name="ck_activities_status_known",
        ),
        sa.CheckConstraint(
            "priority IN ('low', 'normal', 'high', 'urgent')", name="ck_activities_priority_known"
        ),
        sa.CheckConstraint("duration_minutes >= 0", name="ck_activities_duration_not_negative"),
        sa.CheckConstraint(
            "reminder_minutes_before >= 0", name="ck_activities_reminder_not_negative"
        ),
    )
    op.create_index("ix_activities_organization_id", "activities", ["organization_id"])
    op.create_index(
        "ix_activities_open_assignee_due",
        "activities",
        ["organization_id", "assigned_to_id", "due_at", "id"],
        postgresql_where=sa.text(OPEN),
    )
    op.create_index(
        "ix_activities_assignee_due",
        "activities",
        ["organization_id", "assigned_to_id", "due_at", "id"],
    )
    op.create_index("ix_activities_org_due", "activities", ["organization_id", "due_at", "id"])
    for link in ("customer", "lead", "opportunity"):
        op.create_index(
            f"ix_activities_{link}",
            "activities",
            ["organization_id", f"{link}_id", "due_at"],
            postgresql_where=sa.text(f"{link}_id IS NOT NULL"),
        )
    op.create_index(
        "ix_activities_follow_up_of",
        "activities",
        ["organization_id", "follow_up_of_id"],
        postgresql_where=sa.text("follow_up_of_id IS NOT NULL"),
    )
    op.create_index(
        "ix_activities_reminder_armed",
        "activities",
        ["reminder_at"],
        postgresql_where=sa.text("reminder_armed"),
    )

    op.create_table(
        "activity_attendees",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger()),
        sa.Column("customer_id", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_activity_attendees"),
        foreign_key("activity_attendees", "organization_id", "organizations", "CASCADE"),
        foreign_key("activity_attendees", "activity_id", "activities", "CASCADE"),
        foreign_key("activity_attendees", "user_id", "users", "CASCADE"),
        foreign_key("activity_attendees", "customer_id", "customers", "CASCADE"),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (customer_id IS NULL)", name="ck_activity_attendees_one_kind"
        ),
    )
    op.create_index(
        "ix_activity_attendees_organization_id", "activity_attendees", ["organization_id"]
    )
    op.create_index(
        "uq_activity_attendees_user",
        "activity_attendees",
        ["organization_id", "activity_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_index(
        "uq_activity_attendees_customer",
        "activity_attendees",
        ["organization_id", "activity_id", "customer_id"],
        unique=True,
        postgresql_where=sa.text("customer_id IS NOT NULL"),
    )
    op.create_index(
        "ix_activity_attendees_user_activities",
        "activity_attendees",
        ["organization_id", "user_id", "activity_id"],
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )

    op.create_table(
        "activity_reminders",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(250), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_activity_reminders"),
        foreign_key("activity_reminders", "organization_id", "organizations", "CASCADE"),
        foreign_key("activity_reminders", "activity_id", "activities", "CASCADE"),
        foreign_key("activity_reminders", "user_id", "users", "CASCADE"),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed', 'cancelled')",
            name="ck_activity_reminders_status_known",
        ),
    )
    op.create_index(
        "ix_activity_reminders_organization_id", "activity_reminders", ["organization_id"]
    )
    op.create_index(
        "uq_activity_reminders_activity_time",
        "activity_reminders",
        ["organization_id", "activity_id", "remind_at"],
        unique=True,
    )
    op.create_index(
        "ix_activity_reminders_pending",
        "activity_reminders",
        ["organization_id", "next_attempt_at", "id"],
        postgresql_where=sa.text("status = 'pending'"),
    )

    for table in TABLES:
        enable_tenant_rls(table)
    create_definer_function(DUE_ORGANIZATIONS, "SETOF bigint", DUE_ORGANIZATIONS_BODY)


def downgrade():
    op.execute(f"DROP FUNCTION {DUE_ORGANIZATIONS}")
    for table in reversed(TABLES):
        disable_tenant_rls(table)
        op.drop_table(table)
