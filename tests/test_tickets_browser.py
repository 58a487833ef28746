"""The ticket queue and thread in headless Chromium: a ticket created elsewhere appears in an
open queue without a reload, keyboard shortcuts work, and a reply shows up in the thread."""

import pytest
from test_browser import _sign_in, browser, live_app, live_server, organization, page

from crm_web.accounts.services import user_by_email
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.tickets import services
from tests import factories

__all__ = ["browser", "live_app", "live_server", "organization", "page"]  # fixtures used below

pytestmark = [pytest.mark.browser, pytest.mark.committed]


def _create_ticket(live_app, organization, subject: str):
    """A ticket committed by someone else (as the API or the web form would)."""
    with live_app.app_context():
        set_tenant(organization["id"])
        customer = factories.customer(first_name="Lena", last_name="Live")
        db.session.commit()
        ticket = services.create_ticket(subject=subject, customer_id=customer.id)
        clear_tenant()
        db.session.remove()
        return ticket


def test_new_ticket_appears_live_and_reply_updates_the_thread(
    page, live_app, live_server, organization
):
    from playwright.sync_api import expect

    first = _create_ticket(live_app, organization, "Printer jammed")
    _sign_in(page, live_server, organization["email"])
    page.get_by_role("navigation").get_by_role("link", name="Tickets").click()
    page.wait_for_url(f"{live_server}/tickets")
    page.get_by_role("link", name="All open").click()
    rows = page.locator("#queue-rows tr[data-ticket]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Printer jammed")
    page.evaluate("window.__sameDocument = 'yes'")
    page.evaluate("window.scrollTo(0, 0)")

    # Select the first row with the keyboard: the selection must survive the live refresh.
    page.keyboard.press("j")
    expect(rows.first).to_have_class("priority-normal current")
    page.keyboard.press("x")
    expect(rows.first.locator("input[name=ticket_ids]")).to_be_checked()

    _create_ticket(live_app, organization, "Screen flickers")
    fresh = page.locator("#queue-rows tr[data-ticket]", has_text="Screen flickers")
    expect(fresh).to_have_count(1, timeout=12_000)
    expect(fresh).to_have_class("priority-normal row-changed")
    assert page.evaluate("window.__sameDocument") == "yes"  # no reload
    assert "view=all" in page.url  # the filters stay in the URL
    old_row = page.locator(f"#ticket-row-{first.id}")
    expect(old_row.locator("input[name=ticket_ids]")).to_be_checked()
    expect(old_row).to_have_class("priority-normal current")
    expect(page.locator("#count-all")).to_have_text("2")

    # "a" assigns the current row to me.
    page.keyboard.press("a")
    expect(old_row).to_contain_text("Ada Admin")

    page.keyboard.press("o")
    page.wait_for_url(f"{live_server}/tickets/{first.id}")
    expect(page.locator("#ticket-thread")).to_contain_text("Assigned to Ada Admin.")
    page.get_by_label("Message").fill("We have sent a technician.")
    page.get_by_role("button", name="Send").click()
    thread = page.locator("#ticket-thread")
    expect(thread).to_contain_text("We have sent a technician.")
    expect(thread).to_contain_text("email queued")
    expect(page.locator("#ticket-status")).to_have_text("Open")
    expect(page.get_by_label("Message")).to_have_value("")

    page.get_by_label("Internal note").check()
    page.get_by_label("Message").fill("Technician is Bob.")
    page.get_by_role("button", name="Send").click()
    expect(thread.locator(".message.note")).to_contain_text("Technician is Bob.")

    with live_app.app_context():
        admin = user_by_email(organization["email"])
        assert services.get_ticket(first.id).assignee_id == admin.id
        clear_tenant()
        db.session.remove()
    page.watch.assert_clean()
