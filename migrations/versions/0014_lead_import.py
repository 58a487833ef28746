"""Leads by phone: the CSV import finds existing leads by phone as well as by email.

Revision ID: 0014_lead_import
Revises: 0013_pipeline_won_index
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_lead_import"
down_revision = "0013_pipeline_won_index"
branch_labels = None
depends_on = None


def upgrade():
    # Partial: leads without a phone (web forms ask for an email) are never looked up by it.
    op.create_index(
        "ix_leads_org_phone",
        "leads",
        ["organization_id", "phone"],
        postgresql_where=sa.text("phone <> ''"),
    )


def downgrade():
    op.drop_index("ix_leads_org_phone", table_name="leads")
