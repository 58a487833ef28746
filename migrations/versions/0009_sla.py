"""SLA policies, business hours, due times and escalations.

Revision ID: 0009_sla
Revises: 0008_tickets
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from helpers import create_definer_function, disable_tenant_rls, enable_tenant_rls
from sqlalchemy.dialects import postgresql

revision = "0009_sla"
down_revision = "0008_tickets"
branch_labels = None
depends_on = None

TENANT_TABLES = (
    "sla_settings",
    "sla_holidays",
    "sla_policies",
    "sla_escalations",
    "sla_notifications",
)
ACTIVE_PREDICATE = "status IN ('new', 'open', 'in_progress', 'waiting_on_customer')"
NO_DEADLINE = "'9999-12-31 00:00:00+00'::timestamptz"

# The sweep runs for no tenant: this tells it which organizations have escalation work, ids only.
WORK_FUNCTION = "sla_organizations_with_work(p_until timestamptz, p_stale timestamptz)"
WORK_QUERY = """
    SELECT organization_id FROM sla_escalations
     WHERE status = 'pending' AND fire_at <= p_until
       AND (enqueued_at IS NULL OR enqueued_at < p_stale)
    UNION
    SELECT n.organization_id FROM sla_notifications n
      JOIN sla_escalations e ON e.id = n.escalation_id
     WHERE n.status = 'pending' AND (e.enqueued_at IS NULL OR e.enqueued_at < p_stale)
    UNION
    SELECT organization_id FROM sla_notifications WHERE status = 'sending' AND claimed_at < p_stale
"""


def organization_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=f"fk_{table}_organization_id_organizations",
        ondelete="CASCADE",
    )


def timestamp(name: str) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade():
    op.create_table(
        "sla_settings",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("weekly_hours", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("warning_percents", postgresql.ARRAY(sa.SmallInteger()), nullable=False),
        sa.Column("breach_raise_priority", sa.Boolean(), nullable=False),
        sa.Column("breach_reassign_to_id", sa.BigInteger()),
        sa.Column("sms_numbers", postgresql.ARRAY(sa.Text()), nullable=False),
        timestamp("created_at"),
        timestamp("updated_at"),
        sa.PrimaryKeyConstraint("organization_id", name="pk_sla_settings"),
        organization_fk("sla_settings"),
        sa.ForeignKeyConstraint(
            ["breach_reassign_to_id"],
            ["users.id"],
            name="fk_sla_settings_breach_reassign_to_id_users",
            ondelete="SET NULL",
        ),
    )

    op.create_table(
        "sla_holidays",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sla_holidays"),
        organization_fk("sla_holidays"),
    )
    op.create_index("ix_sla_holidays_organization_id", "sla_holidays", ["organization_id"])
    op.create_index(
        "uq_sla_holidays_org_day", "sla_holidays", ["organization_id", "day"], unique=True
    )

    op.create_table(
        "sla_policies",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("customer_tag", sa.String(40), nullable=False),
        sa.Column("first_response_minutes", sa.Integer(), nullable=False),
        sa.Column("resolution_minutes", sa.Integer(), nullable=False),
        sa.Column("business_hours", sa.Boolean(), nullable=False),
        timestamp("created_at"),
        timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_sla_policies"),
        organization_fk("sla_policies"),
        sa.CheckConstraint(
            "priority IN ('low', 'normal', 'high', 'urgent')", name="ck_sla_policies_priority"
        ),
        sa.CheckConstraint(
            "first_response_minutes BETWEEN 1 AND 525600 AND resolution_minutes BETWEEN 1 AND 525600",
            name="ck_sla_policies_targets",
        ),
    )
    op.create_index("ix_sla_policies_organization_id", "sla_policies", ["organization_id"])
    op.create_index(
        "uq_sla_policies_org_priority_tag",
        "sla_policies",
        ["organization_id", "priority", "customer_tag"],
        unique=True,
    )

    op.create_table(
        "sla_escalations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.String(20), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True)),
        sa.Column("fired_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(300), nullable=False),
        timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_sla_escalations"),
        organization_fk("sla_escalations"),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_sla_escalations_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "target IN ('first_response', 'resolution')", name="ck_sla_escalations_target"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'fired', 'skipped', 'cancelled')",
            name="ck_sla_escalations_status",
        ),
        sa.CheckConstraint("level BETWEEN 1 AND 100", name="ck_sla_escalations_level"),
    )
    op.create_index("ix_sla_escalations_organization_id", "sla_escalations", ["organization_id"])
    op.create_index(
        "uq_sla_escalations_point",
        "sla_escalations",
        ["organization_id", "ticket_id", "target", "level", "due_at"],
        unique=True,
    )
    op.create_index(
        "ix_sla_escalations_pending",
        "sla_escalations",
        ["fire_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_sla_escalations_log",
        "sla_escalations",
        ["organization_id", "id"],
        postgresql_where=sa.text("status IN ('fired', 'skipped')"),
    )

    op.create_table(
        "sla_notifications",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("escalation_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("user_id", sa.BigInteger()),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("provider_id", sa.String(200), nullable=False),
        sa.Column("delivery_status", sa.String(20), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_sla_notifications"),
        organization_fk("sla_notifications"),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["sla_escalations.id"],
            name="fk_sla_notifications_escalation_id_sla_escalations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_sla_notifications_user_id_users",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("channel IN ('email', 'sms')", name="ck_sla_notifications_channel"),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'unconfirmed')",
            name="ck_sla_notifications_status",
        ),
    )
    op.create_index(
        "ix_sla_notifications_organization_id", "sla_notifications", ["organization_id"]
    )
    op.create_index(
        "uq_sla_notifications_recipient",
        "sla_notifications",
        ["organization_id", "escalation_id", "channel", "recipient"],
        unique=True,
    )
    op.create_index(
        "ix_sla_notifications_open",
        "sla_notifications",
        ["claimed_at"],
        postgresql_where=sa.text("status IN ('pending', 'sending')"),
    )

    # The ticket's SLA state (crm_web.sla.ticket_columns).
    op.add_column("tickets", sa.Column("sla_policy_id", sa.BigInteger()))
    op.add_column(
        "tickets",
        sa.Column("sla_elapsed_seconds", sa.Double(), server_default="0", nullable=False),
    )
    for column in (
        "sla_clock_started_at",
        "first_response_due_at",
        "resolution_due_at",
        "sla_due_at",
    ):
        op.add_column("tickets", sa.Column(column, sa.DateTime(timezone=True)))
    op.add_column("tickets", sa.Column("first_response_seconds", sa.Double()))
    op.add_column("tickets", sa.Column("resolution_seconds", sa.Double()))
    for column in ("first_response_breached", "resolution_breached"):
        op.add_column(
            "tickets", sa.Column(column, sa.Boolean(), server_default="false", nullable=False)
        )
    op.create_foreign_key(
        "fk_tickets_sla_policy_id_sla_policies",
        "tickets",
        "sla_policies",
        ["sla_policy_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        "ix_tickets_org_sla_due",
        "tickets",
        ["organization_id", sa.text(f"coalesce(sla_due_at, {NO_DEADLINE})"), "id"],
        postgresql_where=sa.text(ACTIVE_PREDICATE),
    )
    op.create_index("ix_tickets_org_created", "tickets", ["organization_id", "created_at"])
    op.create_index(
        "ix_tickets_org_resolved",
        "tickets",
        ["organization_id", "resolved_at"],
        postgresql_where=sa.text("resolved_at IS NOT NULL"),
    )

    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    create_definer_function(WORK_FUNCTION, "SETOF bigint", WORK_QUERY)


def downgrade():
    op.execute(f"DROP FUNCTION {WORK_FUNCTION}")
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(table)
    op.drop_index("ix_tickets_org_resolved", table_name="tickets")
    op.drop_index("ix_tickets_org_created", table_name="tickets")
    op.drop_index("ix_tickets_org_sla_due", table_name="tickets")
    op.drop_constraint("fk_tickets_sla_policy_id_sla_policies", "tickets", type_="foreignkey")
    for column in (
        "resolution_breached",
        "first_response_breached",
        "resolution_seconds",
        "first_response_seconds",
        "sla_due_at",
        "resolution_due_at",
        "first_response_due_at",
        "sla_clock_started_at",
        "sla_elapsed_seconds",
        "sla_policy_id",
    ):
        op.drop_column("tickets", column)
    op.drop_table("sla_notifications")
    op.drop_table("sla_escalations")
    op.drop_table("sla_policies")
    op.drop_table("sla_holidays")
    op.drop_table("sla_settings")
