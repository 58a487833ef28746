"""What segment rules can ask of a customer's campaign emails (crm_web.segments.registry)."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm_web.campaigns.models import Campaign
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.segments.registry import SegmentField, register

GROUP = _l("Campaigns")


def _campaigns() -> list[tuple[str, str]]:
    return [
        (str(campaign_id), name)
        for campaign_id, name in db.session.execute(
            select(Campaign.id, Campaign.name)
            .where(
                Campaign.organization_id == current_organization_id(),
                Campaign.status.in_(("sending", "paused", "sent")),
            )
            .order_by(Campaign.id.desc())
        )
    ]


for field in (
    SegmentField(
        "campaign_opened",
        _l("Last opened a campaign"),
        GROUP,
        "date",
        "(SELECT max(r.opened_at) FROM campaign_recipients r "
        "WHERE r.organization_id = c.organization_id AND r.customer_id = c.id)",
        timestamp=True,
    ),
    SegmentField(
        "campaign_clicked",
        _l("Last clicked in a campaign"),
        GROUP,
        "date",
        "(SELECT max(r.clicked_at) FROM campaign_recipients r "
        "WHERE r.organization_id = c.organization_id AND r.customer_id = c.id)",
        timestamp=True,
    ),
    SegmentField(
        "received_campaign",
        _l("Received campaigns"),
        GROUP,
        "set",
        "ARRAY(SELECT r.campaign_id FROM campaign_recipients r WHERE r.organization_id = "
        "c.organization_id AND r.customer_id = c.id AND r.status = 'sent')",
        _campaigns,
        numeric_choice=True,
        nullable=False,
    ),
):
    register(field)
