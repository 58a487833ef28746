"""Layout in headless Chromium, measured rather than eyeballed: what a screenshot showed broken
once (an email split mid-word, bare selects, calendar titles cut with no tooltip, a fieldset
spilling out of the activity panel, an unstyled fieldset, a chart's top label cut off) stays
fixed. Served like tests/test_browser.py."""

# The browser fixtures are imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

from datetime import UTC, datetime, time

import pytest
from sqlalchemy import select

from crm_web.accounts.models import User
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.leads import services as leads
from tests import factories
from tests.test_browser import _sign_in as sign_in
from tests.test_browser import (  # noqa: F401
    browser,
    live_app,
    live_server,
    organization,
    page,
)

pytestmark = [pytest.mark.browser, pytest.mark.committed]

LONG_EMAIL = "temirhan.camurcuoglu390@example.com.tr"
LONG_SUBJECT = "Proposal review with Fleet renewal 34"


@pytest.fixture
def records(live_app, organization):
    """A ticket of a customer with a long email, a call today, a qualified lead."""
    with live_app.app_context():
        set_tenant(organization["id"])
        admin = db.session.scalar(select(User).where(User.email == organization["email"]))
        set_tenant(organization["id"], admin.id)
        customer = factories.customer(primary_email=LONG_EMAIL, company_name="Demir Ltd.")
        ticket = factories.ticket(
            admin.organization, user=admin, customer_id=customer.id, assignee_id=admin.id
        )
        set_tenant(organization["id"], admin.id)
        noon = datetime.combine(datetime.now(UTC).date(), time(12), UTC)
        activity = factories.activity(subject=LONG_SUBJECT, customer_id=customer.id, due_at=noon)
        lead = factories.lead(company="Carr-Taylor")
        leads.qualify_lead(lead.id, status="qualified", budget="1000")
        db.session.commit()
        clear_tenant()
        return {"ticket": ticket.id, "activity": activity.id, "lead": lead.id}


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None
    return found


def test_the_layout_details_hold(page, live_server, organization, records):
    from playwright.sync_api import expect

    sign_in(page, live_server, organization["email"])

    page.goto(f"{live_server}/tickets/{records['ticket']}")
    email = page.locator("#ticket-header .email")
    expect(email).to_have_text(LONG_EMAIL)
    # On one line at this width, and inside its card.
    assert box(email)["height"] < 30
    assert (
        box(email)["x"] + box(email)["width"]
        <= box(page.locator("#ticket-header"))["x"] + box(page.locator("#ticket-header"))["width"]
    )
    for name in ("status", "assignee_id"):
        select_box = page.locator(f"#ticket-header select[name={name}]")
        assert select_box.evaluate("e => getComputedStyle(e).borderTopLeftRadius") == "6px"

    page.goto(f"{live_server}/calendar")
    event = page.locator(f"#event-{records['activity']}")
    # Cut to two lines in the month cell, whole in its tooltip.
    expect(event).to_have_attribute("title", "12:00 " + LONG_SUBJECT)
    event.click()
    panel = page.locator("#activity-panel")
    follow_up = panel.locator("fieldset.follow-up")
    expect(follow_up).to_be_visible()
    assert box(follow_up)["x"] + box(follow_up)["width"] <= box(panel)["x"] + box(panel)["width"]

    page.goto(f"{live_server}/leads/{records['lead']}/convert")
    fieldset = page.locator("form fieldset").first
    assert fieldset.evaluate("e => getComputedStyle(e).borderTopLeftRadius") == "8px"

    page.goto(f"{live_server}/leads/scoring/analysis")
    chart = page.locator("svg.histogram")
    top = min(box(count)["y"] for count in chart.locator("text.count").all())
    assert top >= box(chart)["y"]
    page.watch.assert_clean()
