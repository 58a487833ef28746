"""A shop with a loyalty program (Bronze from 0, Silver from 500, Gold from 2000 points), for
the loyalty tests."""

from dataclasses import dataclass

from crm_web.accounts.models import Organization, User
from crm_web.catalog.models import Product
from crm_web.customers.models import Customer
from crm_web.db import set_tenant
from crm_web.loyalty import programs
from crm_web.loyalty.models import LoyaltyProgram
from tests import factories


@dataclass
class Shop:
    organization: Organization
    admin: User
    customer: Customer
    product: Product
    program: LoyaltyProgram


def make_shop(make_org, *, tier_basis: str = "points", expiry_days: int = 365, **program) -> Shop:
    """An organization (tenant left set) with a program, its three tiers, a customer and a
    product at 100.00 before tax with plenty of stock."""
    organization, admin = make_org("Loyal Shop", currency="TRY")
    set_tenant(organization.id, admin.id)
    made = programs.create_program(
        {
            "name": "Stars",
            "code": "STARS",
            "points_per_unit": "1",
            "point_expiry_days": expiry_days,
            "tier_basis": tier_basis,
            **program,
        }
    )
    for name, threshold, multiplier in (
        ("Bronze", "0", "1"),
        ("Silver", "500", "1.5"),
        ("Gold", "2000", "2"),
    ):
        programs.add_tier(made.id, name=name, threshold=threshold, points_multiplier=multiplier)
    customer = factories.customer(organization, first_name="Zeynep", last_name="Kaya")
    set_tenant(organization.id, admin.id)
    product = factories.product(stock=1000, sku="SKU-100", price="100", tax_rate="20")
    return Shop(organization, admin, customer, product, made)
