"""Every list the API answers has one envelope: `items` and `next_cursor`, which pages on."""

from datetime import UTC, datetime, timedelta

import pytest

from crm_web.customer360.services import add_note
from crm_web.db import set_tenant
from crm_web.extensions import db
from tests import factories

# GET routes under /api/v1 that answer one object, not a list of things.
NOT_LISTS = {
    "/api/v1/me",
    "/api/v1/crm/customers/<int:customer_id>/",
    "/api/v1/crm/customers/<int:customer_id>/360/",
    "/api/v1/crm/leads/<int:lead_id>/",
    "/api/v1/crm/leads/scoring/",
    "/api/v1/crm/tickets/<int:ticket_id>/",
    # The board: each stage holds its first cards and a cursor to the rest.
    "/api/v1/crm/pipeline/",
    "/api/v1/crm/forecast/",
}


@pytest.fixture
def records(make_org):
    """Two of everything a list shows, in one organization; its admin's bearer headers."""
    organization, admin = make_org()
    set_tenant(organization.id, admin.id)
    first, second = factories.customer(), factories.customer()
    add_note(first.id, "One")
    add_note(first.id, "Two")
    factories.lead()
    factories.lead()
    factories.deal(first.id)
    factories.deal(second.id)
    soon = datetime.now(UTC) + timedelta(days=1)
    factories.activity(customer_id=first.id, due_at=soon)
    factories.activity(customer_id=second.id, due_at=soon + timedelta(hours=1))
    for _ in range(2):
        ticket = factories.ticket(organization, user=admin, customer_id=first.id)
        # Past its deadline: on the SLA list.
        ticket.sla_due_at = datetime.now(UTC) - timedelta(hours=1)
    db.session.flush()
    today = datetime.now(UTC).date()
    lists = {
        "/api/v1/crm/customers/": {},
        "/api/v1/crm/customers/<int:customer_id>/timeline/": {"customer_id": first.id},
        "/api/v1/crm/leads/": {},
        "/api/v1/crm/opportunities/": {},
        "/api/v1/crm/activities/": {},
        "/api/v1/crm/calendar/": {
            "start": today.isoformat(),
            "end": (today + timedelta(days=7)).isoformat(),
            "user": "all",
        },
        "/api/v1/crm/tickets/": {},
        "/api/v1/crm/sla/": {},
    }
    return factories.bearer(admin), lists


def test_every_list_answers_items_and_a_cursor_that_pages_on(app, client, records):
    headers, lists = records
    get_routes = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and "GET" in rule.methods
    }
    # A new GET route is either a list (checked below) or named as a single object above.
    assert get_routes == set(lists) | NOT_LISTS

    for rule, params in lists.items():
        path_params = {k: v for k, v in params.items() if f"<int:{k}>" in rule}
        url = rule
        for name, value in path_params.items():
            url = url.replace(f"<int:{name}>", str(value))
        query = {k: v for k, v in params.items() if k not in path_params}
        first = client.get(url, query_string={**query, "limit": 1}, headers=headers)
        assert first.status_code == 200, (rule, first.get_json())
        body = first.get_json()
        assert "results" not in body, rule
        assert isinstance(body["items"], list) and len(body["items"]) == 1, rule
        assert isinstance(body["next_cursor"], str), rule
        second = client.get(
            url, query_string={**query, "limit": 1, "cursor": body["next_cursor"]}, headers=headers
        ).get_json()
        assert len(second["items"]) == 1 and second["items"] != body["items"], rule
        assert set(second) >= {"items", "next_cursor"}, rule
