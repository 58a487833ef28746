"""Failed jobs remember the organization they ran for, so an admin sees only their own.

Revision ID: 0011_failed_job_organizations
Revises: 0009_sla
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from helpers import (
    TENANT_OR_SYSTEM_PREDICATE,
    create_definer_function,
    disable_tenant_rls,
    enable_tenant_rls,
)

revision = "0011_failed_job_organizations"
down_revision = "0009_sla"
branch_labels = None
depends_on = None

# The System page counts the system's own failures without seeing them (it runs as a tenant).
SYSTEM_FAILURES = "failed_system_job_count()"
SYSTEM_FAILURES_BODY = "SELECT count(*) FROM failed_jobs WHERE organization_id IS NULL"


def upgrade() -> None:
    # Nullable: jobs of the system itself (the scheduler's sweeps) run for no organization.
    op.add_column("failed_jobs", sa.Column("organization_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        "fk_failed_jobs_organization_id_organizations",
        "failed_jobs",
        "organizations",
        ["organization_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index("ix_failed_jobs_organization_id_id", "failed_jobs", ["organization_id", "id"])
    enable_tenant_rls("failed_jobs", predicate=TENANT_OR_SYSTEM_PREDICATE)
    create_definer_function(SYSTEM_FAILURES, "bigint", SYSTEM_FAILURES_BODY)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SYSTEM_FAILURES}")
    disable_tenant_rls("failed_jobs")
    op.drop_index("ix_failed_jobs_organization_id_id", table_name="failed_jobs")
    op.drop_constraint(
        "fk_failed_jobs_organization_id_organizations", "failed_jobs", type_="foreignkey"
    )
    op.drop_column("failed_jobs", "organization_id")
