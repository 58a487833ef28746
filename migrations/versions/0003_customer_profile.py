"""Customers: consent history, search indexes and the rest of the profile.

Revision ID: 0003_customer_profile
Revises: 0002_communications
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_customer_profile"
down_revision = "0002_communications"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
