"""In headless Chromium: the customer list's infinite scroll, filters kept in the URL, a bulk
action on ticked rows, and the duplicate warning leading to a merge. Served like
tests/test_browser.py (committed data in an organization of its own)."""

# The browser fixtures are imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

import re

import pytest

from tests.test_browser import _sign_in as sign_in
from tests.test_browser import (  # noqa: F401
    browser,
    live_app,
    live_server,
    organization,
    page,
)

pytestmark = [pytest.mark.browser, pytest.mark.committed]


@pytest.fixture
def seeded(live_app, organization):
    """60 demo customers, committed, in the test organization (with how many are active)."""
    from sqlalchemy import func, select

    from crm_web.customers.models import Customer
    from crm_web.customers.seeding import seed_customers
    from crm_web.db import atomic, clear_tenant, set_tenant
    from crm_web.extensions import db

    with live_app.app_context():
        set_tenant(organization["id"])
        atomic(seed_customers)(60, seed=11)
        active = db.session.scalar(select(func.count()).where(Customer.is_active))
        db.session.commit()
        clear_tenant()
    return {**organization, "active": active}


def test_scroll_filter_and_bulk_tag(page, live_server, seeded):
    from playwright.sync_api import expect

    sign_in(page, live_server, seeded["email"])
    page.get_by_role("navigation").get_by_role("link", name="Customers").click()
    page.wait_for_url(f"{live_server}/customers")
    rows = page.locator("#customer-rows tr[id^='customer-']")
    expect(rows).to_have_count(50)
    expect(page.locator("#customer-count")).to_contain_text("customers match")

    # Infinite scroll: the load-more row fetches the next keyset page when it comes into view.
    page.locator("tr.load-more").scroll_into_view_if_needed()
    expect(rows).to_have_count(seeded["active"])
    expect(page.locator("tr.load-more")).to_have_count(0)

    # A filter swaps the results and puts the canonical URL in the address bar.
    page.evaluate("window.__sameDocument = 'yes'")
    page.get_by_label("Sort").select_option("name")
    page.wait_for_url(f"{live_server}/customers?sort=name")
    expect(rows).to_have_count(50)
    assert page.evaluate("window.__sameDocument") == "yes"

    # Tick two rows and tag them; htmx sends the ticked boxes that belong to the bulk form.
    ticked = [rows.nth(0), rows.nth(1)]
    for row in ticked:
        row.locator("input[name='ids']").check()
    page.on("dialog", lambda dialog: dialog.accept())
    bulk = page.locator("#bulk-form")
    bulk.get_by_label("With the selected").select_option("add_tag")
    bulk.get_by_label("Tag", exact=True).fill("Spring Fair")
    bulk.get_by_role("button", name="Apply").click()
    expect(page.locator("#messages")).to_contain_text("Add tag: 2 customers changed.")
    expect(page.locator("#customer-rows tr", has_text="spring fair")).to_have_count(2)

    # The tag filter finds exactly those two; going back restores the previous list. (From the
    # top of the page, where the filters are: htmx restores the scroll position too, and one
    # that shows the load-more row fetches the next page at once.)
    page.evaluate("window.scrollTo(0, 0)")
    tag_filter = page.locator("#customer-filters").get_by_label("Tag")
    tag_filter.fill("spring fair")
    page.wait_for_url(re.compile(r".*tag=spring\+fair.*"))
    expect(rows).to_have_count(2)
    page.go_back()
    # The address bar changes at once; the page htmx fetches to restore it comes later, and
    # only then do the filter controls and the rows change.
    page.wait_for_url(f"{live_server}/customers?sort=name")
    expect(tag_filter).to_have_value("")
    expect(page.get_by_label("Sort")).to_have_value("name")
    expect(rows).to_have_count(50)

    # The page checkbox ticks every row shown.
    page.locator("#select-page").check()
    expect(page.locator("input[name='ids']:checked")).to_have_count(50)
    expect(page.locator("input[name='ids']:not(:checked)")).to_have_count(0)
    page.watch.assert_clean()


def test_duplicate_warning_then_merge(page, live_server, organization):
    from playwright.sync_api import expect

    sign_in(page, live_server, organization["email"])
    for attempt in range(2):
        page.goto(f"{live_server}/customers/new")
        form = page.locator("#customer-form")
        form.get_by_label("First name").fill("Derya")
        form.get_by_label("Last name").fill("Uçar")
        form.get_by_label("Email", exact=True).fill("derya@ucar.example")
        form.get_by_label("Phone", exact=True).fill("+90 532 000 11 22")
        form.get_by_role("button", name="Save", exact=True).click()
        if attempt == 0:
            page.wait_for_url(re.compile(rf"{re.escape(live_server)}/customers/\d+$"))

    # The second time the form comes back with a warning instead of saving.
    warning = page.locator("#duplicate-warning")
    expect(warning).to_contain_text("This looks like a customer you already have.")
    expect(page.locator("#primary_email-error")).to_contain_text("has this email")
    warning.get_by_role("button", name=re.compile("Save, then merge into CUS-")).click()
    page.wait_for_url(re.compile(rf"{re.escape(live_server)}/customers/\d+/merge\?other=\d+$"))
    expect(page.locator("#merge-comparison")).to_contain_text("derya@ucar.example")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Merge").click()
    page.wait_for_url(re.compile(rf"{re.escape(live_server)}/customers/\d+$"))
    expect(page.locator("#messages")).to_contain_text("is merged into Derya Uçar")

    page.goto(f"{live_server}/customers?q=derya")
    expect(page.locator("#customer-rows tr[id^='customer-']")).to_have_count(1)
    page.watch.assert_clean()
