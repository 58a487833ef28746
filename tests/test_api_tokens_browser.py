"""API tokens in headless Chromium, under the CSP: a user makes one on the profile page (a field
error first), sees it once, uses it, and revokes it; an admin finds it on the organization's list."""

import json
import urllib.error
import urllib.request

import pytest

from tests import test_browser

pytestmark = [pytest.mark.browser, pytest.mark.committed]

# The browser, live server and committed organization of test_browser.py, as fixtures here.
browser = test_browser.browser
live_app = test_browser.live_app
live_server = test_browser.live_server
organization = test_browser.organization
page = test_browser.page
_sign_in = test_browser._sign_in


def _me(live_server: str, raw: str) -> int:
    request = urllib.request.Request(
        f"{live_server}/api/v1/me", headers={"Authorization": f"Bearer {raw}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["user"]["name"] == "Ada Admin"
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_make_see_once_use_and_revoke_a_token(page, live_server, organization):
    from playwright.sync_api import expect

    _sign_in(page, live_server, organization["email"])
    page.locator("header.topbar .who").get_by_role("link", name="Ada Admin").click()
    page.wait_for_url(f"{live_server}/profile")
    tokens = page.locator("#api-tokens")
    expect(tokens).to_contain_text("You have no API tokens.")

    page.evaluate("window.__sameDocument = 'yes'")
    tokens.get_by_label("Expires on (optional)").fill("2001-01-01")
    tokens.get_by_role("button", name="Create token").click()
    expect(page.locator("#name-error")).to_have_text("Name the token after what will use it.")
    expect(page.locator("#expires_on-error")).to_have_text("Choose a day after today.")

    page.locator("#api-tokens").get_by_label("Name").fill("Nightly export")
    page.locator("#api-tokens").get_by_label("Expires on (optional)").fill("")
    page.locator("#api-tokens").get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_contain_text("shown this once")
    raw = page.locator("#new-token input").input_value()
    assert raw.startswith("crm_")
    assert page.evaluate("window.__sameDocument") == "yes"
    row = page.locator("#api-token-list tr", has_text="Nightly export")
    expect(row).to_contain_text(raw[:12])
    last_used, expires = row.locator("td").nth(3), row.locator("td").nth(4)
    expect(last_used).to_have_text("Never")
    expect(expires).to_have_text("Never")
    assert _me(live_server, raw) == 200

    # Gone from the page once it is left; the list now shows its last use.
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)
    expect(last_used.locator("time")).to_have_count(1)

    # An admin sees it among the organization's tokens.
    page.goto(f"{live_server}/admin/users")
    page.get_by_role("link", name="API tokens").click()
    page.wait_for_url(f"{live_server}/admin/api-tokens")
    expect(page.locator("#organization-tokens")).to_contain_text("Nightly export")
    expect(page.locator("#organization-tokens")).to_contain_text("Ada Admin")

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#organization-tokens tr", has_text="Nightly export").get_by_role(
        "button", name="Revoke"
    ).click()
    expect(page.locator("#organization-tokens tr", has_text="Nightly export")).to_contain_text(
        "revoked"
    )
    assert _me(live_server, raw) == 401
    page.goto(f"{live_server}/profile")
    expect(page.locator("#api-tokens")).to_contain_text("You have no API tokens.")
    page.watch.assert_clean()
