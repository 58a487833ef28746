"""Every list the API answers has one envelope: `items` and `next_cursor`, which pages on."""

from datetime import UTC, datetime, timedelta

import pytest

from crm_web.automations.models import Enrollment
from crm_web.automations.services import create_automation
from crm_web.campaigns.seeding import seed_campaigns
from crm_web.catalog import orders
from crm_web.customer360.services import add_note
from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.segments.services import create_segment
from tests import factories
from tests.survey_distribution_helpers import launched_nps
from tests.survey_helpers import respond

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
    "/api/v1/crm/campaigns/<int:campaign_id>/",
    "/api/v1/crm/campaigns/<int:campaign_id>/stats/",
    # The template library: a handful per organization, answered whole (`items`, no cursor).
    "/api/v1/crm/email-templates/",
    "/api/v1/crm/products/<int:product_id>/",
    "/api/v1/crm/orders/<int:order_id>/",
    # A customer's loyalty: balance and tier, with the first page of the ledger in `ledger`.
    "/api/v1/crm/customers/<int:customer_id>/loyalty/",
    # Loyalty programs and the rewards catalog: a handful per organization, answered whole.
    "/api/v1/crm/loyalty/programs/",
    "/api/v1/crm/rewards/",
    "/api/v1/crm/automations/<int:automation_id>/",
    # The reader's dashboard: its cards and their figures, one object.
    "/api/v1/crm/dashboard/",
    "/api/v1/crm/surveys/<int:survey_id>/",
    "/api/v1/crm/surveys/<int:survey_id>/analytics/",
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
    everyone = create_segment({"segment_name": "Everyone", "refresh_minutes": 15})
    create_segment({"segment_name": "Everyone again", "refresh_minutes": 15})
    seed_campaigns()  # the starter templates and two campaigns for the segments
    mug, _tea = factories.product(), factories.product()
    for customer in (first, second):  # each order's line is a stock movement of the mug
        orders.place_order(customer_id=customer.id, lines=[{"product_id": mug.id, "quantity": 1}])
    journeys = [
        create_automation({"name": name, "trigger_kind": "customer_created"})
        for name in ("Welcome", "Welcome again")
    ]
    for customer in (first, second):
        db.session.add(
            Enrollment(
                organization_id=organization.id,
                automation_id=journeys[0].id,
                customer_id=customer.id,
                occurrence="once",
                enrolled_at=soon,
            )
        )
    db.session.flush()
    surveys = [launched_nps(name) for name in ("NPS", "NPS again")]
    for score in (9, 3):
        respond(surveys[0], {"nps": score})
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
        "/api/v1/crm/segments/": {},
        "/api/v1/crm/segments/<int:segment_id>/customers/": {"segment_id": everyone.id},
        "/api/v1/crm/campaigns/": {},
        "/api/v1/crm/products/": {},
        "/api/v1/crm/products/<int:product_id>/stock/": {"product_id": mug.id},
        "/api/v1/crm/orders/": {},
        "/api/v1/crm/automations/": {},
        "/api/v1/crm/automations/<int:automation_id>/enrollments/": {
            "automation_id": journeys[0].id
        },
        "/api/v1/crm/surveys/": {},
        "/api/v1/crm/surveys/<int:survey_id>/responses/": {"survey_id": surveys[0].id},
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
