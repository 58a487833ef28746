"""SMS campaigns: a campaign's channel with its SMS text and sender id, the recipient's phone
and a `delivered` status from the gateway's reports, and the organization's SMS settings
(quiet hours, the opt-out and opt-in keywords; empty: none, and the defaults).

Revision ID: 0037_sms_campaigns
Revises: 0036_dashboards
"""

import sqlalchemy as sa
from alembic import op

revision = "0037_sms_campaigns"
down_revision = "0036_dashboards"
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('held', 'queued', 'sent', 'failed', 'skipped')"
NEW_STATUSES = "status IN ('held', 'queued', 'sent', 'delivered', 'failed', 'skipped')"
# 0030 named it in full, and the naming convention prefixed it once more.
FIRST_STATUS_CHECK = "ck_campaign_recipients_ck_campaign_recipients_status_known"


def _text(name: str, length: int | None = None) -> sa.Column:
    kind = sa.String(length) if length else sa.Text()
    return sa.Column(name, kind, nullable=False, server_default="")


def upgrade():
    op.add_column(
        "campaigns", sa.Column("channel", sa.String(5), nullable=False, server_default="email")
    )
    op.add_column("campaigns", _text("sms_body"))
    op.add_column("campaigns", _text("sender_id", 16))
    op.create_check_constraint("channel_known", "campaigns", "channel IN ('email', 'sms')")
    op.add_column("campaign_recipients", _text("phone", 20))
    op.execute(f"ALTER TABLE campaign_recipients DROP CONSTRAINT {FIRST_STATUS_CHECK}")
    op.create_check_constraint("status_known", "campaign_recipients", NEW_STATUSES)
    op.add_column("organizations", _text("sms_quiet_hours", 20))
    op.add_column("organizations", _text("sms_opt_out_keywords", 200))
    op.add_column("organizations", _text("sms_opt_in_keywords", 200))


def downgrade():
    for column in ("sms_opt_in_keywords", "sms_opt_out_keywords", "sms_quiet_hours"):
        op.drop_column("organizations", column)
    op.execute("UPDATE campaign_recipients SET status = 'sent' WHERE status = 'delivered'")
    op.execute(
        "ALTER TABLE campaign_recipients DROP CONSTRAINT ck_campaign_recipients_status_known"
    )
    op.execute(
        f"ALTER TABLE campaign_recipients ADD CONSTRAINT {FIRST_STATUS_CHECK} CHECK ({OLD_STATUSES})"
    )
    op.drop_column("campaign_recipients", "phone")
    op.execute("DELETE FROM campaigns WHERE channel = 'sms'")
    op.execute("ALTER TABLE campaigns DROP CONSTRAINT ck_campaigns_channel_known")
    for column in ("sender_id", "sms_body", "channel"):
        op.drop_column("campaigns", column)
