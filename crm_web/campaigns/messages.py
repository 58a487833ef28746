"""What campaigns send through the outbox: a campaign email per recipient, and test sends.

A campaign message carries its recipient's ledger id. At send time the kind loads the batch's
recipients with their customers in one query and checks consent again (opted out, marked
do-not-contact, unsubscribed or no longer wanting the topic since the start: cancelled), and
the campaign's state (paused: put back in the queue; cancelled: cancelled). The email is the
variant's template version rendered in the sandbox with the recipient's merge fields, tracked
links, open pixel and signed unsubscribe link, with RFC 8058 one-click unsubscribe headers.
"""

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, text

from crm_web.accounts.models import Organization
from crm_web.campaigns import content, library
from crm_web.campaigns.models import Campaign, CampaignVariant
from crm_web.campaigns.services import KIND, PAUSED_UNTIL, SMS_KIND, record_sends
from crm_web.campaigns.sms import record_delivery
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.messaging.quiet_hours import parse_window
from crm_web.outbox.kinds import Cancel, Defer, MessageKind, Outcome, Pending, register
from crm_web.surveys import links

_RECIPIENTS = """
SELECT r.id, r.campaign_id, r.variant, r.unsubscribed_at IS NOT NULL AS unsubscribed,
       c.first_name, c.last_name, c.company_name, c.city, c.primary_email, c.timezone,
       c.is_active AND {consent} AND NOT c.do_not_contact AS consents,
       EXISTS (SELECT 1 FROM customer_campaign_preferences p
                WHERE p.organization_id = r.organization_id AND p.customer_id = c.id
                  AND p.campaign_type = k.topic) AS wants_topic,
       (SELECT i.id FROM survey_invitations i
         WHERE i.organization_id = r.organization_id AND i.campaign_id = r.campaign_id
           AND i.customer_id = r.customer_id) AS invitation_id
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


def _recipients(messages: list[Pending], consent: str) -> dict:
    """The batch's ledger lines with their customers (one query), by id."""
    wanted = {message.context.get("recipient") for message in messages} - {None}
    return {
        row.id: row
        for row in db.session.execute(
            text(_RECIPIENTS.format(consent=consent)),
            {"org": current_organization_id(), "ids": sorted(wanted)},
        )
    }


def _campaigns(messages: list[Pending]) -> dict:
    return {
        campaign.id: campaign
        for campaign in db.session.scalars(
            select(Campaign).where(
                Campaign.organization_id == current_organization_id(),
                Campaign.id.in_({message.source_id for message in messages}),
            )
        )
    }


def _survey_link(row, sign) -> dict:
    """The recipient's personal survey link, when the campaign carries a survey."""
    if row.invitation_id is None:
        return {}
    return {"survey_url": links.invitation_url(current_organization_id(), row.invitation_id, sign)}


def _stopped(message: Pending, row, campaign) -> Cancel | Defer | None:
    """Why a campaign's message should not go now: gone, paused, cancelled, no consent."""
    if row is None or campaign is None:
        return Cancel("The campaign or its recipient was deleted.")
    if campaign.status == "paused":
        return Defer(PAUSED_UNTIL, "The campaign is paused.")
    if campaign.status == "cancelled":
        return Cancel("The campaign was cancelled.")
    if row.unsubscribed or not row.consents or (campaign.topic and not row.wants_topic):
        return Cancel("The customer no longer agrees to this message.")
    return None


def _load(messages: list[Pending]) -> dict:
    organization_id = current_organization_id()
    rows = _recipients(messages, "c.email_opt_in")
    campaigns = {
        campaign.id: campaign
        for campaign in _campaigns(messages).values()
        if campaign.channel == "email"
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
        if stopped := _stopped(message, row, campaign):
            contexts[message.id] = stopped
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
            **_survey_link(row, sign),
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
        title=_l("Campaign email"),
        channel="email",
        template="campaigns/campaign",
        description=_l("A marketing campaign's email, from the organization's template library."),
        load=_load,
        sample=_sample,
        on_outcome=_outcomes,
        headers=lambda context: context["headers"],
        render=lambda context: content.render(context["prepared"], context["values"]),
        sender=lambda context: context["sender"],
    )
)


# -- SMS campaigns ------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _zone(name: str, fallback: ZoneInfo) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else fallback
    except (ZoneInfoNotFoundError, ValueError):
        return fallback


def _load_sms(messages: list[Pending]) -> dict:
    """Each SMS rendered from its campaign's text with the recipient's merge fields; one due
    inside the organization's quiet hours (in the recipient's time zone, else the
    organization's) waits for the window's end."""
    organization = db.session.get(Organization, current_organization_id())
    try:
        quiet = parse_window(organization.sms_quiet_hours or "")
    except ValueError:
        quiet = parse_window("")
    home = _zone(organization.timezone, ZoneInfo("UTC"))
    rows = _recipients(messages, "c.sms_opt_in")
    campaigns = _campaigns(messages)
    sign = content.signer()
    now = _now()
    contexts = {}
    for message in messages:
        row = rows.get(message.context.get("recipient"))
        campaign = campaigns.get(message.source_id)
        if stopped := _stopped(message, row, campaign):
            contexts[message.id] = stopped
            continue
        release = quiet.release(now, _zone(row.timezone, home))
        if release > now:
            contexts[message.id] = Defer(release, "Quiet hours: it waits for the morning.")
            continue
        contexts[message.id] = {
            "body": campaign.sms_body,
            "values": {
                "customer": content.customer_fields(
                    row.first_name, row.last_name, row.company_name, row.city, row.primary_email
                ),
                "organization_name": organization.name,
                **_survey_link(row, sign),
            },
            "sender": campaign.sender_id,
        }
    return contexts


def _sms_report(message, delivered: bool, error: str) -> None:
    if "recipient" in message.context:
        record_delivery(message.context["recipient"], delivered, error)


def _sample_sms() -> dict:
    return {
        "body": "Merhaba {{ customer.first_name }}, yeni sezon ürünlerinde %20 indirim!",
        "values": {"customer": content.sample_customer(), "organization_name": "Demo"},
        "sender": "",
    }


register(
    MessageKind(
        name=SMS_KIND,
        title=_l("Campaign SMS"),
        channel="sms",
        template="campaigns/campaign",
        description=_l("A marketing campaign's SMS, written on the campaign with merge fields."),
        load=_load_sms,
        sample=_sample_sms,
        on_outcome=_outcomes,
        on_report=_sms_report,
        render=lambda context: content.render_sms(context["body"], context["values"]),
        sender=lambda context: ("", context["sender"]),
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
        title=_l("Template test send"),
        channel="email",
        template="campaigns/campaign",
        description=_l("A template version sent to addresses a marketer gave, with sample data."),
        load=_load_tests,
        sample=_sample,
        render=lambda context: content.render(context["prepared"], context["values"]),
        sender=lambda context: context["sender"],
    )
)
