"""Leads: capture, scoring rules, assignment rules and conversion.

Revision ID: 0006_leads
Revises: 0002_communications
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_leads"
down_revision = "0002_communications"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
