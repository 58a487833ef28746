"""A marketer in headless Chromium, under the CSP, builds a three-step journey in the editor's
vertical flow (wait, send email, add a tag) and activates it."""

import pytest

from crm_web.accounts.services import create_user
from crm_web.automations.models import Automation
from crm_web.campaigns import library
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from tests import test_browser

pytestmark = [pytest.mark.browser, pytest.mark.committed]

browser = test_browser.browser
live_app = test_browser.live_app
live_server = test_browser.live_server
organization = test_browser.organization
page = test_browser.page
_sign_in = test_browser._sign_in


@pytest.fixture
def marketer(live_app, organization):
    with live_app.app_context():
        set_tenant(organization["id"])
        library.add_starter_templates()
        email = create_user(
            email=f"journeys-{organization['slug']}@example.com",
            name="Marketer",
            role="marketing",
            password=test_browser.PASSWORD,
        ).email
        db.session.commit()
        clear_tenant()
    return email


def _flow_response(response) -> bool:
    return "/steps" in response.url and response.request.method == "POST"


def test_build_a_three_step_journey_and_activate_it(
    page, live_server, live_app, marketer, organization
):
    from playwright.sync_api import expect

    _sign_in(page, live_server, marketer)
    page.get_by_role("navigation").get_by_role("link", name="Automations").click()
    page.get_by_role("link", name="New automation").click()
    page.get_by_label("Name").fill("Hoş geldin serisi")
    page.get_by_label("Trigger").select_option(label="Customer created")
    page.get_by_role("button", name="Create and edit").click()

    flow = page.locator("#flow")
    flow.get_by_label("Kind of step").last.select_option(label="Wait")
    with page.expect_response(_flow_response):
        flow.get_by_role("button", name="Add step").last.click()
    wait = flow.locator("li[data-type=wait]")
    expect(wait).to_have_count(1)
    wait.get_by_label("Days", exact=True).fill("2")
    with page.expect_response(_flow_response):
        wait.get_by_role("button", name="Save").click()

    page.locator("#flow").get_by_label("Kind of step").last.select_option(label="Send email")
    with page.expect_response(_flow_response):
        page.locator("#flow").get_by_role("button", name="Add step").last.click()
    email = page.locator("#flow li[data-type=email]")
    expect(email.locator("[data-error]")).to_have_count(1)  # no template chosen yet
    email.get_by_label("Email template").select_option(label="Newsletter")
    with page.expect_response(_flow_response):
        email.get_by_role("button", name="Save").click()
    expect(page.locator("#flow [data-error]")).to_have_count(0)

    page.locator("#flow").get_by_label("Kind of step").last.select_option(
        label="Add or remove a tag"
    )
    with page.expect_response(_flow_response):
        page.locator("#flow").get_by_role("button", name="Add step").last.click()
    tag = page.locator("#flow li[data-type=tag]")
    tag.get_by_label("Tag", exact=True).fill("welcomed")
    with page.expect_response(_flow_response):
        tag.get_by_role("button", name="Save").click()
    expect(page.locator("#flow [data-error]")).to_have_count(0)

    page.get_by_role("button", name="Activate").click()
    expect(page.locator(".page-head .badge")).to_have_text("Active")
    with live_app.app_context():
        set_tenant(organization["id"])
        automation = db.session.query(Automation).filter_by(name="Hoş geldin serisi").one()
        assert [step["type"] for step in automation.steps] == ["wait", "email", "tag"]
        assert automation.steps[0]["days"] == 2 and automation.steps[2]["tag"] == "welcomed"
        assert automation.status == "active"
        db.session.rollback()
        clear_tenant()
    page.watch.assert_clean()
