"""Deterministic demo tickets, written set-based (one INSERT ... SELECT), with their SLA state.

Tickets spread over the last days so the queue has some whose deadline is near and some
already past it. Their SLA columns are filled the way `crm_web.sla.clock.ticket_changed`
would with an always-open calendar: the organization's targets per priority, counted in
calendar time from creation (the clock is paused while waiting on the customer, stopped once
resolved). No escalation rows are written: demo deadlines that pass raise no alerts.
"""

from sqlalchemy import text

from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.privacy.audit import record
from crm_web.sequences import allocate
from crm_web.sla import policies as sla
from crm_web.tickets.models import CATEGORIES, CHANNELS, PRIORITIES, TICKET_TYPES

SUBJECTS = (
    "Cannot log in to my account",
    "Invoice shows the wrong amount",
    "Order has not arrived",
    "Refund still pending",
    "App crashes when I upload a photo",
    "How do I change my delivery address?",
    "Charged twice for one order",
    "Password reset email never comes",
    "Product arrived damaged",
    "Please cancel my subscription",
    "Export to CSV is empty",
    "Discount code does not work",
)
# Weights by repetition: mostly normal, some high, a few urgent and low.
PRIORITY_MIX = ("low", "normal", "normal", "normal", "high", "high", "urgent")
ACTIVE_MIX = ("new", "open", "in_progress", "waiting_on_customer", "open", "new")
# How many of the customers (lowest ids first) the tickets are spread over.
CUSTOMER_POOL = 5000
# What seed_tickets loads (crm seed analyzes them afterwards).
TABLES = ("tickets", "ticket_messages", "sla_escalations")

SEED_SQL = """
WITH agents AS (
    SELECT coalesce(array_agg(id ORDER BY id), '{}') AS ids,
           coalesce(array_agg(department ORDER BY id), '{}') AS departments
      FROM users WHERE organization_id = :org AND is_active AND role = 'support'
), pool AS (
    SELECT id, row_number() OVER (ORDER BY id) AS rn
      FROM (SELECT id FROM customers WHERE organization_id = :org ORDER BY id LIMIT :pool) c
), pool_size AS (
    SELECT count(*) AS n FROM pool
), targets AS (
    SELECT * FROM unnest(CAST(:priorities AS text[]), CAST(:first_response AS float8[]),
                         CAST(:resolution AS float8[])) AS t(priority, fr, res)
), draws AS (
    -- Three deterministic pseudo-random numbers in 0..999 per ticket.
    SELECT g, (g * 7919 + :seed * 104729) % 1000 AS r1, (g * 6007 + :seed * 130363) % 1000 AS r2,
           (g * 4801 + :seed * 154858) % 1000 AS r3
      FROM generate_series(1, :count) AS g
), shaped AS (
    SELECT d.*,
           CASE WHEN d.r1 < :open_permille THEN (CAST(:active_mix AS text[]))[1 + d.r2 % :active_n]
                WHEN d.r2 % 3 = 0 THEN 'closed' ELSE 'resolved' END AS status,
           (CAST(:priority_mix AS text[]))[1 + d.r3 % :priority_n] AS priority
      FROM draws d
), timed AS (
    SELECT s.*,
           CASE WHEN s.status IN ('resolved', 'closed')
                THEN now() - make_interval(mins => 4320 + (s.r3 * 53 + s.g) % 60000)
                ELSE now() - make_interval(mins => (s.r3 * 37 + s.g) % 4320) END AS created,
           make_interval(mins => 5 + s.r2 % 180) AS response_after,
           make_interval(mins => 30 + (s.r1 * 7) % 4000) AS resolution_after
      FROM shaped s
), rows AS (
    SELECT t.*, tg.fr, tg.res,
           CASE WHEN t.status <> 'new' THEN least(t.created + t.response_after, now()) END
             AS responded,
           CASE WHEN t.status IN ('resolved', 'closed') THEN t.created + t.resolution_after END
             AS resolved,
           CASE WHEN cardinality(a.ids) > 0 AND (t.r2 % 7 <> 0 OR t.status IN ('resolved', 'closed'))
                THEN 1 + t.g % cardinality(a.ids) END AS agent_index,
           a.ids, a.departments, p.id AS customer_id
      FROM timed t
      JOIN targets tg ON tg.priority = t.priority
      CROSS JOIN agents a
      CROSS JOIN pool_size ps
      JOIN pool p ON p.rn = 1 + (t.g * 7717) % ps.n
)
INSERT INTO tickets (
    organization_id, number, subject, description, customer_id, channel, category, ticket_type,
    priority, status, assignee_id, department, tags, routing_reason, assigned_at,
    first_responded_at, resolved_at, closed_at, csat_rating, csat_comment, created_at, updated_at,
    sla_elapsed_seconds, sla_clock_started_at, first_response_due_at, resolution_due_at,
    sla_due_at, first_response_seconds, resolution_seconds, first_response_breached,
    resolution_breached
)
SELECT :org, :first_number + r.g - 1,
       (CAST(:subjects AS text[]))[1 + r.g % :subject_n],
       'Demo ticket: ' || (CAST(:subjects AS text[]))[1 + r.g % :subject_n] || '.',
       r.customer_id,
       (CAST(:channels AS text[]))[1 + r.r1 % :channel_n],
       (CAST(:categories AS text[]))[1 + r.r3 % :category_n],
       (CAST(:types AS text[]))[1 + r.r2 % :type_n],
       r.priority, r.status,
       r.ids[r.agent_index], coalesce(r.departments[r.agent_index], ''),
       CASE WHEN r.r3 % 5 = 0 THEN ARRAY['demo'] ELSE '{}' END,
       'Demo data', CASE WHEN r.agent_index IS NOT NULL THEN r.created END,
       r.responded, r.resolved,
       CASE WHEN r.status = 'closed' THEN r.resolved + interval '2 hours' END,
       CASE WHEN r.resolved IS NOT NULL AND r.r2 < 600 THEN 1 + (r.r1 + r.r3) % 5 END, '',
       r.created, coalesce(r.resolved, r.responded, r.created),
       -- The clock: running since creation, paused (10 working minutes in) while waiting on
       -- the customer, stopped at resolution.
       CASE WHEN r.status = 'waiting_on_customer' THEN 600
            WHEN r.resolved IS NOT NULL THEN extract(epoch FROM r.resolved - r.created)
            ELSE 0 END,
       CASE WHEN r.status IN ('new', 'open', 'in_progress') THEN r.created END,
       CASE WHEN r.status = 'new' THEN r.created + make_interval(secs => r.fr) END,
       CASE WHEN r.status IN ('new', 'open', 'in_progress')
            THEN r.created + make_interval(secs => r.res) END,
       CASE WHEN r.status = 'new' THEN r.created + make_interval(secs => least(r.fr, r.res))
            WHEN r.status IN ('open', 'in_progress') THEN r.created + make_interval(secs => r.res)
       END,
       extract(epoch FROM r.responded - r.created),
       extract(epoch FROM r.resolved - r.created),
       coalesce(extract(epoch FROM r.responded - r.created) > r.fr, false),
       coalesce(extract(epoch FROM r.resolved - r.created) > r.res, false)
  FROM rows r
"""

THREAD_SQL = """
INSERT INTO ticket_messages (
    organization_id, ticket_id, kind, author_user_id, body, data, email_status, emailed_at,
    created_at
)
SELECT organization_id, id, 'event', NULL, 'Ticket opened via ' || channel || '.',
       jsonb_build_object('event', 'created', 'channel', channel), '', NULL, created_at
  FROM tickets WHERE organization_id = :org AND number BETWEEN :first AND :last
UNION ALL
SELECT organization_id, id, 'reply', assignee_id,
       'Thank you for getting in touch. We are looking into it and will update you shortly.',
       '{}', 'sent', first_responded_at, first_responded_at
  FROM tickets
 WHERE organization_id = :org AND number BETWEEN :first AND :last
   AND first_responded_at IS NOT NULL
"""


def seed_tickets(count: int, *, seed: int = 1, open_share: float = 0.6) -> int:
    """Add `count` deterministic demo tickets (and their opening thread) to the current
    organization, `open_share` of them still active; returns how many."""
    organization_id = current_organization_id()
    if count <= 0 or not db.session.scalar(
        text("SELECT EXISTS (SELECT 1 FROM customers WHERE organization_id = :org)"),
        {"org": organization_id},
    ):
        return 0
    targets = [sla.targets_for(priority, []) for priority in PRIORITIES]
    first_number = allocate(organization_id, "ticket", count)
    db.session.execute(
        text(SEED_SQL),
        {
            "org": organization_id,
            "count": count,
            "seed": seed,
            "pool": CUSTOMER_POOL,
            "open_permille": round(open_share * 1000),
            "first_number": first_number,
            "priorities": list(PRIORITIES),
            "first_response": [t.seconds("first_response") for t in targets],
            "resolution": [t.seconds("resolution") for t in targets],
            "active_mix": list(ACTIVE_MIX),
            "active_n": len(ACTIVE_MIX),
            "priority_mix": list(PRIORITY_MIX),
            "priority_n": len(PRIORITY_MIX),
            "subjects": list(SUBJECTS),
            "subject_n": len(SUBJECTS),
            "channels": list(CHANNELS),
            "channel_n": len(CHANNELS),
            "categories": list(CATEGORIES),
            "category_n": len(CATEGORIES),
            "types": list(TICKET_TYPES),
            "type_n": len(TICKET_TYPES),
        },
    )
    last_number = first_number + count - 1
    db.session.execute(
        text(THREAD_SQL), {"org": organization_id, "first": first_number, "last": last_number}
    )
    record(
        db.session,
        organization_id=organization_id,
        action="create",
        table_name="tickets",
        row_id=f"T-{first_number}..T-{last_number}",
        new={"seeded": count, "seed": seed, "open_share": open_share},
    )
    return count
