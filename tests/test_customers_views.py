"""The customer pages over HTTP: list fragments (search, filters, sort, infinite scroll, URL
sync), bulk actions, create/edit with field errors and duplicate warnings, merge, role checks."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from crm_web.customers import services
from crm_web.customers.models import Customer
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db

HX = {"HX-Request": "true"}


@pytest.fixture
def team(make_org, make_user):
    organization, admin = make_org(name="View Co", timezone="Europe/Istanbul")
    users = {
        role: make_user(organization, role=role)
        for role in ("manager", "sales", "support", "marketing")
    }
    users["admin"] = admin
    set_tenant(organization.id, admin.id)
    customers = [
        services.create_customer(
            {
                "first_name": f"Deniz{n:02d}",
                "last_name": "Arslan",
                "city": "Bursa" if n % 2 else "İzmir",
                "primary_email": f"deniz{n}@example.com",
                "tags": "vip" if n < 3 else "",
            }
        )
        for n in range(7)
    ]
    clear_tenant()
    return {"org": organization, "users": users, "customers": customers}


def row_ids(html: str) -> list[int]:
    return [int(value) for value in re.findall(r'<tr id="customer-(\d+)"', html)]


def test_full_page_then_fragments_of_the_same_template(client, login_as, team):
    login_as(team["users"]["sales"])
    page = client.get("/customers")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html
    assert 'id="customer-filters"' in html and 'id="customer-results"' in html
    # The count arrives separately, after the rows.
    assert 'hx-get="/customers/count" hx-trigger="load"' in html
    count = client.get("/customers/count", headers=HX).get_data(as_text=True)
    assert count.lstrip().startswith('<p class="muted" id="customer-count">')
    assert "7 customers match." in count and 'name="all_matching"' in count  # sales may tag
    count = client.get("/customers/count?tag=vip&active=all", headers=HX).get_data(as_text=True)
    assert "3 customers match." in count
    # Opened as a page, the count URL shows the list it counts.
    assert client.get("/customers/count?tag=vip").headers["Location"] == "/customers?tag=vip"
    assert 'aria-current="page">Customers</a>' in html

    fragment = client.get("/customers?q=deniz0&active=yes&type=", headers=HX)
    body = fragment.get_data(as_text=True)
    assert (
        fragment.status_code == 200 and "<html" not in body and 'id="customer-filters"' not in body
    )
    assert body.lstrip().startswith('<div id="customer-results">')
    assert len(row_ids(body)) == 7
    assert "HX-Request" in fragment.headers["Vary"]
    # The address bar gets the canonical URL: defaults and empty fields dropped.
    assert fragment.headers["HX-Push-Url"] == "/customers?q=deniz0"
    # Going back to a page htmx did not cache fetches the whole page again.
    restored = client.get(
        "/customers?q=deniz0", headers={**HX, "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restored.get_data(as_text=True)


def test_infinite_scroll_appends_rows_until_the_end(client, login_as, team, monkeypatch):
    login_as(team["users"]["sales"])
    original = services.search_customers
    monkeypatch.setattr(
        services,
        "search_customers",
        lambda filters, cursor=None, limit=50: original(filters, cursor, 3),
    )
    first = client.get("/customers?sort=name", headers=HX).get_data(as_text=True)
    seen = row_ids(first)
    next_url = (
        re.search(r'class="load-more" hx-get="([^"]+)"', first).group(1).replace("&amp;", "&")
    )
    while next_url:
        assert parse_qs(urlsplit(next_url).query)["sort"] == ["name"]
        more = client.get(next_url, headers=HX)
        body = more.get_data(as_text=True)
        # Just rows: they replace the load-more row inside the same tbody.
        assert body.lstrip().startswith("<tr") and "customer-count" not in body
        assert "HX-Push-Url" not in more.headers
        seen += row_ids(body)
        match = re.search(r'class="load-more" hx-get="([^"]+)"', body)
        next_url = match.group(1).replace("&amp;", "&") if match else None
    expected = sorted(team["customers"], key=lambda c: (c.sort_name, c.id))
    assert seen == [c.id for c in expected]


def test_filters_and_sort_in_the_fragment(client, login_as, team):
    login_as(team["users"]["marketing"])
    ids = lambda url: row_ids(client.get(url, headers=HX).get_data(as_text=True))  # noqa: E731
    customers = team["customers"]
    assert set(ids("/customers?city=bursa")) == {c.id for c in customers if c.city == "Bursa"}
    assert set(ids("/customers?tag=vip")) == {c.id for c in customers[:3]}
    assert ids("/customers?sort=created") == [c.id for c in customers]
    assert ids("/customers?lifecycle=churned") == []
    bad = client.get("/customers?sort=salary", headers=HX)
    assert bad.status_code == 422 and bad.headers["HX-Retarget"] == "#messages"


def test_roles_see_and_reach_what_they_may(client, login_as, team):
    customer = team["customers"][0]
    login_as(team["users"]["marketing"])
    html = client.get("/customers").get_data(as_text=True)
    assert "New customer" not in html and 'id="bulk-form"' in html  # marketing may tag
    assert client.get("/customers/new").status_code == 403
    assert client.get(f"/customers/{customer.id}/edit").status_code == 403
    assert client.get(f"/customers/{customer.id}/merge").status_code == 403

    login_as(team["users"]["support"])
    html = client.get("/customers").get_data(as_text=True)
    assert "New customer" in html and 'id="bulk-form"' not in html
    assert (
        client.post("/customers/bulk", data={"action": "add_tag", "bulk_tag": "x"}).status_code
        == 403
    )
    assert client.get(f"/customers/{customer.id}/edit").status_code == 200
    assert client.get(f"/customers/{customer.id}/merge").status_code == 403


def test_bulk_action_on_ticked_rows_and_on_all_matching(client, login_as, team):
    login_as(team["users"]["manager"])
    customers = team["customers"]
    response = client.post(
        "/customers/bulk",
        data={"action": "deactivate", "ids": [customers[0].id, customers[1].id], "q": "deniz"},
        headers=HX,
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert (
        'hx-swap-oob="afterbegin:#messages"' in body and "Deactivate: 2 customers changed." in body
    )
    assert set(row_ids(body)) == {
        c.id for c in customers[2:]
    }  # the list redrawn, still active only

    response = client.post(
        "/customers/bulk",
        data={"action": "add_tag", "bulk_tag": "Fair 2026", "all_matching": "1", "city": "İzmir"},
        headers=HX,
    )
    assert "Add tag: 3 customers changed." in response.get_data(as_text=True)  # İzmir, active
    set_tenant(team["org"].id, team["users"]["admin"].id)
    tagged = db.session.scalars(select(Customer.id).where(Customer.tags.contains(["fair 2026"])))
    assert set(tagged) == {c.id for c in customers[2:] if c.city == "İzmir"}

    # Without htmx (a plain form post) the browser is sent back to the list it came from.
    plain = client.post(
        "/customers/bulk",
        data={"action": "add_tag", "bulk_tag": "x", "ids": [customers[2].id], "tag": "vip"},
    )
    assert plain.status_code == 303 and plain.headers["Location"] == "/customers?tag=vip"
    assert "Add tag: 1 customer changed." in client.get("/customers?tag=vip").get_data(as_text=True)

    refused = client.post(
        "/customers/bulk", data={"action": "add_tag", "bulk_tag": " "}, headers=HX
    )
    assert refused.status_code == 422


def test_sales_cannot_use_the_managers_bulk_actions(client, login_as, team):
    login_as(team["users"]["sales"])
    response = client.post(
        "/customers/bulk",
        data={"action": "deactivate", "ids": [team["customers"][0].id]},
        headers=HX,
    )
    assert response.status_code == 403


def customer_form(**values) -> dict:
    data = {
        "customer_type": "person",
        "first_name": "",
        "last_name": "",
        "lifecycle_stage": "lead",
        "gender": "",
        "company_size": "",
        "owner_id": "",
        "timezone": "",
        "language": "",
        "is_active": "y",
    }
    data.update(values)
    return data


def test_create_shows_field_errors_then_saves(client, login_as, team):
    login_as(team["users"]["sales"])
    form_page = client.get("/customers/new").get_data(as_text=True)
    assert 'id="customer-form"' in form_page
    bad = client.post(
        "/customers/new",
        data=customer_form(first_name="Ece", primary_email="ece@", primary_phone="123"),
        headers=HX,
    )
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422 and body.lstrip().startswith("<form")
    assert 'id="primary_email-error"' in body and 'id="primary_phone-error"' in body
    assert 'value="Ece"' in body

    good = client.post(
        "/customers/new",
        data=customer_form(
            first_name="Ece", last_name="Kara", primary_phone="0532 765 43 21", email_opt_in="y"
        ),
        headers=HX,
    )
    assert good.status_code == 200
    set_tenant(team["org"].id, team["users"]["admin"].id)
    created = db.session.scalar(select(Customer).where(Customer.first_name == "Ece"))
    assert good.headers["HX-Redirect"] == f"/customers/{created.id}"
    assert created.primary_phone == "+905327654321" and created.email_opt_in is True
    assert [e.source for e in services.consent_history(created.id).items] == ["form"]


def test_duplicate_warning_offers_open_merge_or_save_anyway(client, login_as, team):
    existing = team["customers"][0]
    login_as(team["users"]["manager"])
    data = customer_form(first_name="Deniz", last_name="A.", primary_email="DENIZ0@example.com")
    warned = client.post("/customers/new", data=data, headers=HX)
    body = warned.get_data(as_text=True)
    assert warned.status_code == 422
    assert 'id="duplicate-warning"' in body
    assert f'href="/customers/{existing.id}"' in body
    assert f'name="merge_with" value="{existing.id}"' in body
    assert existing.customer_code in body

    merged_flow = client.post(
        "/customers/new", data={**data, "merge_with": existing.id}, headers=HX
    )
    set_tenant(team["org"].id, team["users"]["admin"].id)
    twin = db.session.scalar(select(Customer).where(Customer.last_name == "A."))
    assert merged_flow.headers["HX-Redirect"] == f"/customers/{existing.id}/merge?other={twin.id}"

    clear_tenant()
    again = client.post("/customers/new", data={**data, "save_anyway": "1"}, headers=HX)
    assert again.status_code == 200 and "HX-Redirect" in again.headers

    # Sales may see the duplicate but not merge it.
    login_as(team["users"]["sales"])
    body = client.post("/customers/new", data=data, headers=HX).get_data(as_text=True)
    assert 'id="duplicate-warning"' in body and "merge_with" not in body


def test_edit_form_prefills_and_saves(client, login_as, team):
    customer = team["customers"][1]
    login_as(team["users"]["support"])
    page = client.get(f"/customers/{customer.id}/edit").get_data(as_text=True)
    assert 'value="Deniz01"' in page and 'value="deniz1@example.com"' in page
    response = client.post(
        f"/customers/{customer.id}/edit",
        data=customer_form(
            first_name="Deniz01",
            last_name="Arslan",
            primary_email="deniz1@example.com",
            city="Eskişehir",
            tags="vip, loyal",
        ),
        headers=HX,
    )
    assert (
        response.status_code == 200
        and response.headers["HX-Redirect"] == f"/customers/{customer.id}"
    )
    set_tenant(team["org"].id, team["users"]["admin"].id)
    db.session.expire_all()
    saved = db.session.get(Customer, customer.id)
    assert saved.city == "Eskişehir" and saved.tags == ["vip", "loyal"]


def test_merge_page_finds_compares_and_merges(client, login_as, team):
    keep, drop = team["customers"][2], team["customers"][3]
    keep_id, drop_id = keep.id, drop.id
    login_as(team["users"]["admin"])
    found = client.get(f"/customers/{drop.id}/merge?q=deniz02", headers=HX).get_data(as_text=True)
    assert found.lstrip().startswith('<ul class="plain" id="merge-candidates">')
    assert f"/customers/{drop.id}/merge?other={keep.id}" in found
    compare = client.get(f"/customers/{drop.id}/merge?other={keep.id}").get_data(as_text=True)
    assert 'id="merge-comparison"' in compare and keep.customer_code in compare
    done = client.post(
        f"/customers/{drop.id}/merge", data={"other": keep.id, "keep": "other"}, headers=HX
    )
    assert done.headers["HX-Redirect"] == f"/customers/{keep.id}"
    set_tenant(team["org"].id, team["users"]["admin"].id)
    db.session.expire_all()
    assert db.session.get(Customer, drop_id) is None
    assert db.session.get(Customer, keep_id).secondary_email == "deniz3@example.com"
    assert client.get(f"/customers/{keep_id}/merge?other={keep_id}").status_code == 422
