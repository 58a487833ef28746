"""Automation pages: the list, the editor's flow fragments (add, edit, move, delete, branch) with
field-level messages, activation, the report and the holiday calendar."""

import re

import pytest

from crm_web.automations import services
from crm_web.campaigns import library
from crm_web.db import clear_tenant, set_tenant

HTMX = {"HX-Request": "true"}


@pytest.fixture
def marketing(make_org, make_user):
    organization, admin = make_org("Pazarlama")
    marketer = make_user(organization, role="marketing")
    set_tenant(organization.id, admin.id)
    library.add_starter_templates()
    template_id = library.list_templates()[0].id
    clear_tenant()
    return organization, marketer, template_id


def _step_ids(html: str) -> list[str]:
    return re.findall(r'id="step-([0-9a-f]+)"', html)


def test_the_editor_builds_a_flow_from_fragments(client, login_as, marketing):
    organization, marketer, template_id = marketing
    login_as(marketer)
    created = client.post(
        "/automations/new", data={"name": "Welcome", "trigger_kind": "customer_created"}
    )
    assert created.status_code == 303
    editor = created.headers["Location"]
    automation_id = int(editor.rsplit("/", 1)[1])
    assert client.get(editor).status_code == 200

    for kind in ("wait", "email", "branch"):
        added = client.post(f"{editor}/steps", data={"type": kind}, headers=HTMX)
    html = added.get_data(as_text=True)
    # The email has no template yet: the flow says so at that field, and the draft is kept.
    assert added.status_code == 422
    assert 'data-error="steps.1.template_id"' in html
    wait_id, email_id, branch_id = _step_ids(html)

    unknown = client.post(
        f"{editor}/steps/{email_id}",
        data={"template_id": template_id, "template_tr": "999999"},
        headers=HTMX,
    )
    assert 'data-error="steps.1.template_tr"' in unknown.get_data(as_text=True)
    # One template for everyone, and the Turkish customers' own.
    saved = client.post(
        f"{editor}/steps/{email_id}",
        data={"template_id": template_id, "template_tr": template_id, "template_en": ""},
        headers=HTMX,
    )
    assert saved.status_code == 200 and "data-error" not in saved.get_data(as_text=True)
    bad_wait = client.post(
        f"{editor}/steps/{wait_id}", data={"days": "x", "at": "25:99"}, headers=HTMX
    )
    assert bad_wait.status_code == 422
    assert 'data-error="steps.0.at"' in bad_wait.get_data(as_text=True)
    client.post(f"{editor}/steps/{wait_id}", data={"days": "2"}, headers=HTMX)

    client.post(
        f"{editor}/steps", data={"type": "tag", "parent": branch_id, "arm": "yes"}, headers=HTMX
    )
    moved = client.post(f"{editor}/steps/{email_id}/move", data={"direction": "up"}, headers=HTMX)
    assert _step_ids(moved.get_data(as_text=True))[:2] == [email_id, wait_id]
    client.post(f"{editor}/steps/{branch_id}/delete", headers=HTMX)

    set_tenant(organization.id)
    automation = services.get_automation(automation_id)
    assert [step["type"] for step in automation.steps] == ["email", "wait"]
    assert automation.steps[1]["days"] == 2
    assert automation.steps[0]["languages"] == {"tr": template_id}
    clear_tenant()

    assert client.post(f"{editor}/activate").status_code == 303
    listing = client.get("/automations").get_data(as_text=True)
    assert "Welcome" in listing
    assert client.get(f"{editor}/report").status_code == 200


def test_activation_refuses_an_incomplete_journey_with_field_messages(client, login_as, marketing):
    _organization, marketer, _template_id = marketing
    login_as(marketer)
    created = client.post("/automations/new", data={"name": "Empty", "trigger_kind": "tag_added"})
    editor = created.headers["Location"]
    client.post(f"{editor}/steps", data={"type": "sms"}, headers=HTMX)
    refused = client.post(f"{editor}/activate")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'data-error="trigger_config.tag"' in html and 'data-error="steps.0.template"' in html
    settings = client.post(
        f"{editor}/settings",
        data={"name": "", "trigger_kind": "tag_added", "reentry": "every", "send_hour": "9"},
        headers=HTMX,
    )
    assert settings.status_code == 422 and 'data-error="name"' in settings.get_data(as_text=True)
    # Another trigger redraws the form with the settings that trigger uses.
    switched = client.post(
        f"{editor}/settings",
        data={"name": "Empty", "trigger_kind": "no_purchase", "trigger_days": "90"},
        headers=HTMX,
    )
    html = switched.get_data(as_text=True)
    assert switched.status_code == 200
    assert 'name="trigger_days"' in html and 'name="trigger_tag"' not in html


def test_a_new_automation_needs_a_name(client, login_as, marketing):
    _organization, marketer, _template_id = marketing
    login_as(marketer)
    response = client.post("/automations/new", data={"name": "", "trigger_kind": "birthday"})
    assert response.status_code == 422


def test_a_birthday_journey_chooses_where_29_february_falls(client, login_as, marketing):
    organization, marketer, _template_id = marketing
    login_as(marketer)
    created = client.post("/automations/new", data={"name": "Leap", "trigger_kind": "birthday"})
    editor = created.headers["Location"]
    assert 'name="trigger_leap_day"' in client.get(editor).get_data(as_text=True)
    saved = client.post(
        f"{editor}/settings",
        data={"name": "Leap", "trigger_kind": "birthday", "trigger_leap_day": "mar1",
              "reentry": "yearly", "send_hour": "9"},
        headers=HTMX,
    )  # fmt: skip
    assert saved.status_code == 200
    set_tenant(organization.id)
    automation = services.get_automation(int(editor.rstrip("/").rsplit("/", 1)[1]))
    assert automation.trigger_config["leap_day"] == "mar1"
    clear_tenant()


def test_a_new_journey_may_start_from_a_ready_made_one(client, login_as, marketing):
    organization, marketer, _template_id = marketing
    login_as(marketer)
    page = client.get("/automations/new").get_data(as_text=True)
    assert 'value="re_engagement"' in page and 'value="welcome_series"' in page
    wrong = client.post("/automations/new", data={"name": "", "ready_made": "moon"})
    assert wrong.status_code == 422
    made = client.post("/automations/new", data={"name": "", "ready_made": "birthday"})
    assert made.status_code in (302, 303)
    set_tenant(organization.id)
    [automation] = [a for a in services.list_automations().items if a.trigger_kind == "birthday"]
    assert automation.name == "Birthday email and SMS with a coupon code"
    assert [s["type"] for s in automation.steps] == ["email", "sms"]
    clear_tenant()


def test_the_holiday_calendar_fills_and_takes_days(client, login_as, marketing):
    _organization, marketer, _template_id = marketing
    login_as(marketer)
    filled = client.post("/automations/holidays", data={"action": "prefill", "country": "TR"})
    assert filled.status_code == 200 and "Republic Day" in filled.get_data(as_text=True)
    bad = client.post("/automations/holidays", data={"day": "someday", "name": ""})
    assert bad.status_code == 422
    unknown = client.post("/automations/holidays", data={"action": "prefill", "country": "ZZ"})
    assert unknown.status_code == 422


def test_sales_cannot_open_automations(client, login_as, make_org, make_user):
    organization, _admin = make_org("Sales only")
    login_as(make_user(organization, role="sales"))
    assert client.get("/automations").status_code == 403


def test_an_automation_emails_links_record_opens_clicks_and_unsubscribes(client, marketing):
    import datetime as dt

    from crm_web.automations import runner
    from crm_web.automations.models import StepRun
    from crm_web.campaigns import content
    from crm_web.extensions import db
    from tests import factories

    organization, _marketer, template_id = marketing
    customer = factories.customer(organization, email_opt_in=True)
    set_tenant(organization.id)
    automation = services.create_automation(
        {
            "name": "Links",
            "trigger_kind": "customer_created",
            "steps": [{"type": "email", "template_id": template_id}],
        }
    )
    services.activate(automation.id)
    automation.activated_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    runner.run()
    run = db.session.query(StepRun).filter_by(automation_id=automation.id).one()
    clear_tenant()

    pixel = client.get(f"/t/j/o/{content.sign('journey_open', organization.id, run.id)}.gif")
    assert pixel.status_code == 200 and pixel.headers["Content-Type"] == "image/gif"
    assert client.get("/t/j/o/forged.gif").status_code == 404
    token = content.sign("journey_unsubscribe", organization.id, run.id)
    assert client.post(f"/u/j/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 204

    set_tenant(organization.id)
    db.session.refresh(run)
    db.session.refresh(customer)
    assert run.opened_at is not None
    assert customer.email_opt_in is False
