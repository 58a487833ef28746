"""The 360 view's figures as segment fields: last contact, and the engagement and health scores
computed in SQL for every customer at once, by the formulas of crm_web.customer360.scores
(a test holds the two to the same answers)."""

from flask_babel import lazy_gettext as _l

from crm_web.catalog.orders import PURCHASED
from crm_web.customer360.scores import LIFECYCLE_HEALTH
from crm_web.segments.registry import SegmentField, register
from crm_web.tickets.models import ACTIVE_STATUSES

GROUP = _l("Engagement")

# What counts as an interaction, as scores.customer_activity counts it.
_INTERACTION = (
    "(m.communication_type IN ('call', 'meeting') OR m.direction = 'inbound' "
    "OR m.opened_date IS NOT NULL OR m.clicked_date IS NOT NULL)"
)
# One row of the customer's activity figures (the fields of scores.Activity).
_ACTIVITY = f"""
SELECT comm.interactions + att.attended_90 + camp.engaged AS interactions,
       greatest(comm.last_interaction, att.last_attended, camp.last_engaged) AS last_interaction,
       greatest(comm.last_contact, att.last_attended, camp.last_sent) AS last_contact,
       comm.opened + camp.opened AS opened, comm.clicked + camp.clicked AS clicked,
       comm.inbound, att.attended_365
  FROM (SELECT count(*) FILTER (WHERE {_INTERACTION} AND m.created_at >= now() - interval '90 days') AS interactions,
               max(m.created_at) FILTER (WHERE {_INTERACTION}) AS last_interaction,
               max(m.created_at) AS last_contact,
               count(*) FILTER (WHERE m.communication_type = 'email' AND m.opened_date >= now() - interval '90 days') AS opened,
               count(*) FILTER (WHERE m.communication_type = 'email' AND m.clicked_date >= now() - interval '90 days') AS clicked,
               count(*) FILTER (WHERE m.direction = 'inbound' AND m.created_at >= now() - interval '90 days') AS inbound
          FROM communications m
         WHERE m.organization_id = c.organization_id AND m.customer_id = c.id) AS comm,
       (SELECT max(a.attended_at) AS last_attended,
               count(*) FILTER (WHERE a.attended_at >= now() - interval '90 days') AS attended_90,
               count(*) FILTER (WHERE a.attended_at >= now() - interval '365 days') AS attended_365
          FROM event_attendees a
         WHERE a.organization_id = c.organization_id AND a.customer_id = c.id
           AND a.attended_at IS NOT NULL) AS att,
       (SELECT max(r.sent_at) AS last_sent,
               max(greatest(r.opened_at, r.clicked_at)) AS last_engaged,
               count(*) FILTER (WHERE least(r.opened_at, r.clicked_at) >= now() - interval '90 days') AS engaged,
               count(*) FILTER (WHERE r.opened_at >= now() - interval '90 days') AS opened,
               count(*) FILTER (WHERE r.clicked_at >= now() - interval '90 days') AS clicked
          FROM campaign_recipients r
         WHERE r.organization_id = c.organization_id AND r.customer_id = c.id) AS camp
"""
_ENGAGEMENT = """least(100,
      CASE WHEN n.interactions > 10 THEN 25 WHEN n.interactions > 5 THEN 15
           WHEN n.interactions > 2 THEN 10 WHEN n.interactions >= 1 THEN 5 ELSE 0 END
    + CASE WHEN n.last_interaction >= now() - interval '7 days' THEN 20
           WHEN n.last_interaction >= now() - interval '30 days' THEN 10
           WHEN n.last_interaction >= now() - interval '90 days' THEN 5 ELSE 0 END
    + CASE WHEN n.opened > 5 THEN 15 WHEN n.opened >= 1 THEN 8 ELSE 0 END
    + CASE WHEN n.clicked >= 1 THEN 15 ELSE 0 END
    + CASE WHEN n.inbound >= 1 THEN 10 ELSE 0 END
    + CASE WHEN n.attended_365 >= 2 THEN 15 WHEN n.attended_365 = 1 THEN 10 ELSE 0 END)"""
_RELATIONSHIP = (
    "CASE c.lifecycle_stage "
    + " ".join(f"WHEN '{stage}' THEN {value}" for stage, value in LIFECYCLE_HEALTH.items())
    + " ELSE 0.5 END * CASE WHEN c.do_not_contact THEN 0.5 ELSE 1 END"
)
_CONTACT = """CASE WHEN n.last_contact >= now() - interval '30 days' THEN 1
           WHEN n.last_contact >= now() - interval '90 days' THEN 0.5
           WHEN n.last_contact >= now() - interval '180 days' THEN 0.25 ELSE 0 END"""
# The weights of scores.health_score: engagement 25, purchasing 30 (an order in the last year,
# any order, none), support 20 (open tickets), satisfaction 25 (the year's ticket ratings, left
# out when there are none), relationship 20 and contact 20.
_ACTIVE_TICKET_STATUSES = ", ".join(f"'{status}'" for status in ACTIVE_STATUSES)
_SUPPORT = f"""(SELECT CASE count(*) WHEN 0 THEN 1 WHEN 1 THEN 0.5 ELSE 0 END
      FROM tickets t
     WHERE t.organization_id = c.organization_id AND t.customer_id = c.id
       AND t.status IN ({_ACTIVE_TICKET_STATUSES}))"""
_PURCHASED_STATUSES = ", ".join(f"'{status}'" for status in PURCHASED)
_PURCHASING = f"""(SELECT CASE WHEN max(o.ordered_at) >= now() - interval '365 days' THEN 1
                 WHEN count(*) > 0 THEN 0.5 ELSE 0 END
      FROM orders o
     WHERE o.organization_id = c.organization_id AND o.customer_id = c.id
       AND o.status IN ({_PURCHASED_STATUSES}))"""
_SATISFACTION = """(SELECT avg(t.csat_rating) / 5.0
      FROM tickets t
     WHERE t.organization_id = c.organization_id AND t.customer_id = c.id
       AND t.csat_submitted_at >= now() - interval '365 days')"""
_HEALTH = f"""round(100 * (
      ({_ENGAGEMENT}) / 100.0 * 25 + ({_PURCHASING}) * 30 + ({_SUPPORT}) * 20
    + coalesce({_SATISFACTION} * 25, 0) + ({_RELATIONSHIP}) * 20 + ({_CONTACT}) * 20)
    / (115 + CASE WHEN {_SATISFACTION} IS NULL THEN 0 ELSE 25 END))"""

for field in (
    SegmentField(
        "last_contact",
        _l("Last contact"),
        GROUP,
        "date",
        f"(SELECT n.last_contact FROM ({_ACTIVITY}) AS n)",
        timestamp=True,
    ),
    SegmentField(
        "engagement_score",
        _l("Engagement score"),
        GROUP,
        "number",
        f"(SELECT {_ENGAGEMENT} FROM ({_ACTIVITY}) AS n)",
        nullable=False,
    ),
    SegmentField(
        "health_score",
        _l("Health score"),
        GROUP,
        "number",
        f"(SELECT CAST({_HEALTH} AS integer) FROM ({_ACTIVITY}) AS n)",
        nullable=False,
    ),
):
    register(field)
