"""A marketer in headless Chromium, under the CSP: writes a campaign, schedules it and watches
the progress bar reach 100% while a real worker sends through the outbox into an SMTP sink;
a seller cannot open the marketing pages."""

import pytest
from worker_fixtures import running_worker

from crm_web.accounts.services import create_user
from crm_web.campaigns import library
from crm_web.db import clear_tenant, set_tenant
from crm_web.jobs import DELIVER_OUTBOX
from crm_web.segments.services import create_segment
from tests import factories, test_browser

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
        for index in range(25):
            factories.customer(first_name=f"Elif{index}", email_opt_in=True)
        create_segment({"segment_name": "Everyone who agrees"})
        library.add_starter_templates()
        users = {}
        for role in ("marketing", "sales"):
            users[role] = create_user(
                email=f"{role}-{organization['slug']}@example.com",
                name=role.capitalize(),
                role=role,
                password=test_browser.PASSWORD,
            ).email
        clear_tenant()
    return users


def test_schedule_a_campaign_and_watch_it_reach_100_percent(
    page, live_server, marketer, stub_broker, smtp_to_sink
):
    from playwright.sync_api import expect

    _sign_in(page, live_server, marketer["marketing"])
    page.get_by_role("navigation").get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name", exact=True).fill("Bahar bülteni")
    page.get_by_label("Send to the customers of").select_option(label="Everyone who agrees")
    page.get_by_label("Variant A: template").select_option(label="Newsletter")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#campaign-status")).to_have_text("draft")

    stub_broker.flush_all()
    with running_worker(stub_broker, {DELIVER_OUTBOX.queue_name}):
        page.get_by_role("button", name="Schedule").click()
        expect(page.locator("#campaign-bar")).to_have_attribute("value", "100", timeout=30_000)
    expect(page.locator("#campaign-figures")).to_contain_text("25 sent")
    page.reload()
    expect(page.locator("#campaign-status")).to_have_text("sent")
    assert len(smtp_to_sink.mails) == 25
    page.get_by_role("navigation").get_by_role("link", name="Campaigns").click()
    page.locator("#main").get_by_role("link", name="Email templates").click()
    page.get_by_role("link", name="Promotion").click()
    expect(page.locator("#preview-subject")).to_contain_text("20% off")
    page.watch.assert_clean()


def test_a_seller_cannot_open_campaigns(page, live_server, marketer):
    _sign_in(page, live_server, marketer["sales"])
    assert page.get_by_role("navigation").get_by_role("link", name="Campaigns").count() == 0
    response = page.goto(f"{live_server}/campaigns")
    assert response.status == 403


def test_an_sms_campaign_form_counts_recipients_and_parts_live(
    page, live_app, live_server, organization, marketer, stub_broker
):
    from playwright.sync_api import expect

    with live_app.app_context():
        set_tenant(organization["id"])
        for index in range(3):
            factories.customer(
                first_name=f"Sms{index}", sms_opt_in=True, primary_phone=f"+90532111007{index}"
            )
        create_segment({"segment_name": "SMS people"})
        clear_tenant()
    _sign_in(page, live_server, marketer["marketing"])
    page.goto(live_server + "/campaigns/new")
    page.get_by_label("Name", exact=True).fill("Bahar SMS")
    page.get_by_label("Channel").select_option("sms")
    expect(page.get_by_label("Text", exact=True)).to_be_visible()
    page.get_by_label("Send to the customers of").select_option(label="SMS people")
    page.get_by_label("Text", exact=True).fill("Merhaba {{ customer.first_name }}, indirim!")
    expect(page.locator("#sms-estimate")).to_contain_text("Reachable customers: 3.")
    expect(page.locator("#sms-estimate")).to_contain_text("1 SMS per message, 3 SMS in all")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#campaign-status")).to_have_text("draft")
    expect(page.locator("#sms-body")).to_have_text("Merhaba {{ customer.first_name }}, indirim!")
