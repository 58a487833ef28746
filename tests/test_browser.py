"""The real app in headless Chromium: sign-in, sign-out, an HTMX form swap, all under our CSP.

The app is served on a loopback port from a thread of this process. Browser requests run in
other threads on their own connections, so they cannot see the per-test rolled-back
transaction: these tests commit their data (an organization of their own, deleted afterwards).
"""

import os
import threading
import uuid
from contextlib import contextmanager

import psycopg
import pytest

from tests import factories
from tests.conftest import make_config

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
]
PASSWORD = "browser-password"

pytestmark = [pytest.mark.browser, pytest.mark.committed]


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no system Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def live_app(app, database_url, redis_url):
    """An app of its own (own engine) on the migrated test database, CSRF on as in production."""
    from crm_web import create_app

    live = create_app(make_config(database_url, redis_url, WTF_CSRF_ENABLED=True))
    yield live
    from crm_web.extensions import db

    with live.app_context():
        db.engine.dispose()


@contextmanager
def serve(app):
    """`app` served on a loopback port from a thread of this process; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_server(live_app):
    with serve(live_app) as url:
        yield url


@pytest.fixture
def organization(live_app, database_url):
    """A committed organization with an admin; removed (with its audit trail) afterwards."""
    from crm_web.db import clear_tenant
    from crm_web.onboarding import create_organization

    slug = f"browser-{uuid.uuid4().hex[:8]}"
    name = f"Browser Org {slug[-8:]}"
    with live_app.app_context():
        organization, admin = create_organization(
            name=name,
            slug=slug,
            admin_email=f"admin@{slug}.example",
            admin_name="Ada Admin",
            admin_password=PASSWORD,
        )
        clear_tenant()
    yield {"id": organization.id, "name": name, "slug": slug, "email": admin.email}
    # As the server's superuser: row-level security does not apply, and the cascade takes the rest.
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("DELETE FROM audit_log WHERE organization_id = %s", (organization.id,))
        connection.execute("DELETE FROM organizations WHERE id = %s", (organization.id,))


class Watch:
    """What the page reported: console errors, uncaught errors, CSP violations, htmx requests."""

    def __init__(self, page):
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.csp_violations: list[str] = []
        self.htmx_requests: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("request", self._request)
        page.expose_function("reportCspViolation", lambda text: self.csp_violations.append(text))
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => "
            "window.reportCspViolation("
            "`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));"
        )

    def _request(self, request):
        if request.headers.get("hx-request") == "true":
            self.htmx_requests.append(f"{request.method} {request.url}")

    def assert_clean(self):
        csp_console = [
            text
            for text in self.console_errors
            if "Content Security Policy" in text
            or "Content-Security-Policy" in text
            or "Refused to" in text
        ]
        assert csp_console == [], csp_console
        assert self.csp_violations == [], self.csp_violations
        assert self.page_errors == [], self.page_errors


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.watch = Watch(page)
    yield page
    context.close()


def _path(page) -> str:
    from urllib.parse import urlsplit

    return urlsplit(page.url).path


def _sign_in(page, base_url: str, email: str) -> None:
    from playwright.sync_api import expect

    page.goto(base_url + "/")
    # Not signed in: sent to the login page, which remembers where we were going.
    assert _path(page) == "/login"
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("typeof window.htmx") == "object", "htmx did not load under the CSP"
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base_url + "/")


def test_sign_in_see_dashboard_sign_out(page, live_server, organization):
    from playwright.sync_api import expect

    _sign_in(page, live_server, organization["email"])

    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.locator("header.topbar .who")).to_contain_text(organization["name"])
    expect(page.locator("header.topbar .who")).to_contain_text("Ada Admin")
    # The admin's cards load themselves once the page has painted.
    expect(page.locator("#card-system_health")).to_contain_text("Messages waiting in the outbox")
    # The sign-in form was posted by htmx (which followed HX-Redirect), not by a plain form.
    assert any(
        request.startswith("POST ") and "/login" in request for request in page.watch.htmx_requests
    )
    assert page.title() == "Dashboard · CRM"

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server}/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#messages")).to_contain_text("You are signed out.")
    expect(page.locator("header.topbar .who")).to_have_count(0)

    # The session is gone: the dashboard asks for a sign-in again.
    page.goto(live_server + "/")
    assert _path(page) == "/login"

    page.watch.assert_clean()


def test_invite_form_errors_swap_in_place_then_user_is_listed(page, live_server, organization):
    from playwright.sync_api import expect

    _sign_in(page, live_server, organization["email"])
    page.get_by_role("navigation").get_by_role("link", name="Users").click()
    page.wait_for_url(f"{live_server}/admin/users")
    expect(page.get_by_role("heading", name="Users", level=1)).to_be_visible()
    expect(page.locator("#user-list")).to_contain_text(organization["email"])

    # A marker that survives only as long as the document does.
    page.evaluate("window.__sameDocument = 'yes'")
    form = page.locator("form[hx-post='/admin/users/invite']")
    form.get_by_label("Name").fill("Ivy Invitee")
    # Passes the browser's own type=email check, fails the server's.
    form.get_by_label("Email").fill("ivy@example")
    form.get_by_label("Role").select_option("support")
    with page.expect_response(lambda r: r.url.endswith("/admin/users/invite")) as answer:
        form.get_by_role("button", name="Send invitation").click()
    assert answer.value.status == 422

    error = page.locator("#email-error")
    expect(error).to_have_text("Invalid email address.")
    expect(page.locator("input#email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("input#email")).to_have_value("ivy@example")
    expect(page.locator("input#name")).to_have_value("Ivy Invitee")
    # Swapped in place: same document, same URL, the rest of the page untouched.
    assert page.evaluate("window.__sameDocument") == "yes"
    assert _path(page) == "/admin/users"
    expect(page.get_by_role("heading", name="Users", level=1)).to_be_visible()
    expect(page.locator("form[hx-post='/admin/users/invite']")).to_have_count(1)
    expect(page.locator("#user-list")).not_to_contain_text("Ivy Invitee")

    email = f"ivy@{organization['slug']}.example"
    page.locator("input#email").fill(email)
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("#messages")).to_contain_text(f"Invitation sent to {email}.")
    row = page.locator("#user-list tbody tr", has_text=email)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Ivy Invitee")
    expect(row).to_contain_text("Support")
    expect(row).to_contain_text("invited")
    expect(page.locator("#email-error")).to_have_count(0)

    page.watch.assert_clean()


def _seed_board(live_app, organization) -> dict:
    """Two deals in Qualification and one in Proposal, committed for the browser to see."""
    from datetime import date

    from crm_web.db import clear_tenant, set_tenant
    from crm_web.extensions import db
    from crm_web.pipeline import stages as pipeline_stages

    with live_app.app_context():
        row = db.session.execute(
            db.text("SELECT user_id FROM auth_user_by_email(:e)"), {"e": organization["email"]}
        ).one()
        admin_id = row.user_id
        set_tenant(organization["id"], admin_id)
        customer = factories.customer_rows(organization["id"], 1)[0]
        db.session.commit()
        stages = {stage.name: stage.id for stage in pipeline_stages.list_stages()}

        def create(name, stage, amount):
            return factories.deal(
                customer.id,
                amount,
                name=name,
                expected_close_date=date(2030, 1, 31),
                stage_id=stages[stage],
            ).id

        ids = {
            "stay": create("Stays put", "Qualification", "1000"),
            "move": create("Moves on", "Qualification", "4000"),
            "anchor": create("Already proposed", "Proposal", "500"),
        }
        clear_tenant()
        db.session.remove()
    return {"stages": stages, "ids": ids}


def _drag(page, source, target_box) -> None:
    """Press on `source`, move in small steps to the middle of `target_box`, release."""
    box = source.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    x, y = target_box["x"] + target_box["width"] / 2, target_box["y"] + target_box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2 + 5, box["y"] + box["height"] / 2 + 5, steps=3)
    page.mouse.move(x, y, steps=25)
    page.mouse.up()


def test_drag_a_deal_to_the_next_stage_updates_both_totals(
    page, live_server, organization, live_app
):
    from playwright.sync_api import expect

    board = _seed_board(live_app, organization)
    qualification, proposal = board["stages"]["Qualification"], board["stages"]["Proposal"]
    _sign_in(page, live_server, organization["email"])
    page.get_by_role("navigation").get_by_role("link", name="Pipeline").click()
    page.wait_for_url(f"{live_server}/pipeline")
    assert page.evaluate("typeof window.Sortable") == "function"
    q_total = page.locator(f"#column-total-{qualification}")
    p_total = page.locator(f"#column-total-{proposal}")
    expect(q_total).to_contain_text("2 deals")
    expect(q_total).to_contain_text("5,000.00")
    expect(p_total).to_contain_text("1 deal")
    expect(p_total).to_contain_text("500.00")
    page.evaluate("window.__sameDocument = 'yes'")

    card = page.locator(f"#opportunity-{board['ids']['move']}")
    anchor = page.locator(f"#opportunity-{board['ids']['anchor']}")
    with page.expect_response(lambda r: r.url.split("?")[0].endswith("/move")) as answer:
        # Onto the lower half of the Proposal card: the deal lands below it.
        box = anchor.bounding_box()
        _drag(
            page, card, {**box, "y": box["y"] + box["height"] * 0.6, "height": box["height"] * 0.4}
        )
    assert answer.value.status == 200

    expect(q_total).to_contain_text("1 deal")
    expect(q_total).to_contain_text("1,000.00")
    expect(p_total).to_contain_text("2 deals")
    expect(p_total).to_contain_text("4,500.00")
    expect(
        page.locator(f"ol[data-stage-id='{proposal}'] #opportunity-{board['ids']['move']}")
    ).to_have_count(1)
    assert page.evaluate("window.__sameDocument") == "yes"

    # The server agrees, in the order the user dropped: below the deal that was there.
    page.reload()
    order = page.locator(f"ol[data-stage-id='{proposal}'] .deal").evaluate_all(
        "cards => cards.map(card => card.dataset.id)"
    )
    assert order == [str(board["ids"]["anchor"]), str(board["ids"]["move"])]
    expect(page.locator(f"#column-total-{proposal}")).to_contain_text("4,500.00")
    page.watch.assert_clean()


def test_dropping_on_lost_asks_for_the_reason(page, live_server, organization, live_app):
    from playwright.sync_api import expect

    board = _seed_board(live_app, organization)
    lost = board["stages"]["Closed Lost"]
    _sign_in(page, live_server, organization["email"])
    page.goto(f"{live_server}/pipeline")
    card = page.locator(f"#opportunity-{board['ids']['stay']}")
    column = page.locator(f"ol[data-stage-id='{lost}']")
    _drag(page, card, column.bounding_box())
    dialog = page.locator("#close-dialog")
    expect(dialog).to_be_visible()
    # Cancelling puts the card back where it was; nothing is posted.
    page.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(
        page.locator(
            f"ol[data-stage-id='{board['stages']['Qualification']}'] #opportunity-{board['ids']['stay']}"
        )
    ).to_have_count(1)
    _drag(page, card, column.bounding_box())
    page.get_by_label("Reason").fill("Chose a competitor")
    with page.expect_response(lambda r: r.url.split("?")[0].endswith("/move")) as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.status == 200
    expect(page.locator(f"#column-total-{lost}")).to_contain_text("1 deal")
    page.goto(f"{live_server}/pipeline/opportunities/{board['ids']['stay']}")
    expect(page.locator(".facts")).to_contain_text("Chose a competitor")
    page.watch.assert_clean()


def test_the_dashboard_cards_load_without_errors_and_drill_down(page, live_server, organization):
    from playwright.sync_api import expect

    _sign_in(page, live_server, organization["email"])
    cards = page.locator("#dashboard-grid .dash-card")
    expect(cards.first).to_be_visible()
    count = cards.count()
    assert count >= 3
    # Each card fetched itself after the page painted, and none is still loading.
    expect(page.locator("#dashboard-grid .htmx-indicator-text")).to_have_count(0)
    loaded = [r for r in page.watch.htmx_requests if "/dashboard/cards/" in r]
    assert len(loaded) == count
    expect(page.locator("#card-system_health .figure")).to_have_attribute("data-value", "0")
    assert page.watch.console_errors == []
    page.watch.assert_clean()
    page.locator("#card-system_health").get_by_role("link", name="See the list").click()
    page.wait_for_url(f"{live_server}/admin/system")
