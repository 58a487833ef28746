"""What campaigns send through the outbox: a campaign email per recipient, and test sends.

A campaign message carries its recipient's ledger id. At send time the kind loads the batch's
recipients with their customers in one query and checks consent again (opted out, marked
do-not-contact, unsubscribed or no longer wanting the topic since the start: cancelled), and
the campaign's state (paused: put back in the queue; cancelled: cancelled). The email is the
variant's template version rendered in the sandbox with the recipient's merge fields, tracked
links, open pixel and signed unsubscribe link, with RFC 8058 one-click unsubscribe headers.
"""

from flask import current_app
from sqlalchemy import select, text

from crm_web.campaigns import content, library
from crm_web.campaigns.models import Campaign, CampaignVariant
from crm_web.campaigns.services import KIND, PAUSED_UNTIL, record_sends
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.outbox.kinds import Cancel, Defer, MessageKind, Outcome, Pending, register

_RECIPIENTS = """
SELECT r.id, r.campaign_id, r.variant, r.unsubscribed_at IS NOT NULL AS unsubscribed,
       c.first_name, c.last_name, c.company_name, c.city, c.primary_email,
       c.is_active AND c.email_opt_in AND NOT c.do_not_contact AS consents,
       EXISTS (SELECT 1 FROM customer_campaign_preferences p
                WHERE p.organization_id = r.organization_id AND p.customer_id = c.id
                  AND p.campaign_type = k.topic) AS wants_topic
  FROM campaign_recipients r
  JOIN customers c ON c.organization_id = r.organization_id AND c.id = r.customer_id
  JOIN campaigns k ON k.organization_id = r.organization_id AND k.id = r.campaign_id
 WHERE r.organization_id = :org AND r.id = ANY(:ids)
"""


def urls(
    organization_id: int,
    recipient_id: int,
    version_id: int,
    links: tuple[str, ...],
    sign=None,
    *,
    journey: bool = False,
) -> dict:
    """The recipient's tracked links, open pixel and unsubscribe links (`sign`: a batch's
    `content.signer()`); an automation's email (`journey`) signs its step run where a campaign
    signs its recipient, under paths of its own."""
    base = current_app.config["BASE_URL"]
    sign = sign or content.signer()
    purpose, path = ("journey_", "/j") if journey else ("", "")
    unsubscribe = f"{base}/u{path}/{sign(purpose + 'unsubscribe', organization_id, recipient_id)}"
    return {
        "links": [
            f"{base}/t{path}/c/"
            + sign(purpose + "click", organization_id, recipient_id, version_id, index)
            for index in range(len(links))
        ],
        "pixel_url": f"{base}/t{path}/o/{sign(purpose + 'open', organization_id, recipient_id)}.gif",
        "unsubscribe_url": unsubscribe,
        "preferences_url": unsubscribe,
    }


def _load(messages: list[Pending]) -> dict:
    organization_id = current_organization_id()
    wanted = {message.context.get("recipient") for message in messages} - {None}
    rows = {
        row.id: row
        for row in db.session.execute(
            text(_RECIPIENTS), {"org": organization_id, "ids": sorted(wanted)}
        )
    }
    campaigns = {
        campaign.id: campaign
        for campaign in db.session.scalars(
            select(Campaign).where(
                Campaign.organization_id == organization_id,
                Campaign.id.in_({message.source_id for message in messages}),
            )
        )
    }
    variants = {
        (variant.campaign_id, variant.position): variant
        for variant in db.session.scalars(
            select(CampaignVariant).where(
                CampaignVariant.organization_id == organization_id,
                CampaignVariant.campaign_id.in_(campaigns),
            )
        )
    }
    prepared = {}
    organization_name = library.organization_name()
    sign = content.signer()
    contexts = {}
    for message in messages:
        row = rows.get(message.context.get("recipient"))
        campaign = campaigns.get(message.source_id)
        if row is None or campaign is None:
            contexts[message.id] = Cancel("The campaign or its recipient was deleted.")
            continue
        if campaign.status == "paused":
            contexts[message.id] = Defer(PAUSED_UNTIL, "The campaign is paused.")
            continue
        if campaign.status == "cancelled":
            contexts[message.id] = Cancel("The campaign was cancelled.")
            continue
        if row.unsubscribed or not row.consents or (campaign.topic and not row.wants_topic):
            contexts[message.id] = Cancel("The customer no longer agrees to this email.")
            continue
        variant = variants.get((campaign.id, row.variant or 0))
        if variant is None:
            contexts[message.id] = Cancel("The campaign's variant was removed.")
            continue
        if variant.id not in prepared:
            version = library.get_version(variant.version_id)
            prepared[variant.id] = content.prepare(
                version.id, variant.subject or version.subject, version.preheader, version.html,
                version.text,
                tuple(version.links),
            )  # fmt: skip
        template = prepared[variant.id]
        values = {
            "customer": content.customer_fields(
                row.first_name, row.last_name, row.company_name, row.city, row.primary_email
            ),
            "organization_name": organization_name,
            **urls(organization_id, row.id, variant.version_id, template.links, sign),
        }
        headers = {
            "List-Unsubscribe": f"<{values['unsubscribe_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-CRM-Campaign": str(campaign.id),
        }
        if campaign.reply_to:
            headers["Reply-To"] = campaign.reply_to
        contexts[message.id] = {
            "prepared": template,
            "values": values,
            "sender": (campaign.from_name or organization_name, campaign.from_address),
            "headers": headers,
        }
    return contexts


_LEDGER_STATUS = {
    "sent": "sent",
    "failed": "failed",
    "suppressed": "failed",
    "cancelled": "skipped",
}


def _outcomes(outcomes: list[Outcome]) -> None:
    record_sends(
        [
            (outcome.message.context["recipient"], _LEDGER_STATUS[outcome.status], outcome.error)
            for outcome in outcomes
            if outcome.status in _LEDGER_STATUS and "recipient" in outcome.message.context
        ]
    )


def _sample() -> dict:
    template = content.prepare(
        0, "Hello {{ customer.first_name }}", "", library.STARTERS[0][4], "Hello", ()
    )
    return {
        "prepared": template,
        "values": library.sample_context(),
        "sender": ("", ""),
        "headers": {},
    }


register(
    MessageKind(
        name=KIND,
        title="Campaign email",
        channel="email",
        template="campaigns/campaign",
        description="A marketing campaign's email, from the organization's template library.",
        load=_load,
        sample=_sample,
        on_outcome=_outcomes,
        headers=lambda context: context["headers"],
        render=lambda context: content.render(context["prepared"], context["values"]),
        sender=lambda context: context["sender"],
    )
)


def _load_tests(messages: list[Pending]) -> dict:
    contexts = {}
    for message in messages:
        version = library.get_version(message.source_id)
        template = library.prepare(version)
        contexts[message.id] = {
            "prepared": template,
            "values": {**library.sample_context(), "links": list(template.links)},
            "sender": ("", ""),
            "headers": {},
        }
    return contexts


register(
    MessageKind(
        name="campaign_test",
        title="Template test send",
        channel="email",
        template="campaigns/campaign",
        description="A template version sent to addresses a marketer gave, with sample data.",
        load=_load_tests,
        sample=_sample,
        render=lambda context: content.render(context["prepared"], context["values"]),
        sender=lambda context: context["sender"],
    )
)
