"""/api/v1/crm/leads/: list, capture, qualify, convert, scoring; JSON errors, roles, tenancy."""

import pytest

from crm_web.accounts.services import create_api_token
from crm_web.db import clear_tenant, set_tenant
from crm_web.leads import services

MARKER = "Quuxlington"


@pytest.fixture
def api(client, make_org, make_user):
    organization, admin = make_org()
    tokens = {}
    for role in ("sales", "manager", "support", "marketing"):
        user = make_user(organization, role=role)
        set_tenant(organization.id, user.id)
        tokens[role] = create_api_token(user)[1]
    clear_tenant()

    def call(method, url, role="sales", **kwargs):
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        return client.open(url, method=method, headers=headers, **kwargs)

    call.organization = organization
    return call


def new_lead(api, **values):
    body = {"first_name": "Alan", "last_name": "Turing", "email": "alan@bletchley.example"}
    response = api("POST", "/api/v1/crm/leads/", json={**body, **values})
    assert response.status_code == 201, response.json
    return response.json


def test_create_and_list_with_filters_and_cursor(api):
    created = new_lead(api, company="Bletchley", budget=25000, source="referral")
    assert created["lead_number"].startswith("LEAD-") and created["captured_via"] == "api"
    assert created["budget"] == "25000.00" and created["lead_score"] > 0
    assert created["score_breakdown"]["total"] == created["lead_score"]
    for i in range(4):
        new_lead(api, email=f"p{i}@example.com", last_name=f"Person {i}")

    page = api("GET", "/api/v1/crm/leads/?limit=2").json
    ids = [item["id"] for item in page["items"]]
    while page["next_cursor"]:
        page = api("GET", f"/api/v1/crm/leads/?limit=2&cursor={page['next_cursor']}").json
        ids += [item["id"] for item in page["items"]]
    assert len(ids) == 5 and ids == sorted(ids, reverse=True)

    referrals = api("GET", "/api/v1/crm/leads/?source=referral").json["items"]
    assert [item["id"] for item in referrals] == [created["id"]]
    assert api("GET", "/api/v1/crm/leads/?q=bletch").json["items"][0]["company"] == "Bletchley"
    exact = api("GET", "/api/v1/crm/leads/?q=Alan@Bletchley.example").json["items"]
    assert [item["id"] for item in exact] == [created["id"]]
    by_score = api("GET", "/api/v1/crm/leads/?sort=score").json["items"]
    assert by_score[0]["id"] == created["id"]
    bad_cursor = api("GET", "/api/v1/crm/leads/?cursor=garbage")
    assert bad_cursor.status_code == 422 and "cursor" in bad_cursor.json["fields"]


def test_validation_errors_are_422_json(api):
    response = api("POST", "/api/v1/crm/leads/", json={"first_name": "", "email": "nope"})
    assert response.status_code == 422
    assert set(response.json["fields"]) >= {"first_name", "last_name", "email"}
    assert api("POST", "/api/v1/crm/leads/", data="x", content_type="text/plain").status_code == 422
    unknown = api("POST", "/api/v1/crm/leads/", json={"first_name": "A", "favourite": "blue"})
    assert unknown.status_code == 422 and unknown.json["fields"]["favourite"] == "Unknown field."
    wrong_owner = api("POST", "/api/v1/crm/leads/", json={"assigned_to_id": "me"})
    assert wrong_owner.status_code == 422


def test_qualify_then_convert(api):
    lead = new_lead(api, company="Bletchley")
    url = f"/api/v1/crm/leads/{lead['id']}"
    missing = api("PUT", f"{url}/qualify/", json={"status": "disqualified"})
    assert missing.status_code == 422 and "reason" in missing.json["fields"]
    early = api("POST", f"{url}/convert/", json={})
    assert early.status_code == 409 and "qualified" in early.json["error"]

    qualified = api(
        "PUT", f"{url}/qualify/", json={"budget": "90000", "authority": "decision_maker"}
    )
    assert qualified.status_code == 200
    assert qualified.json["status"] == "qualified" and qualified.json["budget"] == "90000.00"
    again = api("PUT", f"{url}/qualify/", json={})
    assert again.status_code == 409

    bad_date = api("POST", f"{url}/convert/", json={"opportunity": {"name": "x", "amount": 1}})
    assert bad_date.status_code == 422
    assert "opportunity_expected_close_date" in bad_date.json["fields"]
    converted = api(
        "POST",
        f"{url}/convert/",
        json={
            "opportunity": {"name": "Bombe", "amount": 90000, "expected_close_date": "2031-06-30"}
        },
    )
    assert converted.status_code == 200, converted.json
    body = converted.json
    assert body["status"] == "converted" and body["converted_customer_id"]
    assert body["converted_opportunity_id"]
    twice = api("POST", f"{url}/convert/", json={})
    assert (
        twice.status_code == 409 and twice.json["error"] == "This lead has already been converted."
    )


def test_scoring_endpoint(api):
    new_lead(api, authority="decision_maker", title="CEO")
    new_lead(api, email="x@gmail.com")
    assert api("GET", "/api/v1/crm/leads/scoring/").status_code == 403  # sales
    response = api("GET", "/api/v1/crm/leads/scoring/", role="manager")
    assert response.status_code == 200
    body = response.json
    assert body["total"] == 2 and sum(b["leads"] for b in body["bands"]) == 2
    assert [b["band"] for b in body["bands"]] == ["0-29", "30-59", "60-79", "80-100"]
    assert len(body["histogram"]) == 10 and body["rules"]


def test_roles_on_the_api(api):
    lead = new_lead(api)
    assert api("GET", "/api/v1/crm/leads/", role="support").status_code == 403
    assert api("GET", "/api/v1/crm/leads/", role="marketing").status_code == 200
    marketing_qualify = api(
        "PUT", f"/api/v1/crm/leads/{lead['id']}/qualify/", role="marketing", json={}
    )
    assert marketing_qualify.status_code == 403
    assert api("POST", "/api/v1/crm/leads/", role="marketing", json={}).status_code == 422


def test_other_tenants_get_404(api, client, make_org):
    lead = new_lead(api, last_name=MARKER)
    other, other_admin = make_org(name="Elsewhere")
    set_tenant(other.id, other_admin.id)
    raw = create_api_token(other_admin)[1]
    clear_tenant()
    headers = {"Authorization": f"Bearer {raw}"}
    url = f"/api/v1/crm/leads/{lead['id']}"
    for method, path, body in (
        ("GET", f"{url}/", None),
        ("PUT", f"{url}/qualify/", {}),
        ("POST", f"{url}/convert/", {}),
    ):
        response = client.open(path, method=method, headers=headers, json=body)
        assert response.status_code == 404, (method, path, response.json)
        assert response.json["error"] == "No such lead."
    listing = client.get("/api/v1/crm/leads/", headers=headers)
    assert listing.status_code == 200 and MARKER not in listing.get_data(as_text=True)
    # The search runs as the table owner; it still sees only the caller's organization.
    searched = client.get(f"/api/v1/crm/leads/?q={MARKER.lower()}", headers=headers)
    assert searched.status_code == 200 and searched.json["items"] == []
    assert len(api("GET", f"/api/v1/crm/leads/?q={MARKER[2:7]}").json["items"]) == 1
    set_tenant(api.organization.id)
    assert services.get_lead(lead["id"]).status == "new"
