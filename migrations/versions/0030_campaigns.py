"""Email templates with kept versions, campaigns with variants, the recipient ledger and the
tracked opens and clicks.

`campaigns_due` lets the scheduler (which acts for no organization) find the scheduled
campaigns whose start came and the A/B tests whose wait is over.

Revision ID: 0030_campaigns
Revises: 0029_segments
"""

import sqlalchemy as sa
from alembic import op
from helpers import create_definer_function, disable_tenant_rls, enable_tenant_rls
from sqlalchemy.dialects import postgresql

revision = "0030_campaigns"
down_revision = "0029_segments"
branch_labels = None
depends_on = None

TABLES = (
    "campaign_events",
    "campaign_recipients",
    "campaign_variants",
    "campaigns",
    "email_template_versions",
    "email_templates",
)
DUE_FUNCTION = "campaigns_due(p_now timestamptz)"
DUE_QUERY = """
    SELECT organization_id, id, 'start'::text FROM campaigns
     WHERE status = 'scheduled' AND starts_at <= p_now
    UNION ALL
    SELECT organization_id, id, 'winner'::text FROM campaigns
     WHERE status = 'sending' AND ab_test_percent > 0 AND ab_auto
       AND winner_variant IS NULL AND ab_decide_at <= p_now
"""


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _base(table):
    return [
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=f"fk_{table}_organization_id_organizations",
            ondelete="CASCADE",
        ),
    ]


def _key(table, column, target, ondelete="CASCADE"):
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete=ondelete
    )


def _time(name, **kwargs):
    return sa.Column(name, sa.DateTime(timezone=True), **kwargs)


def _stamps():
    return [
        _time("created_at", nullable=False, server_default=sa.func.now()),
        _time("updated_at", nullable=False, server_default=sa.func.now()),
    ]


def upgrade():
    op.create_table(
        "email_templates",
        *_base("email_templates"),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.BigInteger()),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *_stamps(),
        _key("email_templates", "created_by_id", "users", "SET NULL"),
        sa.CheckConstraint(
            _in("category", ("newsletter", "promotion", "event", "birthday", "custom")),
            name="ck_email_templates_category_known",
        ),
    )
    op.create_index("ix_email_templates_organization_id", "email_templates", ["organization_id"])
    op.create_index(
        "ix_email_templates_org_name", "email_templates", ["organization_id", "name", "id"]
    )

    op.create_table(
        "email_template_versions",
        *_base("email_template_versions"),
        sa.Column("template_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("preheader", sa.String(300), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        # The HTML's trackable links in order: a click names its index.
        sa.Column("links", postgresql.JSONB(), nullable=False),
        sa.Column("created_by_id", sa.BigInteger()),
        _time("created_at", nullable=False, server_default=sa.func.now()),
        _key("email_template_versions", "template_id", "email_templates"),
        _key("email_template_versions", "created_by_id", "users", "SET NULL"),
    )
    op.create_index(
        "ix_email_template_versions_organization_id", "email_template_versions", ["organization_id"]
    )
    op.create_index(
        "uq_email_template_versions_number",
        "email_template_versions",
        ["organization_id", "template_id", "version"],
        unique=True,
    )

    op.create_table(
        "campaigns",
        *_base("campaigns"),
        sa.Column("name", sa.String(150), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("topic", sa.String(30), nullable=False),
        sa.Column("from_name", sa.String(100), nullable=False),
        sa.Column("from_address", sa.String(254), nullable=False),
        sa.Column("reply_to", sa.String(254), nullable=False),
        sa.Column("include_segment_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("exclude_segment_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("schedule_mode", sa.String(10), nullable=False),
        _time("send_at"),
        sa.Column("local_date", sa.Date()),
        sa.Column("local_time", sa.Time()),
        _time("starts_at"),
        sa.Column("throttle_per_minute", sa.Integer()),
        sa.Column("ab_test_percent", sa.SmallInteger(), nullable=False),
        sa.Column("ab_metric", sa.String(10), nullable=False),
        sa.Column("ab_wait_minutes", sa.Integer(), nullable=False),
        sa.Column("ab_auto", sa.Boolean(), nullable=False),
        _time("ab_decide_at"),
        sa.Column("winner_variant", sa.SmallInteger()),
        sa.Column("recipient_count", sa.Integer(), nullable=False),
        _time("started_at"),
        _time("paused_at"),
        _time("finished_at"),
        sa.Column("created_by_id", sa.BigInteger()),
        *_stamps(),
        _key("campaigns", "created_by_id", "users", "SET NULL"),
        sa.CheckConstraint(
            _in("status", ("draft", "scheduled", "sending", "paused", "sent", "cancelled")),
            name="ck_campaigns_status_known",
        ),
        sa.CheckConstraint(
            _in("schedule_mode", ("now", "at", "local")), name="ck_campaigns_schedule_mode_known"
        ),
        sa.CheckConstraint(
            _in("ab_metric", ("opens", "clicks")), name="ck_campaigns_ab_metric_known"
        ),
        sa.CheckConstraint(
            "ab_test_percent BETWEEN 0 AND 50", name="ck_campaigns_ab_test_percent_range"
        ),
        sa.CheckConstraint(
            "throttle_per_minute IS NULL OR throttle_per_minute > 0",
            name="ck_campaigns_throttle_positive",
        ),
    )
    op.create_index("ix_campaigns_organization_id", "campaigns", ["organization_id"])
    op.create_index("ix_campaigns_org_id", "campaigns", ["organization_id", "id"])
    op.create_index(
        "ix_campaigns_due",
        "campaigns",
        ["starts_at"],
        postgresql_where=sa.text("status = 'scheduled'"),
    )

    op.create_table(
        "campaign_variants",
        *_base("campaign_variants"),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        _key("campaign_variants", "campaign_id", "campaigns"),
        _key("campaign_variants", "version_id", "email_template_versions", "RESTRICT"),
    )
    op.create_index(
        "ix_campaign_variants_organization_id", "campaign_variants", ["organization_id"]
    )
    op.create_index(
        "uq_campaign_variants_position",
        "campaign_variants",
        ["organization_id", "campaign_id", "position"],
        unique=True,
    )

    op.create_table(
        "campaign_recipients",
        *_base("campaign_recipients"),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("variant", sa.SmallInteger()),
        sa.Column("status", sa.String(10), nullable=False),
        _time("due_at"),
        _time("sent_at"),
        sa.Column("error", sa.String(300), nullable=False, server_default=""),
        _time("opened_at"),
        sa.Column("opens", sa.Integer(), nullable=False, server_default="0"),
        _time("clicked_at"),
        sa.Column("clicks", sa.Integer(), nullable=False, server_default="0"),
        _time("unsubscribed_at"),
        _key("campaign_recipients", "campaign_id", "campaigns"),
        _key("campaign_recipients", "customer_id", "customers"),
        sa.CheckConstraint(
            _in("status", ("held", "queued", "sent", "failed", "skipped")),
            name="ck_campaign_recipients_status_known",
        ),
    )
    op.create_index(
        "ix_campaign_recipients_organization_id", "campaign_recipients", ["organization_id"]
    )
    op.create_index(
        "uq_campaign_recipients_customer",
        "campaign_recipients",
        ["organization_id", "campaign_id", "customer_id"],
        unique=True,
    )
    op.create_index(
        "ix_campaign_recipients_status",
        "campaign_recipients",
        ["organization_id", "campaign_id", "status", "id"],
    )
    op.create_index(
        "ix_campaign_recipients_customer",
        "campaign_recipients",
        ["organization_id", "customer_id", "sent_at"],
    )

    op.create_table(
        "campaign_events",
        *_base("campaign_events"),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("recipient_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(5), nullable=False),
        sa.Column("link_index", sa.SmallInteger()),
        _time("occurred_at", nullable=False),
        sa.Column("suspect", sa.Boolean(), nullable=False),
        _key("campaign_events", "campaign_id", "campaigns"),
        _key("campaign_events", "recipient_id", "campaign_recipients"),
        sa.CheckConstraint("kind IN ('open', 'click')", name="ck_campaign_events_kind_known"),
    )
    op.create_index("ix_campaign_events_organization_id", "campaign_events", ["organization_id"])
    op.create_index(
        "ix_campaign_events_campaign",
        "campaign_events",
        ["organization_id", "campaign_id", "occurred_at"],
    )
    for table in TABLES:
        enable_tenant_rls(table)
    create_definer_function(
        DUE_FUNCTION, "TABLE (organization_id bigint, id bigint, action text)", DUE_QUERY
    )


def downgrade():
    op.execute(f"DROP FUNCTION {DUE_FUNCTION}")
    for table in TABLES:
        disable_tenant_rls(table)
        op.drop_table(table)
