"""Demo campaigns: the starter templates, a campaign sent yesterday with its opens and clicks
(history written set-based, as the other seeders write theirs), and an A/B test scheduled for 10:00 in each recipient's timezone in two days."""

import datetime as dt

from sqlalchemy import text

from crm_web.campaigns import library, services
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.segments.services import list_segments

# What the sent campaign's history looks like: deterministic shares of its recipients.
_HISTORY = """
WITH sent AS (
    UPDATE outbox_messages SET status = 'sent', sent_at = :sent, updated_at = :sent,
           provider_id = message_id, lease_owner = NULL, lease_expires_at = NULL
     WHERE organization_id = :org AND kind = 'campaign' AND source_id = :campaign
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
    params = {"org": current_organization_id(), "campaign": sent.id, "sent": yesterday}
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
    return 2
