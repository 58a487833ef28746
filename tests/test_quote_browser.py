"""In headless Chromium, under the CSP: a seller writes a quote, a manager approves it, the seller
sends it to the customer and opens the printable quote and its PDF. Served like
tests/test_browser.py; screenshots go to $QUOTE_SCREENSHOTS when it is set."""

# The browser fixtures are imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from crm_web.accounts import company
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.outbox.models import OutboxMessage
from crm_web.pipeline import quotes
from tests import factories
from tests.quote_helpers import COMPANY, TURKISH_CUSTOMER
from tests.test_browser import (  # noqa: F401
    PASSWORD,
    browser,
    live_app,
    live_server,
    organization,
    page,
)
from tests.test_browser import _sign_in as sign_in

pytestmark = [pytest.mark.browser, pytest.mark.committed]


@pytest.fixture(scope="module", autouse=True)
def upload_dir(tmp_path_factory):
    """The kept PDFs of the live app go to a folder of this module (set before the app is made)."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("uploads")
        patch.setenv("UPLOAD_DIR", str(folder))
        yield folder


@pytest.fixture
def team(live_app, organization):
    """A seller and a manager; company details; a deal for a customer with a Turkish name."""
    with live_app.app_context():
        org = SimpleNamespace(id=organization["id"])
        seller = factories.user(org, role="sales", password=PASSWORD, name="Sid Seller")
        manager = factories.user(org, role="manager", password=PASSWORD, name="Meg Manager")
        set_tenant(organization["id"], seller.id)
        company.update_company(**COMPANY)
        quotes.update_settings(
            quote_approval_threshold="1000",
            default_tax_rate="20",
            quote_terms="Payment within 30 days of the invoice. Delivery in two weeks.",
        )
        customer = factories.customer(**TURKISH_CUSTOMER)
        deal = factories.deal(customer.id, "5000", name="Office roll-out", currency="TRY")
        db.session.commit()
        clear_tenant()
        return {"seller": seller.email, "manager": manager.email, "deal_id": deal.id}


def shot(page, name: str) -> None:
    folder = os.environ.get("QUOTE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{folder}/{name}.png", full_page=True)


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/login.*"))


def test_write_approve_send_and_print_a_quote(page, live_app, live_server, organization, team):
    from playwright.sync_api import expect

    sign_in(page, live_server, team["seller"])
    page.goto(f"{live_server}/pipeline/opportunities/{team['deal_id']}")
    page.get_by_role("link", name="New quote").click()
    page.get_by_label("Title").fill("Office roll-out, phase 1")
    page.get_by_label("Line 1 product").fill("Kağıt A4 (koli)")
    page.get_by_label("Line 1 quantity").fill("200")
    page.get_by_label("Line 1 unit price").fill("12.50")
    page.get_by_label("Line 2 product").fill("Kurulum ve eğitim")
    page.get_by_label("Line 2 quantity").fill("2.5")
    page.get_by_label("Line 2 unit price").fill("1000")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(rf"{re.escape(live_server)}/quotes/\d+$"))
    quote_url = page.url
    items = page.locator("#quote-items")
    expect(items).to_contain_text("200")
    expect(items).to_contain_text("2.5")
    expect(items).not_to_contain_text("E+")
    expect(page.locator("#quote-document")).to_contain_text("Çağrı Işık")
    expect(page.locator("#quote-total")).to_have_text("TRY\u00a06,000.00")
    shot(page, "1-sales-draft")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator("#quote-status")).to_have_text("pending approval")
    expect(page.get_by_role("button", name="Send to customer")).to_have_count(0)
    shot(page, "2-sales-pending")
    page.watch.assert_clean()
    sign_out(page)

    sign_in(page, live_server, team["manager"])
    page.goto(quote_url)
    page.get_by_label("Note").fill("Fine for phase 1.")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#quote-status")).to_have_text("approved")
    shot(page, "3-manager-approved")
    sign_out(page)

    sign_in(page, live_server, team["seller"])
    page.goto(quote_url)
    page.get_by_role("button", name="Send to customer").click()
    expect(page.locator("#messages")).to_contain_text(
        "is on its way to cagri@isik.example, with the PDF attached."
    )
    expect(page.locator("#quote-status")).to_have_text("sent")
    expect(page.locator("#quote-emails")).to_contain_text("cagri@isik.example")
    expect(page.get_by_role("button", name="Email again")).to_be_visible()
    shot(page, "4-sales-sent")

    with page.expect_download() as download:
        page.locator("#quote-pdf").click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert download.value.suggested_filename.endswith("-v1.pdf")

    page.get_by_role("link", name="Printable version").click()
    expect(page.locator("#quote-bill-to")).to_contain_text("Atatürk Bulvarı 12/3")
    expect(page.locator("#quote-document")).to_contain_text("Tax number: 1234567890")
    expect(page.locator("#quote-document")).to_contain_text("Payment within 30 days")
    expect(page.locator(".quote-signatures")).to_contain_text("Accepted for Çağrı Işık")
    shot(page, "5-printable")
    page.watch.assert_clean()

    with live_app.app_context():
        set_tenant(organization["id"])
        [message] = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "quote")
        ).all()
        assert (message.to_address, message.status) == ("cagri@isik.example", "queued")
        clear_tenant()
