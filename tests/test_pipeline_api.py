"""The sales API: opportunities, moves, the pipeline and the forecast; errors and other tenants."""

from datetime import date

import pytest

from crm_web.accounts.services import create_api_token
from crm_web.db import set_tenant
from crm_web.pipeline import opportunities
from crm_web.pipeline import stages as pipeline_stages
from tests import factories
from tests.pipeline_fixtures import deal


@pytest.fixture
def api(client, sales):
    set_tenant(sales.organization.id, sales.seller.id)
    _token, raw = create_api_token(sales.seller)

    def call(method, url, **kwargs):
        return client.open(url, method=method, headers={"Authorization": f"Bearer {raw}"}, **kwargs)

    return call


def test_create_list_and_page(api, sales):
    body = {
        "name": "API deal",
        "customer_id": sales.customers[0].id,
        "amount": "2500.50",
        "expected_close_date": "2030-05-31",
        "stage_id": sales.stages["Qualification"].id,
    }
    created = api("POST", "/api/v1/crm/opportunities/", json=body)
    assert created.status_code == 201, created.json
    assert created.json["probability"] == "25.00"
    assert created.json["amount"] == "2500.50"
    assert created.json["owner"] == "Sid Seller"
    for index in range(3):
        api("POST", "/api/v1/crm/opportunities/", json={**body, "name": f"More {index}"})
    first = api("GET", "/api/v1/crm/opportunities/?limit=3")
    assert first.status_code == 200
    assert len(first.json["items"]) == 3 and first.json["next_cursor"]
    rest = api("GET", f"/api/v1/crm/opportunities/?limit=3&cursor={first.json['next_cursor']}")
    ids = [r["id"] for r in first.json["items"] + rest.json["items"]]
    assert len(ids) == len(set(ids)) == 4 and rest.json["next_cursor"] is None
    assert api("GET", "/api/v1/crm/opportunities/?cursor=zzz").status_code == 422


def test_validation_errors_are_json_422(api, sales):
    response = api(
        "POST",
        "/api/v1/crm/opportunities/",
        json={"name": "", "customer_id": sales.customers[0].id, "amount": "x"},
    )
    assert response.status_code == 422
    assert set(response.json["fields"]) >= {"name", "expected_close_date"}
    assert api("POST", "/api/v1/crm/opportunities/", data="nope").status_code == 422
    response = api("POST", "/api/v1/crm/opportunities/", json={"customer_id": "7"})
    assert response.status_code == 422 and "customer_id" in response.json["fields"]


def test_move_and_read_the_pipeline(api, sales):
    opportunity = deal(sales, "Qualification", amount="800")
    anchor = deal(sales, "Proposal", amount="200")
    url = f"/api/v1/crm/opportunities/{opportunity.id}/stage/"
    refused = api("PUT", url, json={"stage_id": sales.stages["Closed Won"].id})
    assert refused.status_code == 422 and "win_reason" in refused.json["fields"]
    moved = api("PUT", url, json={"stage_id": sales.stages["Proposal"].id, "after_id": anchor.id})
    assert moved.status_code == 200
    assert (moved.json["stage_id"], moved.json["previous_stage_id"]) == (
        sales.stages["Proposal"].id,
        sales.stages["Qualification"].id,
    )
    pipeline = api("GET", "/api/v1/crm/pipeline/").json["stages"]
    proposal = next(stage for stage in pipeline if stage["name"] == "Proposal")
    assert (proposal["count"], proposal["amount"], proposal["weighted_amount"]) == (
        2,
        "1000.00",
        "500.00",
    )
    assert [card["id"] for card in proposal["opportunities"]] == [anchor.id, opportunity.id]
    forecast = api("GET", "/api/v1/crm/forecast/")
    assert forecast.status_code == 200
    assert forecast.json["open_pipeline"] == "1000.00"
    assert len(forecast.json["months"]) == 6


def test_other_tenants_get_404(api, sales, make_org):
    other, other_admin = make_org(name="Elsewhere")
    other_id, other_admin_id = other.id, other_admin.id
    set_tenant(other_id, other_admin_id)
    foreign_customer = factories.customer_rows(other_id, 1)[0].id
    foreign_stage = pipeline_stages.list_stages()[1].id
    foreign = opportunities.create_opportunity(
        name="Theirs",
        customer_id=foreign_customer,
        amount="1",
        expected_close_date=date(2030, 1, 1),
    ).id
    set_tenant(sales.organization.id, sales.seller.id)
    mine = deal(sales)
    assert (
        api(
            "PUT",
            f"/api/v1/crm/opportunities/{foreign}/stage/",
            json={"stage_id": sales.stages["Proposal"].id},
        ).status_code
        == 404
    )
    response = api(
        "PUT", f"/api/v1/crm/opportunities/{mine.id}/stage/", json={"stage_id": foreign_stage}
    )
    assert response.status_code == 404 and response.json["error"]
    response = api(
        "POST",
        "/api/v1/crm/opportunities/",
        json={
            "name": "x",
            "customer_id": foreign_customer,
            "amount": "1",
            "expected_close_date": "2030-01-01",
        },
    )
    assert response.status_code == 422 and "customer_id" in response.json["fields"]
    listed = api("GET", "/api/v1/crm/opportunities/").json["items"]
    assert foreign not in [row["id"] for row in listed]


def test_roles_and_tokens(client, api, sales, make_user):
    assert client.get("/api/v1/crm/pipeline/").status_code == 401
    support = make_user(sales.organization, role="support")
    set_tenant(sales.organization.id, support.id)
    _token, raw = create_api_token(support)
    response = client.get("/api/v1/crm/forecast/", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 403 and response.is_json
