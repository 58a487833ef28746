"""Campaign emails and SMS on the customer timeline: each one sent, with its opens, clicks and
unsubscribe."""

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Text, cast, func, select

from crm_web.campaigns.models import Campaign, CampaignRecipient, CampaignVariant
from crm_web.customer360.timeline import Kind, TimelineSource, details_object, register_source


def _select():
    return (
        select(
            cast(Campaign.name, Text).label("title"),
            # An email's subject, an SMS campaign's text.
            func.coalesce(CampaignVariant.subject, Campaign.sms_body).label("body"),
            details_object(
                campaign_id=Campaign.id,
                opened_at=CampaignRecipient.opened_at,
                clicked_at=CampaignRecipient.clicked_at,
                opens=CampaignRecipient.opens,
                clicks=CampaignRecipient.clicks,
                unsubscribed_at=CampaignRecipient.unsubscribed_at,
            ).label("details"),
        )
        .select_from(CampaignRecipient)
        .join(
            Campaign,
            (Campaign.organization_id == CampaignRecipient.organization_id)
            & (Campaign.id == CampaignRecipient.campaign_id),
        )
        .outerjoin(
            CampaignVariant,
            (CampaignVariant.organization_id == CampaignRecipient.organization_id)
            & (CampaignVariant.campaign_id == CampaignRecipient.campaign_id)
            & (CampaignVariant.position == CampaignRecipient.variant),
        )
    )


register_source(
    TimelineSource(
        name="campaigns",
        kinds=(Kind("campaign", _l("Campaign email"), "campaign", _l("Campaigns")),),
        select=_select,
        title=lambda entry: _("Campaign: %(name)s", name=entry.data),
        organization_id=CampaignRecipient.organization_id,
        customer_id=CampaignRecipient.customer_id,
        occurred_at=CampaignRecipient.sent_at,
        row_id=CampaignRecipient.id,
        where=(CampaignRecipient.sent_at.isnot(None),),
        link=lambda entry: url_for("campaigns.show", campaign_id=entry.details["campaign_id"]),
    )
)
