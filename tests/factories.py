"""One way for tests to make the rows they stand on: organizations, users, customers, leads,
deals, tickets, activities, products and API tokens.

Each factory calls the domain's own service, so what a test stands on passed the same rules
as real data; only `customer_rows` inserts plain ORM rows, for tests that need many customers
and none of the service's checks. Defaults make every value that must be unique unique; a
test passes what it asserts on. Factories given an organization make it the tenant and leave
it set; the others work in the current tenant.
"""

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from crm_web.accounts.models import Organization, User
from crm_web.accounts.services import create_api_token, create_user
from crm_web.activities.models import Activity
from crm_web.activities.services import create_activity
from crm_web.catalog.models import Product
from crm_web.catalog.products import create_product
from crm_web.customers.models import Customer
from crm_web.customers.services import create_customer
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.leads.models import Lead
from crm_web.leads.services import create_lead
from crm_web.onboarding import create_organization
from crm_web.pipeline.models import Opportunity
from crm_web.pipeline.opportunities import create_opportunity
from crm_web.tickets.models import Ticket
from crm_web.tickets.services import create_ticket

PASSWORD = "correct-horse"


def _unique() -> str:
    return uuid.uuid4().hex[:8]


def organization(
    name: str = "Acme", password: str = PASSWORD, **fields
) -> tuple[Organization, User]:
    """A new organization and its admin, with a unique slug and admin email; no tenant set."""
    slug = fields.pop("slug", f"{name.lower().replace(' ', '-')}-{_unique()}")
    made = create_organization(
        name=name,
        slug=slug,
        admin_email=fields.pop("admin_email", f"admin-{_unique()}@{slug}.example"),
        admin_name=f"{name} Admin",
        admin_password=password,
        **fields,
    )
    clear_tenant()
    return made


def user(organization, role: str = "sales", password: str | None = PASSWORD, **fields) -> User:
    """A user of `organization` with `role` (`password=None` spares a slow hash); no tenant set."""
    set_tenant(organization.id)
    made = create_user(
        email=fields.pop("email", f"{role}-{_unique()}@example.com"),
        name=fields.pop("name", role.capitalize()),
        role=role,
        password=password,
        **fields,
    )
    clear_tenant()
    return made


def bearer(user: User) -> dict[str, str]:
    """Authorization headers with a fresh API token of `user`; no tenant set."""
    set_tenant(user.organization_id, user.id)
    _token, raw = create_api_token(user)
    clear_tenant()
    return {"Authorization": f"Bearer {raw}"}


def customer(organization=None, **fields) -> Customer:
    """A person customer made by the customers service, with a unique email unless given."""
    if organization is not None:
        set_tenant(organization.id)
    values = {
        "first_name": "Cem",
        "last_name": "Customer",
        "primary_email": f"cust-{_unique()}@example.com",
        **fields,
    }
    return create_customer(values, allow_duplicate=True)


def customer_rows(
    organization_id: int, count: int, name: str = "Company {index}"
) -> list[Customer]:
    """`count` company customers inserted as plain rows, named from `name` with their index."""
    rows = [
        Customer(
            organization_id=organization_id,
            customer_code=f"CUS-{uuid.uuid4().hex[:10].upper()}",
            customer_type="company",
            company_name=name.format(index=index),
            tags=[],
        )
        for index in range(count)
    ]
    db.session.add_all(rows)
    db.session.flush()
    return rows


def lead(**fields) -> Lead:
    """A lead made by the leads service in the current tenant, with a unique email unless given."""
    values = {
        "first_name": "Lee",
        "last_name": "Prospect",
        "email": f"lead-{_unique()}@example.com",
        **fields,
    }
    return create_lead(**values)


def deal(customer_id: int, amount="1000", **fields) -> Opportunity:
    """A deal (opportunity) for a customer, made by the pipeline service in the current tenant."""
    values = {
        "name": f"Deal {uuid.uuid4().hex[:6]}",
        "expected_close_date": date(2030, 1, 15),
        **fields,
    }
    return create_opportunity(customer_id=customer_id, amount=Decimal(amount), **values)


def ticket(organization, *, user=None, tags=(), **fields) -> Ticket:
    """A ticket made by the tickets service, acting as `user`, for a new customer with `tags`
    unless `customer_id` is given."""
    if "customer_id" not in fields:
        fields["customer_id"] = customer(organization, tags=list(tags)).id
    set_tenant(organization.id, user.id if user is not None else None)
    return create_ticket(**{"subject": "Printer on fire", **fields})


def activity(**fields) -> Activity:
    """An activity made by the activities service in the current tenant: a call due tomorrow."""
    values = {
        "activity_type": "call",
        "subject": "Call the customer",
        "due_at": datetime.now(UTC) + timedelta(days=1),
        **fields,
    }
    return create_activity(**values)


def product(stock: int = 10, **fields) -> Product:
    """A product made by the catalog service in the current tenant, with `stock` units received."""
    values = {
        "sku": f"SKU-{_unique().upper()}",
        "name": "Blue mug",
        "price": "12.50",
        "tax_rate": "20",
        "stock_on_hand": stock,
        **fields,
    }
    return create_product(values)
