"""Shared set-up for the pipeline tests: an organization with sellers, customers and deals."""

from dataclasses import dataclass

import pytest

from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.pipeline import stages as pipeline_stages
from tests import factories


@dataclass
class Sales:
    organization: object
    admin: object
    manager: object
    seller: object
    customers: list
    stages: dict


@pytest.fixture
def sales(make_org, make_user) -> Sales:
    """An organization with a manager, a seller and three customers; acting as the seller."""
    organization, admin = make_org(name="Pipeline Co")
    manager = make_user(organization, role="manager", name="Meg Manager")
    seller = make_user(organization, role="sales", name="Sid Seller")
    set_tenant(organization.id, seller.id)
    customers = factories.customer_rows(organization.id, 3)
    stages = {stage.name: stage for stage in pipeline_stages.list_stages()}
    db.session.commit()
    yield Sales(organization, admin, manager, seller, customers, stages)
    clear_tenant()


def deal(sales: Sales, stage: str = "Prospecting", amount: str = "1000", **kwargs):
    """A new deal in `stage` (at the top of its column) for the first customer."""
    customer_id = kwargs.pop("customer_id", sales.customers[0].id)
    return factories.deal(customer_id, amount, stage_id=sales.stages[stage].id, **kwargs)
