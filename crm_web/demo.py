"""The demo organization the run command seeds on first start."""

from crm_web import onboarding
from crm_web.accounts import services as accounts
from crm_web.activities import seeding as activities_seeding
from crm_web.automations import seeding as automations_seeding
from crm_web.campaigns.seeding import seed_campaigns
from crm_web.catalog import customer_value
from crm_web.catalog import seeding as catalog_seeding
from crm_web.customer360 import seeding as customer_seeding
from crm_web.dashboard import services as dashboards
from crm_web.db import analyze_loaded, atomic, set_tenant
from crm_web.leads import seeding as leads_seeding
from crm_web.loyalty import seeding as loyalty_seeding
from crm_web.pipeline import seeding as pipeline_seeding
from crm_web.pipeline.quotes import settings as sales_settings
from crm_web.segments.seeding import seed_segments
from crm_web.surveys import seeding as surveys_seeding
from crm_web.tickets import seeding as tickets_seeding

DEMO_SLUG = "demo"
DEMO_PASSWORD = "demo-password"
DEMO_USERS = (
    ("admin@demo.example", "Ada Admin", "admin", "Management", ""),
    ("manager@demo.example", "Mehmet Manager", "manager", "Sales", ""),
    ("sales@demo.example", "Sam Sales", "sales", "Sales", ""),
    ("support@demo.example", "Selin Support", "support", "Support", "billing, technical"),
    ("marketing@demo.example", "Mia Marketing", "marketing", "Marketing", "email, sms"),
)
# The rest of the support team, so the queue's tickets spread over agents within their cap.
DEMO_AGENTS = (
    ("deniz@demo.example", "Deniz Demir", "support", "Support", "technical, account"),
    ("elif@demo.example", "Elif Kaya", "support", "Support", "billing, sales"),
    ("omar@demo.example", "Omar Haddad", "support", "Support", "general, technical"),
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
# The terms the demo's quotes print, in the demo organization's language.
DEMO_QUOTE_TERMS = {
    "en": "Prices exclude VAT unless stated. Payment within 30 days of the invoice date. "
    "Delivery within two weeks of the signed quote.",
    "tr": "Aksi belirtilmedikçe fiyatlara KDV dahil değildir. Ödeme, fatura tarihinden itibaren "
    "30 gün içinde yapılır. Teslimat, imzalı tekliften sonra iki hafta içindedir.",
}
DEMO_TICKETS = 300
# A desk on a normal day: a fifth of the tickets still active, the rest history.
DEMO_OPEN_SHARE = 0.2
# What seed_commerce loads: the catalog and orders, loyalty members and customer values.
COMMERCE_TABLES = (*catalog_seeding.TABLES, *loyalty_seeding.TABLES, "customer_values")
SEEDED_TABLES = (
    *customer_seeding.TABLES,
    *leads_seeding.TABLES,
    *pipeline_seeding.TABLES,
    *activities_seeding.TABLES,
    *tickets_seeding.TABLES,
    *COMMERCE_TABLES,
    *surveys_seeding.TABLES,
)


@atomic
def create_demo_organization(language: str = "en") -> int:
    """The demo organization and its users (one per role, and a support team), in `language`;
    returns its id."""
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
    # The company as its quotes print it (an admin edits it under Company details).
    organization.address = "Büyükdere Cad. No: 185\nLevent, 34394 İstanbul"
    organization.phone = "+90 212 555 01 00"
    organization.email = "sales@demo.example"
    organization.tax_office = "Boğaziçi Kurumlar"
    organization.tax_number = "1234567890"
    sales_settings().quote_terms = DEMO_QUOTE_TERMS.get(language, DEMO_QUOTE_TERMS["en"])
    users = [
        (user, name, department)
        for user, name, department in zip(
            DEMO_USERS[1:], user_names[1:], departments[1:], strict=True
        )
    ] + [(agent, agent[1], agent[3]) for agent in DEMO_AGENTS]
    for (email, _name, role, _department, skills), name, department in users:
        accounts.create_user(
            email=email,
            name=name,
            role=role,
            password=DEMO_PASSWORD,
            department=department,
            skills=skills,
        )
    return organization.id


def ensure_demo_organization(customers: int = 500, language: str = "en") -> bool:
    """Create the demo organization, its users and data unless it exists; True if created.
    In Turkish ("tr") its customers are Turkish too (names, cities, +90 phones). The tables it
    loaded are analyzed once it committed, so its first pages are planned well, and the
    dashboards' views refreshed, so its dashboards show figures at once."""
    created = _create_demo_organization(customers, language)
    if created:
        atomic(analyze_loaded)(SEEDED_TABLES)
        dashboards.refresh()
    return created


@atomic
def _create_demo_organization(customers: int, language: str) -> bool:
    if accounts.organization_id_for_slug(DEMO_SLUG) is not None:
        return False
    create_demo_organization(language)
    only = None if language == "en" else language
    customer_seeding.seed_customers_with_activity(customers, seed=2026, language=only)
    leads_seeding.set_up_demo_leads(max(customers // 2, 60), seed=2026, language=only)
    pipeline_seeding.seed_pipeline(max(customers // 4, 40), seed=2026)
    # After deals and leads: activities go to the deals, leads and customers seeded before.
    activities_seeding.seed_activities(max(customers // 2, 50), seed=2026)
    tickets_seeding.seed_tickets(DEMO_TICKETS, seed=2026, open_share=DEMO_OPEN_SHARE)
    # A catalog, a year of orders and a loyalty program with members and redemptions.
    seed_commerce(customers * 2, seed=2026)
    seed_segments()
    seed_campaigns()
    # Starter journeys (birthday, welcome, win-back, loyalty messages) with some history.
    automations_seeding.seed_automations(language)
    # An NPS survey with a few hundred responses and a product survey with logic.
    surveys_seeding.seed_surveys(min(customers, 300), seed=2026, language=language)
    return True


def seed_commerce(orders: int, *, seed: int = 1) -> tuple[int, dict[str, int]]:
    """A catalog and `orders` orders, then a loyalty program with members and the customers'
    values (RFM) computed from those orders; returns the orders and how many joined."""
    count = catalog_seeding.seed_orders(orders, seed=seed)
    joined = loyalty_seeding.seed_loyalty(seed=seed)
    customer_value.recompute()
    return count, {"loyalty members": joined}
