"""Leads in headless Chromium, under the CSP: capture with an error swapped in place, a status
change through the HTMX panel that brings Convert at once, the conversion landing on the new
deal, and a visitor filling in the public form."""

import re

import pytest

from crm_web.db import clear_tenant, set_tenant
from tests import test_browser

pytestmark = [pytest.mark.browser, pytest.mark.committed]

# The browser, live server and committed organization of test_browser.py, as fixtures here.
browser = test_browser.browser
live_app = test_browser.live_app
live_server = test_browser.live_server
organization = test_browser.organization
page = test_browser.page
_sign_in = test_browser._sign_in


def test_capture_a_lead_then_move_it_along(page, live_server, organization):
    from playwright.sync_api import expect

    _sign_in(page, live_server, organization["email"])
    page.get_by_role("navigation").get_by_role("link", name="Leads").click()
    page.wait_for_url(f"{live_server}/leads/")
    page.get_by_role("link", name="New lead").click()
    page.get_by_label("First name").fill("Katherine")
    page.get_by_label("Last name").fill("Johnson")
    page.get_by_label("Email").fill("katherine@nasa.example")
    page.get_by_label("Phone").fill("12")
    page.get_by_label("Job title").fill("Director of Research")
    page.evaluate("window.__sameDocument = 'yes'")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#phone-error")).to_contain_text("valid phone number")
    assert page.evaluate("window.__sameDocument") == "yes"
    expect(page.get_by_label("First name")).to_have_value("Katherine")

    page.get_by_label("Phone").fill("+1 202 555 0143")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Katherine Johnson")).to_be_visible()
    expect(page.locator("#lead-score")).to_contain_text("Senior job title")

    workflow = page.locator("#lead-workflow")
    workflow.get_by_label("New status").select_option("disqualified")
    workflow.get_by_role("button", name="Change status").click()
    expect(page.locator("#lead-workflow")).to_contain_text("Give the reason for disqualifying.")
    expect(page.get_by_role("link", name="Convert")).to_have_count(0)
    page.locator("#lead-workflow").get_by_label("New status").select_option("qualified")
    page.locator("#lead-workflow").get_by_role("button", name="Change status").click()
    expect(page.locator("#lead-workflow h2")).to_contain_text("Qualified")
    # Convert comes with the status, no reload.
    page.get_by_role("link", name="Convert").click()
    page.wait_for_url(re.compile(r"/leads/\d+/convert$"))
    page.get_by_label("Opportunity name").fill("Research CRM")
    page.get_by_label("Amount").fill("4200")
    page.get_by_role("button", name="Convert").click()
    # Lands on the new deal, made for the new customer.
    page.wait_for_url(re.compile(r"/pipeline/opportunities/\d+$"))
    expect(page.get_by_role("heading", name="Research CRM")).to_be_visible()
    expect(page.locator("#messages")).to_contain_text("is converted: here is its deal.")
    expect(page.locator("main")).to_contain_text("Katherine Johnson")
    page.watch.assert_clean()


def test_a_visitor_fills_in_the_public_form(page, live_app, live_server, organization):
    from playwright.sync_api import expect

    from crm_web.leads import services

    with live_app.app_context():
        set_tenant(organization["id"])
        services.update_settings(
            web_form_enabled=True, web_form_thank_you="Thanks, we will call.", auto_assign=True
        )
        clear_tenant()
    page.goto(f"{live_server}/f/{organization['slug']}/lead")
    page.get_by_label("First name").fill("Dorothy")
    page.get_by_label("Last name").fill("Vaughan")
    page.get_by_label("Work email").fill("dorothy@example.org")
    page.get_by_label("How can we help?").fill("A CRM for our computing team.")
    # The honeypot is in the page but off-screen.
    assert not page.locator("input[name=fax_number]").is_visible() or (
        page.locator("input[name=fax_number]").bounding_box()["x"] < 0
    )
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#lead-thanks")).to_have_text("Thanks, we will call.")
    assert page.context.cookies() == []
    page.watch.assert_clean()

    _sign_in(page, live_server, organization["email"])
    page.goto(f"{live_server}/leads/?q=dorothy")
    expect(page.locator("#lead-results")).to_contain_text("Vaughan")
