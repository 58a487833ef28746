"""Shared set-up for the pipeline tests: an organization with sellers, customers and deals."""

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from crm_web.customers.models import Customer
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.pipeline import opportunities
from crm_web.pipeline import stages as pipeline_stages


@dataclass
class Sales:
    organization: object
    admin: object
    manager: object
    seller: object
    customers: list
    stages: dict


def add_customers(organization_id: int, count: int) -> list[Customer]:
    customers = [
        Customer(
            organization_id=organization_id,
            customer_code=f"T-{uuid.uuid4().hex[:10]}",
            customer_type="company",
            company_name=f"Company {index}",
            tags=[],
        )
        for index in range(count)
    ]
    db.session.add_all(customers)
    db.session.flush()
    return customers


@pytest.fixture
def sales(make_org, make_user) -> Sales:
    """An organization with a manager, a seller and three customers; acting as the seller."""
    organization, admin = make_org(name="Pipeline Co")
    manager = make_user(organization, role="manager", name="Meg Manager")
    seller = make_user(organization, role="sales", name="Sid Seller")
    set_tenant(organization.id, seller.id)
    customers = add_customers(organization.id, 3)
    stages = {stage.name: stage for stage in pipeline_stages.list_stages()}
    db.session.commit()
    yield Sales(organization, admin, manager, seller, customers, stages)
    clear_tenant()


def deal(sales: Sales, stage: str = "Prospecting", amount: str = "1000", **kwargs):
    """A new deal in `stage` (at the top of its column) for the first customer."""
    return opportunities.create_opportunity(
        name=kwargs.pop("name", f"Deal {uuid.uuid4().hex[:6]}"),
        customer_id=kwargs.pop("customer_id", sales.customers[0].id),
        amount=Decimal(amount),
        expected_close_date=kwargs.pop("expected_close_date", date(2030, 1, 15)),
        stage_id=sales.stages[stage].id,
        **kwargs,
    )
