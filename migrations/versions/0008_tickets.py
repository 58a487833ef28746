"""Support tickets, their thread, teams and routing.

Revision ID: 0008_tickets
Revises: 0010_activities
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from helpers import disable_tenant_rls, enable_tenant_rls
from sqlalchemy.dialects import postgresql

revision = "0008_tickets"
down_revision = "0010_activities"
branch_labels = None
depends_on = None

TENANT_TABLES = (
    "tickets",
    "ticket_messages",
    "ticket_attachments",
    "ticket_settings",
    "ticket_agent_states",
)
ACTIVE_PREDICATE = "status IN ('new', 'open', 'in_progress', 'waiting_on_customer')"


def organization_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=f"fk_{table}_organization_id_organizations",
        ondelete="CASCADE",
    )


def created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade():
    op.create_index(
        "ix_customers_org_email_lower",
        "customers",
        ["organization_id", sa.text("lower(primary_email)")],
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("category", sa.String(50), nullable=False),
        sa.Column("ticket_type", sa.String(30), nullable=False),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("assignee_id", sa.BigInteger()),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("routing_reason", sa.String(200), nullable=False),
        sa.Column("created_by_id", sa.BigInteger()),
        sa.Column("assigned_at", sa.DateTime(timezone=True)),
        sa.Column("first_responded_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("csat_rating", sa.SmallInteger()),
        sa.Column("csat_comment", sa.Text(), nullable=False),
        sa.Column("csat_submitted_at", sa.DateTime(timezone=True)),
        created_at(),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        organization_fk("tickets"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_tickets_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name="fk_tickets_assignee_id_users", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name="fk_tickets_created_by_id_users",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(
            "channel IN ('email', 'phone', 'web', 'api')", name="ck_tickets_channel"
        ),
        sa.CheckConstraint(
            "priority IN ('low', 'normal', 'high', 'urgent')", name="ck_tickets_priority"
        ),
        sa.CheckConstraint(
            "status IN ('new', 'open', 'in_progress', 'waiting_on_customer', 'resolved', 'closed')",
            name="ck_tickets_status",
        ),
        sa.CheckConstraint("csat_rating BETWEEN 1 AND 5", name="ck_tickets_csat_rating"),
    )
    op.create_index("ix_tickets_organization_id", "tickets", ["organization_id"])
    op.create_index("uq_tickets_org_number", "tickets", ["organization_id", "number"], unique=True)
    op.create_index("ix_tickets_org_id", "tickets", ["organization_id", "id"])
    op.create_index("ix_tickets_org_updated", "tickets", ["organization_id", "updated_at"])
    op.create_index(
        "ix_tickets_org_team_active",
        "tickets",
        ["organization_id", "department"],
        postgresql_where=sa.text(ACTIVE_PREDICATE),
    )
    op.create_index(
        "ix_tickets_org_assignee_status", "tickets", ["organization_id", "assignee_id", "status"]
    )
    op.create_index("ix_tickets_org_customer", "tickets", ["organization_id", "customer_id", "id"])
    op.create_index(
        "ix_tickets_org_active",
        "tickets",
        ["organization_id", "id"],
        postgresql_where=sa.text(ACTIVE_PREDICATE),
    )

    op.create_table(
        "ticket_messages",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("author_user_id", sa.BigInteger()),
        sa.Column("author_customer_id", sa.BigInteger()),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.Column("email_status", sa.String(10), nullable=False),
        sa.Column("emailed_at", sa.DateTime(timezone=True)),
        sa.Column("communication_id", sa.BigInteger()),
        created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_messages"),
        organization_fk("ticket_messages"),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_ticket_messages_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name="fk_ticket_messages_author_user_id_users",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["author_customer_id"],
            ["customers.id"],
            name="fk_ticket_messages_author_customer_id_customers",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["communication_id"],
            ["communications.id"],
            name="fk_ticket_messages_communication_id_communications",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("kind IN ('reply', 'note', 'event')", name="ck_ticket_messages_kind"),
    )
    op.create_index("ix_ticket_messages_organization_id", "ticket_messages", ["organization_id"])
    op.create_index(
        "ix_ticket_messages_thread", "ticket_messages", ["organization_id", "ticket_id", "id"]
    )

    op.create_table(
        "ticket_attachments",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(100), nullable=False),
        created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_attachments"),
        organization_fk("ticket_attachments"),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_ticket_attachments_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["ticket_messages.id"],
            name="fk_ticket_attachments_message_id_ticket_messages",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("storage_key", name="uq_ticket_attachments_storage_key"),
    )
    op.create_index(
        "ix_ticket_attachments_organization_id", "ticket_attachments", ["organization_id"]
    )
    op.create_index(
        "ix_ticket_attachments_message", "ticket_attachments", ["organization_id", "message_id"]
    )

    op.create_table(
        "ticket_settings",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("agent_ticket_cap", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", name="pk_ticket_settings"),
        organization_fk("ticket_settings"),
    )

    op.create_table(
        "ticket_agent_states",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "user_id", name="pk_ticket_agent_states"),
        organization_fk("ticket_agent_states"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_ticket_agent_states_user_id_users",
            ondelete="CASCADE",
        ),
    )

    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade():
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(table)
        op.drop_table(table)
    op.drop_index("ix_customers_org_email_lower", table_name="customers")
