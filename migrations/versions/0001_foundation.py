"""Foundation: organizations, users, API tokens, audit log, counters, customers, scheduler state.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from helpers import (
    create_app_role,
    create_definer_function,
    disable_tenant_rls,
    drop_app_role_privileges,
    enable_tenant_rls,
)
from sqlalchemy.dialects import postgresql

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

TENANT_TABLES = ("users", "api_tokens", "audit_log", "organization_counters", "customers")

# Lookups the app needs before it knows the tenant: they return ids only.
DEFINER_FUNCTIONS = {
    "auth_user_by_email(p_email text)": (
        "TABLE(user_id bigint, organization_id bigint)",
        "SELECT id, organization_id FROM users WHERE lower(email) = lower(p_email)",
    ),
    "auth_user_organization(p_user_id bigint)": (
        "bigint",
        "SELECT organization_id FROM users WHERE id = p_user_id AND is_active",
    ),
    "auth_token_owner(p_token_hash text)": (
        "TABLE(user_id bigint, organization_id bigint)",
        "SELECT t.user_id, t.organization_id FROM api_tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_hash = p_token_hash AND t.revoked_at IS NULL AND u.is_active",
    ),
    "organization_id_for_slug(p_slug text)": (
        "bigint",
        "SELECT id FROM organizations WHERE slug = lower(p_slug)",
    ),
}


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


def upgrade():
    create_app_role()

    op.create_table(
        "organizations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("locale", sa.String(16), nullable=False),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
        sa.UniqueConstraint("slug", name="uq_organizations_slug"),
    )

    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("skills", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True)),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_users_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "role IN ('admin', 'manager', 'sales', 'support', 'marketing')",
            name="ck_users_role_known",
        ),
    )
    op.create_index("ix_users_organization_id", "users", ["organization_id"])
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(12), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_api_tokens_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_organization_id", "api_tokens", ["organization_id"])
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger()),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("table_name", sa.String(63), nullable=False),
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.Column("old_values", postgresql.JSONB()),
        sa.Column("new_values", postgresql.JSONB()),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_org_id_desc", "audit_log", ["organization_id", "id"])
    op.create_index(
        "ix_audit_log_org_table_row", "audit_log", ["organization_id", "table_name", "row_id"]
    )

    op.create_table(
        "organization_counters",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "name", name="pk_organization_counters"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_organization_counters_organization_id_organizations",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_code", sa.String(20), nullable=False),
        sa.Column("customer_type", sa.String(20), nullable=False),
        sa.Column("title", sa.String(10), nullable=False),
        sa.Column("first_name", sa.String(50), nullable=False),
        sa.Column("last_name", sa.String(50), nullable=False),
        sa.Column("company_name", sa.String(100), nullable=False),
        sa.Column("tax_number", sa.String(11), nullable=False),
        sa.Column("tax_office", sa.String(50), nullable=False),
        sa.Column("identity_number", sa.String(11), nullable=False),
        sa.Column("birth_date", sa.Date()),
        sa.Column("gender", sa.String(1), nullable=False),
        sa.Column("primary_email", sa.String(254), nullable=False),
        sa.Column("secondary_email", sa.String(254), nullable=False),
        sa.Column("primary_phone", sa.String(20), nullable=False),
        sa.Column("secondary_phone", sa.String(20), nullable=False),
        sa.Column("website", sa.String(200), nullable=False),
        sa.Column("industry", sa.String(50), nullable=False),
        sa.Column("company_size", sa.String(20), nullable=False),
        sa.Column("annual_revenue", sa.Numeric(15, 2)),
        sa.Column("lead_source", sa.String(50), nullable=False),
        sa.Column(
            "customer_since", sa.Date(), server_default=sa.text("CURRENT_DATE"), nullable=False
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("owner_id", sa.BigInteger()),
        sa.Column("lifecycle_stage", sa.String(20), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("email_opt_in", sa.Boolean(), nullable=False),
        sa.Column("sms_opt_in", sa.Boolean(), nullable=False),
        sa.Column("do_not_contact", sa.Boolean(), nullable=False),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_customers_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_customers_owner_id_users", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_customers_organization_id", "customers", ["organization_id"])
    op.create_index("ix_customers_org_id", "customers", ["organization_id", "id"])
    # Counts of all and active customers come from one index-only scan.
    op.create_index("ix_customers_org_active", "customers", ["organization_id", "is_active"])
    op.create_index(
        "uq_customers_org_code", "customers", ["organization_id", "customer_code"], unique=True
    )

    op.create_table(
        "scheduled_jobs",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True)),
        sa.Column("last_run_by", sa.String(200), nullable=False),
        sa.Column("run_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_scheduled_jobs"),
    )

    op.create_table(
        "failed_jobs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("queue_name", sa.String(100), nullable=False),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("args", postgresql.JSONB(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column(
            "failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_failed_jobs"),
        sa.UniqueConstraint("message_id", name="uq_failed_jobs_message_id"),
    )

    enable_tenant_rls("organizations", column="id")
    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    for signature, (returns, body) in DEFINER_FUNCTIONS.items():
        create_definer_function(signature, returns, body)


def downgrade():
    for signature in DEFINER_FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")
    for table in ("failed_jobs", "scheduled_jobs", *reversed(TENANT_TABLES), "organizations"):
        disable_tenant_rls(table)
        op.drop_table(table)
    drop_app_role_privileges()
