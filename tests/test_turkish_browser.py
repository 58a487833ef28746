"""In headless Chromium, a user whose language is Turkish: the dashboard, the customer list, a
customer's 360 page and the segments page speak Turkish, amounts read `₺60.000,00`, a search
typed in Turkish capitals finds the lower-case city, and no page logs a console error. Served
like tests/test_browser.py (committed data in an organization of its own)."""

# The browser fixtures are imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

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
def turkish(live_app, organization):
    """The organization in Turkish lira, its admin reading Turkish, and three customers: two in
    İstanbul (written in lower case), one in Ankara."""
    from crm_web.accounts.models import Organization, User
    from crm_web.customers.services import create_customer
    from crm_web.db import atomic, clear_tenant, set_tenant
    from crm_web.extensions import db

    with live_app.app_context():
        set_tenant(organization["id"])
        org = db.session.get(Organization, organization["id"])
        org.currency = "TRY"
        admin = db.session.query(User).filter_by(email=organization["email"]).one()
        admin.locale = "tr"

        @atomic
        def customers():
            return [
                create_customer(values)
                for values in (
                    {
                        "first_name": "Ayşe",
                        "last_name": "Yılmaz",
                        "city": "istanbul",
                        "annual_revenue": "60000",
                    },
                    {"first_name": "Işıl", "last_name": "Öztürk", "city": "istanbul"},
                    {"first_name": "Çağrı", "last_name": "Şahin", "city": "Ankara"},
                )
            ]

        ayse = customers()[0]
        db.session.commit()
        ids = {"ayse": ayse.id}
        clear_tenant()
    return {**organization, **ids}


def test_a_turkish_user_walks_the_main_pages(page, live_server, turkish):
    from playwright.sync_api import expect

    console_errors: list[str] = []
    page.on(
        "console", lambda message: message.type == "error" and console_errors.append(message.text)
    )

    sign_in(page, live_server, turkish["email"])
    assert page.evaluate("document.documentElement.lang") == "tr"
    expect(page.get_by_role("button", name="Çıkış yap")).to_be_visible()
    sidebar = page.locator("#sidebar")
    expect(sidebar.get_by_role("link", name="Müşteriler")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Segmentler")).to_be_visible()

    sidebar.get_by_role("link", name="Müşteriler").click()
    page.wait_for_url(f"{live_server}/customers")
    expect(page.get_by_role("heading", name="Müşteriler", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Yeni müşteri")).to_be_visible()
    expect(page.locator("#customer-count")).to_contain_text("3 müşteri eşleşiyor.")

    # Turkish capitals: "İSTANBUL" folds to the "istanbul" the customers were saved with, and
    # "IŞIL" to "Işıl" (dotless I), not to "işil".
    page.get_by_label("Şehir").fill("İSTANBUL")
    rows = page.locator("#customer-rows tr[id^='customer-']")
    expect(rows).to_have_count(2)
    expect(page.locator("#customer-rows")).to_contain_text("Ayşe Yılmaz")
    expect(page.locator("#customer-rows")).to_contain_text("Işıl Öztürk")
    expect(page.locator("#customer-rows")).not_to_contain_text("Çağrı Şahin")
    page.get_by_role("searchbox", name="Ara").fill("IŞIL")
    expect(rows).to_have_count(1)
    expect(page.locator("#customer-rows")).to_contain_text("Işıl Öztürk")
    page.get_by_role("searchbox", name="Ara").fill("")
    expect(rows).to_have_count(2)

    page.get_by_role("link", name="Ayşe Yılmaz").click()
    page.wait_for_url(f"{live_server}/customers/{turkish['ayse']}")
    profile = page.locator("dl", has_text="Yıllık ciro")
    expect(profile).to_contain_text("₺60.000,00")
    main = page.locator("main")
    for text in ("Zaman çizelgesi", "Notlar", "Belgeler", "Etkileşim puanı", "Not ekle"):
        expect(main).to_contain_text(text)
    for english in ("Annual revenue", "Timeline", "Add note", "Engagement"):
        expect(main).not_to_contain_text(english)

    sidebar.get_by_role("link", name="Segmentler").click()
    page.wait_for_url(f"{live_server}/segments")
    expect(page.get_by_role("link", name="Yeni segment")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Henüz segment yok.")

    page.watch.assert_clean()
    assert console_errors == []
