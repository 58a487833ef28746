"""Deterministic demo tickets, written set-based (one INSERT ... SELECT), with their SLA state.

Most tickets are history (resolved or closed, spread over the past months); the active ones
are what a support desk has on a normal day: the agents' own tickets within the per-agent cap
(with room for the next urgent one), the rest waiting in the queue unassigned, most well
within their SLA, a few near it and a few past it. The organization's SLA policies are in
force from the start (the built-in defaults are saved unless it has its own), and the active
tickets' clocks, due times and escalation points come from them through the SLA code itself
(`crm_web.sla.recompute`): points whose moment passed before the load are recorded as fired
with nobody notified, so the escalation log has a story and the mailbox no flood.
"""

import json

from flask_babel import gettext as _
from sqlalchemy import text

from crm_web import i18n, labels
from crm_web.accounts.models import Organization
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.formatting import lowercase
from crm_web.privacy.audit import record
from crm_web.sequences import allocate
from crm_web.sla import configuration as sla_configuration
from crm_web.sla import policies as sla
from crm_web.sla import recompute as sla_recompute
from crm_web.tickets.models import ACTIVE_STATUSES, CATEGORIES, CHANNELS, PRIORITIES, TICKET_TYPES
from crm_web.tickets.services import get_settings

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
# A Turkish organization's demo tickets are written in Turkish.
TURKISH_SUBJECTS = (
    "Hesabıma giriş yapamıyorum",
    "Faturada yanlış tutar görünüyor",
    "Siparişim gelmedi",
    "İade hâlâ bekliyor",
    "Fotoğraf yüklerken uygulama kapanıyor",
    "Teslimat adresimi nasıl değiştiririm?",
    "Bir sipariş için iki kez ücret alındı",
    "Şifre sıfırlama e-postası gelmiyor",
    "Ürün hasarlı geldi",
    "Lütfen aboneliğimi iptal edin",
    "CSV dışa aktarımı boş geliyor",
    "İndirim kodu çalışmıyor",
)
DEMO_WORDS = {
    "en": {
        "subjects": SUBJECTS,
        "description": "Demo ticket: %s.",
        "routing": "Demo data",
        "reply": "Thank you for getting in touch. We are looking into it and will update you "
        "shortly.",
    },
    "tr": {
        "subjects": TURKISH_SUBJECTS,
        "description": "Demo destek talebi: %s.",
        "routing": "Demo verisi",
        "reply": "Bize ulaştığınız için teşekkürler. Konuyu inceliyoruz, en kısa sürede size "
        "bilgi vereceğiz.",
    },
}
# Weights by repetition: mostly normal, some high, a few urgent and low.
PRIORITY_MIX = ("low", "normal", "normal", "normal", "high", "high", "urgent")
ACTIVE_MIX = ("new", "open", "in_progress", "waiting_on_customer", "open", "new")
# How many of the customers (lowest ids first) the tickets are spread over.
CUSTOMER_POOL = 5000
# What seed_tickets loads (crm seed analyzes them afterwards).
TABLES = ("tickets", "ticket_messages", "sla_escalations")

# Room each agent keeps under the per-agent cap, so the next urgent ticket finds someone.
CAP_HEADROOM = 3
# Wall-clock time per working second of a target counted in business hours (40 of 168 hours a
# week, about): how long ago an active ticket was opened for the share of its target it used.
BUSINESS_WALL_FACTOR = 4.2

SEED_SQL = """
WITH agents AS (
    SELECT u.id, u.department,
           greatest(:per_agent - (SELECT count(*) FROM tickets t
                                   WHERE t.organization_id = :org AND t.assignee_id = u.id
                                     AND t.status = ANY(CAST(:active_statuses AS text[]))), 0)
             AS free
      FROM users u WHERE u.organization_id = :org AND u.is_active AND u.role = 'support'
), staff AS (
    SELECT coalesce(array_agg(id ORDER BY id), '{}') AS ids,
           coalesce(array_agg(department ORDER BY id), '{}') AS departments
      FROM agents
), slots AS (
    -- One element per active ticket an agent may still take, in turns: a, b, c, a, b, c, ...
    SELECT coalesce(array_agg(a.id ORDER BY s.n, a.id), '{}') AS ids,
           coalesce(array_agg(a.department ORDER BY s.n, a.id), '{}') AS departments
      FROM agents a CROSS JOIN LATERAL generate_series(1, a.free) AS s(n)
), pool AS (
    SELECT id, row_number() OVER (ORDER BY id) AS rn
      FROM (SELECT id FROM customers WHERE organization_id = :org ORDER BY id LIMIT :pool) c
), pool_size AS (
    SELECT count(*) AS n FROM pool
), targets AS (
    SELECT * FROM unnest(CAST(:priorities AS text[]), CAST(:first_response AS float8[]),
                         CAST(:resolution AS float8[]), CAST(:wall_factor AS float8[]))
           AS t(priority, fr, res, wall)
), draws AS (
    -- Four deterministic pseudo-random numbers in 0..999 per ticket.
    SELECT g, (g * 7919 + :seed * 104729) % 1000 AS r1, (g * 6007 + :seed * 130363) % 1000 AS r2,
           (g * 4801 + :seed * 154858) % 1000 AS r3, (g * 3571 + :seed * 7057) % 1000 AS r4
      FROM generate_series(1, :count) AS g
), shaped AS (
    SELECT d.*,
           CASE WHEN d.r1 < :open_permille THEN (CAST(:active_mix AS text[]))[1 + d.r2 % :active_n]
                WHEN d.r2 % 3 = 0 THEN 'closed' ELSE 'resolved' END AS status,
           (CAST(:priority_mix AS text[]))[1 + d.r3 % :priority_n] AS priority,
           -- The share of its SLA target an active ticket has used: 4.5 % past it, 6.5 % near
           -- it (82-97 %), the rest well within.
           CASE WHEN d.r4 < 45 THEN 1.05 + (d.r4 % 10) * 0.06
                WHEN d.r4 < 110 THEN 0.82 + (d.r4 % 16) * 0.01
                ELSE 0.03 + (d.r4 % 60) * 0.01 END AS used
      FROM draws d
), targeted AS (
    SELECT s.*, tg.fr, tg.res, tg.wall,
           s.status = ANY(CAST(:active_statuses AS text[])) AS active,
           -- The target the clock runs against: the first response until there is one.
           CASE WHEN s.status = 'new' THEN tg.fr ELSE tg.res END AS target,
           -- A ticket past its target breached a while ago, when its clock last started.
           CASE WHEN s.used > 1 THEN make_interval(mins => 5 + s.r3 % 240)
                ELSE interval '0' END AS overdue
      FROM shaped s JOIN targets tg ON tg.priority = s.priority
), timed AS (
    SELECT t.*,
           CASE WHEN t.active
                THEN now() - make_interval(secs => t.used * t.target * t.wall) - t.overdue
                     - interval '1 minute'
                ELSE now() - make_interval(mins => 4320 + (t.r3 * 53 + t.g) % 60000) END AS created,
           make_interval(mins => 5 + t.r2 % 180) AS response_after,
           make_interval(mins => 30 + (t.r1 * 7) % 4000) AS resolution_after,
           -- Two in three active tickets were taken by an agent while one had room.
           CASE WHEN t.active AND t.r2 % 3 <> 0
                THEN row_number() OVER (PARTITION BY t.active AND t.r2 % 3 <> 0 ORDER BY t.g)
           END AS slot
      FROM targeted t
), rows AS (
    SELECT t.*,
           CASE WHEN t.status <> 'new' THEN least(t.created + t.response_after, now()) END
             AS responded,
           CASE WHEN NOT t.active THEN t.created + t.resolution_after END AS resolved,
           CASE WHEN t.active THEN sl.ids[t.slot]
                WHEN cardinality(st.ids) > 0 THEN st.ids[1 + t.g % cardinality(st.ids)] END
             AS assignee_id,
           CASE WHEN t.active THEN sl.departments[t.slot]
                WHEN cardinality(st.ids) > 0 THEN st.departments[1 + t.g % cardinality(st.ids)]
           END AS assignee_department,
           p.id AS customer_id
      FROM timed t
      CROSS JOIN staff st
      CROSS JOIN slots sl
      CROSS JOIN pool_size ps
      JOIN pool p ON p.rn = 1 + (t.g * 7717) % ps.n
)
INSERT INTO tickets (
    organization_id, number, subject, description, customer_id, channel, category, ticket_type,
    priority, status, assignee_id, department, tags, routing_reason, assigned_at,
    first_responded_at, resolved_at, closed_at, csat_rating, csat_comment, created_at, updated_at,
    sla_elapsed_seconds, sla_clock_started_at, first_response_seconds, resolution_seconds,
    first_response_breached, resolution_breached
)
SELECT :org, :first_number + r.g - 1,
       (CAST(:subjects AS text[]))[1 + r.g % :subject_n],
       format(:description, (CAST(:subjects AS text[]))[1 + r.g % :subject_n]),
       r.customer_id,
       (CAST(:channels AS text[]))[1 + r.r1 % :channel_n],
       (CAST(:categories AS text[]))[1 + r.r3 % :category_n],
       (CAST(:types AS text[]))[1 + r.r2 % :type_n],
       r.priority, r.status, r.assignee_id, coalesce(r.assignee_department, ''),
       CASE WHEN r.r3 % 5 = 0 THEN ARRAY['demo'] ELSE '{}' END,
       :routing, CASE WHEN r.assignee_id IS NOT NULL THEN r.created END,
       r.responded, r.resolved,
       CASE WHEN r.status = 'closed' THEN r.resolved + interval '2 hours' END,
       CASE WHEN r.resolved IS NOT NULL AND r.r2 < 600 THEN 1 + (r.r1 + r.r3) % 5 END, '',
       r.created, coalesce(r.resolved, r.responded, r.created),
       -- The clock: the working time used so far, running again since its last start (paused
       -- while waiting on the customer), stopped at resolution. The due times and escalation
       -- points of active tickets are the SLA code's to compute (seed_tickets).
       CASE WHEN r.active THEN r.used * r.target ELSE extract(epoch FROM r.resolved - r.created)
       END,
       CASE WHEN r.status IN ('new', 'open', 'in_progress') THEN now() - r.overdue END,
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
SELECT organization_id, id, 'event', NULL, CAST(:opened AS jsonb) ->> channel,
       jsonb_build_object('event', 'created', 'channel', channel), '', NULL, created_at
  FROM tickets WHERE organization_id = :org AND number BETWEEN :first AND :last
UNION ALL
SELECT organization_id, id, 'reply', assignee_id,
       :reply,
       '{}', 'sent', first_responded_at, first_responded_at
  FROM tickets
 WHERE organization_id = :org AND number BETWEEN :first AND :last
   AND first_responded_at IS NOT NULL
"""


def seed_tickets(count: int, *, seed: int = 1, open_share: float = 0.6) -> int:
    """Add `count` deterministic demo tickets (and their opening thread) to the current
    organization, `open_share` of them still active, under its SLA policies (the defaults
    saved unless it has its own) with their escalation points; returns how many."""
    organization_id = current_organization_id()
    if count <= 0 or not db.session.scalar(
        text("SELECT EXISTS (SELECT 1 FROM customers WHERE organization_id = :org)"),
        {"org": organization_id},
    ):
        return 0
    sla_configuration.put_defaults_in_force()
    targets = [sla.targets_for(priority, []) for priority in PRIORITIES]
    cap = get_settings().agent_ticket_cap
    last_id_before = db.session.scalar(
        text("SELECT coalesce(max(id), 0) FROM tickets WHERE organization_id = :org"),
        {"org": organization_id},
    )
    first_number = allocate(organization_id, "ticket", count)
    locale = db.session.get(Organization, organization_id).locale or ""
    words = DEMO_WORDS["tr" if locale.startswith("tr") else "en"]
    with i18n.organization_language(organization_id):
        # What the service writes when a ticket opens, in the organization's language.
        opened = {
            channel: _(
                "Ticket opened via %(channel)s.",
                channel=lowercase(labels.label(channel, "ticket_channel")),
            )
            for channel in CHANNELS
        }
    db.session.execute(
        text(SEED_SQL),
        {
            "org": organization_id,
            "count": count,
            "seed": seed,
            "pool": CUSTOMER_POOL,
            "per_agent": max(cap - CAP_HEADROOM, cap // 2),
            "active_statuses": list(ACTIVE_STATUSES),
            "open_permille": round(open_share * 1000),
            "first_number": first_number,
            "priorities": list(PRIORITIES),
            "first_response": [t.seconds("first_response") for t in targets],
            "resolution": [t.seconds("resolution") for t in targets],
            "wall_factor": [BUSINESS_WALL_FACTOR if t.business_hours else 1.0 for t in targets],
            "active_mix": list(ACTIVE_MIX),
            "active_n": len(ACTIVE_MIX),
            "priority_mix": list(PRIORITY_MIX),
            "priority_n": len(PRIORITY_MIX),
            "subjects": list(words["subjects"]),
            "subject_n": len(words["subjects"]),
            "description": words["description"],
            "routing": words["routing"],
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
        text(THREAD_SQL),
        {
            "org": organization_id,
            "first": first_number,
            "last": last_number,
            "opened": json.dumps(opened),
            "reply": words["reply"],
        },
    )
    record(
        db.session,
        organization_id=organization_id,
        action="create",
        table_name="tickets",
        row_id=f"T-{first_number}..T-{last_number}",
        new={"seeded": count, "seed": seed, "open_share": open_share},
    )
    # The active tickets' due times and escalation points, as the SLA code keeps them.
    sla_recompute.recompute_in_transaction(after_id=last_id_before, loaded=True)
    return count
