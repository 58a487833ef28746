"""Customer activity: notes, preferences, documents, events and attendees.

Revision ID: 0004_customer_activity
Revises: 0003_customer_profile
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from helpers import disable_tenant_rls, enable_tenant_rls

revision = "0004_customer_activity"
down_revision = "0003_customer_profile"
branch_labels = None
depends_on = None

TABLES = (
    "customer_notes",
    "customer_campaign_preferences",
    "customer_documents",
    "events",
    "event_attendees",
)


def organization_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=f"fk_{table}_organization_id_organizations",
        ondelete="CASCADE",
    )


def customer_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["customer_id"],
        ["customers.id"],
        name=f"fk_{table}_customer_id_customers",
        ondelete="CASCADE",
    )


def user_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=f"fk_{table}_{column}_users", ondelete="SET NULL"
    )


def created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def updated_at() -> sa.Column:
    return sa.Column(
        "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade():
    op.create_table(
        "customer_notes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.BigInteger()),
        created_at(),
        updated_at(),
        sa.PrimaryKeyConstraint("id", name="pk_customer_notes"),
        organization_fk("customer_notes"),
        customer_fk("customer_notes"),
        user_fk("customer_notes", "author_id"),
    )
    op.create_index("ix_customer_notes_organization_id", "customer_notes", ["organization_id"])
    op.create_index(
        "ix_customer_notes_customer_timeline",
        "customer_notes",
        ["organization_id", "customer_id", "created_at", "id"],
    )

    op.create_table(
        "customer_campaign_preferences",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_type", sa.String(30), nullable=False),
        created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_customer_campaign_preferences"),
        organization_fk("customer_campaign_preferences"),
        customer_fk("customer_campaign_preferences"),
    )
    op.create_index(
        "ix_customer_campaign_preferences_organization_id",
        "customer_campaign_preferences",
        ["organization_id"],
    )
    op.create_index(
        "uq_customer_campaign_preferences_customer_type",
        "customer_campaign_preferences",
        ["organization_id", "customer_id", "campaign_type"],
        unique=True,
    )
    # Campaign fan-out reads everyone in the organization who wants one type.
    op.create_index(
        "ix_customer_campaign_preferences_type",
        "customer_campaign_preferences",
        ["organization_id", "campaign_type", "customer_id"],
    )

    op.create_table(
        "customer_documents",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(200), nullable=False),
        sa.Column("uploaded_by_id", sa.BigInteger()),
        created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_customer_documents"),
        sa.UniqueConstraint("storage_key", name="uq_customer_documents_storage_key"),
        organization_fk("customer_documents"),
        customer_fk("customer_documents"),
        user_fk("customer_documents", "uploaded_by_id"),
    )
    op.create_index(
        "ix_customer_documents_organization_id", "customer_documents", ["organization_id"]
    )
    op.create_index(
        "ix_customer_documents_customer_timeline",
        "customer_documents",
        ["organization_id", "customer_id", "created_at", "id"],
    )

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True)),
        sa.Column("location", sa.String(200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("capacity", sa.Integer()),
        sa.Column("created_by_id", sa.BigInteger()),
        created_at(),
        updated_at(),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        organization_fk("events"),
        user_fk("events", "created_by_id"),
    )
    op.create_index("ix_events_organization_id", "events", ["organization_id"])
    op.create_index("ix_events_org_starts", "events", ["organization_id", "starts_at", "id"])

    op.create_table(
        "event_attendees",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "registered_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("attended_at", sa.DateTime(timezone=True)),
        sa.Column("registered_by_id", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_event_attendees"),
        organization_fk("event_attendees"),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name="fk_event_attendees_event_id_events",
            ondelete="CASCADE",
        ),
        customer_fk("event_attendees"),
        user_fk("event_attendees", "registered_by_id"),
    )
    op.create_index("ix_event_attendees_organization_id", "event_attendees", ["organization_id"])
    op.create_index(
        "uq_event_attendees_event_customer",
        "event_attendees",
        ["organization_id", "event_id", "customer_id"],
        unique=True,
    )
    op.create_index(
        "ix_event_attendees_event_order", "event_attendees", ["organization_id", "event_id", "id"]
    )
    op.create_index(
        "ix_event_attendees_customer_registered",
        "event_attendees",
        ["organization_id", "customer_id", "registered_at", "id"],
    )
    op.create_index(
        "ix_event_attendees_customer_attended",
        "event_attendees",
        ["organization_id", "customer_id", "attended_at", "id"],
        postgresql_where=sa.text("attended_at IS NOT NULL"),
    )

    for table in TABLES:
        enable_tenant_rls(table)


def downgrade():
    for table in reversed(TABLES):
        disable_tenant_rls(table)
        op.drop_table(table)
