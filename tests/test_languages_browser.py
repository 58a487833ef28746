"""In headless Chromium: a user switches to Turkish on their profile, an admin sets the
organization's currency, and pages speak Turkish and show Turkish amounts."""

import pytest
import test_browser

pytestmark = [pytest.mark.browser, pytest.mark.committed]

# The browser, live server and committed organization of test_browser.py, as fixtures here.
browser = test_browser.browser
live_app = test_browser.live_app
live_server = test_browser.live_server
organization = test_browser.organization
page = test_browser.page


def test_switch_to_turkish_and_see_turkish_formats(page, live_server, organization):
    from playwright.sync_api import expect

    test_browser._sign_in(page, live_server, organization["email"])
    page.locator("header.topbar .who").get_by_role("link", name="Ada Admin").click()
    page.wait_for_url(live_server + "/profile")
    page.get_by_label("Language").select_option("tr")
    page.get_by_role("button", name="Save").click()

    expect(page.locator("#messages")).to_contain_text("Tercihleriniz kaydedildi.")
    assert page.evaluate("document.documentElement.lang") == "tr"
    expect(page.get_by_label("Dil", exact=True)).to_have_value("tr")

    page.goto(live_server + "/admin/settings")
    page.get_by_label("Para birimi").fill("TRY")
    page.get_by_role("button", name="Kaydet").click()
    expect(page.locator("#messages")).to_contain_text("Kuruluşun ayarları kaydedildi.")

    page.get_by_role("link", name="Tahmin").click()
    expect(page.locator(".card.stat .figure").first).to_have_text("₺0,00")
    page.watch.assert_clean()
