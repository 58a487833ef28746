"""Realistic demo customers, written with COPY so a million rows take seconds, not hours."""

import random
from datetime import date, timedelta

from faker import Faker
from sqlalchemy import select

from crm_web.accounts.models import User
from crm_web.customers.models import COMPANY_SIZES, LIFECYCLE_STAGES
from crm_web.customers.services import allocate_customer_codes, customer_code
from crm_web.db import copy_insert, current_organization_id
from crm_web.extensions import db
from crm_web.privacy.audit import record

COLUMNS = (
    "organization_id",
    "customer_code",
    "customer_type",
    "first_name",
    "last_name",
    "company_name",
    "birth_date",
    "gender",
    "primary_email",
    "primary_phone",
    "website",
    "industry",
    "company_size",
    "annual_revenue",
    "lead_source",
    "customer_since",
    "is_active",
    "owner_id",
    "lifecycle_stage",
    "tags",
    "city",
    "country",
    "timezone",
    "email_opt_in",
    "sms_opt_in",
    "do_not_contact",
    "title",
    "tax_number",
    "tax_office",
    "identity_number",
    "secondary_email",
    "secondary_phone",
    "address",
)
# (Faker locale, country, phone prefix, timezone)
LOCALES = (
    ("tr_TR", "TR", "+90 5", "Europe/Istanbul"),
    ("en_GB", "GB", "+44 7", "Europe/London"),
    ("en_US", "US", "+1 2", "America/New_York"),
)
INDUSTRIES = (
    "Retail",
    "Manufacturing",
    "Software",
    "Healthcare",
    "Finance",
    "Logistics",
    "Education",
    "Hospitality",
)
SOURCES = ("web", "referral", "event", "cold call", "partner", "social", "email campaign")
TAGS = ("vip", "newsletter", "wholesale", "b2b", "b2c", "prospect", "partner", "at-risk")
POOL_SIZE = 400


def _pools(seed: int) -> dict:
    """Names, companies and cities drawn once from Faker; rows combine them (Faker per row is slow)."""
    pools = {}
    for locale, country, phone_prefix, timezone in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(seed)
        pools[locale] = {
            "first": [fake.first_name() for _ in range(POOL_SIZE)],
            "last": [fake.last_name() for _ in range(POOL_SIZE)],
            "company": [fake.company()[:100] for _ in range(POOL_SIZE)],
            "city": [fake.city()[:100] for _ in range(POOL_SIZE // 4)],
            "street": [fake.street_address()[:200] for _ in range(POOL_SIZE)],
            "country": country,
            "phone_prefix": phone_prefix,
            "timezone": timezone,
        }
    return pools


def _ascii(text: str) -> str:
    table = str.maketrans("çğıöşüÇĞİÖŞÜ", "cgiosuCGIOSU")
    return "".join(ch for ch in text.translate(table).lower() if ch.isalnum())


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, list):
        return "{" + ",".join(value) + "}"
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def _row(
    organization_id: int,
    number: int,
    rng: random.Random,
    pools: dict,
    owners: list[int],
    today: date,
) -> str:
    """One customer as a line of COPY text."""
    locale, country, phone_prefix, timezone = LOCALES[rng.randrange(len(LOCALES))]
    pool = pools[locale]
    first, last = rng.choice(pool["first"]), rng.choice(pool["last"])
    is_company = rng.random() < 0.3
    company = rng.choice(pool["company"]) if is_company else ""
    email = (
        f"{_ascii(first)}.{_ascii(last)}{number}@example.{'com.tr' if country == 'TR' else 'com'}"
    )
    phone = phone_prefix.replace(" ", "") + "".join(str(rng.randrange(10)) for _ in range(9))
    row = (
        organization_id,
        customer_code(number),
        "company" if is_company else "person",
        first[:50],
        last[:50],
        company,
        today - timedelta(days=rng.randrange(18 * 365, 80 * 365)),
        rng.choice("FM"),
        email,
        phone[:20],
        f"https://{_ascii(company)[:40]}.example" if is_company else "",
        rng.choice(INDUSTRIES),
        rng.choice(COMPANY_SIZES[1:]) if is_company else "",
        rng.randrange(50, 50_000) * 1000 if is_company else None,
        rng.choice(SOURCES),
        today - timedelta(days=rng.randrange(0, 6 * 365)),
        rng.random() > 0.05,
        rng.choice(owners) if owners else None,
        rng.choice(LIFECYCLE_STAGES),
        rng.sample(TAGS, rng.randrange(0, 3)),
        rng.choice(pool["city"]),
        country,
        timezone,
        rng.random() < 0.7,
        rng.random() < 0.5,
        rng.random() < 0.03,
        "",
        "",
        "",
        "",
        "",
        "",
        rng.choice(pool["street"]),
    )
    return "\t".join(_copy_text(value) for value in row)


def seed_customers(count: int, *, seed: int = 1) -> int:
    """Add `count` deterministic demo customers to the current organization; returns how many."""
    if count <= 0:
        return 0
    organization_id = current_organization_id()
    rng = random.Random(seed)
    pools = _pools(seed)
    owners = list(
        db.session.scalars(select(User.id).where(User.organization_id == organization_id))
    )
    first_number = allocate_customer_codes(count)
    today = date.today()

    def chunks():
        buffer = []
        for index in range(count):
            buffer.append(_row(organization_id, first_number + index, rng, pools, owners, today))
            if len(buffer) >= 5000:
                yield "\n".join(buffer) + "\n"
                buffer.clear()
        if buffer:
            yield "\n".join(buffer) + "\n"

    copy_insert("customers", COLUMNS, chunks())
    record(
        db.session,
        organization_id=organization_id,
        action="create",
        table_name="customers",
        row_id=f"{customer_code(first_number)}..{customer_code(first_number + count - 1)}",
        new={"seeded": count, "seed": seed},
    )
    return count
