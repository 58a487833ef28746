"""Sign-in in headless Chromium with hostile `next` targets: the browser stays on our origin,
whether htmx posts the form or the browser does (scripts off)."""

from urllib.parse import urlsplit

import pytest

from tests import test_browser

pytestmark = [pytest.mark.browser, pytest.mark.committed]

browser = test_browser.browser
live_app = test_browser.live_app
live_server = test_browser.live_server
organization = test_browser.organization

# As a link would carry them: the browser decodes none of these before our server does.
HOSTILE_NEXT = [
    "/%09/evil.example/",
    "/%0A/evil.example/",
    "/%5Cevil.example/",
    "%5C/evil.example/",
    "/%09%5Cevil.example/",
    "%2F%2Fevil.example/",
    "https://evil.example/",
]


@pytest.mark.parametrize("scripts", [True, False], ids=["htmx", "plain"])
def test_sign_in_with_a_hostile_next_ends_on_our_origin(
    browser, live_server, organization, scripts
):
    context = browser.new_context(java_script_enabled=scripts)
    elsewhere: list[str] = []

    def only_loopback(route):
        # Nothing may leave the machine: a request elsewhere is noted and never sent.
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        for target in HOSTILE_NEXT:
            page.goto(f"{live_server}/login?next={target}")
            if scripts:
                assert page.evaluate("typeof window.htmx") == "object"
            page.get_by_label("Email").fill(organization["email"])
            page.get_by_label("Password").fill(test_browser.PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{live_server}/")
            assert page.url == f"{live_server}/", target
            assert elsewhere == [], target
            # Sign out through the page, so the next round signs in afresh.
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url(f"{live_server}/login")
    finally:
        context.close()
