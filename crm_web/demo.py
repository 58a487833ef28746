"""The demo organization the run command seeds on first start."""

from crm_web import onboarding
from crm_web.accounts import services as accounts
from crm_web.activities import seeding as activities_seeding
from crm_web.customer360 import seeding as customer_seeding
from crm_web.db import analyze_loaded, atomic, set_tenant
from crm_web.leads import seeding as leads_seeding
from crm_web.pipeline import seeding as pipeline_seeding
from crm_web.tickets import seeding as tickets_seeding

DEMO_SLUG = "demo"
DEMO_PASSWORD = "demo-password"
# One sign-in per role (the run command prints them).
DEMO_USERS = (
    ("admin@demo.example", "Ada Admin", "admin", "Management", ""),
    ("manager@demo.example", "Mehmet Manager", "manager", "Sales", ""),
    ("sales@demo.example", "Sam Sales", "sales", "Sales", "enterprise, turkish"),
    ("support@demo.example", "Selin Support", "support", "Support", "billing, technical"),
    ("marketing@demo.example", "Mia Marketing", "marketing", "Marketing", "email, sms"),
)
# The rest of the support team, so the queue's tickets spread over agents within their cap.
DEMO_AGENTS = (
    ("deniz@demo.example", "Deniz Demir", "support", "Support", "technical, account"),
    ("elif@demo.example", "Elif Kaya", "support", "Support", "billing, sales"),
    ("omar@demo.example", "Omar Haddad", "support", "Support", "general, technical"),
)
DEMO_TICKETS = 300
# A desk on a normal day: a fifth of the tickets still active, the rest history.
DEMO_OPEN_SHARE = 0.2
SEEDED_TABLES = (
    *customer_seeding.TABLES,
    *leads_seeding.TABLES,
    *pipeline_seeding.TABLES,
    *activities_seeding.TABLES,
    *tickets_seeding.TABLES,
)


def ensure_demo_organization(customers: int = 500) -> bool:
    """Create the demo organization, its users and data unless it exists; True if created.
    The tables it loaded are analyzed once it committed, so its first pages are planned well."""
    created = _create_demo_organization(customers)
    if created:
        atomic(analyze_loaded)(SEEDED_TABLES)
    return created


@atomic
def _create_demo_organization(customers: int) -> bool:
    if accounts.organization_id_for_slug(DEMO_SLUG) is not None:
        return False
    email, name, _role, _department, _skills = DEMO_USERS[0]
    organization, admin = onboarding.create_organization(
        name="Demo Company",
        slug=DEMO_SLUG,
        timezone="Europe/Istanbul",
        currency="TRY",
        admin_email=email,
        admin_name=name,
        admin_password=DEMO_PASSWORD,
    )
    set_tenant(organization.id, admin.id)
    admin.department = DEMO_USERS[0][3]
    for email, name, role, department, skills in (*DEMO_USERS[1:], *DEMO_AGENTS):
        accounts.create_user(
            email=email,
            name=name,
            role=role,
            password=DEMO_PASSWORD,
            department=department,
            skills=skills,
        )
    customer_seeding.seed_customers_with_activity(customers, seed=2026)
    leads_seeding.set_up_demo_leads(max(customers // 2, 60), seed=2026)
    pipeline_seeding.seed_pipeline(max(customers // 4, 40), seed=2026)
    # After deals and leads: activities go to the deals, leads and customers seeded before.
    activities_seeding.seed_activities(max(customers // 2, 50), seed=2026)
    tickets_seeding.seed_tickets(DEMO_TICKETS, seed=2026, open_share=DEMO_OPEN_SHARE)
    return True
