"""GET /api/v1/crm/customers/{id}/360/ and /timeline/: shape, paging, filters, errors, tenancy."""

# The shared fixtures are imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

import pytest

from crm_web.accounts.services import create_api_token
from crm_web.communications.models import Communication
from crm_web.communications.services import log_communication
from crm_web.customer360 import services
from crm_web.customer360.models import CustomerNote
from crm_web.db import set_tenant
from tests.fixtures_customer360 import ago, backdate, customer, open_work, org  # noqa: F401


@pytest.fixture
def api(client, org):
    """A client calling the API with the admin's bearer token."""
    _organization, admin = org
    _token, raw = create_api_token(admin)
    set_tenant(admin.organization_id, admin.id)

    def get(url: str, **params):
        return client.get(url, query_string=params, headers={"Authorization": f"Bearer {raw}"})

    return get


def test_360_view_has_the_profile_interactions_open_work_kpis_and_scores(
    api, customer, org, open_work
):
    call = log_communication(
        customer.id, communication_type="call", direction="inbound", subject="Asked for pricing"
    )
    old = log_communication(
        customer.id, communication_type="email", direction="outbound", subject="Old newsletter"
    )
    backdate(Communication, old.id, "created_at", ago(days=120))
    note = services.add_note(customer.id, "Hot lead.")
    backdate(CustomerNote, note.id, "created_at", ago(days=2))
    response = api(f"/api/v1/crm/customers/{customer.id}/360/")
    assert response.status_code == 200
    data = response.get_json()
    assert set(data) == {
        "customer_profile",
        "recent_interactions",
        "active_opportunities",
        "open_tickets",
        "upcoming_activities",
        "lifetime_value_metrics",
        "kpis",
        "engagement_score",
        "health_score",
    }
    profile = data["customer_profile"]
    assert (profile["id"], profile["customer_code"]) == (customer.id, customer.customer_code)
    assert profile["primary_email"] == "ayse@example.com"
    assert profile["name"] == customer.display_name
    # The last 90 days only, newest first.
    recent = data["recent_interactions"]
    assert [(e["type"], e["id"], e["title"]) for e in recent] == [
        ("call", call.id, "Asked for pricing"),
        ("note", note.id, "Note"),
    ]
    assert recent[1]["body"] == "Hot lead."
    assert all(e["occurred_at"].endswith("+00:00") for e in recent)
    sooner, later = open_work.deals
    deals = data["active_opportunities"]
    assert [deal["id"] for deal in deals] == [sooner.id, later.id]
    assert deals[0] == {
        "id": sooner.id,
        "opportunity_number": sooner.opportunity_number,
        "name": "Pilot",
        "stage": "Proposal",
        "probability": "50.00",
        "amount": "1000.50",
        "currency": "USD",
        "expected_close_date": sooner.expected_close_date.isoformat(),
        "owner": org[1].name,
    }
    urgent, normal = open_work.tickets
    tickets = data["open_tickets"]
    assert [(t["id"], t["reference"], t["status"]) for t in tickets] == [
        (urgent.id, urgent.reference, "new"),
        (normal.id, normal.reference, "new"),
    ]
    assert tickets[0]["priority"] == "urgent" and tickets[0]["sla_paused"] is False
    assert tickets[0]["sla_due_at"] < tickets[1]["sla_due_at"]
    overdue, meeting = open_work.activities
    activities = data["upcoming_activities"]
    assert [(a["id"], a["activity_type"], a["status"]) for a in activities] == [
        (overdue.id, "call", "planned"),
        (meeting.id, "meeting", "planned"),
    ]
    assert activities[1]["subject"] == "Quarterly review"
    assert data["lifetime_value_metrics"] == {
        "total_revenue": None,
        "total_orders": None,
        "average_order_value": None,
        "last_order": None,
        "customer_since": customer.customer_since.isoformat(),
    }
    kpis = data["kpis"]
    assert kpis["last_contact"] is not None
    assert (kpis["open_opportunities"], kpis["open_tickets"], kpis["upcoming_activities"]) == (
        2,
        2,
        2,
    )
    assert (kpis["open_pipeline_amount"], kpis["open_pipeline_currency"]) == ("3500.50", "USD")
    assert kpis["satisfaction"] is None
    engagement = data["engagement_score"]
    # A call from the customer today: activity 5, recency 20, inbound 10.
    assert engagement["score"] == 35
    assert {c["key"]: c["points"] for c in engagement["breakdown"]}["inbound"] == 10
    health = data["health_score"]
    assert 0 <= health["score"] <= 100
    unavailable = {c["key"] for c in health["breakdown"] if not c["available"]}
    # No orders module yet, and no ticket rated: two open tickets make support 0.
    assert unavailable == {"purchasing", "satisfaction"}
    support = next(c for c in health["breakdown"] if c["key"] == "support")
    assert (support["value"], support["detail"]) == (0.0, "2 open tickets")
    assert all(c["value"] is None for c in health["breakdown"] if not c["available"])


def test_timeline_pages_with_cursor_and_filters_by_type(api, customer):
    for index in range(5):
        note = services.add_note(customer.id, f"Note {index}")
        backdate(CustomerNote, note.id, "created_at", ago(hours=10 - index))
        email = log_communication(
            customer.id, communication_type="email", direction="outbound", subject=f"Mail {index}"
        )
        backdate(Communication, email.id, "created_at", ago(hours=10 - index, minutes=30))
    url = f"/api/v1/crm/customers/{customer.id}/timeline/"
    first = api(url, limit=4).get_json()
    assert [e["title"] for e in first["items"]] == ["Note", "Mail 4", "Note", "Mail 3"]
    assert first["types"]["note"] == "Notes"
    seen = list(first["items"])
    cursor = first["next_cursor"]
    while cursor:
        page = api(url, limit=4, cursor=cursor).get_json()
        seen.extend(page["items"])
        cursor = page["next_cursor"]
    assert len(seen) == 10
    assert len({(e["type"], e["id"]) for e in seen}) == 10

    emails = api(url, types="email").get_json()["items"]
    assert [e["title"] for e in emails] == [f"Mail {i}" for i in range(4, -1, -1)]
    assert all(e["details"]["direction"] == "outbound" for e in emails)
    both = api(url, types="email,note").get_json()["items"]
    assert len(both) == 10


def test_errors_are_json(api, customer):
    url = f"/api/v1/crm/customers/{customer.id}/timeline/"
    unknown = api(url, types="email,orders")
    assert unknown.status_code == 422
    assert "orders" in unknown.get_json()["fields"]["types"]
    bad_cursor = api(url, cursor="not-a-cursor")
    assert bad_cursor.status_code == 422
    assert bad_cursor.get_json()["fields"] == {"cursor": "Start again from the first page."}
    assert api(url, limit=1000).status_code == 422
    missing = api("/api/v1/crm/customers/999999999/360/")
    assert missing.status_code == 404
    assert missing.get_json()["error"] == "No such customer."


def test_other_tenants_customers_are_404_and_tokens_are_required(client, customer, make_org):
    customer_id = customer.id
    other, other_admin = make_org(name="Other")
    set_tenant(other.id, other_admin.id)
    _token, raw = create_api_token(other_admin)
    headers = {"Authorization": f"Bearer {raw}"}
    for suffix in ("360/", "timeline/"):
        url = f"/api/v1/crm/customers/{customer_id}/{suffix}"
        response = client.get(url, headers=headers)
        assert response.status_code == 404, url
        assert response.get_json() == {"error": "No such customer.", "fields": {}}
        assert client.get(url).status_code == 401
