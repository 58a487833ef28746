"""The forecast's won deals by month of closing, read from an index alone.

Revision ID: 0013_pipeline_won_index
Revises: 0012_ticket_queue_indexes
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_pipeline_won_index"
down_revision = "0012_ticket_queue_indexes"
branch_labels = None
depends_on = None


def upgrade():
    # The forecast sums the amount won per month and owner; with the owner and amount in the
    # index it never visits the table's pages (a busy month has thousands of won deals).
    op.create_index(
        "ix_opportunities_org_won",
        "opportunities",
        ["organization_id", "closed_at"],
        postgresql_include=["owner_id", "amount"],
        postgresql_where=sa.text("status = 'won'"),
    )


def downgrade():
    op.drop_index("ix_opportunities_org_won", table_name="opportunities")
