"""The demo organization the run command seeds on first start."""

from crm_web import onboarding
from crm_web.accounts import services as accounts
from crm_web.catalog import customer_value
from crm_web.catalog import seeding as commerce_seeding
from crm_web.customer360.seeding import seed_customers_with_activity
from crm_web.db import atomic, set_tenant
from crm_web.loyalty import seeding as loyalty_seeding
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


# Tables loaded in bulk, to ANALYZE once the demo is committed (db.analyze).
BULK_TABLES = commerce_seeding.TABLES + loyalty_seeding.TABLES + ("customer_values",)


@atomic
def ensure_demo_organization(customers: int = 500) -> bool:
    """Create the demo organization, its users and customers unless it exists; True if created."""
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
    for email, name, role, department, skills in DEMO_USERS[1:]:
        accounts.create_user(
            email=email,
            name=name,
            role=role,
            password=DEMO_PASSWORD,
            department=department,
            skills=skills,
        )
    seed_customers_with_activity(customers, seed=2026)
    from crm_web.leads.seeding import set_up_demo_leads

    set_up_demo_leads(max(customers // 2, 60), seed=2026)
    from crm_web.pipeline.seeding import seed_pipeline

    seed_pipeline(max(customers // 4, 40), seed=2026)
    # Last: activities go to the deals, leads and customers seeded before them.
    from crm_web.activities.seeding import seed_activities

    seed_activities(max(customers // 2, 50), seed=2026)
    seed_tickets(300, seed=2026)
    # A catalog, a year of orders and a loyalty program with members and redemptions.
    commerce_seeding.seed_orders(customers * 2, seed=2026)
    loyalty_seeding.seed_loyalty(seed=2026)
    customer_value.recompute()
    return True
