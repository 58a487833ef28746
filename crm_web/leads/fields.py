"""Every field of a lead a person or a file sets, declared once.

Validation (services.check_field), the API, the CSV import (headers and their aliases) and
the forms read FIELDS. Lengths and defaults come from the model's columns. The kinds are
checked by services.check_field: text, choice, email, phone, country, amount; the import's
own fields (a new lead's status, its reason and owner) are the workflow's, not editable.
"""

from crm_web.customers.models import COMPANY_SIZES
from crm_web.fields import ALIASES as A
from crm_web.fields import Field, choices, declare
from crm_web.leads.models import AUTHORITIES, LEAD_SOURCES, TIMELINES, Lead

# Lead's Text columns, capped all the same.
LONG_TEXT = 10_000


F = Field
FIELDS = declare(
    Lead,
    F("first_name", "First name", aliases=A["first_name"]),
    F("last_name", "Last name", aliases=A["last_name"]),
    F("company", "Company", aliases=A["company"]),
    F("title", "Job title", aliases=("Title", "Unvan", *A["job_title"])),
    F("email", "Email", "email", A["email"]),
    F("phone", "Phone", "phone", A["phone"]),
    F("website", "Website", aliases=A["website"]),
    F("industry", "Industry", aliases=A["industry"]),
    F(
        "company_size",
        "Company size",
        "choice",
        A["company_size"],
        tuple((value, value or "—") for value in COMPANY_SIZES),
    ),
    F("country", "Country", "country", A["country"]),
    F("city", "City", aliases=A["city"]),
    F(
        "source",
        "Source",
        "choice",
        ("Lead source", "Kaynak"),
        choices(LEAD_SOURCES),
        {
            "website": "web_form",
            "web formu": "web_form",
            "sosyal medya": "social_media",
            "referans": "referral",
            "tavsiye": "referral",
            "fuar": "trade_show",
            "soğuk arama": "cold_call",
            "e-posta kampanyası": "email_campaign",
            "iş ortağı": "partner",
            "reklam": "advertising",
            "diğer": "other",
        },
    ),
    F("budget", "Budget", "amount", ("Bütçe",)),
    F(
        "authority",
        "Authority",
        "choice",
        ("Decision role", "Yetki"),
        choices(AUTHORITIES),
        {
            "karar verici": "decision_maker",
            "etkileyici": "influencer",
            "değerlendirici": "evaluator",
            "son kullanıcı": "end_user",
            "bilinmiyor": "unknown",
        },
    ),
    F("need", "Need", aliases=("Needs", "İhtiyaç"), max_length=LONG_TEXT),
    F(
        "timeline",
        "Timeline",
        "choice",
        ("Timeframe", "Zamanlama"),
        tuple((value, value.capitalize() if value else "—") for value in TIMELINES),
        {
            "hemen": "immediate",
            "1-3 ay": "1-3 months",
            "3-6 ay": "3-6 months",
            "6-12 ay": "6-12 months",
            "12+ ay": "12+ months",
        },
    ),
    F("notes", "Notes", aliases=("Note", "Comments", "Notlar", "Not"), max_length=LONG_TEXT),
)
BY_NAME = {f.name: f for f in FIELDS}
# What a person (form, API) may set on a lead; the rest is the workflow's.
NAMES = tuple(BY_NAME)
# The workflow and the owner of a lead that exists are changed on its page, not by a file.
IMPORT_FIELDS = FIELDS + declare(
    Lead,
    F(
        "status",
        "Status (new leads)",
        "status",
        ("Status", "Lead status", "Durum"),
        synonyms={
            "yeni": "new",
            "arandı": "contacted",
            "iletişime geçildi": "contacted",
            "nitelikli": "qualified",
            "elendi": "disqualified",
        },
    ),
    F(
        "disqualified_reason",
        "Disqualification reason (new leads)",
        "reason",
        ("Disqualification reason", "Disqualified reason", "Reason", "Red nedeni"),
    ),
    F("assigned_to_id", "Assigned to (new leads)", "owner", A["owner"]),
)
