"""Pipeline stages, opportunities, stage history and quotes.

Revision ID: 0007_pipeline
Revises: 0006_leads
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_pipeline"
down_revision = "0006_leads"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
