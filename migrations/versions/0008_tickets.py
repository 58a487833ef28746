"""Support tickets, their thread, teams and routing.

Revision ID: 0008_tickets
Revises: 0002_communications
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_tickets"
down_revision = "0002_communications"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
