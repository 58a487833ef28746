"""CSV import jobs and their rejected rows.

Revision ID: 0005_customer_imports
Revises: 0004_customer_activity
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_customer_imports"
down_revision = "0004_customer_activity"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
