"""Realistic demo customers, written with COPY so a million rows take seconds, not hours."""

import random
from datetime import date, timedelta

from faker import Faker
from sqlalchemy import select

from crm_web.accounts.models import User
from crm_web.customers.fields import FIELDS, NAMES
from crm_web.customers.models import COMPANY_SIZES, LIFECYCLE_STAGES
from crm_web.customers.services import allocate_customer_codes, customer_code
from crm_web.db import copy_insert, current_organization_id
from crm_web.extensions import db
from crm_web.fields import Field
from crm_web.privacy.audit import record

# Fields the demo data leaves out get the model's default.
COLUMNS = ("organization_id", "customer_code", *NAMES)
# (Faker locale, country, phone prefix, timezone)
LOCALES = (
    ("tr_TR", "TR", "+90 5", "Europe/Istanbul"),
    ("en_GB", "GB", "+44 7", "Europe/London"),
    ("en_US", "US", "+1 2", "America/New_York"),
)
JOB_TITLES = (
    "Purchasing Manager",
    "Owner",
    "Operations Director",
    "Office Manager",
    "IT Manager",
    "Finance Director",
    "Marketing Lead",
)


def locales_of(language: str | None) -> tuple[tuple[str, str, str, str], ...]:
    """The LOCALES whose customers speak `language` ("tr", "en"); all of them for None."""
    return tuple(entry for entry in LOCALES if language in (None, entry[0][:2]))


# Faker's tr_TR makes up English-shaped towns ("Port Özalpsanchester"): Turkish customers live
# in real provinces, dotted and dotless I included (Iğdır, Kırşehir, İzmir).
TURKISH_CITIES = (
    "İstanbul",
    "Ankara",
    "İzmir",
    "Bursa",
    "Antalya",
    "Adana",
    "Konya",
    "Gaziantep",
    "Kayseri",
    "Eskişehir",
    "Diyarbakır",
    "Samsun",
    "Trabzon",
    "Kırşehir",
    "Iğdır",
    "Muğla",
    "Çanakkale",
    "Şanlıurfa",
    "Düzce",
    "Ağrı",
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


def _pools(seed: int, locales=LOCALES) -> dict:
    """Names, companies and cities drawn once from Faker; rows combine them (Faker per row is slow)."""
    pools = {}
    for locale, country, phone_prefix, timezone in locales:
        fake = Faker(locale)
        fake.seed_instance(seed)
        pools[locale] = {
            "first": [fake.first_name() for _ in range(POOL_SIZE)],
            "last": [fake.last_name() for _ in range(POOL_SIZE)],
            "company": [fake.company() for _ in range(POOL_SIZE)],
            "city": list(TURKISH_CITIES)
            if locale == "tr_TR"
            else [fake.city() for _ in range(POOL_SIZE // 4)],
            "street": [fake.street_address() for _ in range(POOL_SIZE)],
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


def _fitted(value, field: Field):
    """The value cut to the field's length (Faker's names and places may run longer)."""
    if isinstance(value, str) and field.max_length:
        return value[: field.max_length]
    return value


def _row(
    organization_id: int,
    number: int,
    rng: random.Random,
    pools: dict,
    owners: list[int],
    today: date,
) -> str:
    """One customer as a line of COPY text."""
    locale = rng.choice(list(pools))  # in LOCALES' order: the same seed, the same customers
    pool = pools[locale]
    country, phone_prefix, timezone = pool["country"], pool["phone_prefix"], pool["timezone"]
    first, last = rng.choice(pool["first"]), rng.choice(pool["last"])
    is_company = rng.random() < 0.3
    company = rng.choice(pool["company"]) if is_company else ""
    email = (
        f"{_ascii(first)}.{_ascii(last)}{number}@example.{'com.tr' if country == 'TR' else 'com'}"
    )
    phone = phone_prefix.replace(" ", "") + "".join(str(rng.randrange(10)) for _ in range(9))
    values = {
        "customer_type": "company" if is_company else "person",
        "first_name": first,
        "last_name": last,
        "company_name": company,
        # A company's contact person (its names above) and what they do; taken by number, not
        # from the random stream, so every other value stays as it was.
        "job_title": JOB_TITLES[number % len(JOB_TITLES)] if is_company else "",
        "birth_date": today - timedelta(days=rng.randrange(18 * 365, 80 * 365)),
        "gender": rng.choice("FM"),
        "primary_email": email,
        "primary_phone": phone,
        "website": f"https://{_ascii(company)[:40]}.example" if is_company else "",
        "industry": rng.choice(INDUSTRIES),
        "company_size": rng.choice(COMPANY_SIZES[1:]) if is_company else "",
        "annual_revenue": rng.randrange(50, 50_000) * 1000 if is_company else None,
        "lead_source": rng.choice(SOURCES),
        "customer_since": today - timedelta(days=rng.randrange(0, 6 * 365)),
        "is_active": rng.random() > 0.05,
        "owner_id": rng.choice(owners) if owners else None,
        "lifecycle_stage": rng.choice(LIFECYCLE_STAGES),
        "tags": rng.sample(TAGS, rng.randrange(0, 3)),
        "city": rng.choice(pool["city"]),
        "country": country,
        "timezone": timezone,
        # What we send them is in their language (Turkish customers of an English-speaking
        # organization too).
        "language": locale[:2],
        "email_opt_in": rng.random() < 0.7,
        "sms_opt_in": rng.random() < 0.5,
        "do_not_contact": rng.random() < 0.03,
        "address": rng.choice(pool["street"]),
    }
    row = (
        organization_id,
        customer_code(number),
        *(_fitted(values.get(f.name, f.default), f) for f in FIELDS),
    )
    return "\t".join(_copy_text(value) for value in row)


def seed_customers(count: int, *, seed: int = 1, language: str | None = None) -> int:
    """Add `count` deterministic demo customers to the current organization; returns how many.
    With `language` ("tr"), all of them speak it: Turkish names, cities and +90 phones."""
    if count <= 0:
        return 0
    organization_id = current_organization_id()
    rng = random.Random(seed)
    pools = _pools(seed, locales_of(language))
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
