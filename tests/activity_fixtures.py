"""Shared set-up for the activity tests: a sales team with customers, a lead and a deal."""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from crm_web.activities.services import create_activity
from crm_web.customers.models import Customer
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.leads.services import create_lead
from crm_web.pipeline.opportunities import create_opportunity


@dataclass
class Team:
    organization: object
    admin: object
    manager: object
    seller: object
    other_seller: object
    marketer: object
    support: object
    customers: list
    lead: object
    opportunity: object


def add_customers(organization_id: int, count: int) -> list[Customer]:
    customers = [
        Customer(
            organization_id=organization_id,
            customer_code=f"CUS-{uuid.uuid4().hex[:10].upper()}",
            customer_type="company",
            company_name=f"Customer {index} Ltd",
            tags=[],
        )
        for index in range(count)
    ]
    db.session.add_all(customers)
    db.session.flush()
    return customers


def make_team(
    make_org, make_user, *, name: str = "Activity Co", timezone: str = "UTC", logins: bool = False
) -> Team:
    """An organization with one user per role, three customers, a lead and a deal (committed).

    With `logins` the other users sign in with the admin's password too (its hash is reused:
    hashing is slow).
    """
    organization, admin = make_org(name=name, timezone=timezone)
    manager, seller, other_seller, marketer, support = (
        make_user(organization, role=role, name=user_name, password=None)
        for role, user_name in (
            ("manager", "Meg Manager"),
            ("sales", "Sam Seller"),
            ("sales", "Olga Other"),
            ("marketing", "Mia Marketing"),
            ("support", "Sue Support"),
        )
    )
    set_tenant(organization.id, seller.id)
    if logins:
        for user in (manager, seller, other_seller, marketer, support):
            user.password_hash = admin.password_hash
    customers = add_customers(organization.id, 3)
    lead = create_lead(
        first_name="Lee",
        last_name="Prospect",
        company="Prospect Inc",
        email=f"lee-{uuid.uuid4().hex[:6]}@example.com",
        assigned_to_id=seller.id,
    )
    opportunity = create_opportunity(
        name="Big deal",
        customer_id=customers[0].id,
        amount=Decimal("5000"),
        expected_close_date=date(2030, 1, 15),
        owner_id=seller.id,
    )
    db.session.commit()
    clear_tenant()
    return Team(
        organization,
        admin,
        manager,
        seller,
        other_seller,
        marketer,
        support,
        customers,
        lead,
        opportunity,
    )


@pytest.fixture(name="team")
def team_fixture(make_org, make_user) -> Team:
    yield make_team(make_org, make_user)
    clear_tenant()


def plan(team: Team, user=None, **values):
    """Create an activity as `user` (the seller unless told), about the first customer, due tomorrow."""
    set_tenant(team.organization.id, (user or team.seller).id)
    fields = {
        "activity_type": "call",
        "subject": "Call the customer",
        "customer_id": team.customers[0].id,
        "due_at": datetime.now(UTC) + timedelta(days=1),
        **values,
    }
    return create_activity(**fields)


def api_token(team: Team, user) -> dict:
    """Authorization headers with a fresh API token of `user`."""
    from crm_web.accounts.services import create_api_token

    set_tenant(team.organization.id, user.id)
    _token, raw = create_api_token(user)
    clear_tenant()
    return {"Authorization": f"Bearer {raw}"}
