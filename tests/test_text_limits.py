"""Free text is capped everywhere: the public support form and the API answer a field message
instead of storing megabytes."""

import base64

import pytest
from sqlalchemy import func, select

from crm_web.accounts.services import create_api_token
from crm_web.db import clear_tenant, set_tenant, tenant_scope
from crm_web.extensions import db
from crm_web.limits import TEXT_MAX, too_long_texts
from crm_web.tickets.models import Ticket
from tests import factories


def _tickets(organization_id: int) -> int:
    with tenant_scope(organization_id):
        return db.session.scalar(
            select(func.count()).where(Ticket.organization_id == organization_id)
        )


def _public_form(**overrides):
    return {
        "name": "Pat Public",
        "email": "pat@example.com",
        "category": "general",
        "subject": "Where is my order?",
        "description": "Ordered last week.",
        "website": "",
        **overrides,
    }


@pytest.mark.parametrize("size", [TEXT_MAX + 1, 3 * 1024 * 1024])
def test_the_public_support_form_refuses_a_description_past_the_cap(client, make_org, size):
    organization, _admin = make_org("Capped Desk")
    response = client.post(
        f"/support/{organization.slug}", data=_public_form(description="x" * size)
    )
    assert response.status_code == 422
    assert "cannot be longer than 20000 characters" in response.get_data(as_text=True)
    assert _tickets(organization.id) == 0
    fits = client.post(
        f"/support/{organization.slug}", data=_public_form(description="x" * TEXT_MAX)
    )
    assert fits.status_code == 200
    assert _tickets(organization.id) == 1


@pytest.fixture
def api(make_org, make_user):
    organization, admin = make_org("Capped Api")
    customer = factories.customer(organization, primary_email="capped@example.com")
    set_tenant(organization.id, admin.id)
    _, token = create_api_token(admin)
    clear_tenant()
    return organization, customer.id, {"Authorization": f"Bearer {token}"}


def test_the_api_refuses_text_past_the_cap_with_field_messages(client, api, attachments_dir):
    organization, customer_id, headers = api

    def create(**body):
        return client.post(
            "/api/v1/crm/tickets/",
            json={"subject": "Capped", "customer_id": customer_id, **body},
            headers=headers,
        )

    response = create(description="x" * (TEXT_MAX + 1))
    assert response.status_code == 422
    assert response.json["fields"] == {"description": "Use at most 20,000 characters."}
    nested = create(tags=["ok", "y" * (3 * 1024 * 1024)])
    assert nested.status_code == 422
    assert nested.json["fields"] == {"tags[1]": "Use at most 20,000 characters."}
    subject = create(subject="s" * 201)
    assert subject.status_code == 422
    assert subject.json["fields"]["subject"] == "Keep the subject under 200 characters."
    assert _tickets(organization.id) == 0

    # A file sent inline is not text; its own size limit applies.
    attached = create(
        description="x" * TEXT_MAX,
        attachments=[
            {
                "filename": "notes.txt",
                "content_base64": base64.b64encode(b"z" * (TEXT_MAX * 2)).decode(),
            }
        ],
    )
    assert attached.status_code == 201, attached.json


def test_the_ticket_service_caps_the_description_for_every_caller(make_org):

    from crm_web.errors import ValidationError
    from crm_web.tickets import services

    organization, admin = make_org("Capped Service")
    customer = factories.customer(organization, primary_email="svc@example.com")
    set_tenant(organization.id, admin.id)
    with pytest.raises(ValidationError) as refused:
        services.create_ticket(
            subject="Long", customer_id=customer.id, description="x" * (TEXT_MAX + 1)
        )
    assert refused.value.fields == {"description": "Keep the description under 20,000 characters."}


def test_long_texts_are_named_by_their_path():
    body = {"a": "ok", "b": {"c": ["x" * 11]}, "file_base64": "y" * 50}
    assert too_long_texts(body, limit=10) == {"b.c[0]": "Use at most 10 characters."}
