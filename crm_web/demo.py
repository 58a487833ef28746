"""The demo organization the run command seeds on first start."""

from crm_web import onboarding
from crm_web.accounts import services as accounts
from crm_web.customer360.seeding import seed_customers_with_activity
from crm_web.db import atomic, set_tenant
from crm_web.pipeline.quotes import settings as sales_settings
from crm_web.tickets.seeding import seed_tickets

DEMO_SLUG = "demo"
DEMO_PASSWORD = "demo-password"
DEMO_USERS = (
    ("admin@demo.example", "Ada Admin", "admin", "Management", ""),
    ("manager@demo.example", "Mehmet Manager", "manager", "Sales", ""),
    ("sales@demo.example", "Sam Sales", "sales", "Sales", "enterprise, turkish"),
    ("support@demo.example", "Selin Support", "support", "Support", "billing, technical"),
    ("marketing@demo.example", "Mia Marketing", "marketing", "Marketing", "email, sms"),
)
# The demo organization in each language: its name, its users' names (in DEMO_USERS' order)
# and departments. Both work in Istanbul, in Turkish lira.
DEMO_LANGUAGES = {
    "en": ("Demo Company", [user[1] for user in DEMO_USERS], [user[3] for user in DEMO_USERS]),
    "tr": (
        "Demo Ticaret A.Ş.",
        ["Ayşe Yılmaz", "Mehmet Demir", "Selim Kaya", "Şule Çelik", "İpek Öztürk"],
        ["Yönetim", "Satış", "Satış", "Destek", "Pazarlama"],
    ),
}

DEMO_QUOTE_TERMS = (
    "Prices exclude VAT unless stated. Payment within 30 days of the invoice date. "
    "Delivery within two weeks of the signed quote."
)


@atomic
def create_demo_organization(language: str = "en") -> int:
    """The demo organization and its users (one per role), in `language`; returns its id."""
    name, user_names, departments = DEMO_LANGUAGES[language]
    email = DEMO_USERS[0][0]
    organization, admin = onboarding.create_organization(
        name=name,
        slug=DEMO_SLUG,
        timezone="Europe/Istanbul",
        currency="TRY",
        locale=language,
        admin_email=email,
        admin_name=user_names[0],
        admin_password=DEMO_PASSWORD,
    )
    set_tenant(organization.id, admin.id)
    admin.department = departments[0]
    # The company as its quotes print it (an admin edits it under Company).
    organization.address = "Büyükdere Cad. No: 185\nLevent, 34394 İstanbul"
    organization.phone = "+90 212 555 01 00"
    organization.email = "sales@demo.example"
    organization.tax_office = "Boğaziçi Kurumlar"
    organization.tax_number = "1234567890"
    sales_settings().quote_terms = DEMO_QUOTE_TERMS
    for (email, _name, role, _department, skills), name, department in zip(
        DEMO_USERS[1:], user_names[1:], departments[1:], strict=True
    ):
        accounts.create_user(
            email=email,
            name=name,
            role=role,
            password=DEMO_PASSWORD,
            department=department,
            skills=skills,
        )
    return organization.id


@atomic
def ensure_demo_organization(customers: int = 500, language: str = "en") -> bool:
    """Create the demo organization, its users and data unless it exists; True if created.
    In Turkish ("tr") its customers are Turkish too (names, cities, +90 phones)."""
    if accounts.organization_id_for_slug(DEMO_SLUG) is not None:
        return False
    create_demo_organization(language)
    only = None if language == "en" else language
    seed_customers_with_activity(customers, seed=2026, language=only)
    from crm_web.leads.seeding import set_up_demo_leads

    set_up_demo_leads(max(customers // 2, 60), seed=2026)
    from crm_web.pipeline.seeding import seed_pipeline

    seed_pipeline(max(customers // 4, 40), seed=2026)
    # Last: activities go to the deals, leads and customers seeded before them.
    from crm_web.activities.seeding import seed_activities

    seed_activities(max(customers // 2, 50), seed=2026)
    seed_tickets(300, seed=2026)
    return True
