"""Deterministic demo activities, written by one INSERT ... SELECT (100k rows in seconds).

They go to the organization's open deals first, then its open leads, then its customers, and
spread over the thirty days either side of today, in business hours of its timezone: past ones
mostly done (with an outcome), some overdue, future ones planned, some with a reminder.
"""

from sqlalchemy import text

from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.permissions import roles_with
from crm_web.privacy.audit import record
from crm_web.timezones import user_timezone

# What seed_activities loads (crm seed analyzes it afterwards).
TABLES = ("activities",)

SEED_SQL = """
WITH staff AS (
    SELECT array_agg(id ORDER BY id) AS ids FROM users
    WHERE organization_id = :org AND is_active AND role = ANY(:roles)
),
targets AS (
    (SELECT 1 AS kind, o.id AS link_id, o.customer_id, NULL::bigint AS lead_id, o.id AS opportunity_id,
            o.owner_id AS owner_id, o.name AS label
     FROM opportunities o WHERE o.organization_id = :org AND o.status = 'open'
     ORDER BY o.id LIMIT :per_kind)
    UNION ALL
    (SELECT 2, l.id, NULL, l.id, NULL, l.assigned_to_id,
            coalesce(nullif(trim(l.first_name || ' ' || l.last_name), ''), l.company)
     FROM leads l WHERE l.organization_id = :org AND l.status IN ('new', 'contacted', 'qualified')
     ORDER BY l.id LIMIT :per_kind)
    UNION ALL
    (SELECT 3, c.id, c.id, NULL, NULL, c.owner_id,
            CASE WHEN c.customer_type = 'company' AND c.company_name <> '' THEN c.company_name
                 ELSE trim(c.first_name || ' ' || c.last_name) END
     FROM customers c WHERE c.organization_id = :org AND c.is_active
     ORDER BY c.id LIMIT :count)
),
-- Positions, not ids, feed the hash: the same seed gives another organization the same data.
picked AS (
    SELECT t.*,
           hashtext(row_number() OVER (ORDER BY t.kind, t.link_id) || ':' || :seed) & 2147483647 AS h
    FROM targets t ORDER BY t.kind, t.link_id LIMIT :count
),
timed AS (
    SELECT p.*,
           (date_trunc('day', now() AT TIME ZONE :tz)
              + ((p.h % 61) - 30) * interval '1 day'
              + (8 + (p.h / 61) % 10) * interval '1 hour'
              + ((p.h / 610) % 4) * interval '15 minutes') AT TIME ZONE :tz AS due_at,
           (p.h / 2440) % 6 AS type_index,
           CASE WHEN p.owner_id = ANY(s.ids) THEN p.owner_id
                ELSE s.ids[1 + (p.h / 7) % cardinality(s.ids)] END AS assignee
    FROM picked p, staff s
),
shaped AS (
    SELECT t.*,
           t.due_at < now() AND (t.h / 14640) % 10 < 8 AS done,
           t.due_at > now() AND (t.h / 14640) % 2 = 0 AS reminded
    FROM timed t
)
INSERT INTO activities (
    organization_id, activity_type, subject, description, customer_id, lead_id, opportunity_id,
    assigned_to_id, due_at, duration_minutes, status, priority, location, outcome, next_action,
    completed_at, completed_by_id, reminder_minutes_before, reminder_at, reminder_armed,
    created_by_id)
SELECT :org,
       (ARRAY['call', 'meeting', 'email', 'demo', 'follow_up', 'proposal'])[1 + type_index],
       (ARRAY['Intro call with ', 'Meeting with ', 'Email pricing to ', 'Product demo for ',
              'Follow up with ', 'Proposal review with '])[1 + type_index] || left(label, 150),
       '', customer_id, lead_id, opportunity_id, assignee, due_at,
       (ARRAY[15, 60, NULL, 45, 15, 30])[1 + type_index],
       CASE WHEN done THEN 'completed' WHEN (h / 3) % 10 = 0 THEN 'in_progress' ELSE 'planned' END,
       (ARRAY['low', 'normal', 'normal', 'normal', 'high', 'urgent'])[1 + (h / 11) % 6],
       CASE WHEN type_index IN (1, 3) THEN 'Video call' ELSE '' END,
       CASE WHEN done THEN (ARRAY['Interested, wants a quote', 'No answer, try again',
            'Agreed next steps', 'Needs approval from finance'])[1 + (h / 13) % 4] ELSE '' END,
       '',
       CASE WHEN done THEN due_at + interval '30 minutes' END,
       CASE WHEN done THEN assignee END,
       CASE WHEN reminded THEN 15 END,
       CASE WHEN reminded THEN due_at - interval '15 minutes' END,
       reminded AND due_at - interval '15 minutes' > now(),
       assignee
FROM shaped
WHERE assignee IS NOT NULL
RETURNING id, lead_id
"""

# The leads domain scores leads on their activity figures: set them for the seeded leads.
LEAD_FIGURES_SQL = """
UPDATE leads l SET activity_count = f.total, last_activity_at = f.last_completed
FROM (
    SELECT lead_id, count(*) FILTER (WHERE status <> 'cancelled') AS total,
           max(completed_at) FILTER (WHERE status = 'completed') AS last_completed
    FROM activities WHERE organization_id = :org AND lead_id = ANY(:leads) GROUP BY lead_id
) f
WHERE l.organization_id = :org AND l.id = f.lead_id
"""


def seed_activities(count: int, *, seed: int = 1) -> int:
    """Add up to `count` demo activities to the current organization; returns how many."""
    if count <= 0:
        return 0
    from crm_web.leads.scoring import rescore_batch

    organization_id = current_organization_id()
    rows = list(
        db.session.execute(
            text(SEED_SQL),
            {
                "org": organization_id,
                "roles": list(roles_with("plan activities")),
                "count": count,
                "per_kind": max(count // 3, 1),
                "seed": str(seed),
                "tz": user_timezone().key,
            },
        )
    )
    if not rows:
        return 0
    ids = [row.id for row in rows]
    record(
        db.session,
        organization_id=organization_id,
        action="create",
        table_name="activities",
        row_id=f"{min(ids)}..{max(ids)}",
        new={"seeded": len(ids), "seed": seed},
    )
    leads = sorted({row.lead_id for row in rows if row.lead_id is not None})
    if leads:
        db.session.execute(text(LEAD_FIGURES_SQL), {"org": organization_id, "leads": leads})
        record(
            db.session,
            organization_id=organization_id,
            action="update",
            table_name="leads",
            row_id=f"{leads[0]}..{leads[-1]}",
            new={"activity_count": "recounted", "last_activity_at": "recounted"},
        )
        # The seeded leads are the first open ones by id: exactly the batch this rescores.
        rescore_batch(0, limit=len(leads), open_only=True)
    return len(ids)
