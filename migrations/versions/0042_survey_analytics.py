"""Survey analytics: the index on a survey's responses by start time carries the columns the
analytics count (state, NPS, sentiment, time taken), so counting them per day reads the index
alone instead of every response's row with its answers.

Revision ID: 0042_survey_analytics
Revises: 0041_commerce_speed
"""

from alembic import op

revision = "0042_survey_analytics"
down_revision = "0041_commerce_speed"
branch_labels = None
depends_on = None

INDEX = "ix_survey_responses_started"
KEY = ["organization_id", "survey_id", "started_at"]
COUNTED = ["state", "nps", "sentiment_label", "sentiment", "duration_seconds"]


def upgrade():
    op.drop_index(INDEX, table_name="survey_responses")
    op.create_index(INDEX, "survey_responses", KEY, postgresql_include=COUNTED)


def downgrade():
    op.drop_index(INDEX, table_name="survey_responses")
    op.create_index(INDEX, "survey_responses", KEY)
