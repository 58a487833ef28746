"""The pages where surveys are sent from: the support settings refuse a survey that takes no
responses at the field, the campaign form offers only surveys taking responses, and the
journey editor's survey step says what is wrong with it."""

import pytest

from crm_web.automations import services as automations
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.surveys import services
from crm_web.tickets import services as tickets
from tests.survey_distribution_helpers import launched_nps

HTMX = {"HX-Request": "true"}


@pytest.fixture
def org(make_org):
    organization, admin = make_org("Survey pages")
    set_tenant(organization.id, admin.id)
    open_survey = launched_nps("Open survey")
    draft = services.create_survey({"name": "Draft survey"})
    clear_tenant()
    return organization, admin, open_survey, draft


def test_support_settings_refuse_a_survey_taking_no_responses(client, org, login_as):
    organization, admin, open_survey, draft = org
    login_as(admin)
    page = client.get("/tickets/settings").get_data(as_text=True)
    assert "Open survey" in page and "Draft survey" not in page
    bad = client.post(
        "/tickets/settings",
        data={"agent_ticket_cap": "5", "resolution_survey_id": str(draft.id)},
        headers=HTMX,
    )
    assert bad.status_code == 422
    assert "Launch the survey first: it takes no responses now." in bad.get_data(as_text=True)
    good = client.post(
        "/tickets/settings",
        data={"agent_ticket_cap": "5", "resolution_survey_id": str(open_survey.id)},
    )
    assert good.status_code == 303
    set_tenant(organization.id)
    assert tickets.get_settings().resolution_survey_id == open_survey.id


def test_the_campaign_form_offers_surveys_taking_responses(client, org, make_user, login_as):
    organization, _admin, _open_survey, _draft = org
    login_as(make_user(organization, role="marketing"))
    page = client.get("/campaigns/new").get_data(as_text=True)
    assert "Invite each recipient to a survey" in page
    assert "Open survey" in page and "Draft survey" not in page
    sales = make_user(organization, role="sales")
    client.post("/logout")
    login_as(sales)
    assert client.get("/campaigns/new").status_code == 403


def test_the_survey_step_shows_its_mistakes_in_the_flow(client, org, login_as):
    organization, admin, open_survey, _draft = org
    set_tenant(organization.id, admin.id)
    automation = automations.create_automation({"name": "Ask", "trigger_kind": "customer_created"})
    clear_tenant()
    login_as(admin)
    added = client.post(
        f"/automations/{automation.id}/steps", data={"type": "survey"}, headers=HTMX
    )
    html = added.get_data(as_text=True)
    assert "Choose a survey that takes responses." in html and "Open survey" in html
    set_tenant(organization.id)
    db.session.expire_all()
    [step] = automations.get_automation(automation.id).steps
    clear_tenant()
    saved = client.post(
        f"/automations/{automation.id}/steps/{step['id']}",
        data={"survey_id": str(open_survey.id), "channel": "sms"},
        headers=HTMX,
    )
    assert "Choose a survey that takes responses." not in saved.get_data(as_text=True)
    set_tenant(organization.id)
    db.session.expire_all()
    [step] = automations.get_automation(automation.id).steps
    assert (step["survey_id"], step["channel"]) == (open_survey.id, "sms")
