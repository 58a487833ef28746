"""The segment builder in headless Chromium, under the CSP: two conditions, the live count
changing as they are edited, a value refused at its rule, and the saved segment's page."""

import pytest

from crm_web.db import clear_tenant, set_tenant
from tests import factories, test_browser

pytestmark = [pytest.mark.browser, pytest.mark.committed]

browser = test_browser.browser
live_app = test_browser.live_app
live_server = test_browser.live_server
organization = test_browser.organization
page = test_browser.page
_sign_in = test_browser._sign_in


def _settled(page) -> None:
    """Until htmx has swapped and settled the last answer (its new elements are live)."""
    from playwright.sync_api import expect

    busy = ".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added"
    expect(page.locator(busy)).to_have_count(0)


def test_build_a_segment_with_two_conditions_and_watch_the_count(
    page, live_app, live_server, organization
):
    from playwright.sync_api import expect

    with live_app.app_context():
        set_tenant(organization["id"])
        for index in range(4):
            tags = ["vip"] if index < 2 else []
            factories.customer(first_name=f"Ayşe{index}", city="Ankara", tags=tags)
        factories.customer(first_name="Mehmet", city="İzmir", tags=["vip"])
        clear_tenant()

    _sign_in(page, live_server, organization["email"])
    page.get_by_role("navigation").get_by_role("link", name="Segments").click()
    page.get_by_role("link", name="New segment").click()
    count = page.locator("#segment-count")
    expect(count).to_have_text("5")  # no conditions: every active customer

    page.get_by_role("button", name="Add condition").click()
    _settled(page)
    rule = page.locator("#rule-r\\.0")
    rule.get_by_label("Field").select_option("city")
    expect(rule.get_by_label("Value")).to_have_attribute("type", "text")
    rule.get_by_label("Value").fill("ankara")
    expect(count).to_have_text("4")

    page.locator("#group-r > .inline-form").get_by_role("button", name="Add condition").click()
    _settled(page)
    second = page.locator("#rule-r\\.1")
    second.get_by_label("Field").select_option("tags")
    expect(second.get_by_label("Comparison")).to_have_value("contains")
    second.get_by_label("Value").fill("vip")
    expect(count).to_have_text("2")
    # Still two conditions, the first keeping what was typed.
    expect(page.locator("#rule-r\\.0").get_by_label("Value")).to_have_value("ankara")

    page.get_by_label("Name").fill("Ankara VIP")
    page.get_by_role("button", name="Save segment").click()
    expect(page.locator("#segment-customer-count")).to_have_text("2")
    expect(page.locator("#segment-members")).to_contain_text("Ayşe0")
    page.get_by_role("button", name="Refresh now").click()
    expect(page.locator("#segment-status")).to_contain_text("Refreshing")
    page.watch.assert_clean()
