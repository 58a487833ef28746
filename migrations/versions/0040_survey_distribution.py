"""Survey distribution: a campaign may carry a survey (each recipient gets a personal link), and
the support settings may name the survey sent when a ticket is resolved.

Revision ID: 0040_survey_distribution
Revises: 0039_dashboard_aggregates
"""

import sqlalchemy as sa
from alembic import op

revision = "0040_survey_distribution"
down_revision = "0039_dashboard_aggregates"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("campaigns", sa.Column("survey_id", sa.BigInteger()))
    op.create_foreign_key(
        "fk_campaigns_survey_id_surveys",
        "campaigns",
        "surveys",
        ["survey_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.add_column("ticket_settings", sa.Column("resolution_survey_id", sa.BigInteger()))
    op.create_foreign_key(
        "fk_ticket_settings_resolution_survey_id_surveys",
        "ticket_settings",
        "surveys",
        ["resolution_survey_id"],
        ["id"],
        ondelete="SET NULL",
    )
    # A campaign's message finds its recipient's invitation; a resolved ticket finds its own.
    op.create_index(
        "ix_survey_invitations_campaign",
        "survey_invitations",
        ["organization_id", "campaign_id", "customer_id"],
        unique=True,
        postgresql_where=sa.text("campaign_id IS NOT NULL"),
    )
    op.create_index(
        "ix_survey_invitations_ticket",
        "survey_invitations",
        ["organization_id", "ticket_id"],
        postgresql_where=sa.text("ticket_id IS NOT NULL"),
    )


def downgrade():
    op.drop_index("ix_survey_invitations_ticket", table_name="survey_invitations")
    op.drop_index("ix_survey_invitations_campaign", table_name="survey_invitations")
    op.drop_constraint(
        "fk_ticket_settings_resolution_survey_id_surveys", "ticket_settings", type_="foreignkey"
    )
    op.drop_column("ticket_settings", "resolution_survey_id")
    op.drop_constraint("fk_campaigns_survey_id_surveys", "campaigns", type_="foreignkey")
    op.drop_column("campaigns", "survey_id")
