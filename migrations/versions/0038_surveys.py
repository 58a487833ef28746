"""Surveys: the survey being built, its launched versions, personal invitations, responses saved
page by page, and the running tallies per question and answer.

Revision ID: 0038_surveys
Revises: 0037_sms_campaigns
"""

import sqlalchemy as sa
from alembic import op
from helpers import disable_tenant_rls, enable_tenant_rls, foreign_key, organization_fk, timestamps
from sqlalchemy.dialects import postgresql

revision = "0038_surveys"
down_revision = "0037_sms_campaigns"
branch_labels = None
depends_on = None

TABLES = ("surveys", "survey_versions", "survey_invitations", "survey_responses", "survey_tallies")


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade():
    op.create_table(
        "surveys",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("definition", postgresql.JSONB(), nullable=False),
        sa.Column("undo_definition", postgresql.JSONB()),
        sa.Column("version_id", sa.BigInteger()),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("public_link", sa.Boolean(), nullable=False),
        _when("starts_at"),
        _when("ends_at"),
        sa.Column("max_responses", sa.Integer()),
        sa.Column("thank_you", sa.Text(), nullable=False),
        sa.Column("completed_count", sa.Integer(), nullable=False),
        _when("launched_at"),
        _when("closed_at"),
        sa.Column("created_by_id", sa.BigInteger()),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_surveys"),
        organization_fk("surveys"),
        foreign_key("surveys", "created_by_id", "users", "SET NULL"),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'closed')", name=op.f("ck_surveys_status_known")
        ),
        sa.CheckConstraint(
            "max_responses IS NULL OR max_responses > 0",
            name=op.f("ck_surveys_max_responses_positive"),
        ),
    )
    op.create_index("ix_surveys_organization_id", "surveys", ["organization_id"])
    op.create_index("ix_surveys_org_status", "surveys", ["organization_id", "status"])

    op.create_table(
        "survey_versions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("survey_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("definition", postgresql.JSONB(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_survey_versions"),
        organization_fk("survey_versions"),
        foreign_key("survey_versions", "survey_id", "surveys"),
    )
    op.create_index("ix_survey_versions_organization_id", "survey_versions", ["organization_id"])
    op.create_index(
        "uq_survey_versions_number",
        "survey_versions",
        ["organization_id", "survey_id", "number"],
        unique=True,
    )
    op.create_foreign_key(
        "fk_surveys_version_id_survey_versions",
        "surveys",
        "survey_versions",
        ["version_id"],
        ["id"],
        ondelete="SET NULL",
    )

    op.create_table(
        "survey_invitations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("survey_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(12), nullable=False),
        sa.Column("ticket_id", sa.BigInteger()),
        sa.Column("campaign_id", sa.BigInteger()),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_survey_invitations"),
        organization_fk("survey_invitations"),
        foreign_key("survey_invitations", "survey_id", "surveys"),
        foreign_key("survey_invitations", "customer_id", "customers"),
        foreign_key("survey_invitations", "ticket_id", "tickets", "SET NULL"),
        foreign_key("survey_invitations", "campaign_id", "campaigns", "SET NULL"),
    )
    op.create_index(
        "ix_survey_invitations_organization_id", "survey_invitations", ["organization_id"]
    )
    op.create_index(
        "ix_survey_invitations_survey",
        "survey_invitations",
        ["organization_id", "survey_id", "id"],
    )
    op.create_index(
        "ix_survey_invitations_customer",
        "survey_invitations",
        ["organization_id", "customer_id"],
    )

    op.create_table(
        "survey_responses",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("survey_id", sa.BigInteger(), nullable=False),
        sa.Column("version_id", sa.BigInteger()),
        sa.Column("invitation_id", sa.BigInteger()),
        sa.Column("customer_id", sa.BigInteger()),
        sa.Column("channel", sa.String(12), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("answers", postgresql.JSONB(), nullable=False),
        sa.Column("page", sa.SmallInteger(), nullable=False),
        sa.Column("pages_seen", postgresql.JSONB(), nullable=False),
        sa.Column("completion", sa.SmallInteger(), nullable=False),
        _when("started_at", nullable=False),
        _when("updated_at", nullable=False),
        _when("completed_at"),
        sa.Column("duration_seconds", sa.Integer()),
        sa.Column("ip", postgresql.INET()),
        sa.Column("nps", sa.SmallInteger()),
        sa.Column("sentiment", sa.Float()),
        sa.Column("sentiment_label", sa.String(10), nullable=False),
        sa.Column("ticket_id", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_survey_responses"),
        organization_fk("survey_responses"),
        foreign_key("survey_responses", "survey_id", "surveys"),
        foreign_key("survey_responses", "version_id", "survey_versions"),
        foreign_key("survey_responses", "invitation_id", "survey_invitations", "SET NULL"),
        foreign_key("survey_responses", "customer_id", "customers", "SET NULL"),
        foreign_key("survey_responses", "ticket_id", "tickets", "SET NULL"),
        sa.CheckConstraint(
            "state IN ('in_progress', 'completed')", name=op.f("ck_survey_responses_state_known")
        ),
        sa.CheckConstraint(
            "nps IS NULL OR nps BETWEEN 0 AND 10", name=op.f("ck_survey_responses_nps_range")
        ),
    )
    op.create_index("ix_survey_responses_organization_id", "survey_responses", ["organization_id"])
    op.create_index(
        "ix_survey_responses_survey", "survey_responses", ["organization_id", "survey_id", "id"]
    )
    op.create_index(
        "ix_survey_responses_started",
        "survey_responses",
        ["organization_id", "survey_id", "started_at"],
    )
    op.create_index(
        "ix_survey_responses_customer",
        "survey_responses",
        ["organization_id", "customer_id", "completed_at"],
        postgresql_where=sa.text("customer_id IS NOT NULL"),
    )
    op.create_index(
        "uq_survey_responses_invitation", "survey_responses", ["invitation_id"], unique=True
    )

    op.create_table(
        "survey_tallies",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("survey_id", sa.BigInteger(), nullable=False),
        sa.Column("question_id", sa.String(16), nullable=False),
        sa.Column("answer", sa.String(40), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "survey_id", "question_id", "answer", "shard", name="pk_survey_tallies"
        ),
        organization_fk("survey_tallies"),
        foreign_key("survey_tallies", "survey_id", "surveys"),
    )
    op.create_index("ix_survey_tallies_organization_id", "survey_tallies", ["organization_id"])

    for table in TABLES:
        enable_tenant_rls(table)


def downgrade():
    for table in reversed(TABLES):
        disable_tenant_rls(table)
    op.drop_constraint("fk_surveys_version_id_survey_versions", "surveys", type_="foreignkey")
    for table in reversed(TABLES):
        op.drop_table(table)
