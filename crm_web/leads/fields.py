"""Every field of a lead a person or a file sets, declared once.

Validation (services.check_field), the API, the CSV import (headers and their aliases) and
the forms read FIELDS. Lengths and defaults come from the model's columns. The kinds are
checked by services.check_field: text, choice, email, phone, country, amount; the import's
own fields (a new lead's status, its reason and owner) are the workflow's, not editable.
"""

from flask_babel import lazy_gettext as _l

from crm_web.customers.models import COMPANY_SIZES
from crm_web.fields import ALIASES as A
from crm_web.fields import Field, choices, declare
from crm_web.leads.models import AUTHORITIES, LEAD_SOURCES, TIMELINES, Lead

# Lead's Text columns, capped all the same.
LONG_TEXT = 10_000


F = Field
FIELDS = declare(
    Lead,
    F("first_name", "First name", aliases=A["first_name"], form_label=_l("First name")),
    F("last_name", "Last name", aliases=A["last_name"], form_label=_l("Last name")),
    F("company", "Company", aliases=A["company"], form_label=_l("Company")),
    F(
        "title",
        "Job title",
        aliases=("Title", "Unvan", *A["job_title"]),
        form_label=_l("Job title"),
    ),
    F("email", "Email", "email", A["email"], form_label=_l("Email")),
    F("phone", "Phone", "phone", A["phone"], form_label=_l("Phone")),
    F("website", "Website", aliases=A["website"], form_label=_l("Website")),
    F("industry", "Industry", aliases=A["industry"], form_label=_l("Industry")),
    F(
        "company_size",
        "Company size",
        "choice",
        A["company_size"],
        tuple((value, value or "—") for value in COMPANY_SIZES),
        form_label=_l("Company size"),
    ),
    F("country", "Country", "country", A["country"], form_label=_l("Country")),
    F("city", "City", aliases=A["city"], form_label=_l("City")),
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
        form_label=_l("Source"),
    ),
    F("budget", "Budget", "amount", ("Bütçe",), form_label=_l("Budget")),
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
        form_label=_l("Authority"),
    ),
    F("need", "Need", aliases=("Needs", "İhtiyaç"), max_length=LONG_TEXT, form_label=_l("Need")),
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
        form_label=_l("Timeline"),
    ),
    F(
        "notes",
        "Notes",
        aliases=("Note", "Comments", "Notlar", "Not"),
        max_length=LONG_TEXT,
        form_label=_l("Notes"),
    ),
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
        form_label=_l("Status (new leads)"),
    ),
    F(
        "disqualified_reason",
        "Disqualification reason (new leads)",
        "reason",
        ("Disqualification reason", "Disqualified reason", "Reason", "Red nedeni"),
        form_label=_l("Disqualification reason (new leads)"),
    ),
    F(
        "assigned_to_id",
        "Assigned to (new leads)",
        "owner",
        A["owner"],
        form_label=_l("Assigned to (new leads)"),
    ),
)
