"""In headless Chromium: open a task from the calendar and complete it, without a page load.

Uses the live server and browser of test_browser.py; the data is committed (the server's
threads have connections of their own) and goes with the organization afterwards.
"""

import re
from datetime import UTC, datetime, time

import pytest
import test_browser
from sqlalchemy import select

from crm_web.accounts.models import User
from crm_web.activities import services
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.committed]

# The browser, live server and committed organization of test_browser.py, as fixtures here.
browser = test_browser.browser
live_app = test_browser.live_app
live_server = test_browser.live_server
organization = test_browser.organization
page = test_browser.page


@pytest.fixture
def task(live_app, organization):
    """A call for the organization's admin at noon today."""
    with live_app.app_context():
        set_tenant(organization["id"])
        admin = db.session.scalar(select(User).where(User.email == organization["email"]))
        set_tenant(organization["id"], admin.id)
        [customer] = factories.customer_rows(organization["id"], 1, name="Customer {index} Ltd")
        db.session.commit()
        noon = datetime.combine(datetime.now(UTC).date(), time(12), UTC)
        activity = factories.activity(
            subject="Call about the renewal",
            customer_id=customer.id,
            due_at=noon,
            reminder_minutes_before=15,
        )
        clear_tenant()
        return {"id": activity.id, "organization_id": organization["id"]}


def test_complete_a_task_from_the_calendar(page, live_server, organization, task, live_app):
    from playwright.sync_api import expect

    test_browser._sign_in(page, live_server, organization["email"])
    page.get_by_role("navigation").get_by_role("link", name="Calendar").click()
    page.wait_for_url(f"{live_server}/calendar")
    page.evaluate("window.__sameDocument = 'yes'")

    event = page.locator(f"#event-{task['id']}")
    expect(event).to_contain_text("Call about the renewal")
    expect(event).to_contain_text("12:00")
    event.click()

    panel = page.locator("#activity-panel")
    expect(panel.get_by_role("heading", name="Call about the renewal")).to_be_visible()
    expect(panel.locator("#activity-status")).to_have_text("Planned")
    panel.get_by_label("Outcome").fill("They will renew for two years")
    panel.get_by_label("Plan a follow-up").check()
    panel.get_by_label("Follow-up due").fill("2030-01-15T10:00")
    with page.expect_response(
        lambda r: r.url.endswith(f"/activities/{task['id']}/complete")
    ) as answer:
        panel.get_by_role("button", name="Complete").click()
    assert answer.value.status == 200

    expect(panel).to_contain_text("Completed. Follow-up planned for Jan 15, 2030, 10:00.")
    expect(panel.locator("#activity-status")).to_have_text("Completed")
    expect(panel.locator("#activity-outcome")).to_have_text("They will renew for two years")
    expect(panel.locator("form.complete-form")).to_have_count(0)
    # The calendar reloaded itself on the activity-changed event: the entry is struck through.
    expect(page.locator(f"#event-{task['id']}")).to_have_class(re.compile(r"\bstatus-completed\b"))
    assert page.evaluate("window.__sameDocument") == "yes"
    assert page.url == f"{live_server}/calendar"

    with live_app.app_context():
        set_tenant(task["organization_id"])
        detail = services.activity_detail(task["id"])
        assert detail.activity.status == "completed"
        assert detail.activity.outcome == "They will renew for two years"
        [follow_up] = detail.follow_ups
        assert follow_up.due_at == datetime(2030, 1, 15, 10, tzinfo=UTC)
        clear_tenant()
        db.session.remove()

    page.watch.assert_clean()
