"""Activities and tasks, their attendees and reminders.

Revision ID: 0010_activities
Revises: 0007_pipeline
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_activities"
down_revision = "0007_pipeline"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
