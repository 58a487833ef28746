"""Template library and campaign pages, and the campaigns API, as a marketer (and a seller who
may not)."""

import pytest
from sqlalchemy import text

from crm_web.campaigns import library
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.segments.services import create_segment
from tests import factories

HTMX = {"HX-Request": "true"}


@pytest.fixture
def marketing(make_org, make_user):
    organization, admin = make_org("Pazarlama")
    marketer = make_user(organization, role="marketing")
    set_tenant(organization.id, admin.id)
    for index in range(3):
        factories.customer(organization, first_name=f"Can{index}", email_opt_in=True)
    segment = create_segment({"segment_name": "All"})
    clear_tenant()
    return organization, marketer, segment


def test_the_template_library(client, login_as, marketing, stub_broker):
    organization, marketer, _segment = marketing
    login_as(marketer)
    page = client.get("/email-templates").get_data(as_text=True)
    assert "Add the starter templates" in page
    assert client.post("/email-templates/starters").status_code == 303
    set_tenant(organization.id)
    template = next(t for t in library.list_templates() if t.name == "Promotion")
    version = library.current_version(template)
    clear_tenant()
    edit = client.get(f"/email-templates/{template.id}").get_data(as_text=True)
    assert "Preview (version 1)" in edit and "20% off" in edit
    set_tenant(organization.id)
    code = factories.customer(organization, first_name="Zerrin").customer_code
    clear_tenant()
    as_customer = client.get(f"/email-templates/{template.id}?customer={code}").get_data(
        as_text=True
    )
    assert "Zerrin, 20% off" in as_customer
    assert "No customer has the code" in client.get(
        f"/email-templates/{template.id}?customer=X-1"
    ).get_data(as_text=True)
    frame = client.get(f"/email-templates/versions/{version.id}/preview.html")
    assert "sandbox" in frame.headers["Content-Security-Policy"]
    assert "Ayşe" in frame.get_data(as_text=True)

    bad = client.post(
        f"/email-templates/{template.id}",
        data={"name": "Promotion", "category": "promotion", "subject": "Hi {{", "html": "<p>x</p>"},
        headers=HTMX,
    )
    assert bad.status_code == 422 and "merge fields cannot be read" in bad.get_data(as_text=True)
    saved = client.post(
        f"/email-templates/{template.id}",
        data={
            "name": "Promotion",
            "category": "promotion",
            "subject": "Hi {{ customer.first_name }}",
            "html": "<p>New</p>",
        },
    )
    assert saved.status_code == 303
    assert "Version 2" in client.get(f"/email-templates/{template.id}").get_data(as_text=True)
    sent = client.post(
        f"/email-templates/{template.id}/test", data={"addresses": "a@example.com, b@example.com"}
    )
    assert sent.status_code == 303
    set_tenant(organization.id)
    assert (
        db.session.scalar(text("SELECT count(*) FROM outbox_messages WHERE kind = 'campaign_test'"))
        == 2
    )


def test_draft_schedule_progress_and_pause_on_the_pages(client, login_as, marketing, stub_broker):
    organization, marketer, segment = marketing
    set_tenant(organization.id)
    library.add_starter_templates()
    newsletter = next(t for t in library.list_templates() if t.name == "Newsletter")
    clear_tenant()
    login_as(marketer)
    assert client.get("/campaigns/new").status_code == 200
    refused = client.post(
        "/campaigns/new", data={"name": "", "variant0_template": ""}, headers=HTMX
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Choose at least one segment" in html and "This field is required." in html

    created = client.post(
        "/campaigns/new",
        data={
            "name": "Yaz",
            "include_segment_ids": [str(segment.id)],
            "variant0_template": str(newsletter.id),
            "throttle_per_minute": "",
        },
    )
    assert created.status_code == 303
    location = created.headers["Location"]
    assert "Schedule" in client.get(location).get_data(as_text=True)
    assert client.post(location + "/schedule", data={"mode": "now"}).status_code == 303
    progress = client.get(location + "?fragment=progress", headers=HTMX).get_data(as_text=True)
    assert 'id="campaign-bar"' in progress and "0 sent" in progress and "every 1s" in progress
    paused = client.post(location + "/pause?fragment=progress", headers=HTMX).get_data(as_text=True)
    assert ">paused<" in paused and "Resume" in paused
    csv = client.get(location + "/recipients.csv").get_data(as_text=True)
    assert csv.startswith("\ufeffemail,phone,variant,status") and csv.count("\n") == 4
    assert client.get("/campaigns").status_code == 200


def test_sales_cannot_open_marketing_pages(client, login_as, make_user, marketing):
    organization, _marketer, _segment = marketing
    login_as(make_user(organization, role="sales"))
    for path in ("/campaigns", "/email-templates", "/campaigns/new"):
        assert client.get(path).status_code == 403
    nav = client.get("/").get_data(as_text=True)
    assert ">Campaigns<" not in nav


def test_the_campaigns_api(client, marketing, stub_broker):
    organization, marketer, segment = marketing
    headers = factories.bearer(marketer)
    template = client.post(
        "/api/v1/crm/email-templates/",
        json={
            "name": "Hello",
            "subject": "Hi {{ customer.first_name }}",
            "html": '<p><a href="https://example.com/x">x</a></p>',
        },
        headers=headers,
    )
    assert template.status_code == 201
    assert template.get_json()["links"] == ["https://example.com/x"]
    assert template.get_json()["text"].startswith("[x](https://example.com/x)")
    bad = client.post("/api/v1/crm/campaigns/", json={"name": "X", "variants": []}, headers=headers)
    assert bad.status_code == 422
    assert set(bad.get_json()["fields"]) == {"variants", "include_segment_ids"}
    created = client.post(
        "/api/v1/crm/campaigns/",
        json={
            "name": "API",
            "include_segment_ids": [segment.id],
            "variants": [{"template_id": template.get_json()["id"]}],
        },
        headers=headers,
    )
    assert created.status_code == 201
    campaign_id = created.get_json()["id"]
    assert (
        client.post(f"/api/v1/crm/campaigns/{campaign_id}/pause/", headers=headers).status_code
        == 409
    )
    bad_time = client.post(
        f"/api/v1/crm/campaigns/{campaign_id}/schedule/",
        json={"send_at": "tomorrow"},
        headers=headers,
    )
    assert bad_time.status_code == 422
    scheduled = client.post(
        f"/api/v1/crm/campaigns/{campaign_id}/schedule/", json={"send_at": None}, headers=headers
    )
    assert scheduled.get_json()["status"] == "sending"
    stats = client.get(f"/api/v1/crm/campaigns/{campaign_id}/stats/", headers=headers).get_json()
    assert (
        stats["recipients"] == 3
        and stats["queued"] == 3
        and stats["links"][0]["url"] == "https://example.com/x"
    )
    assert (
        client.post(f"/api/v1/crm/campaigns/{campaign_id}/cancel/", headers=headers).get_json()[
            "status"
        ]
        == "cancelled"
    )
    listed = client.get("/api/v1/crm/campaigns/", headers=headers).get_json()
    assert [c["id"] for c in listed["items"]] == [campaign_id]
    other, other_admin = factories.organization("Other")
    assert (
        client.get(
            f"/api/v1/crm/campaigns/{campaign_id}/", headers=factories.bearer(other_admin)
        ).status_code
        == 404
    )
