"""/api/v1/crm/customers/: list with keyset and filters, create, read, update; errors as JSON."""

import pytest

from crm_web.accounts.services import create_api_token
from crm_web.customers import services
from crm_web.db import clear_tenant, set_tenant

API = "/api/v1/crm/customers/"


@pytest.fixture
def api(app, make_org, make_user):
    organization, admin = make_org(name="Api Co", timezone="Europe/Istanbul")
    marketer = make_user(organization, role="marketing")
    set_tenant(organization.id, admin.id)
    customers = [
        services.create_customer(
            {
                "first_name": f"Kerem{n}",
                "last_name": "Aydın",
                "city": "Ankara" if n % 2 else "Van",
                "primary_email": f"kerem{n}@example.com",
                "tags": ["vip"] if n == 0 else [],
            }
        )
        for n in range(5)
    ]
    _token, admin_token = create_api_token(admin, "test")
    _token, marketing_token = create_api_token(marketer, "test")
    other, other_admin = make_org(name="Other Api")
    set_tenant(other.id, other_admin.id)
    stranger = services.create_customer({"first_name": "Stranger", "last_name": "Danger"})
    _token, other_token = create_api_token(other_admin, "test")
    clear_tenant()

    def headers(token):
        return {"Authorization": f"Bearer {token}"}

    return {
        "admin": headers(admin_token),
        "marketing": headers(marketing_token),
        "other": headers(other_token),
        "customers": customers,
        "stranger": stranger,
    }


def test_list_is_keyset_paginated_with_seed_field_names(client, api):
    response = client.get(API + "?limit=2&sort=created", headers=api["admin"])
    assert response.status_code == 200
    body = response.get_json()
    assert [c["first_name"] for c in body["items"]] == ["Kerem0", "Kerem1"]
    first = body["items"][0]
    for name in (
        "customer_code",
        "customer_type",
        "primary_email",
        "primary_phone",
        "is_active",
        "customer_since",
        "created_at",
        "updated_at",
        "lifecycle_stage",
        "tags",
        "email_opt_in",
        "sms_opt_in",
        "do_not_contact",
        "owner_id",
    ):
        assert name in first
    assert first["customer_code"] == "CUS-000001" and first["tags"] == ["vip"]
    seen = [c["id"] for c in body["items"]]
    while body["next"]:
        assert (
            "cursor=" in body["next"]
            and "limit=2" in body["next"]
            and "sort=created" in body["next"]
        )
        body = client.get(body["next"], headers=api["admin"]).get_json()
        seen += [c["id"] for c in body["items"]]
    assert seen == [c.id for c in api["customers"]]
    assert api["stranger"].id not in seen


def test_list_searches_and_filters(client, api):
    found = client.get(API + "?q=kerem3", headers=api["admin"]).get_json()["items"]
    assert [c["first_name"] for c in found] == ["Kerem3"]
    found = client.get(API + "?city=ankara&tag=", headers=api["marketing"]).get_json()["items"]
    assert {c["first_name"] for c in found} == {"Kerem1", "Kerem3"}
    assert client.get(API + "?q=stranger", headers=api["admin"]).get_json()["items"] == []


def test_list_rejects_bad_parameters_with_422(client, api):
    for query in ("?sort=salary", "?cursor=%%%", "?limit=1000", "?owner=me"):
        response = client.get(API + query, headers=api["admin"])
        assert response.status_code == 422, query
        assert response.get_json()["error"] and response.get_json()["fields"]


def test_create_normalises_and_returns_201(client, api):
    response = client.post(
        API,
        json={
            "first_name": "Zeynep",
            "last_name": "Şen",
            "primary_email": "Zeynep@Example.com",
            "primary_phone": "0532 444 55 66",
            "annual_revenue": "12000.5",
            "email_opt_in": True,
        },
        headers=api["admin"],
    )
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"{API}{body['id']}/"
    assert body["primary_email"] == "zeynep@example.com"
    assert body["primary_phone"] == "+905324445566"
    assert body["annual_revenue"] == "12000.50"
    assert body["customer_code"] == "CUS-000006"
    fetched = client.get(response.headers["Location"], headers=api["admin"]).get_json()
    assert fetched == body
    set_tenant(api["customers"][0].organization_id)
    assert [e.source for e in services.consent_history(body["id"]).items] == ["api"]


def test_create_errors(client, api):
    bad = client.post(
        API,
        json={"first_name": "", "primary_email": "x@", "birth_date": "soon"},
        headers=api["admin"],
    )
    assert bad.status_code == 422
    assert set(bad.get_json()["fields"]) == {"first_name", "primary_email", "birth_date"}
    unknown = client.post(
        API, json={"first_name": "A", "customer_code": "X", "id": 5}, headers=api["admin"]
    )
    assert unknown.status_code == 422 and set(unknown.get_json()["fields"]) == {
        "customer_code",
        "id",
    }
    not_json = client.post(API, data="first_name=A", headers=api["admin"])
    assert not_json.status_code == 422
    duplicate = client.post(
        API, json={"first_name": "B", "primary_email": "KEREM1@example.com"}, headers=api["admin"]
    )
    assert duplicate.status_code == 409
    assert "CUS-000002" in duplicate.get_json()["fields"]["primary_email"]
    allowed = client.post(
        API,
        json={"first_name": "B", "primary_email": "kerem1@example.com", "allow_duplicate": True},
        headers=api["admin"],
    )
    assert allowed.status_code == 201
    forbidden = client.post(API, json={"first_name": "M"}, headers=api["marketing"])
    assert forbidden.status_code == 403
    assert client.post(API, json={"first_name": "A"}).status_code == 401


def test_update_changes_only_the_fields_sent(client, api):
    customer = api["customers"][2]
    url = f"{API}{customer.id}/"
    response = client.put(url, json={"city": "İzmir", "sms_opt_in": True}, headers=api["admin"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["city"] == "İzmir" and body["sms_opt_in"] is True
    assert body["first_name"] == "Kerem2" and body["primary_email"] == "kerem2@example.com"
    bad = client.put(url, json={"primary_phone": "12", "gender": "X"}, headers=api["admin"])
    assert bad.status_code == 422 and set(bad.get_json()["fields"]) == {"primary_phone", "gender"}
    assert client.put(url, json=["city"], headers=api["admin"]).status_code == 422
    assert client.put(url, json={"city": "Van"}, headers=api["marketing"]).status_code == 403


def test_other_tenants_ids_are_404(client, api):
    stranger = api["stranger"]
    for method in ("get", "put"):
        response = getattr(client, method)(
            f"{API}{stranger.id}/", json={"city": "X"}, headers=api["admin"]
        )
        assert response.status_code == 404, method
        assert response.get_json()["error"] == "No such customer."
    own = client.get(f"{API}{stranger.id}/", headers=api["other"])
    assert own.status_code == 200 and own.get_json()["first_name"] == "Stranger"
    assert client.get(f"{API}999999999/", headers=api["admin"]).status_code == 404
