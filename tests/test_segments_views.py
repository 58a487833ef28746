"""Segment pages (the rule builder's fragments, the live count, saving) and the segments API."""

import pytest

from crm_web.db import clear_tenant, set_tenant
from crm_web.segments import services
from tests import factories

HTMX = {"HX-Request": "true"}


@pytest.fixture
def marketing(make_org, make_user):
    organization, admin = make_org("Pazarlama")
    marketer = make_user(organization, role="marketing")
    for index in range(3):
        factories.customer(organization, first_name=f"Ali{index}", city="Ankara", tags=["vip"])
    factories.customer(organization, first_name="Veli", city="Van")
    clear_tenant()
    return organization, admin, marketer


def _rule(path: str, field: str, op: str, value: str = "") -> dict:
    return {f"c-{path}-field": field, f"c-{path}-op": op, f"c-{path}-value": value}


def test_the_builder_adds_changes_and_removes_conditions(client, login_as, marketing):
    _organization, _admin, marketer = marketing
    login_as(marketer)
    page = client.get("/segments/new")
    assert page.status_code == 200
    assert 'id="builder"' in page.get_data(as_text=True)

    added = client.post(
        "/segments/builder?fragment=builder",
        data={"c-r-match": "all", "action": "add_rule:r"},
        headers=HTMX,
    )
    html = added.get_data(as_text=True)
    assert added.headers["HX-Trigger"] == "criteria-changed"
    assert 'name="c-r.0-field"' in html and "<html" not in html

    # Choosing a number field offers the number operators, and "between" two inputs.
    changed = client.post(
        "/segments/builder?fragment=builder",
        data={"c-r-match": "all", **_rule("r.0", "age", "between", "20"), "c-r.0-value2": "30"},
        headers=HTMX,
    )
    html = changed.get_data(as_text=True)
    assert (
        'value="gte"' in html and 'name="c-r.0-value2"' in html and 'value="contains"' not in html
    )

    grouped = client.post(
        "/segments/builder?fragment=builder",
        data={"c-r-match": "all", **_rule("r.0", "city", "eq", "Ankara"), "action": "add_group:r"},
        headers=HTMX,
    )
    assert 'name="c-r.1-match"' in grouped.get_data(as_text=True)
    removed = client.post(
        "/segments/builder?fragment=builder",
        data={
            "c-r-match": "all",
            **_rule("r.0", "city", "eq", "Ankara"),
            "c-r.1-match": "any",
            "action": "remove:r.0",
        },
        headers=HTMX,
    )
    html = removed.get_data(as_text=True)
    assert 'name="c-r.0-match"' in html and "c-r.1" not in html


def test_the_live_count_follows_the_conditions(client, login_as, marketing):
    _organization, _admin, marketer = marketing
    login_as(marketer)
    counted = client.post(
        "/segments/preview?fragment=preview",
        data={"c-r-match": "all", **_rule("r.0", "city", "eq", "ankara")},
        headers=HTMX,
    )
    html = counted.get_data(as_text=True)
    assert '<strong id="segment-count">3</strong>' in html and "Ali0" in html
    unfinished = client.post(
        "/segments/preview?fragment=preview",
        data={"c-r-match": "all", **_rule("r.0", "age", "gt", "old")},
        headers=HTMX,
    )
    assert unfinished.status_code == 200
    assert "Complete the conditions" in unfinished.get_data(as_text=True)


def test_saving_refuses_bad_values_at_the_rule_and_saves_good_ones(client, login_as, marketing):
    organization, _admin, marketer = marketing
    login_as(marketer)
    refused = client.post(
        "/segments/new",
        data={
            "segment_name": "Adults",
            "segment_type": "demographic",
            "refresh_minutes": "60",
            "is_dynamic": "y",
            "c-r-match": "all",
            **_rule("r.0", "age", "gt", "old"),
        },
        headers=HTMX,
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Give a number." in html and 'id="rule-r.0"' in html

    saved = client.post(
        "/segments/new",
        data={
            "segment_name": "Ankara",
            "segment_type": "geographic",
            "refresh_minutes": "60",
            "is_dynamic": "y",
            "c-r-match": "all",
            **_rule("r.0", "city", "eq", "Ankara"),
            "c-r.1-match": "any",
            **_rule("r.1.0", "tags", "contains", "vip"),
            **_rule("r.1.1", "lifecycle_stage", "in", "customer"),
        },
        headers=HTMX,
    )
    assert saved.status_code == 200, saved.get_data(as_text=True)
    location = saved.headers["HX-Redirect"]
    page = client.get(location).get_data(as_text=True)
    assert '<strong id="segment-customer-count">3</strong>' in page
    set_tenant(organization.id)
    segment = services.list_segments().items[0]
    assert segment.criteria == {
        "match": "all",
        "rules": [
            {"field": "city", "op": "eq", "value": "Ankara"},
            {
                "match": "any",
                "rules": [
                    {"field": "tags", "op": "contains", "value": "vip"},
                    {"field": "lifecycle_stage", "op": "in", "value": ["customer"]},
                ],
            },
        ],
    }
    assert client.get(f"/segments/{segment.id}/edit").status_code == 200
    assert (
        client.post(f"/segments/{segment.id}/refresh?fragment=status", headers=HTMX).status_code
        == 200
    )


def test_sales_cannot_open_segments(client, login_as, make_user, marketing):
    organization, _admin, _marketer = marketing
    login_as(make_user(organization, role="sales"))
    assert client.get("/segments").status_code == 403
    assert client.post("/segments/preview", data={"c-r-match": "all"}).status_code == 403
    assert "/segments" not in client.get("/").get_data(as_text=True)


def test_the_segments_api(client, marketing):
    organization, admin, marketer = marketing
    headers = factories.bearer(marketer)
    created = client.post(
        "/api/v1/crm/segments/",
        json={
            "segment_name": "Ankara",
            "segment_type": "geographic",
            "criteria": {
                "match": "all",
                "rules": [{"field": "city", "op": "eq", "value": "Ankara"}],
            },
        },
        headers=headers,
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["customer_count"] == 3 and body["is_dynamic"] is True
    segment_id = body["id"]

    bad = client.post(
        "/api/v1/crm/segments/",
        json={
            "segment_name": "X",
            "criteria": {"rules": [{"field": "age", "op": "gt", "value": "x"}]},
        },
        headers=headers,
    )
    assert bad.status_code == 422
    assert bad.get_json()["fields"] == {"criteria.rules[0].value": "Give a number."}

    listed = client.get("/api/v1/crm/segments/", headers=headers).get_json()
    assert [s["id"] for s in listed["items"]] == [segment_id] and listed["next_cursor"] is None

    first = client.get(
        f"/api/v1/crm/segments/{segment_id}/customers/?limit=2", headers=headers
    ).get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = client.get(
        f"/api/v1/crm/segments/{segment_id}/customers/?limit=2&cursor={first['next_cursor']}",
        headers=headers,
    ).get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert {c["city"] for c in first["items"] + rest["items"]} == {"Ankara"}

    set_tenant(organization.id)
    factories.customer(organization, city="Ankara")
    clear_tenant()
    refreshed = client.post(
        f"/api/v1/crm/segments/{segment_id}/refresh/", headers=headers
    ).get_json()
    assert (refreshed["customer_count"], refreshed["entered"], refreshed["left"]) == (4, 1, 0)

    other, other_admin = factories.organization("Other")
    assert (
        client.get(
            f"/api/v1/crm/segments/{segment_id}/customers/", headers=factories.bearer(other_admin)
        ).status_code
        == 404
    )
    sales = factories.user(organization, role="sales")
    assert client.get("/api/v1/crm/segments/", headers=factories.bearer(sales)).status_code == 403
