"""The tickets JSON API: list, create, read, update, thread, assign, status; JSON errors, 422,
roles, and 404 for another organization's tickets."""

import base64

import pytest

from crm_web.accounts.services import create_api_token
from crm_web.db import clear_tenant, set_tenant
from crm_web.tickets import services
from tests import factories


@pytest.fixture
def api(make_org, make_user):
    organization, admin = make_org("Api Desk")
    agent = make_user(organization, role="support", name="Api Agent", department="Support")
    sales = make_user(organization, role="sales")
    customer = factories.customer(organization, primary_email="api.customer@example.com")
    set_tenant(organization.id, admin.id)
    _, token = create_api_token(agent)
    _, sales_token = create_api_token(sales)
    clear_tenant()
    return {
        "org": organization,
        "admin": admin,
        "agent": agent,
        "customer_id": customer.id,
        "headers": {"Authorization": f"Bearer {token}"},
        "sales_headers": {"Authorization": f"Bearer {sales_token}"},
    }


def _create(client, api, **body):
    return client.post(
        "/api/v1/crm/tickets/",
        json={"subject": "API ticket", "customer_id": api["customer_id"], **body},
        headers=api["headers"],
    )


def test_create_read_list_and_update(client, api, attachments_dir):
    response = _create(
        client,
        api,
        description="Sent by our shop",
        ticket_type="billing_issue",
        tags=["Shop", "refund"],
        attachments=[
            {"filename": "receipt.txt", "content_base64": base64.b64encode(b"42").decode()}
        ],
    )
    assert response.status_code == 201, response.json
    ticket = response.json
    assert ticket["channel"] == "api"
    assert ticket["priority"] == "high"  # billing issue
    assert ticket["assignee_id"] == api["agent"].id
    assert ticket["tags"] == ["refund", "shop"]
    assert ticket["reference"].startswith("T-")

    detail = client.get(f"/api/v1/crm/tickets/{ticket['id']}/", headers=api["headers"]).json
    events = [m["data"].get("event") for m in detail["messages"]]
    assert events[:1] == ["created"]
    assert detail["messages"][0]["attachments"][0]["filename"] == "receipt.txt"
    assert detail["sla"]["due_at"] == detail["sla"]["first_response_due_at"] is not None

    by_email = _create(client, api, customer_id=None, customer_email="API.Customer@example.com")
    assert by_email.json["customer_id"] == api["customer_id"]

    listing = client.get("/api/v1/crm/tickets/?limit=1", headers=api["headers"]).json
    assert [t["id"] for t in listing["items"]] == [by_email.json["id"]]
    page_two = client.get(
        f"/api/v1/crm/tickets/?limit=1&cursor={listing['next_cursor']}", headers=api["headers"]
    ).json
    assert [t["id"] for t in page_two["items"]] == [ticket["id"]]
    assert page_two["next_cursor"] is None
    filtered = client.get("/api/v1/crm/tickets/?priority=high", headers=api["headers"]).json
    assert [t["id"] for t in filtered["items"]] == [ticket["id"]]

    updated = client.put(
        f"/api/v1/crm/tickets/{ticket['id']}/",
        json={"priority": "urgent", "subject": "Renamed"},
        headers=api["headers"],
    )
    assert updated.status_code == 200
    assert (updated.json["priority"], updated.json["subject"]) == ("urgent", "Renamed")
    assert updated.json["ticket_type"] == "billing_issue"  # left out, kept


def test_messages_assign_and_status(client, api):
    ticket = _create(client, api).json
    base = f"/api/v1/crm/tickets/{ticket['id']}"
    reply = client.post(f"{base}/messages/", json={"body": "On it"}, headers=api["headers"])
    assert reply.status_code == 201
    assert (reply.json["kind"], reply.json["email_status"]) == ("reply", "queued")
    note = client.post(
        f"{base}/messages/", json={"kind": "note", "body": "psst"}, headers=api["headers"]
    )
    assert note.json["kind"] == "note" and note.json["email_status"] == ""
    inbound = client.post(
        f"{base}/messages/", json={"kind": "customer", "body": "thanks"}, headers=api["headers"]
    )
    assert inbound.json["author_customer_id"] == api["customer_id"]

    unassigned = client.put(f"{base}/assign/", json={"assignee_id": None}, headers=api["headers"])
    assert unassigned.json["assignee_id"] is None
    assigned = client.put(
        f"{base}/assign/", json={"assignee_id": api["agent"].id}, headers=api["headers"]
    )
    assert assigned.json["assignee_id"] == api["agent"].id

    resolved = client.put(f"{base}/status/", json={"status": "resolved"}, headers=api["headers"])
    assert resolved.status_code == 200
    assert resolved.json["status"] == "resolved" and resolved.json["resolved_at"]
    refused = client.put(f"{base}/status/", json={"status": "new"}, headers=api["headers"])
    assert refused.status_code == 422
    assert refused.json == {
        "error": "A resolved ticket cannot become new.",
        "fields": {"status": "This change is not allowed."},
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"priority": "asap"}, "priority"),
        ({"customer_id": "7"}, "customer_id"),
        ({"customer_id": True}, "customer_id"),
        ({"tags": "a,b"}, "tags"),
        ({"attachments": [{"filename": "x.txt", "content_base64": "%%%"}]}, "attachments"),
        ({"attachments": [{"filename": "x.exe", "content_base64": "TVo="}]}, "attachments"),
    ],
)
def test_validation_errors_are_422_with_fields(client, api, body, field, attachments_dir):
    response = _create(client, api, **body)
    assert response.status_code == 422
    assert field in response.json["fields"], response.json


def test_bad_json_and_unknown_message_kind(client, api):
    response = client.post(
        "/api/v1/crm/tickets/",
        data="nope",
        headers={**api["headers"], "Content-Type": "text/plain"},
    )
    assert response.status_code == 422
    assert response.json["error"].startswith("Send a JSON object")
    ticket = _create(client, api).json
    wrong = client.post(
        f"/api/v1/crm/tickets/{ticket['id']}/messages/",
        json={"kind": "shout", "body": "x"},
        headers=api["headers"],
    )
    assert wrong.status_code == 422 and "kind" in wrong.json["fields"]
    assign = client.put(
        f"/api/v1/crm/tickets/{ticket['id']}/assign/", json={}, headers=api["headers"]
    )
    assert assign.status_code == 422


def test_roles_and_tokens(client, api):
    assert client.get("/api/v1/crm/tickets/").status_code == 401
    forbidden = client.get("/api/v1/crm/tickets/", headers=api["sales_headers"])
    assert forbidden.status_code == 403
    assert forbidden.json["error"]


def test_another_organizations_tickets_are_404(client, api, make_org, make_user):
    other, other_admin = make_org("Other Api")
    set_tenant(other.id, other_admin.id)
    theirs = services.create_ticket(subject="Theirs", customer_id=factories.customer(other).id)
    stranger = factories.customer(other)
    clear_tenant()
    base = f"/api/v1/crm/tickets/{theirs.id}"
    headers = api["headers"]
    assert client.get(f"{base}/", headers=headers).status_code == 404
    assert client.put(f"{base}/", json={"subject": "x"}, headers=headers).status_code == 404
    assert client.post(f"{base}/messages/", json={"body": "x"}, headers=headers).status_code == 404
    assert (
        client.put(f"{base}/assign/", json={"assignee_id": None}, headers=headers).status_code
        == 404
    )
    response = client.put(f"{base}/status/", json={"status": "open"}, headers=headers)
    assert response.status_code == 404
    assert response.json == {"error": "No such ticket.", "fields": {}}
    listing = client.get("/api/v1/crm/tickets/", headers=headers).json
    assert theirs.id not in [t["id"] for t in listing["items"]]
    # Another organization's customer is refused as a field error, not leaked.
    create = client.post(
        "/api/v1/crm/tickets/", json={"subject": "x", "customer_id": stranger.id}, headers=headers
    )
    assert create.status_code == 422 and "customer_id" in create.json["fields"]
