"""Surveys on the JSON API: create with questions and logic, field-level errors, launch, list in
the one envelope, responses by keyset, permissions and other organizations' surveys.
(GET .../analytics/ calls the analytics helper's `summary`, merged later: its test is the lead's.)"""

import datetime as dt

import pytest

from crm_web.db import set_tenant
from crm_web.surveys import seeding, services
from tests import factories

API = "/api/v1/crm/surveys/"


@pytest.fixture
def marketer(make_org):
    organization, _admin = make_org("Api surveys")
    user = factories.user(organization, role="marketing", password=None)
    return organization, factories.bearer(user)


def test_create_launch_and_list_in_the_one_envelope(client, marketer):
    organization, headers = marketer
    body = {"name": "Loyalty", "language": "tr", "definition": seeding.nps_document()}
    created = client.post(API, json=body, headers=headers)
    assert created.status_code == 201, created.json
    survey = created.json
    assert created.headers["Location"].endswith(f"{API}{survey['id']}/")
    assert (survey["status"], survey["language"], survey["version_id"]) == ("draft", "tr", None)
    assert "/s/" in survey["public_url"]
    why = survey["definition"]["pages"][0]["questions"][1]
    assert why["display"]["conditions"] == [{"question": "nps", "op": "lte", "value": 6.0}]

    launched = client.post(f"{API}{survey['id']}/launch/", headers=headers)
    assert launched.status_code == 200
    assert launched.json["status"] == "active" and launched.json["version_id"]

    client.post(API, json={"name": "Second"}, headers=headers)
    listed = client.get(API, headers=headers).json
    assert set(listed) == {"items", "next_cursor"}
    assert [item["name"] for item in listed["items"]] == ["Second", "Loyalty"]
    assert "definition" not in listed["items"][0]
    first = client.get(f"{API}?limit=1", headers=headers).json
    rest = client.get(f"{API}?limit=1&cursor={first['next_cursor']}", headers=headers).json
    assert [i["name"] for i in first["items"] + rest["items"]] == ["Second", "Loyalty"]
    active = client.get(f"{API}?status=active", headers=headers).json["items"]
    assert [item["name"] for item in active] == ["Loyalty"]


def test_bad_input_is_answered_field_by_field(client, marketer):
    _organization, headers = marketer
    document = seeding.nps_document()
    document["pages"][0]["questions"][1]["display"]["conditions"][0]["question"] = "later"
    response = client.post(
        API,
        json={"name": "", "max_responses": -3, "language": "xx", "definition": document},
        headers=headers,
    )
    assert response.status_code == 422
    fields = response.json["fields"]
    assert {"name", "max_responses", "language"} <= set(fields)
    assert "pages.0.questions.1.display.conditions.0.question" in fields
    assert client.get(f"{API}?status=open", headers=headers).json["fields"] == {
        "status": "Choose one of: draft, active, closed."
    }
    assert client.post(API, data="[", headers=headers).status_code in (400, 422)
    empty = client.post(API, json={"name": "Empty"}, headers=headers).json
    refused = client.post(f"{API}{empty['id']}/launch/", headers=headers)
    assert refused.status_code == 422
    assert refused.json["fields"] == {"pages": "Add at least one question before launching."}


def test_responses_come_newest_first_by_keyset(client, marketer):
    organization, headers = marketer
    set_tenant(organization.id)
    survey = services.create_survey({"name": "NPS"}, seeding.nps_document())
    services.launch(survey.id)
    customer = factories.customer(organization)
    set_tenant(organization.id)
    now = dt.datetime.now(dt.UTC)
    made = [
        seeding.record_completed(
            survey,
            services.get_version(survey),
            {"nps": score},
            customer_id=customer.id,
            completed_at=now - dt.timedelta(minutes=10 - score),
        )
        for score in (2, 7, 9)
    ]
    first = client.get(f"{API}{survey.id}/responses/?limit=2", headers=headers).json
    assert [r["nps"] for r in first["items"]] == [9, 7]
    assert first["items"][0]["customer_id"] == customer.id
    assert first["items"][0]["answers"] == {"nps": 9}
    rest = client.get(
        f"{API}{survey.id}/responses/?limit=2&cursor={first['next_cursor']}", headers=headers
    ).json
    assert [r["id"] for r in rest["items"]] == [made[0].id] and rest["next_cursor"] is None


def test_permissions_and_other_organizations(client, make_org):
    mine, _me = make_org("Mine surveys")
    theirs, them = make_org("Theirs surveys")
    set_tenant(theirs.id, them.id)
    survey = services.create_survey({"name": "Theirs"}, seeding.nps_document())
    sales = factories.bearer(factories.user(mine, role="sales", password=None))
    assert client.get(API, headers=sales).status_code == 403
    support = factories.bearer(factories.user(mine, role="support", password=None))
    assert client.get(API, headers=support).status_code == 200
    assert client.post(API, json={"name": "No"}, headers=support).status_code == 403
    admin = factories.bearer(factories.user(mine, role="admin", password=None))
    for method, path in (("get", ""), ("post", "launch/"), ("get", "responses/")):
        response = getattr(client, method)(f"{API}{survey.id}/{path}", headers=admin)
        assert response.status_code == 404, (method, path)


def test_analytics_answer_the_analytics_pages_figures(client, marketer, make_org):
    # The analytics module is built on its own branch; this test runs once it is merged.
    pytest.importorskip("crm_web.surveys.analytics")
    organization, headers = marketer
    set_tenant(organization.id)
    survey = services.create_survey({"name": "NPS"}, seeding.nps_document())
    services.launch(survey.id)
    customer = factories.customer(organization)
    set_tenant(organization.id)
    now = dt.datetime.now(dt.UTC)
    for minutes, score in enumerate((2, 7, 9, 10)):
        seeding.record_completed(
            survey,
            services.get_version(survey),
            {"nps": score},
            customer_id=customer.id,
            completed_at=now - dt.timedelta(minutes=minutes + 1),
        )
    figures = client.get(f"{API}{survey.id}/analytics/", headers=headers)
    assert figures.status_code == 200
    nps = figures.json["nps"]
    assert (nps["promoters"], nps["passives"], nps["detractors"]) == (2, 1, 1)
    assert nps["score"] == 25.0
    assert figures.json["responses"]["completed"] == 4
    theirs, them = make_org("Other analytics")
    set_tenant(theirs.id, them.id)
    other = services.create_survey({"name": "Theirs"})
    assert client.get(f"{API}{other.id}/analytics/", headers=headers).status_code == 404
