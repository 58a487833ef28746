"""Every role through the demo organization in headless Chromium: each page its navigation
shows loads and swaps under our CSP without a console error or a failed request; the global
search by keyboard; the navigation on a phone.

The demo organization is seeded once for the module (crm_web.demo, as `make run` does),
committed, and removed afterwards; one browser, one context per role.
"""

import time
from contextlib import contextmanager

import psycopg
import pytest

from crm_web.demo import DEMO_PASSWORD, DEMO_USERS
from crm_web.permissions import ROLES
from tests import test_browser
from tests.conftest import make_config

pytestmark = [pytest.mark.browser, pytest.mark.committed]

browser = test_browser.browser
EMAILS = {role: email for email, _name, role, _department, _skills in DEMO_USERS}


@pytest.fixture(scope="module")
def demo_server(app, database_url, redis_url, tmp_path_factory):
    """The app as `make run` serves it (dev mailbox and SMS pages, CSRF on) with the demo
    organization, on a loopback port."""
    from crm_web import create_app
    from crm_web.db import clear_tenant
    from crm_web.demo import ensure_demo_organization
    from crm_web.extensions import db

    folder = tmp_path_factory.mktemp("dev")
    (folder / "mail").mkdir()
    (folder / "sms").mkdir()
    live = create_app(
        make_config(
            database_url,
            redis_url,
            WTF_CSRF_ENABLED=True,
            DEV_MAILBOX_DIR=str(folder / "mail"),
            DEV_SMS_DIR=str(folder / "sms"),
            # As a browser keeps static files in production: the walk asks for pages only.
            SEND_FILE_MAX_AGE_DEFAULT=3600,
        )
    )
    with live.app_context():
        assert ensure_demo_organization(customers=80)
        clear_tenant()
        db.session.remove()
    try:
        with test_browser.serve(live) as url:
            yield url
    finally:
        with live.app_context():
            db.engine.dispose()
        # As the server's superuser: row-level security does not apply, the cascade takes the rest.
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(
                "DELETE FROM audit_log WHERE organization_id = "
                "(SELECT id FROM organizations WHERE slug = 'demo')"
            )
            connection.execute("DELETE FROM organizations WHERE slug = 'demo'")


class Problems:
    """Everything a page reported that a user should never cause: console errors, uncaught
    errors, CSP violations, answers of 400 and above and requests that failed (htmx's and
    fetches included); and how many requests are still in flight."""

    def __init__(self, page):
        self.page = page
        self.found: list[str] = []
        self.in_flight = 0
        self.htmx_requests = 0
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self._add(f"uncaught: {exc}"))
        page.on("request", self._request)
        page.on("requestfinished", self._finished)
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.expose_function("reportCspViolation", lambda text: self._add(f"CSP: {text}"))
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => window.reportCspViolation("
            "`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));"
        )

    def _add(self, problem: str) -> None:
        self.found.append(f"{self.page.url}: {problem}")

    def _console(self, message) -> None:
        if message.type == "error":
            self._add(f"console: {message.text}")

    def _request(self, request) -> None:
        self.in_flight += 1
        if request.headers.get("hx-request") == "true":
            self.htmx_requests += 1

    def _finished(self, request) -> None:
        self.in_flight -= 1

    def _failed(self, request) -> None:
        self.in_flight -= 1
        # Leaving a page (or htmx replacing a request it syncs) aborts what was in flight.
        if request.failure != "net::ERR_ABORTED":
            self._add(f"failed: {request.method} {request.url} {request.failure}")

    def _response(self, response) -> None:
        if response.status >= 400:
            self._add(f"HTTP {response.status}: {response.request.method} {response.url}")

    def settle(self, timeout: float = 10) -> None:
        """Wait until no request has been in flight for a moment (htmx's load triggers too)."""
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            if self.in_flight <= 0:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 0.08:
                    return
            else:
                quiet_since = None
            self.page.wait_for_timeout(25)
        raise AssertionError(f"{self.page.url}: requests still in flight after {timeout}s")


# The swap a page offers, tried in order: a filter's select (its next option), a search field
# of the page, a link or button that fetches with htmx; else none (the global search box's
# swap is walked once per role, on the dashboard).
FIND_SWAP = """() => {
  const visible = el => el.offsetParent !== null;
  const main = document.querySelector('main');
  const select = [...main.querySelectorAll('form[hx-get] select, select[hx-get]')].find(visible);
  if (select) return {kind: 'select', id: select.id || select.name};
  const field = [...main.querySelectorAll('input[type=search][hx-get], form[hx-get] input[type=search]')].find(visible);
  if (field) return {kind: 'field', id: field.name};
  const link = [...main.querySelectorAll('a[hx-get], button[hx-get]')].find(visible);
  if (link) { link.dataset.walk = 'swap'; return {kind: 'click'}; }
  return {kind: 'none'};
}"""


def _swap(page, problems: Problems, search: bool = False) -> str:
    """Trigger the page's htmx swap (or, with `search`, the global search box's) and wait for
    it; what was done."""
    found = {"kind": "search"} if search else page.evaluate(FIND_SWAP)
    if found["kind"] == "none":
        return "none"
    before = problems.htmx_requests
    main = page.locator("main")
    if found["kind"] == "select":
        select = main.locator(f"select[name='{found['id']}']").first
        options = select.locator("option").count()
        current = select.evaluate("s => s.selectedIndex")
        select.select_option(index=(current + 1) % options)
    elif found["kind"] == "field":
        main.locator(f"input[name='{found['id']}']").first.fill("an")
    elif found["kind"] == "click":
        main.locator("[data-walk=swap]").click()
    else:
        page.locator("#global-search").fill("an")
    deadline = time.monotonic() + 10
    while problems.htmx_requests == before and time.monotonic() < deadline:
        page.wait_for_timeout(25)
    assert problems.htmx_requests > before, f"{page.url}: {found} sent no htmx request"
    problems.settle()
    return found["kind"]


@contextmanager
def signed_in(browser, base: str, role: str, width: int = 1280, height: int = 900):
    """A page of a new browser context signed in as the demo user of `role`, and its
    Problems; the context closes afterwards."""
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        problems = Problems(page)
        page.goto(f"{base}/login")
        page.get_by_label("Email").fill(EMAILS[role])
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/")
        yield page, problems
    finally:
        context.close()


def test_every_page_of_every_role_is_clean(browser, demo_server):
    walked = {}
    for role in ROLES:
        with signed_in(browser, demo_server, role) as (page, problems):
            links = page.locator("nav.sidebar a").evaluate_all(
                "links => links.map(a => a.getAttribute('href'))"
            )
            walked[role] = {}
            for href in links:
                page.goto(demo_server + href)
                problems.settle()
                walked[role][href] = _swap(page, problems, search=href == "/")
            assert problems.found == [], problems.found
    # Each role walked its own navigation; the dev pages were the admin's alone.
    assert "/dev/mail" in walked["admin"] and "/dev/sms" in walked["admin"]
    assert not any("/dev/" in href for role in ROLES[1:] for href in walked[role])
    assert "/approvals" in walked["manager"] and "/approvals" not in walked["sales"]
    assert walked["sales"]["/customers"] == "select" and walked["admin"]["/"] == "search"
    assert walked["admin"]["/tasks"] == "click" and walked["admin"]["/settings"] == "none"


def test_a_dragged_card_then_a_filter_swap_stays_within_the_csp(browser, demo_server):
    """SortableJS leaves an empty style attribute on the cards it animates; htmx used to copy
    it onto the swapped-in cards (settling `style`), which the CSP refused."""
    with signed_in(browser, demo_server, "sales") as (page, problems):
        page.goto(f"{demo_server}/pipeline")
        problems.settle()
        cards = page.locator("ol.deals").first.locator(".deal")
        card, target = cards.nth(0), cards.nth(1).bounding_box()
        with page.expect_response(lambda r: r.url.split("?")[0].endswith("/move")):
            test_browser._drag(page, card, {**target, "y": target["y"] + target["height"] * 0.6})
        problems.settle()
        assert page.locator("li.deal[style]").count() > 0  # what Sortable leaves behind
        _swap(page, problems)
        assert problems.found == [], problems.found


def test_slash_focuses_the_search_and_the_keyboard_picks_a_result(browser, demo_server):
    from playwright.sync_api import expect

    with signed_in(browser, demo_server, "manager") as (page, problems):
        box = page.locator("#global-search")
        page.keyboard.press("/")
        expect(box).to_be_focused()
        page.keyboard.type("renewal", delay=20)
        results = page.locator("#search-results")
        expect(results).to_be_visible()
        expect(box).to_have_attribute("aria-expanded", "true")
        expect(results.locator(".search-heading").first).to_have_text("Deals")
        page.keyboard.press("ArrowDown")
        first = results.locator("[role=option]").first
        expect(first).to_have_class("search-hit active")
        expect(box).to_have_attribute("aria-activedescendant", first.get_attribute("id"))
        target = first.get_attribute("href")
        page.keyboard.press("Escape")
        expect(results).to_be_hidden()
        page.keyboard.press("ArrowDown")
        expect(results).to_be_visible()
        page.keyboard.press("Enter")
        page.wait_for_url(demo_server + target)
        expect(page.get_by_role("link", name="Pipeline", exact=True)).to_have_attribute(
            "aria-current", "page"
        )
        # Typing `/` into a field types it; elsewhere it jumps to the search.
        page.goto(f"{demo_server}/customers")
        page.locator("main input[name=q]").fill("a/b")
        expect(page.locator("main input[name=q]")).to_have_value("a/b")
        problems.settle()
        assert problems.found == [], problems.found


def test_on_a_phone_the_menu_opens_the_navigation(browser, demo_server):
    from playwright.sync_api import expect

    with signed_in(browser, demo_server, "support", width=390, height=844) as (page, problems):
        menu = page.get_by_role("button", name="Menu")
        navigation = page.get_by_role("navigation", name="Main")
        expect(navigation).to_be_hidden()
        expect(page.locator("#global-search")).to_be_visible()
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        expect(navigation).to_be_visible()
        navigation.get_by_role("link", name="Tickets").click()
        page.wait_for_url(f"{demo_server}/tickets")
        expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
        # Nothing wider than the phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert problems.found == [], problems.found
