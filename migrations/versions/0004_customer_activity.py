"""Customer activity: notes, preferences, documents, events and attendees.

Revision ID: 0004_customer_activity
Revises: 0003_customer_profile
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_customer_activity"
down_revision = "0003_customer_profile"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
