"""Shared set-up for the activity tests: a sales team with customers, a lead and a deal."""

from dataclasses import dataclass

import pytest

from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from tests import factories


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
    customers = factories.customer_rows(organization.id, 3, name="Customer {index} Ltd")
    lead = factories.lead(company="Prospect Inc", assigned_to_id=seller.id)
    opportunity = factories.deal(
        customers[0].id, amount="5000", name="Big deal", owner_id=seller.id
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
    return factories.activity(**{"customer_id": team.customers[0].id, **values})
