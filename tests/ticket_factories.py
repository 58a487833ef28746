"""Helpers for the ticket tests: customers and support agents in an organization.

Not a test module; the ticket test files import from it (the fixture too).
"""

import uuid

import pytest

from crm_web.customers.models import Customer
from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.sequences import allocate


@pytest.fixture
def attachments_dir(app, tmp_path):
    """Attachment files of the test go to a temporary folder, not the instance folder."""
    previous = app.config["ATTACHMENTS_DIR"]
    app.config["ATTACHMENTS_DIR"] = str(tmp_path)
    yield tmp_path
    app.config["ATTACHMENTS_DIR"] = previous


def make_customer(organization, *, email: str | None = None, tags=(), name: str = "Cem Customer"):
    """A customer of this organization (the tenant is left set to it)."""
    set_tenant(organization.id)
    first, _, last = name.partition(" ")
    customer = Customer(
        organization_id=organization.id,
        customer_code=f"CUS-{allocate(organization.id, 'customer'):06d}",
        first_name=first,
        last_name=last,
        primary_email=email if email is not None else f"cust-{uuid.uuid4().hex[:8]}@example.com",
        tags=list(tags),
    )
    db.session.add(customer)
    db.session.flush()
    return customer


def make_agent(make_user, organization, *, name: str, department: str = "", skills: str = ""):
    """An active support agent."""
    return make_user(organization, role="support", name=name, department=department, skills=skills)
