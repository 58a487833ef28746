"""In headless Chromium, under the CSP: a marketer chooses a survey on a campaign (the form says
where the link goes and refuses a message without it), an admin names the survey sent after a
ticket is resolved, and a marketer adds a "send a survey" step and a "survey completed" trigger
to a journey. Screenshots go to SURVEY_SHOTS when it names a folder."""

import os

import pytest

from crm_web.accounts.services import create_user
from crm_web.campaigns import library
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.segments.services import create_segment
from crm_web.surveys import seeding, services
from tests import test_browser

pytestmark = [pytest.mark.browser, pytest.mark.committed]

browser = test_browser.browser
live_app = test_browser.live_app
live_server = test_browser.live_server
organization = test_browser.organization
page = test_browser.page
_sign_in = test_browser._sign_in


@pytest.fixture
def set_up(live_app, organization):
    """A launched survey, a template with the survey link, a segment and a marketer."""
    with live_app.app_context():
        set_tenant(organization["id"])
        library.add_starter_templates()
        library.create_template(
            {
                "name": "Survey invitation",
                "subject": "Your opinion",
                "html": '<p>Hello</p><a href="{{ survey_url }}">Answer</a>',
            }
        )
        survey = services.create_survey({"name": "Loyalty NPS"}, seeding.nps_document())
        services.launch(survey.id)
        create_segment({"segment_name": "Everyone"})
        email = create_user(
            email=f"surveys-{organization['slug']}@example.com",
            name="Marketer",
            role="marketing",
            password=test_browser.PASSWORD,
        ).email
        db.session.commit()
        clear_tenant()
    return email


def _shot(page, name: str) -> None:
    folder = os.environ.get("SURVEY_SHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def test_a_campaign_carries_a_survey(page, live_server, set_up):
    from playwright.sync_api import expect

    _sign_in(page, live_server, set_up)
    page.goto(live_server + "/campaigns/new")
    page.get_by_label("Name", exact=True).fill("NPS wave")
    page.get_by_label("Send to the customers of").select_option(label="Everyone")
    page.get_by_label("Variant A: template").select_option(label="Newsletter")
    page.get_by_label("Invite each recipient to a survey").select_option(label="Loyalty NPS")
    page.get_by_role("button", name="Save draft").click()
    # The newsletter has no {{ survey_url }}: refused at the field, the choices kept.
    survey_field = page.locator(".field.has-error", has=page.locator("#c-survey_id"))
    expect(survey_field).to_contain_text("Put {{ survey_url }} in the message")
    expect(page.get_by_label("Invite each recipient to a survey")).to_have_value(
        page.locator("#c-survey_id option", has_text="Loyalty NPS").get_attribute("value")
    )
    _shot(page, "campaign_form_survey_error")
    page.get_by_label("Variant A: template").select_option(label="Survey invitation")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Invites each recipient to the survey “Loyalty NPS”.")).to_be_visible()
    _shot(page, "campaign_show_survey")
    page.watch.assert_clean()


def test_the_survey_sent_after_a_resolution_is_chosen_in_support_settings(
    page, live_server, set_up, organization
):
    from playwright.sync_api import expect

    _sign_in(page, live_server, organization["email"])
    page.goto(live_server + "/tickets/settings")
    choice = page.get_by_label("Survey sent when a ticket is resolved")
    expect(choice).to_have_value("")
    choice.select_option(label="Loyalty NPS")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#messages")).to_contain_text("Support settings saved.")
    expect(page.get_by_label("Survey sent when a ticket is resolved")).not_to_have_value("")
    _shot(page, "ticket_settings_survey")
    page.watch.assert_clean()


def test_a_journey_sends_a_survey_when_another_is_completed(page, live_server, set_up):
    from playwright.sync_api import expect

    _sign_in(page, live_server, set_up)
    page.goto(live_server + "/automations/new")
    page.get_by_label("Name").fill("Thank promoters")
    page.get_by_label("Trigger").select_option(label="Survey completed")
    page.get_by_role("button", name="Create and edit").click()
    settings = page.locator("#settings")
    expect(settings.get_by_label("Which survey")).to_be_visible()
    settings.get_by_label("Which survey").select_option(label="Loyalty NPS")
    with page.expect_response(lambda r: "/settings" in r.url and r.request.method == "POST"):
        settings.get_by_role("button", name="Save trigger and goal").click()
    expect(page.locator("#settings").get_by_label("Which survey")).not_to_have_value("")

    flow = page.locator("#flow")
    flow.get_by_label("Kind of step").last.select_option(label="Send a survey")
    with page.expect_response(lambda r: "/steps" in r.url and r.request.method == "POST"):
        flow.get_by_role("button", name="Add step").last.click()
    step = page.locator("#flow li[data-type=survey]")
    expect(step.locator("[data-error]")).to_have_count(1)  # no survey chosen yet
    step.get_by_label("Survey").select_option(label="Loyalty NPS")
    step.get_by_label("Invite by").select_option(label="SMS")
    with page.expect_response(lambda r: "/steps" in r.url and r.request.method == "POST"):
        step.get_by_role("button", name="Save").click()
    expect(page.locator("#flow [data-error]")).to_have_count(0)
    expect(page.locator("#flow li[data-type=survey]").get_by_label("Invite by")).to_have_value(
        "sms"
    )
    _shot(page, "automation_survey_step")
    page.watch.assert_clean()
