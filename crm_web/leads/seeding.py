"""Deterministic demo leads, written with COPY, then scored, converted and assigned set-based.

Leads spread over the workflow; those with better scores convert more often (to existing demo
customers), so the scoring analysis has a story to tell.
"""

import functools
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from crm_web.accounts.models import User
from crm_web.customers.models import COMPANY_SIZES, Customer
from crm_web.customers.seeding import INDUSTRIES, _ascii, _copy_text, _pools, locales_of
from crm_web.db import copy_insert, current_organization_id
from crm_web.extensions import db
from crm_web.leads import scoring
from crm_web.leads.models import AUTHORITIES, LEAD_SOURCES, TIMELINES
from crm_web.privacy.audit import record
from crm_web.sequences import allocate

COLUMNS = (
    "organization_id",
    "lead_number",
    "source",
    "captured_via",
    "first_name",
    "last_name",
    "company",
    "title",
    "email",
    "phone",
    "website",
    "industry",
    "company_size",
    "country",
    "city",
    "budget",
    "authority",
    "need",
    "timeline",
    "lead_score",
    "score_breakdown",
    "recommended_action",
    "form_submissions",
    "activity_count",
    "last_activity_at",
    "status",
    "status_changed_at",
    "disqualified_reason",
    "assigned_to_id",
    "assigned_at",
    "notes",
    "created_at",
    "updated_at",
)
TITLES = (
    "CEO",
    "Founder",
    "Head of Sales",
    "VP Marketing",
    "IT Director",
    "Operations Manager",
    "Purchasing Specialist",
    "Office Manager",
    "Analyst",
    "",
)
NEEDS = (
    "Replace our spreadsheets with a CRM",
    "Track deals for a growing sales team",
    "Automate follow-ups and reminders",
    "Loyalty programme for our shops",
    "",
)
DISQUALIFY_REASONS = ("No budget this year", "Went with a competitor", "Student project", "Spam")
# A Turkish demo's leads write in Turkish (their titles, needs and reasons are data, not labels).
TURKISH_TEXTS = {
    "titles": (
        "Genel Müdür",
        "Kurucu",
        "Satış Müdürü",
        "Pazarlama Müdürü",
        "BT Direktörü",
        "Operasyon Müdürü",
        "Satın Alma Uzmanı",
        "Ofis Yöneticisi",
        "Analist",
        "",
    ),
    "needs": (
        "Excel tablolarımızın yerine bir CRM",
        "Büyüyen satış ekibimizin fırsatlarını takip etmek",
        "Takip ve hatırlatmaları otomatikleştirmek",
        "Mağazalarımız için sadakat programı",
        "",
    ),
    "reasons": ("Bu yıl bütçe yok", "Rakibi seçti", "Öğrenci projesi", "Spam"),
}
# (status, weight) before conversion; conversion then picks among contacted and qualified leads.
STATUSES = (("new", 40), ("contacted", 27), ("qualified", 20), ("disqualified", 13))
# What seed_leads loads (crm seed analyzes them afterwards).
TABLES = ("leads", "lead_assignments")
# Drawing the name pools from Faker takes a second; a seed's pools never change.
_pools_for = functools.lru_cache(maxsize=4)(_pools)


def _row(organization_id, number, rng, pools, owners, now, locales, texts) -> str:
    locale, country, phone_prefix, _timezone = locales[rng.randrange(len(locales))]
    pool = pools[locale]
    first, last = rng.choice(pool["first"]), rng.choice(pool["last"])
    company = rng.choice(pool["company"]) if rng.random() < 0.7 else ""
    source = rng.choice(LEAD_SOURCES)
    status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
    created = now - timedelta(days=rng.randrange(0, 180), minutes=rng.randrange(0, 1440))
    activities = rng.choice((0, 0, 1, 2, 3, 5, 8, 12)) if status != "new" else 0
    last_activity = created + (now - created) * rng.random() if activities else None
    # Draw even without owners, so the same seed gives the same people whatever the team.
    assigned = rng.random() < 0.85
    owner = owners[number % len(owners)] if owners and assigned else None
    domain = "gmail.com" if rng.random() < 0.2 else f"{_ascii(company or last)[:30]}.example"
    row = (
        organization_id,
        f"LEAD-{number:06d}",
        source,
        "web_form" if source == "web_form" else rng.choice(("manual", "api")),
        first[:50],
        last[:50],
        company,
        rng.choice(texts["titles"]),
        f"{_ascii(first)}.{_ascii(last)}.l{number}@{domain}",
        phone_prefix.replace(" ", "") + "".join(str(rng.randrange(10)) for _ in range(9)),
        f"https://{_ascii(company)[:40]}.example" if company else "",
        rng.choice(INDUSTRIES),
        rng.choice(COMPANY_SIZES),
        country,
        rng.choice(pool["city"]),
        rng.randrange(1, 500) * 1000 if rng.random() < 0.6 else None,
        rng.choice(AUTHORITIES),
        rng.choice(texts["needs"]),
        rng.choice(TIMELINES),
        0,
        "{}",
        "",
        rng.randrange(1, 4) if source == "web_form" else 0,
        activities,
        last_activity,
        status,
        created + (now - created) / 2 if status != "new" else created,
        rng.choice(texts["reasons"]) if status == "disqualified" else "",
        owner,
        created if owner else None,
        "",
        created,
        created,
    )
    return "\t".join(_copy_text(value) for value in row)


def seed_leads(count: int, *, seed: int = 1, language: str | None = None) -> int:
    """Add `count` deterministic demo leads to the current organization; returns how many.
    With `language` ("tr") all of them are Turkish: names, companies, cities, titles, needs."""
    if count <= 0:
        return 0
    organization_id = current_organization_id()
    rng = random.Random(seed)
    locales = locales_of(language)
    pools = _pools_for(seed, locales)
    texts = (
        TURKISH_TEXTS
        if language == "tr"
        else {"titles": TITLES, "needs": NEEDS, "reasons": DISQUALIFY_REASONS}
    )
    owners = list(
        db.session.scalars(
            select(User.id)
            .where(
                User.organization_id == organization_id,
                User.is_active,
                User.role.in_(("sales", "manager")),
            )
            .order_by(User.id)
        )
    )
    first_number = allocate(organization_id, "lead", count)
    now = datetime.now(UTC)

    def chunks():
        buffer = []
        for index in range(count):
            buffer.append(
                _row(organization_id, first_number + index, rng, pools, owners, now, locales, texts)
            )
            if len(buffer) >= 5000:
                yield "\n".join(buffer) + "\n"
                buffer.clear()
        if buffer:
            yield "\n".join(buffer) + "\n"

    copy_insert("leads", COLUMNS, chunks())
    numbers = {
        "org": organization_id,
        "first": f"LEAD-{first_number:06d}",
        "last": f"LEAD-{first_number + count - 1:06d}",
    }
    first_id = db.session.scalar(
        text(
            "SELECT min(id) FROM leads WHERE organization_id = :org "
            "AND lead_number BETWEEN :first AND :last"
        ),
        numbers,
    )
    after_id = first_id - 1
    while (after_id := scoring.rescore_batch(after_id, limit=20_000)) is not None:
        pass
    # Better scores convert more often; each converted lead links one of the first demo
    # customers, picked from an array by arithmetic: no per-row lookup for a planner that has no
    # statistics on freshly loaded tables to get wrong.
    customer_ids = list(
        db.session.scalars(
            select(Customer.id)
            .where(Customer.organization_id == organization_id)
            .order_by(Customer.id)
            .limit(10_000)
        )
    )
    if customer_ids:
        db.session.execute(
            text(
                """
                UPDATE leads l SET status = 'converted', converted_at = l.status_changed_at,
                       updated_at = l.status_changed_at,
                       converted_customer_id = (CAST(:customers AS bigint[]))[
                           1 + (l.id * 7919) % cardinality(CAST(:customers AS bigint[]))]
                WHERE l.organization_id = :org AND l.lead_number BETWEEN :first AND :last
                  AND l.status IN ('contacted', 'qualified')
                  AND (l.id * 7919) % 100 < l.lead_score * 0.8
                """
            ),
            {**numbers, "customers": customer_ids},
        )
    db.session.execute(
        text(
            "INSERT INTO lead_assignments (organization_id, lead_id, user_id, method, note, created_at)"
            " SELECT organization_id, id, assigned_to_id, 'round_robin', 'Demo data', assigned_at"
            " FROM leads WHERE organization_id = :org AND lead_number BETWEEN :first AND :last"
            " AND assigned_to_id IS NOT NULL"
        ),
        numbers,
    )
    record(
        db.session,
        organization_id=organization_id,
        action="create",
        table_name="leads",
        row_id=f"{numbers['first']}..{numbers['last']}",
        new={"seeded": count, "seed": seed},
    )
    return count


DEMO_SETUP_WORDS = {
    "en": {
        "thank_you": "Thank you! Someone from our sales team will call you within a day.",
        "team": "Inside sales",
        "turkish_rule": "Turkish-speaking leads",
        "other_rule": "Everyone else",
    },
    "tr": {
        "thank_you": "Teşekkürler! Satış ekibimizden biri bir gün içinde sizi arayacak.",
        "team": "İç satış",
        "turkish_rule": "Türkçe konuşan adaylar",
        "other_rule": "Diğer herkes",
    },
}


def set_up_demo_leads(count: int, *, seed: int, language: str | None = None) -> None:
    """The demo organization's lead setup: its web form on, a sales team, routing rules, leads
    (in Turkish with `language` "tr")."""
    from crm_web.leads import assignment, services

    words = DEMO_SETUP_WORDS["tr" if language == "tr" else "en"]

    services.update_settings(
        web_form_enabled=True,
        web_form_thank_you=words["thank_you"],
        auto_assign=True,
    )
    sellers = list(
        db.session.scalars(
            select(User)
            .where(
                User.organization_id == current_organization_id(),
                User.role.in_(("sales", "manager")),
            )
            .order_by(User.id)
        )
    )
    team = assignment.create_team(name=words["team"], member_ids=[user.id for user in sellers])
    assignment.create_rule(
        name=words["turkish_rule"],
        priority=10,
        user_id=None,
        team_id=team.id,
        method="least_loaded",
        countries="TR",
        required_skills="turkish",
    )
    assignment.create_rule(
        name=words["other_rule"], priority=100, user_id=None, team_id=team.id, method="round_robin"
    )
    seed_leads(count, seed=seed, language=language)
