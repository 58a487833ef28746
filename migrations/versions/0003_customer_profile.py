"""Customers: consent history, search indexes and the rest of the profile.

Revision ID: 0003_customer_profile
Revises: 0002_communications
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from helpers import create_tenant_view, disable_tenant_rls, enable_tenant_rls

revision = "0003_customer_profile"
down_revision = "0002_communications"
branch_labels = None
depends_on = None

# Case and Turkish letters folded, so "sahin" finds "Şahin" (the app folds the query the same way).
SEARCH_TEXT = (
    "lower(translate(customer_code || ' ' || first_name || ' ' || last_name || ' ' || "
    "company_name || ' ' || primary_email || ' ' || secondary_email || ' ' || "
    "primary_phone || ' ' || secondary_phone, 'çğıöşüâîûÇĞİÖŞÜÂÎÛ', 'cgiosuaiuCGIOSUAIU'))"
)
SORT_NAME = (
    "lower(CASE WHEN customer_type = 'company' AND company_name <> '' THEN company_name "
    "ELSE btrim(first_name || ' ' || last_name) END)"
)
SEARCH_VIEW_COLUMNS = (
    "id",
    "organization_id",
    "customer_type",
    "lifecycle_stage",
    "owner_id",
    "tags",
    "city",
    "is_active",
    "updated_at",
    "sort_name",
    "search_text",
)


def upgrade():
    # Trusted extensions (PostgreSQL 13+): the database owner may create them.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    op.add_column(
        "customers", sa.Column("address", sa.String(200), server_default="", nullable=False)
    )
    op.add_column(
        "customers",
        sa.Column(
            "search_text", sa.Text(), sa.Computed(SEARCH_TEXT, persisted=True), nullable=False
        ),
    )
    op.add_column(
        "customers",
        sa.Column("sort_name", sa.Text(), sa.Computed(SORT_NAME, persisted=True), nullable=False),
    )
    op.create_check_constraint(
        "ck_customers_type_known", "customers", "customer_type IN ('person', 'company')"
    )
    op.create_check_constraint(
        "ck_customers_lifecycle_known",
        "customers",
        "lifecycle_stage IN ('subscriber', 'lead', 'opportunity', 'customer', 'loyal', "
        "'champion', 'churned')",
    )

    # One keyset index per list sort, and one per filter that can be very selective.
    op.create_index(
        "ix_customers_org_sort_name", "customers", ["organization_id", "sort_name", "id"]
    )
    op.create_index(
        "ix_customers_org_updated", "customers", ["organization_id", "updated_at", "id"]
    )
    op.create_index("ix_customers_org_owner", "customers", ["organization_id", "owner_id", "id"])
    op.create_index(
        "ix_customers_org_lifecycle", "customers", ["organization_id", "lifecycle_stage", "id"]
    )
    op.create_index(
        "ix_customers_org_city", "customers", ["organization_id", sa.text("lower(city)"), "id"]
    )
    op.create_index(
        "ix_customers_org_city_name",
        "customers",
        ["organization_id", sa.text("lower(city)"), "sort_name", "id"],
    )
    op.create_index("ix_customers_tags", "customers", ["tags"], postgresql_using="gin")
    op.create_index(
        "ix_customers_search",
        "customers",
        ["search_text"],
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    # Duplicate warnings and the import's dedupe.
    op.create_index(
        "ix_customers_org_email",
        "customers",
        ["organization_id", "primary_email"],
        postgresql_where=sa.text("primary_email <> ''"),
    )
    op.create_index(
        "ix_customers_org_phone",
        "customers",
        ["organization_id", "primary_phone"],
        postgresql_where=sa.text("primary_phone <> ''"),
    )
    create_tenant_view("customer_search", "customers", SEARCH_VIEW_COLUMNS)

    op.create_table(
        "customer_consent_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("old_value", sa.Boolean()),
        sa.Column("new_value", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("user_id", sa.BigInteger()),
        sa.Column("note", sa.String(200), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_customer_consent_events"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_customer_consent_events_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_customer_consent_events_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_customer_consent_events_user_id_users",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'all')", name="ck_customer_consent_events_channel_known"
        ),
        sa.CheckConstraint(
            "source IN ('form', 'import', 'api', 'unsubscribe', 'merge', 'bulk')",
            name="ck_customer_consent_events_source_known",
        ),
    )
    op.create_index(
        "ix_customer_consent_events_organization_id",
        "customer_consent_events",
        ["organization_id"],
    )
    op.create_index(
        "ix_customer_consent_events_customer",
        "customer_consent_events",
        ["organization_id", "customer_id", "created_at", "id"],
    )
    enable_tenant_rls("customer_consent_events")


def downgrade():
    disable_tenant_rls("customer_consent_events")
    op.drop_table("customer_consent_events")
    op.execute("DROP VIEW customer_search")
    for index in (
        "ix_customers_org_phone",
        "ix_customers_org_email",
        "ix_customers_search",
        "ix_customers_tags",
        "ix_customers_org_city_name",
        "ix_customers_org_city",
        "ix_customers_org_lifecycle",
        "ix_customers_org_owner",
        "ix_customers_org_updated",
        "ix_customers_org_sort_name",
    ):
        op.drop_index(index, table_name="customers")
    op.drop_constraint("ck_customers_lifecycle_known", "customers", type_="check")
    op.drop_constraint("ck_customers_type_known", "customers", type_="check")
    op.drop_column("customers", "sort_name")
    op.drop_column("customers", "search_text")
    op.drop_column("customers", "address")
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
