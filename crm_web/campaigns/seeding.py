"""Demo campaigns: the starter templates, a campaign sent yesterday with its opens and clicks
(history written set-based, as the other seeders write theirs), an A/B test scheduled for 10:00
in each recipient's timezone in two days, and an SMS campaign sent yesterday with its delivery
reports and a few STOP replies (the organization keeps quiet hours 21:00-09:00)."""

import datetime as dt

from sqlalchemy import text

from crm_web.accounts.models import Organization
from crm_web.campaigns import library, services
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.segments.services import list_segments

# What the sent campaign's history looks like: deterministic shares of its recipients.
_HISTORY = """
WITH sent AS (
    UPDATE outbox_messages SET status = 'sent', sent_at = :sent, updated_at = :sent,
           provider_id = message_id, lease_owner = NULL, lease_expires_at = NULL
     WHERE organization_id = :org AND kind = :kind AND source_id = :campaign
    RETURNING 1
)
UPDATE campaign_recipients r
   SET status = 'sent', sent_at = :sent,
       opened_at = CASE WHEN abs(hashtext(r.id::text)) % 100 < 42 THEN :sent + make_interval(mins => 20 + (r.id % 600)::int) END,
       opens = CASE WHEN abs(hashtext(r.id::text)) % 100 < 42 THEN 1 + (r.id % 3)::int ELSE 0 END,
       clicked_at = CASE WHEN abs(hashtext(r.id::text)) % 100 < 11 THEN :sent + make_interval(mins => 30 + (r.id % 600)::int) END,
       clicks = CASE WHEN abs(hashtext(r.id::text)) % 100 < 11 THEN 1 ELSE 0 END,
       unsubscribed_at = CASE WHEN abs(hashtext(r.id::text)) % 100 = 99 THEN :sent + interval '2 hours' END
 WHERE r.organization_id = :org AND r.campaign_id = :campaign AND (SELECT count(*) FROM sent) >= 0
"""
_EVENTS = """
INSERT INTO campaign_events (organization_id, campaign_id, recipient_id, kind, link_index,
                             occurred_at, suspect)
SELECT organization_id, campaign_id, id, 'open', NULL, opened_at, false
  FROM campaign_recipients WHERE organization_id = :org AND campaign_id = :campaign
   AND opened_at IS NOT NULL
UNION ALL
SELECT organization_id, campaign_id, id, 'click', (id % 3)::smallint, clicked_at, false
  FROM campaign_recipients WHERE organization_id = :org AND campaign_id = :campaign
   AND clicked_at IS NOT NULL
"""


def seed_campaigns() -> int:
    """Starter templates, a sent campaign with results and a scheduled one; returns how many
    campaigns."""
    library.add_starter_templates()
    templates = {template.name: template for template in library.list_templates()}
    segments = list_segments(limit=10).items
    if not segments:
        return 0
    audience = [max(segments, key=lambda segment: segment.customer_count).id]
    sent = services.create_campaign(
        {
            "name": "Spring newsletter",
            "from_name": "Demo Company",
            "include_segment_ids": audience,
            "variants": [{"template_id": templates["Newsletter"].id}],
        }
    )
    services.schedule_campaign(sent.id)
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    params = {
        "org": current_organization_id(),
        "campaign": sent.id,
        "sent": yesterday,
        "kind": services.KIND,
    }
    db.session.execute(text(_HISTORY), params)
    db.session.execute(text(_EVENTS), params)
    db.session.execute(
        text(
            "UPDATE campaigns SET status = 'sent', started_at = :sent, starts_at = :sent, "
            "finished_at = :sent + interval '3 minutes' WHERE id = :campaign"
        ),
        params,
    )
    scheduled = services.create_campaign(
        {
            "name": "Weekend promotion",
            "topic": "discounts",
            "include_segment_ids": [segment.id for segment in segments[:2]],
            "variants": [
                {"template_id": templates["Promotion"].id},
                {"template_id": templates["Promotion"].id, "subject": "This weekend only: 20% off"},
            ],
            "ab_test_percent": 20,
            "ab_metric": "clicks",
            "ab_wait_minutes": 120,
        }
    )
    in_two_days = dt.date.today() + dt.timedelta(days=2)
    services.schedule_campaign(
        scheduled.id, mode="local", local_date=in_two_days, local_time=dt.time(10, 0)
    )
    _seed_sms_campaign(audience, yesterday)
    return 3


# The SMS campaign's reports: most delivered, a few failed, one in a hundred texted STOP.
_SMS_HISTORY = """
WITH sent AS (
    UPDATE outbox_messages
       SET status = 'sent', sent_at = :sent, updated_at = :sent, provider_id = message_id,
           lease_owner = NULL, lease_expires_at = NULL, segments = 1,
           delivery_status = CASE WHEN abs(hashtext(id::text)) % 100 < 94 THEN 'delivered'
                                  ELSE 'undelivered' END
     WHERE organization_id = :org AND kind = :kind AND source_id = :campaign
    RETURNING 1
)
UPDATE campaign_recipients r
   SET status = CASE WHEN abs(hashtext(r.id::text)) % 100 < 94 THEN 'delivered' ELSE 'failed' END,
       error = CASE WHEN abs(hashtext(r.id::text)) % 100 < 94 THEN '' ELSE 'Gateway error code 30003' END,
       sent_at = :sent,
       unsubscribed_at = CASE WHEN abs(hashtext(r.id::text)) % 100 = 42 THEN :sent + interval '1 hour' END
 WHERE r.organization_id = :org AND r.campaign_id = :campaign AND (SELECT count(*) FROM sent) >= 0
"""


def _seed_sms_campaign(audience: list[int], when: dt.datetime) -> None:
    organization = db.session.get(Organization, current_organization_id())
    organization.sms_quiet_hours = "21:00-09:00"
    campaign = services.create_campaign(
        {
            "name": "Spring SMS: 20% off",
            "channel": "sms",
            "include_segment_ids": audience,
            "sms_body": "Merhaba {{ customer.first_name }}, bahar indiriminde tüm ürünlerde %20! "
            "SMS almamak için DUR yazın.",
            "sender_id": "DEMO",
        }
    )
    services.schedule_campaign(campaign.id)
    params = {
        "org": organization.id,
        "campaign": campaign.id,
        "sent": when + dt.timedelta(hours=1),
        "kind": services.SMS_KIND,
    }
    db.session.execute(text(_SMS_HISTORY), params)
    db.session.execute(
        text(
            "UPDATE campaigns SET status = 'sent', started_at = :sent, starts_at = :sent, "
            "finished_at = :sent + interval '2 minutes' WHERE id = :campaign"
        ),
        params,
    )
