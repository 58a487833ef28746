"""One URL, two shapes (page or HTMX fragment); error shapes; security headers; keyset pages."""

import base64
import json

import pytest
from sqlalchemy import select

from crm_web.customers.models import Customer
from crm_web.customers.seeding import seed_customers
from crm_web.db import set_tenant
from crm_web.errors import ValidationError
from crm_web.extensions import db
from crm_web.pagination import decode_cursor, encode_cursor, keyset_page
from crm_web.privacy.models import AuditEntry

HTMX = {"HX-Request": "true"}


def _vary(response) -> set[str]:
    return {
        value.strip().lower()
        for value in response.headers.get("Vary", "").split(",")
        if value.strip()
    }


@pytest.fixture
def admin_client(client, make_org, login_as):
    organization, admin = make_org(name="Render Co")
    login_as(admin)
    return client, organization, admin


# --- page or fragment ---------------------------------------------------------------------


def test_page_is_full_html_and_htmx_gets_the_fragment(admin_client):
    client, organization, _admin = admin_client

    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "<html" in html and "</html>" in html and "<head>" in html
    assert "<h1>Dashboard</h1>" in html and 'id="dashboard-grid"' in html
    assert organization.name in html  # the top bar
    assert "hx-request" in _vary(page)

    fragment = client.get("/", headers=HTMX)
    assert fragment.status_code == 200
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and "<head" not in body and "<body" not in body
    assert body.lstrip().startswith('<div id="dashboard-grid"')
    assert "<h1>Dashboard</h1>" not in body  # only the named block, not the page around it
    assert "hx-request" in _vary(fragment)
    assert fragment.mimetype == "text/html"


def test_boosted_navigation_gets_the_whole_page(admin_client):
    client, _organization, _admin = admin_client
    response = client.get("/", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert response.status_code == 200
    assert "<html" in response.get_data(as_text=True)
    assert "hx-request" in _vary(response)


def test_each_page_renders_its_own_block(admin_client):
    client, _organization, admin = admin_client
    page = client.get("/admin/users").get_data(as_text=True)
    assert "<html" in page and "<h1>Users</h1>" in page and "Invite a user" in page

    fragment = client.get("/admin/users", headers=HTMX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<table class="table" id="user-list">')
    assert admin.email in fragment
    assert "Invite a user" not in fragment and "<html" not in fragment


def test_form_errors_come_back_as_the_form_fragment_with_422(admin_client):
    client, _organization, _admin = admin_client
    response = client.post(
        "/admin/users/invite",
        data={"name": "Bad", "email": "bad@example", "role": "sales"},
        headers=HTMX,
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith("<form") and "<html" not in body
    assert 'class="field has-error"' in body and 'aria-invalid="true"' in body
    assert "hx-request" in _vary(response)


def test_fragments_can_use_the_pages_imported_macros(client, make_org):
    """Blocks call macros the page imports at its top; a fragment must have them too."""
    _organization, admin = make_org()
    response = client.post(
        "/login", data={"email": admin.email, "password": "wrong-password"}, headers=HTMX
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<form method="post" id="login-form"')
    assert "<html" not in body
    assert (
        '<small class="error" id="password-error">Email or password is incorrect.</small>' in body
    )


def test_anonymous_htmx_request_is_sent_to_login(client):
    response = client.get("/", headers=HTMX)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login"
    page = client.get("/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")


# --- errors -------------------------------------------------------------------------------


def test_404_is_a_full_page_for_browsers(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<html" in html and "404 · Not Found" in html
    assert 'role="alert"' in html
    assert "HX-Retarget" not in response.headers
    assert "hx-request" in _vary(response)


def test_404_for_htmx_is_an_alert_retargeted_to_messages(client):
    response = client.get("/no/such/page", headers=HTMX)
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "<html" not in body and "<h1>" not in body
    assert body.lstrip().startswith('<div class="alert alert-error" role="alert">')
    assert "Not Found" in body
    assert response.headers["HX-Retarget"] == "#messages"
    assert response.headers["HX-Reswap"] == "afterbegin"
    assert "hx-request" in _vary(response)


def test_403_for_htmx_is_retargeted_too(client, make_org, make_user, login_as):
    organization, _admin = make_org()
    login_as(make_user(organization, role="sales"))
    page = client.get("/admin/users")
    assert page.status_code == 403 and "<html" in page.get_data(as_text=True)
    fragment = client.get("/admin/users", headers=HTMX)
    assert fragment.status_code == 403
    assert fragment.headers["HX-Retarget"] == "#messages"
    assert "<html" not in fragment.get_data(as_text=True)


def test_api_errors_are_json(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "fields"} and body["error"] and body["fields"] == {}

    # Even when the caller says it is HTMX: the API never answers with HTML.
    response = client.get("/api/v1/no-such-thing", headers=HTMX)
    assert response.status_code == 404 and response.mimetype == "application/json"
    assert "HX-Retarget" not in response.headers

    unauthorized = client.get("/api/v1/me")
    assert unauthorized.status_code == 401
    assert unauthorized.mimetype == "application/json"
    assert "Bearer" in unauthorized.get_json()["error"]
    assert unauthorized.headers["WWW-Authenticate"].startswith("Bearer")


def test_method_not_allowed_keeps_allow_header(client):
    response = client.get("/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    api = client.delete("/api/v1/me")
    assert api.status_code == 405 and api.mimetype == "application/json"


# --- security headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, headers",
    [("/login", {}), ("/login", HTMX), ("/no/such/page", {}), ("/api/v1/me", {}), ("/health", {})],
)
def test_security_headers_on_every_response(client, path, headers):
    response = client.get(path, headers=headers)
    csp = response.headers["Content-Security-Policy"]
    directives = {part.strip().split()[0]: part.strip() for part in csp.split(";") if part.strip()}
    assert directives["default-src"] == "default-src 'self'"
    # No inline code or eval: htmx runs from a file with allowEval off.
    assert directives["script-src"] == "script-src 'self'"
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    # Plain-HTTP deployments (the test config) must not pin HSTS.
    assert "Strict-Transport-Security" not in response.headers


def test_pages_use_no_inline_scripts_or_styles(admin_client):
    """What the CSP forbids must not be in our own pages (it would silently break in browsers)."""
    client, _organization, _admin = admin_client
    for path in ("/login", "/", "/admin/users", "/admin/audit", "/no/such/page"):
        html = client.get(path).get_data(as_text=True)
        assert "<style" not in html, path
        assert " style=" not in html, path
        for tag in html.split("<script")[1:]:
            assert tag.lstrip().startswith("src="), (path, tag[:80])


# --- keyset pagination --------------------------------------------------------------------


@pytest.fixture
def seeded(make_org):
    organization, _admin = make_org(name="Pages")
    set_tenant(organization.id)
    seed_customers(53, seed=7)
    return organization


def _walk(stmt, columns, *, limit: int, descending: bool):
    seen, cursors, cursor = [], [], None
    while True:
        page = keyset_page(stmt, columns, cursor=cursor, limit=limit, descending=descending)
        assert len(page.items) <= limit
        seen.extend(page.items)
        if page.next_cursor is None:
            return seen, cursors
        assert page.items, "a page with a next cursor must not be empty"
        cursors.append(page.next_cursor)
        cursor = page.next_cursor
        assert len(cursors) < 1000, "pagination does not terminate"


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize(
    "columns",
    [
        (Customer.id,),
        # Many ties in the first column, broken by the id.
        (Customer.lifecycle_stage, Customer.id),
        # A datetime key (every row has the same created_at: one transaction) and a date key.
        (Customer.created_at, Customer.id),
        (Customer.birth_date, Customer.id),
    ],
    ids=["id", "stage+id", "created_at+id", "birth_date+id"],
)
def test_keyset_walk_returns_every_row_once_in_order(seeded, columns, descending):
    stmt = select(Customer).where(Customer.organization_id == seeded.id)
    expected_order = [c.desc() if descending else c.asc() for c in columns]
    expected = list(db.session.scalars(stmt.order_by(*expected_order)))
    assert len(expected) == 53

    seen, cursors = _walk(stmt, columns, limit=5, descending=descending)

    assert [c.id for c in seen] == [c.id for c in expected]
    assert len({c.id for c in seen}) == 53
    assert len(cursors) == 10  # 53 rows in pages of 5: ten full pages with a cursor, then 3 rows


def test_keyset_exact_multiple_has_no_empty_last_page(seeded):
    stmt = select(Customer).where(
        Customer.organization_id == seeded.id, Customer.customer_code <= "CUS-000050"
    )
    seen, cursors = _walk(stmt, (Customer.id,), limit=10, descending=False)
    assert len(seen) == 50 and len(cursors) == 4


def test_keyset_over_the_audit_log_through_the_page(admin_client):
    client, organization, _admin = admin_client
    set_tenant(organization.id)
    for index in range(1, 10):
        seed_customers(1, seed=index)  # one audit entry each
    entries = list(
        db.session.scalars(
            select(AuditEntry.id)
            .where(AuditEntry.organization_id == organization.id)
            .order_by(AuditEntry.id.desc())
        )
    )
    assert len(entries) >= 11  # the organization, its admin, nine seeds

    seen, cursors = _walk(
        select(AuditEntry).where(AuditEntry.organization_id == organization.id),
        (AuditEntry.id,),
        limit=3,
        descending=True,
    )
    assert [entry.id for entry in seen] == entries

    # The page's "load more" row carries the same cursor and returns the next rows as a fragment.
    response = client.get(f"/admin/audit?cursor={cursors[0]}", headers=HTMX)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body and "<table" not in body
    assert body.count("<tr>") == min(50, len(entries) - 3)


def test_cursor_round_trips_its_types():
    import datetime as dt

    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    cursor = encode_cursor([moment, dt.date(1990, 5, 17), "lead", 42])
    assert "=" not in cursor  # safe in a query string without escaping
    values = decode_cursor(
        cursor, (Customer.created_at, Customer.birth_date, Customer.lifecycle_stage, Customer.id)
    )
    assert values == [moment, dt.date(1990, 5, 17), "lead", 42]


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


GARBAGE_CURSORS = {
    "not base64": "garbage!!",
    "bad padding": "a",
    "not json": _b64("{not json"),
    "not a list": _b64(json.dumps({"id": 1})),
    "wrong length": _b64(json.dumps([1, 2])),
    "wrong type": _b64(json.dumps(["abc"])),
    "object value": _b64(json.dumps([{"a": 1}])),
    "infinity": _b64("[Infinity]"),
    "huge float": _b64("[1e400]"),
    "deep nesting": _b64("[" * 5000 + "]" * 5000),
}


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS.values(), ids=GARBAGE_CURSORS.keys())
def test_garbage_cursor_is_a_validation_error(seeded, cursor):
    with pytest.raises(ValidationError) as caught:
        keyset_page(select(Customer), (Customer.id,), cursor=cursor, limit=5)
    assert caught.value.status == 422
    assert "cursor" in caught.value.fields


def test_garbage_cursor_in_a_page_url_is_422(admin_client):
    client, _organization, _admin = admin_client
    response = client.get("/admin/audit?cursor=garbage")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and "The page cursor is not valid." in html

    response = client.get("/admin/audit?cursor=" + GARBAGE_CURSORS["infinity"], headers=HTMX)
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#messages"
    assert "The page cursor is not valid." in response.get_data(as_text=True)
