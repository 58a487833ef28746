"""CSV import jobs and their rejected rows.

Revision ID: 0005_customer_imports
Revises: 0004_customer_activity
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from helpers import disable_tenant_rls, enable_tenant_rls
from sqlalchemy.dialects import postgresql

revision = "0005_customer_imports"
down_revision = "0004_customer_activity"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.String(30), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("phase", sa.String(10), nullable=False),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("storage_key", sa.String(200), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("encoding", sa.String(20), nullable=False),
        sa.Column("encoding_note", sa.Text(), nullable=False),
        sa.Column("delimiter", sa.String(1), nullable=False),
        sa.Column("headers", postgresql.JSONB(), nullable=False),
        sa.Column("sample", postgresql.JSONB(), nullable=False),
        sa.Column("mapping", postgresql.JSONB(), nullable=False),
        sa.Column("dedupe_mode", sa.String(10), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("rows_processed", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("report", postgresql.JSONB(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.BigInteger()),
        sa.Column("queued_by_id", sa.BigInteger()),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
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
        sa.PrimaryKeyConstraint("id", name="pk_import_jobs"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_import_jobs_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name="fk_import_jobs_created_by_id_users",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["queued_by_id"],
            ["users.id"],
            name="fk_import_jobs_queued_by_id_users",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(
            "status IN ('uploaded', 'queued', 'running', 'checked', 'imported', 'failed')",
            name="ck_import_jobs_status_known",
        ),
        sa.CheckConstraint("phase IN ('check', 'import')", name="ck_import_jobs_phase_known"),
        sa.CheckConstraint(
            "dedupe_mode IN ('skip', 'update', 'create')", name="ck_import_jobs_dedupe_mode_known"
        ),
    )
    op.create_index("ix_import_jobs_organization_id", "import_jobs", ["organization_id"])
    op.create_index("ix_import_jobs_org_target", "import_jobs", ["organization_id", "target", "id"])

    op.create_table(
        "import_rejects",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "organization_id", "job_id", "row_number", name="pk_import_rejects"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_import_rejects_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["import_jobs.id"],
            name="fk_import_rejects_job_id_import_jobs",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_import_rejects_organization_id", "import_rejects", ["organization_id"])

    enable_tenant_rls("import_jobs")
    enable_tenant_rls("import_rejects")


def downgrade():
    for table in ("import_rejects", "import_jobs"):
        disable_tenant_rls(table)
        op.drop_table(table)
