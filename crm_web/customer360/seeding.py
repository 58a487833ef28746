"""Demo activity for seeded customers: notes, communications, events with attendees, preferences.

Everything is one INSERT ... SELECT per table over the customers, so a million customers
get their history in seconds. A customer's share is decided by a hash of its id and the
seed (the same seed gives the same data): about 10 % get a note, 20 % one to three
communications, 12 % campaign preferences and 3 % an event registration.
"""

from sqlalchemy import text

from crm_web.customer360.models import CAMPAIGN_TYPES
from crm_web.customers.seeding import seed_customers
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.privacy.audit import record

# What seed_customers_with_activity loads (crm seed analyzes them afterwards).
TABLES = (
    "customers",
    "customer_notes",
    "communications",
    "customer_campaign_preferences",
    "events",
    "event_attendees",
)

# The customers to give a history, numbered 1.. in id order: the hashes use that number, so
# the same seed gives the same history in any organization or database.
SEEDED = (
    "(SELECT id, row_number() OVER (ORDER BY id) AS k FROM customers "
    "WHERE organization_id = :org AND id >= :first) c"
)
# A multiplicative hash of (number, seed, salt) in 0..999.
HASH = "((((c.k * 2654435761 + :seed * 40503 + {salt} * 7919) % 1000003) % 1000)::int)"

NOTES = (
    "Prefers to be called in the morning.",
    "Asked for a quote for next quarter.",
    "Happy with the last delivery; may order again in spring.",
    "Decision maker is the finance director.",
    "Fiyat teklifi bekliyor, haftaya tekrar aranacak.",
    "Toplantıda yeni ürün serisiyle ilgilendi.",
    "Complained about late invoice; resolved by support.",
    "Interested in the loyalty programme.",
)
EMAIL_SUBJECTS = (
    "Your quote",
    "Spring campaign: 20% off",
    "Thank you for your order",
    "Invitation to our product launch",
    "Yeni ürünlerimiz",
    "Monthly newsletter",
)
CALL_SUBJECTS = ("Follow-up call", "Intro call", "Renewal call", "Takip araması", "Support call")
SMS_TEXTS = (
    "Your order has shipped.",
    "Kampanya: bugüne özel %15 indirim!",
    "See you at the event.",
)
OUTCOMES = ("interested", "call back later", "sent quote", "no answer", "ordered")
EVENTS = (
    ("Product launch", "Istanbul"),
    ("Customer webinar", "Online"),
    ("Trade fair", "Izmir"),
    ("VIP dinner", "Ankara"),
    ("Partner summit", "London"),
    ("Spring workshop", "Istanbul"),
    ("Open day", "Bursa"),
    ("Year-end gala", "Istanbul"),
)


def _array(values) -> str:
    """A SQL text[] literal of fixed, trusted strings."""
    quoted = ",".join("'" + value.replace("'", "''") + "'" for value in values)
    return f"ARRAY[{quoted}]::text[]"


def _pick(values, salt: int) -> str:
    return f"({_array(values)})[1 + {HASH.format(salt=salt)} % {len(values)}]"


def seed_activity(first_customer_id: int = 0, *, seed: int = 1) -> dict[str, int]:
    """Give the current organization's customers (id >= first_customer_id) a demo history."""
    organization_id = current_organization_id()
    params = {"org": organization_id, "first": first_customer_id, "seed": seed}
    users = "(SELECT array_agg(id ORDER BY id) FROM users WHERE organization_id = :org)"
    counts = {}

    counts["customer_notes"] = db.session.execute(
        text(
            f"""
            INSERT INTO customer_notes (organization_id, customer_id, body, author_id, created_at, updated_at)
            SELECT :org, c.id, {_pick(NOTES, 1)},
                   u.ids[1 + {HASH.format(salt=2)} % cardinality(u.ids)],
                   now() - make_interval(days => {HASH.format(salt=3)} % 365, mins => {HASH.format(salt=4)}),
                   now() - make_interval(days => {HASH.format(salt=3)} % 365, mins => {HASH.format(salt=4)})
            FROM {SEEDED} CROSS JOIN (SELECT {users} AS ids) u
            WHERE {HASH.format(salt=0)} < 100
            """
        ),
        params,
    ).rowcount

    # One to three communications each; channel, direction and engagement from the hash.
    counts["communications"] = db.session.execute(
        text(
            f"""
            INSERT INTO communications (
                organization_id, customer_id, communication_type, direction, subject, content,
                sender, recipient, status, outcome, duration_seconds, delivery_date, opened_date,
                clicked_date, provider_message_id, source_type, attachments, tags, created_by_id,
                created_at)
            SELECT :org, x.id, x.kind,
                   CASE WHEN x.kind <> 'email' AND x.h % 4 = 0 THEN 'inbound' ELSE 'outbound' END,
                   CASE x.kind WHEN 'email' THEN x.email_subject WHEN 'sms' THEN ''
                               WHEN 'meeting' THEN 'Meeting at their office' ELSE x.call_subject END,
                   CASE x.kind WHEN 'sms' THEN x.sms_text ELSE '' END,
                   '', '',
                   CASE WHEN x.kind = 'email' THEN
                        CASE WHEN x.h % 10 < 2 THEN 'clicked' WHEN x.h % 10 < 5 THEN 'opened' ELSE 'delivered' END
                        WHEN x.kind = 'sms' THEN 'delivered' ELSE 'logged' END,
                   CASE WHEN x.kind IN ('call', 'meeting') THEN x.outcome ELSE '' END,
                   CASE WHEN x.kind IN ('call', 'meeting') THEN 60 * (2 + x.h % 45) END,
                   CASE WHEN x.kind IN ('email', 'sms') THEN x.at + interval '1 minute' END,
                   CASE WHEN x.kind = 'email' AND x.h % 10 < 5 THEN x.at + make_interval(hours => 1 + x.h % 30) END,
                   CASE WHEN x.kind = 'email' AND x.h % 10 < 2 THEN x.at + make_interval(hours => 2 + x.h % 30) END,
                   '', '', '[]'::jsonb, '{{}}'::text[],
                   x.ids[1 + x.h % cardinality(x.ids)],
                   x.at
            FROM (
                SELECT c.id, n, u.ids,
                       ({HASH.format(salt=5)} + n * 37) % 1000 AS h,
                       CASE WHEN ({HASH.format(salt=6)} + n * 11) % 20 < 10 THEN 'email'
                            WHEN ({HASH.format(salt=6)} + n * 11) % 20 < 15 THEN 'call'
                            WHEN ({HASH.format(salt=6)} + n * 11) % 20 < 18 THEN 'sms'
                            ELSE 'meeting' END AS kind,
                       now() - make_interval(days => ({HASH.format(salt=7)} + n * 53) % 400,
                                             mins => ({HASH.format(salt=8)} + n * 97) % 1440) AS at,
                       {_pick(EMAIL_SUBJECTS, 9)} AS email_subject,
                       {_pick(CALL_SUBJECTS, 10)} AS call_subject,
                       {_pick(SMS_TEXTS, 11)} AS sms_text,
                       {_pick(OUTCOMES, 12)} AS outcome
                FROM {SEEDED}
                CROSS JOIN (SELECT {users} AS ids) u
                CROSS JOIN LATERAL generate_series(1, 1 + {HASH.format(salt=13)} % 3) n
                WHERE {HASH.format(salt=14)} < 200
            ) x
            """
        ),
        params,
    ).rowcount

    counts["customer_campaign_preferences"] = db.session.execute(
        text(
            f"""
            INSERT INTO customer_campaign_preferences (organization_id, customer_id, campaign_type)
            SELECT DISTINCT :org, c.id, ({_array(CAMPAIGN_TYPES)})[1 + ({HASH.format(salt=15)} + n * 3) % {len(CAMPAIGN_TYPES)}]
            FROM {SEEDED} CROSS JOIN generate_series(1, 2) n
            WHERE {HASH.format(salt=16)} < 120
            """
        ),
        params,
    ).rowcount

    event_ids = list(
        db.session.execute(
            text(
                f"""
                INSERT INTO events (organization_id, name, starts_at, ends_at, location, notes, created_by_id)
                SELECT :org, e.name, e.starts_at, e.starts_at + interval '3 hours', e.location,
                       'Demo event.', (SELECT min(id) FROM users WHERE organization_id = :org)
                FROM (
                    SELECT name, location,
                           date_trunc('day', now()) + make_interval(days => (i::int - 6) * 30 - 15, hours => 18) AS starts_at
                    FROM unnest({_array(name for name, _ in EVENTS)}, {_array(loc for _, loc in EVENTS)})
                         WITH ORDINALITY AS t(name, location, i)
                ) e
                RETURNING id
                """
            ),
            params,
        ).scalars()
    )
    counts["events"] = len(event_ids)
    counts["event_attendees"] = db.session.execute(
        text(
            f"""
            INSERT INTO event_attendees (organization_id, event_id, customer_id, registered_at, attended_at)
            SELECT :org, e.id, c.id,
                   e.starts_at - make_interval(days => 1 + {HASH.format(salt=17)} % 30),
                   CASE WHEN e.ends_at < now() AND {HASH.format(salt=18)} % 10 < 7
                        THEN e.starts_at + make_interval(mins => {HASH.format(salt=19)} % 60) END
            FROM {SEEDED}
            JOIN events e ON e.id = (:events)[1 + {HASH.format(salt=20)} % cardinality(:events)]
            WHERE {HASH.format(salt=21)} < 30
            ON CONFLICT DO NOTHING
            """
        ),
        {**params, "events": event_ids},
    ).rowcount

    for table, count in counts.items():
        record(
            db.session,
            organization_id=organization_id,
            action="create",
            table_name=table,
            row_id=f"seed {seed}",
            new={"seeded": count, "seed": seed, "customers_from_id": first_customer_id},
        )
    return counts


def seed_customers_with_activity(
    count: int, *, seed: int = 1, language: str | None = None
) -> tuple[int, dict[str, int]]:
    """`crm seed`: demo customers (COPY) and then the history of exactly those customers;
    `language` keeps to customers of that language (see customers.seeding)."""
    last_id = db.session.execute(
        text("SELECT coalesce(max(id), 0) FROM customers WHERE organization_id = :org"),
        {"org": current_organization_id()},
    ).scalar_one()
    seeded = seed_customers(count, seed=seed, language=language)
    return seeded, seed_activity(last_id + 1, seed=seed) if seeded else {}
