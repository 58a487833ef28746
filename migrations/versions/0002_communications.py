"""The communication log: calls, meetings, emails and SMS per customer.

Revision ID: 0002_communications
Revises: 0001_foundation
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from helpers import disable_tenant_rls, enable_tenant_rls
from sqlalchemy.dialects import postgresql

revision = "0002_communications"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "communications",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("communication_type", sa.String(20), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sender", sa.String(254), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(200), nullable=False),
        sa.Column("duration_seconds", sa.Integer()),
        sa.Column("delivery_date", sa.DateTime(timezone=True)),
        sa.Column("opened_date", sa.DateTime(timezone=True)),
        sa.Column("clicked_date", sa.DateTime(timezone=True)),
        sa.Column("provider_message_id", sa.String(200), nullable=False),
        sa.Column("source_type", sa.String(30), nullable=False),
        sa.Column("source_id", sa.BigInteger()),
        sa.Column("attachments", postgresql.JSONB(), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("created_by_id", sa.BigInteger()),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_communications"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_communications_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_communications_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name="fk_communications_created_by_id_users",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_communications_organization_id", "communications", ["organization_id"])
    op.create_index(
        "ix_communications_customer_timeline",
        "communications",
        ["organization_id", "customer_id", "created_at", "id"],
    )
    op.create_index(
        "ix_communications_source",
        "communications",
        ["organization_id", "source_type", "source_id"],
    )
    enable_tenant_rls("communications")


def downgrade():
    disable_tenant_rls("communications")
    op.drop_table("communications")
