"""The signed-in user comes from the session's snapshot, checked against PostgreSQL on every
request in the tenant set-up's statement: revocation and changes take effect at once."""

from sqlalchemy import event, text

from crm_web.db import tenant_scope
from crm_web.extensions import db
from tests.conftest import login


def statements_of(client, url: str) -> list[str]:
    """The statements SQLAlchemy sent for one request (the tenant set-up goes to the driver)."""
    sent = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return sent


def test_a_request_reads_no_user_row_while_the_snapshot_holds(client, make_org, login_as):
    _org, admin = make_org()
    login_as(admin)
    first = statements_of(client, "/admin/users")
    # The first request after signing in takes the snapshot from the rows...
    assert any("FROM users" in statement and "organizations" in statement for statement in first)
    again = statements_of(client, "/admin/users")
    # ...later ones only read what the page shows (the list of users, not the signed-in one).
    assert len(again) == len(first) - 1


def test_a_new_role_applies_at_the_next_request(client, make_org, make_user):
    org, _admin = make_org()
    user = make_user(org, role="admin")
    login(client, user.email)
    assert client.get("/admin/users").status_code == 200
    with tenant_scope(org.id):
        user.role = "sales"
        db.session.flush()
    assert client.get("/admin/users").status_code == 403
    assert client.get("/pipeline").status_code == 200


def test_a_renamed_organization_shows_at_the_next_request(client, make_org, login_as):
    org, admin = make_org("Before Rename")
    login_as(admin)
    assert "· Before Rename</span>" in client.get("/").get_data(as_text=True)
    with tenant_scope(org.id):
        org.name = "After Rename"
        db.session.flush()
    page = client.get("/").get_data(as_text=True)
    assert "· After Rename</span>" in page and "· Before Rename</span>" not in page


def test_an_ended_sign_in_is_refused_though_its_snapshot_is_intact(app, make_org):
    _org, admin = make_org()
    browser = app.test_client()
    login(browser, admin.email)
    assert browser.get("/").status_code == 200
    cookie = browser.get_cookie("session").value
    # Signed out elsewhere (every sign-in of the user ended, as a password change does).
    with tenant_scope(admin.organization_id):
        db.session.execute(text("DELETE FROM user_sessions WHERE user_id = :u"), {"u": admin.id})
    browser.set_cookie("session", cookie)
    assert browser.get("/").status_code == 302


def test_an_expired_sign_in_is_refused(app, make_org):
    _org, admin = make_org()
    browser = app.test_client()
    login(browser, admin.email)
    assert browser.get("/").status_code == 200
    with tenant_scope(admin.organization_id):
        db.session.execute(
            text(
                "UPDATE user_sessions SET expires_at = now() - interval '1 second' WHERE user_id = :u"
            ),
            {"u": admin.id},
        )
    assert browser.get("/").status_code == 302
