"""Background recomputes of open tickets' due times, one row per organization.

A policy or business-hours change that applies to many open tickets commits at once and
leaves the recompute to a worker, chunk by chunk; this row holds its generation (a newer
change supersedes a running job), its keyset cursor and its progress for the settings page.

Revision ID: 0015_sla_recomputes
Revises: 0014_lead_import
"""

import sqlalchemy as sa
from alembic import op
from helpers import create_definer_function, disable_tenant_rls, enable_tenant_rls
from sqlalchemy.dialects import postgresql

revision = "0015_sla_recomputes"
down_revision = "0014_lead_import"
branch_labels = None
depends_on = None

# The sweep runs for no tenant: this tells it which organizations' running recomputes stopped
# moving (the worker died), ids only.
STALE_FUNCTION = "sla_organizations_with_stale_recomputes(p_stale timestamptz)"
STALE_QUERY = (
    "SELECT organization_id FROM sla_recomputes WHERE status = 'running' AND updated_at < p_stale"
)


def upgrade():
    op.create_table(
        "sla_recomputes",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("priorities", postgresql.ARRAY(sa.Text())),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("last_ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("requested_by_id", sa.BigInteger()),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("organization_id", name="pk_sla_recomputes"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_sla_recomputes_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name="fk_sla_recomputes_requested_by_id_users",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("status IN ('running', 'done')", name="ck_sla_recomputes_status"),
    )
    enable_tenant_rls("sla_recomputes")
    create_definer_function(STALE_FUNCTION, "SETOF bigint", STALE_QUERY)


def downgrade():
    op.execute(f"DROP FUNCTION {STALE_FUNCTION}")
    disable_tenant_rls("sla_recomputes")
    op.drop_table("sla_recomputes")
