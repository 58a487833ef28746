"""Who a journey's trigger enrolls, set-based: one INSERT ... SELECT per active automation per
run, reading the rows the other domains already write (birth dates, the segment movement log,
won deals, resolved tickets, campaign clicks, completed survey responses, the loyalty ledger's members, tier changes, lots
and redemptions, the audit log's tag changes). Nothing is sprinkled into those services.

The unique (automation, customer, occurrence) index makes every statement idempotent: a run
repeated, retried or racing another enrolls no one twice. The occurrence follows the
journey's re-entry rule: `once` ever, `yearly` (the local year), or `every` occurrence of the
source (a deal, a tier change, a holiday).

Event triggers look back no further than the first activation (and at most LOOKBACK), so
turning a journey on does not replay years of history.
"""

import calendar
import datetime as dt

from sqlalchemy import text

from crm_web.automations.definition import first_id
from crm_web.automations.models import Automation
from crm_web.extensions import db

LOOKBACK = dt.timedelta(days=3)

# Each source gives customer_id, key (the occurrence under `every`), year and run_at.
# :tz is the organization's timezone, the customer's own when they have one.
_LOCAL = "coalesce(nullif(c.timezone, ''), :tz)"
_TODAY = f"(CAST(:now AS timestamptz) AT TIME ZONE {_LOCAL})::date"
_AT_HOUR = f"(({_TODAY} + make_time(:hour, 0, 0)) AT TIME ZONE {_LOCAL})"

# A 29 February date is celebrated, in other years, on the journey's choice of 28 February
# (:leap_day 'feb28', the default) or 1 March ('mar1').
_SAME_DAY = f"""(
    (extract(month FROM {{col}}), extract(day FROM {{col}}))
      = (extract(month FROM {_TODAY}), extract(day FROM {_TODAY}))
    OR (extract(month FROM {{col}}) = 2 AND extract(day FROM {{col}}) = 29
        AND CASE WHEN :leap_day = 'mar1'
                 THEN extract(month FROM {_TODAY}) = 3 AND extract(day FROM {_TODAY}) = 1
                      AND extract(day FROM ({_TODAY} - 1)) = 28
                 ELSE extract(month FROM {_TODAY}) = 2 AND extract(day FROM {_TODAY}) = 28
                      AND extract(day FROM ({_TODAY} + 1)) = 1 END))"""

_CUSTOMERS = "FROM customers c WHERE c.organization_id = :org AND c.is_active"

SOURCES = {
    "birthday": f"""
        SELECT c.id AS customer_id, to_char({_TODAY}, 'YYYY') AS key,
               to_char({_TODAY}, 'YYYY') AS year, {_AT_HOUR} AS run_at
        {_CUSTOMERS} AND c.birth_date = ANY(CAST(:near AS date[]))
          AND {_SAME_DAY.format(col="c.birth_date")}""",
    "anniversary:customer_since": f"""
        SELECT c.id, to_char({_TODAY}, 'YYYY'), to_char({_TODAY}, 'YYYY'), {_AT_HOUR}
        {_CUSTOMERS} AND c.customer_since < {_TODAY}
          AND {_SAME_DAY.format(col="c.customer_since")}""",
    "anniversary:first_order": f"""
        SELECT c.id, to_char({_TODAY}, 'YYYY'), to_char({_TODAY}, 'YYYY'), {_AT_HOUR}
        FROM customers c
        JOIN LATERAL (SELECT min(o.ordered_at)::date AS first FROM orders o
                       WHERE o.organization_id = c.organization_id AND o.customer_id = c.id
                         AND o.status NOT IN ('cancelled')) f ON f.first IS NOT NULL
        WHERE c.organization_id = :org AND c.is_active AND f.first < {_TODAY}
          AND {_SAME_DAY.format(col="f.first")}""",
    "holiday": f"""
        SELECT c.id, h.day::text, to_char(h.day, 'YYYY'), {_AT_HOUR}
        FROM customers c
        JOIN organization_holidays h ON h.organization_id = c.organization_id
                                    AND h.day = {_TODAY}
        WHERE c.organization_id = :org AND c.is_active""",
    "fixed_date": f"""
        SELECT c.id, :date, left(:date, 4), {_AT_HOUR}
        {_CUSTOMERS} AND {_TODAY} = CAST(:date AS date)""",
    "no_contact": """
        SELECT c.id, to_char(l.last, 'YYYY-MM-DD'), to_char(l.last, 'YYYY'), CAST(:now AS timestamptz)
        FROM customers c
        JOIN LATERAL (SELECT greatest(c.created_at, (
                  SELECT max(m.created_at) FROM communications m
                   WHERE m.organization_id = c.organization_id AND m.customer_id = c.id)) AS last
             ) l ON true
        WHERE c.organization_id = :org AND c.is_active
          AND l.last < CAST(:now AS timestamptz) - make_interval(days => :days)""",
    "no_purchase": """
        SELECT c.id, to_char(l.last, 'YYYY-MM-DD'), to_char(l.last, 'YYYY'), CAST(:now AS timestamptz)
        FROM customers c
        JOIN LATERAL (SELECT max(o.ordered_at) AS last FROM orders o
                       WHERE o.organization_id = c.organization_id AND o.customer_id = c.id
                         AND o.status NOT IN ('cancelled', 'returned')) l ON l.last IS NOT NULL
        WHERE c.organization_id = :org AND c.is_active
          AND l.last < CAST(:now AS timestamptz) - make_interval(days => :days)""",
    # Subscribers who opened no email (a campaign's or a journey's) for :days, counted from
    # their last open or, if they never opened one, from when they became customers.
    "no_open": """
        SELECT c.id, to_char(l.last, 'YYYY-MM-DD'), to_char(l.last, 'YYYY'), CAST(:now AS timestamptz)
        FROM customers c
        JOIN LATERAL (SELECT greatest(c.created_at, (
                  SELECT max(r.opened_at) FROM campaign_recipients r
                   WHERE r.organization_id = c.organization_id AND r.customer_id = c.id), (
                  SELECT max(s.opened_at) FROM automation_enrollments e
                    JOIN automation_step_runs s ON s.organization_id = e.organization_id
                                               AND s.enrollment_id = e.id
                   WHERE e.organization_id = c.organization_id AND e.customer_id = c.id)) AS last
             ) l ON true
        WHERE c.organization_id = :org AND c.is_active AND c.email_opt_in AND NOT c.do_not_contact
          AND l.last < CAST(:now AS timestamptz) - make_interval(days => :days)""",
    "customer_created": """
        SELECT c.id, 'customer', to_char(c.created_at, 'YYYY'), CAST(:now AS timestamptz)
        FROM customers c WHERE c.organization_id = :org AND c.created_at >= :since""",
    "lead_converted": """
        SELECT l.converted_customer_id, 'lead:' || l.id, to_char(l.converted_at, 'YYYY'),
               CAST(:now AS timestamptz)
        FROM leads l WHERE l.organization_id = :org AND l.converted_at >= :since
          AND l.converted_customer_id IS NOT NULL""",
    "tag_added": """
        SELECT CAST(a.row_id AS bigint), 'audit:' || a.id, to_char(a.created_at, 'YYYY'),
               CAST(:now AS timestamptz)
        FROM audit_log a
        WHERE a.organization_id = :org AND a.table_name = 'customers'
          AND a.created_at >= :since AND a.action IN ('create', 'update')
          AND a.new_values -> 'tags' ? :tag
          AND NOT coalesce(a.old_values -> 'tags' ? :tag, false)""",
    "segment_entered": """
        SELECT m.customer_id, 'in:' || m.id, to_char(m.entered_at, 'YYYY'), CAST(:now AS timestamptz)
        FROM segment_members m WHERE m.organization_id = :org AND m.segment_id = :segment
          AND m.entered_at >= :since""",
    "segment_left": """
        SELECT m.customer_id, 'out:' || m.id, to_char(m.left_at, 'YYYY'), CAST(:now AS timestamptz)
        FROM segment_members m WHERE m.organization_id = :org AND m.segment_id = :segment
          AND m.left_at >= :since""",
    "deal_won": """
        SELECT o.customer_id, 'deal:' || o.id, to_char(o.closed_at, 'YYYY'), CAST(:now AS timestamptz)
        FROM opportunities o WHERE o.organization_id = :org AND o.status = 'won'
          AND o.closed_at >= :since AND o.customer_id IS NOT NULL""",
    "ticket_resolved": """
        SELECT t.customer_id, 'ticket:' || t.id || ':' || extract(epoch FROM t.resolved_at)::bigint,
               to_char(t.resolved_at, 'YYYY'), CAST(:now AS timestamptz)
        FROM tickets t WHERE t.organization_id = :org AND t.resolved_at >= :since
          AND t.customer_id IS NOT NULL""",
    "campaign_clicked": """
        SELECT r.customer_id, 'campaign:' || r.campaign_id, to_char(r.clicked_at, 'YYYY'),
               CAST(:now AS timestamptz)
        FROM campaign_recipients r WHERE r.organization_id = :org AND r.clicked_at >= :since
          AND (CAST(:campaign AS bigint) IS NULL OR r.campaign_id = :campaign)""",
    "loyalty_joined": """
        SELECT m.customer_id, 'member:' || m.id, to_char(m.joined_at, 'YYYY'), CAST(:now AS timestamptz)
        FROM loyalty_members m WHERE m.organization_id = :org AND m.joined_at >= :since""",
    "tier_upgraded": """
        SELECT m.customer_id, 'tier:' || t.id, to_char(t.changed_at, 'YYYY'), CAST(:now AS timestamptz)
        FROM loyalty_tier_changes t
        JOIN loyalty_members m ON m.organization_id = t.organization_id AND m.id = t.member_id
        WHERE t.organization_id = :org AND t.reason = 'upgrade' AND t.changed_at >= :since""",
    "points_expiring": """
        SELECT m.customer_id, 'expiring:' || min(l.expires_at)::date, to_char(min(l.expires_at), 'YYYY'),
               CAST(:now AS timestamptz)
        FROM loyalty_lots l
        JOIN loyalty_members m ON m.organization_id = l.organization_id AND m.id = l.member_id
        WHERE l.organization_id = :org AND l.remaining > 0
          AND l.expires_at > CAST(:now AS timestamptz)
          AND l.expires_at <= CAST(:now AS timestamptz) + interval '30 days'
        GROUP BY m.customer_id""",
    "reward_redeemed": """
        SELECT m.customer_id, 'redemption:' || r.id, to_char(r.created_at, 'YYYY'),
               CAST(:now AS timestamptz)
        FROM loyalty_redemptions r
        JOIN loyalty_members m ON m.organization_id = r.organization_id AND m.id = r.member_id
        WHERE r.organization_id = :org AND r.created_at >= :since""",
    # A completed response of a customer (an anonymous survey's responses name none); the
    # occurrence is the response, so each one enrolls once.
    "survey_completed": """
        SELECT r.customer_id, 'response:' || r.id, to_char(r.completed_at, 'YYYY'),
               CAST(:now AS timestamptz)
        FROM survey_responses r WHERE r.organization_id = :org AND r.state = 'completed'
          AND r.completed_at >= :since AND r.customer_id IS NOT NULL
          AND (CAST(:survey AS bigint) IS NULL OR r.survey_id = :survey)""",
    "nps_detractor": """
        SELECT r.customer_id, 'response:' || r.id, to_char(r.completed_at, 'YYYY'),
               CAST(:now AS timestamptz)
        FROM survey_responses r WHERE r.organization_id = :org AND r.state = 'completed'
          AND r.completed_at >= :since AND r.customer_id IS NOT NULL AND r.nps <= 6
          AND (CAST(:survey AS bigint) IS NULL OR r.survey_id = :survey)""",
}

_ENROLL = """
INSERT INTO automation_enrollments (organization_id, automation_id, customer_id, occurrence,
                                    step_id, next_run_at, state, exited_reason, goal_reached,
                                    enrolled_at)
SELECT :org, :automation, s.customer_id,
       CASE :reentry WHEN 'once' THEN 'once' WHEN 'yearly' THEN s.year ELSE left(s.key, 64) END,
       :first, s.run_at, 'active', '', false, CAST(:now AS timestamptz)
  FROM ({source}) AS s (customer_id, key, year, run_at)
  JOIN customers c2 ON c2.organization_id = :org AND c2.id = s.customer_id AND c2.is_active
ON CONFLICT (organization_id, automation_id, customer_id, occurrence) DO NOTHING
"""


def near_dates(now: dt.datetime, first: dt.date | None, last: dt.date | None) -> list[dt.date]:
    """The dates from `first` to `last` (the organization's earliest and latest birth dates)
    whose day and month are today somewhere on Earth (UTC-12 to UTC+14: the day before, of and
    after UTC's), with the 29 February of leap years when one of those days keeps it in a year
    without one. The birthday index finds these (a plain date index serves under row-level
    security, where an expression of month and day would not: extract() is not leakproof); the
    exact test, in each customer's own timezone, is _SAME_DAY's."""
    if first is None or last is None:
        return []
    wanted = set()
    for offset in (-1, 0, 1):
        day = (now.astimezone(dt.UTC) + dt.timedelta(days=offset)).date()
        wanted.add((day.month, day.day))
        if not calendar.isleap(day.year) and (day.month, day.day) in ((2, 28), (3, 1)):
            wanted.add((2, 29))
    dates = []
    for year in range(first.year, last.year + 1):
        for month, day in wanted:
            if (month, day) != (2, 29) or calendar.isleap(year):
                dates.append(dt.date(year, month, day))
    return sorted(dates)


def _birth_dates(organization_id: int) -> tuple[dt.date | None, dt.date | None]:
    return tuple(
        db.session.execute(
            text(
                "SELECT min(birth_date), max(birth_date) FROM customers "
                "WHERE organization_id = :org AND birth_date IS NOT NULL"
            ),
            {"org": organization_id},
        ).one()
    )


def source_name(automation: Automation) -> str:
    if automation.trigger_kind == "anniversary":
        return f"anniversary:{automation.trigger_config.get('field', 'customer_since')}"
    return automation.trigger_kind


def enroll(automation: Automation, now: dt.datetime, organization_timezone: str) -> int:
    """Enroll whoever the trigger names now; how many were enrolled (the rest already were)."""
    first = first_id(automation.steps)
    if first is None:
        return 0
    config = automation.trigger_config or {}
    since = max(automation.activated_at or now, now - LOOKBACK)
    params = {
        "org": automation.organization_id,
        "automation": automation.id,
        "reentry": automation.reentry,
        "first": first,
        "now": now,
        "since": since,
        "tz": organization_timezone or "UTC",
        "hour": automation.send_hour,
        "date": config.get("date", ""),
        "leap_day": config.get("leap_day", "feb28"),
        "near": (
            near_dates(now, *_birth_dates(automation.organization_id))
            if automation.trigger_kind == "birthday"
            else []
        ),
        "days": config.get("days", 0),
        "tag": config.get("tag", ""),
        "segment": config.get("segment_id"),
        "campaign": config.get("campaign_id"),
        "survey": config.get("survey_id"),
    }
    statement = _ENROLL.format(source=SOURCES[source_name(automation)])
    return db.session.execute(text(statement), params).rowcount
