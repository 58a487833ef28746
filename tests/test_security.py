"""Sign-in, sessions, CSRF, rate limits and roles."""

import json
import re

import pytest

from tests.conftest import login


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


def _body_csrf_token(html: str) -> str:
    headers = re.search(r"<body hx-headers='([^']+)'", html).group(1)
    return json.loads(headers)["X-CSRFToken"]


def _form_csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_post_without_csrf_token_is_refused(client, make_org, login_as, csrf_on):
    _org, admin = make_org()
    token = _form_csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"email": admin.email, "password": "correct-horse", "csrf_token": token}
    )
    assert response.status_code == 303
    refused = client.post(
        "/admin/users/invite", data={"name": "X", "email": "x@example.com", "role": "sales"}
    )
    assert refused.status_code == 400
    assert "CSRF" in refused.get_data(as_text=True)


def test_htmx_post_with_header_token_passes(client, make_org, csrf_on):
    _org, admin = make_org()
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login",
        data={"email": admin.email, "password": "correct-horse"},
        headers={"HX-Request": "true", "X-CSRFToken": _form_csrf_token(page)},
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/"
    users_page = client.get("/admin/users").get_data(as_text=True)
    response = client.post(
        "/admin/users/invite",
        data={"name": "Hx", "email": "hx@example.com", "role": "support"},
        headers={"HX-Request": "true", "X-CSRFToken": _body_csrf_token(users_page)},
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/admin/users"


def test_an_anonymous_request_opens_no_session(client, csrf_on):
    """A visitor's 404 (a bot, a browser's favicon request) must not leave a session in Redis."""
    response = client.get("/no-such-page")

    assert response.status_code in (302, 404)
    assert "Set-Cookie" not in response.headers
    assert "X-CSRFToken" not in client.get("/login").get_data(as_text=True)


def _session_rows(user) -> list[str]:
    from sqlalchemy import text

    from crm_web.db import tenant_scope
    from crm_web.extensions import db

    with tenant_scope(user.organization_id):
        return list(
            db.session.scalars(
                text("SELECT id FROM user_sessions WHERE user_id = :u"), {"u": user.id}
            )
        )


def test_sign_in_starts_a_new_session_and_sign_out_ends_it(app, client, make_org):
    _org, admin = make_org()
    client.get("/login")
    before = client.get_cookie("session")
    login(client, admin.email)
    after = client.get_cookie("session")
    assert after is not None and (before is None or before.value != after.value)
    assert len(_session_rows(admin)) == 1
    client.post("/logout")
    assert _session_rows(admin) == []
    # A copy of the signed-in cookie no longer signs anyone in.
    client.set_cookie("session", after.value)
    assert client.get("/").status_code == 302


def test_sign_out_ends_only_that_session(app, make_org):
    _org, admin = make_org()
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, admin.email)
    login(phone, admin.email)
    laptop.post("/logout")
    assert laptop.get("/").status_code == 302
    assert phone.get("/").status_code == 200


def test_wrong_password_gives_a_field_error(client, make_org):
    _org, admin = make_org()
    response = client.post("/login", data={"email": admin.email, "password": "nope-nope"})
    assert response.status_code == 422
    assert "Email or password is incorrect." in response.get_data(as_text=True)


def test_inactive_user_cannot_sign_in(client, make_org, make_user, login_as):
    org, admin = make_org()
    user = make_user(org, role="support")
    login_as(admin)
    client.post(
        f"/admin/users/{user.id}",
        data={"name": user.name, "role": "support", "department": "", "skills": ""},
    )
    client.post("/logout")
    response = client.post("/login", data={"email": user.email, "password": "correct-horse"})
    assert response.status_code == 422


def _edit_session(app, client, change) -> None:
    """Sign a changed copy of the client's session cookie, as only a holder of SECRET_KEY can."""
    serializer = app.session_interface.get_signing_serializer(app)
    data = serializer.loads(client.get_cookie("session").value)
    change(data)
    client.set_cookie("session", serializer.dumps(data))


def test_a_deactivated_user_is_signed_out_at_the_next_request(
    client, make_org, make_user, login_as
):
    from crm_web.db import tenant_scope
    from crm_web.extensions import db

    org, _admin = make_org()
    user = make_user(org, role="sales")
    login_as(user)
    assert client.get("/pipeline").status_code == 200
    with tenant_scope(org.id):
        user.is_active = False
        db.session.flush()
    assert client.get("/pipeline").status_code == 302


def test_the_session_organization_scopes_the_user_lookup(app, client, make_org, login_as):
    _org, admin = make_org()
    other, _other_admin = make_org("Other")
    login_as(admin)
    assert client.get("/admin/users").status_code == 200
    # Under another organization's tenant, row security finds no such user.
    _edit_session(app, client, lambda data: data.update(organization_id=other.id))
    assert client.get("/admin/users").status_code == 302


def test_a_session_naming_no_sign_in_signs_nobody_in(app, client, make_org, login_as):
    _org, admin = make_org()
    login_as(admin)
    _edit_session(app, client, lambda data: data.update(session_id="made-up"))
    assert client.get("/").status_code == 302
    _edit_session(app, client, lambda data: data.pop("session_id"))
    assert client.get("/").status_code == 302


def test_a_tampered_cookie_signs_nobody_in(client, make_org, login_as):
    _org, admin = make_org()
    login_as(admin)
    value = client.get_cookie("session").value
    client.set_cookie("session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert client.get("/").status_code == 302


def test_deactivating_a_user_ends_their_sessions(app, client, make_org, make_user, login_as):
    org, admin = make_org()
    user = make_user(org, role="sales")
    theirs = app.test_client()
    login(theirs, user.email)
    login_as(admin)
    form = {"name": user.name, "role": "sales", "department": "", "skills": ""}
    client.post(f"/admin/users/{user.id}", data=form)
    assert _session_rows(user) == []
    # Active again, the user signs in anew: the old cookie stays worthless.
    client.post(f"/admin/users/{user.id}", data={**form, "is_active": "y"})
    assert theirs.get("/").status_code == 302


@pytest.mark.parametrize("role", ["manager", "sales", "support", "marketing"])
def test_admin_pages_are_for_admins(client, make_org, make_user, login_as, role):
    org, _admin = make_org()
    login_as(make_user(org, role=role))
    assert client.get("/").status_code == 200
    for url in ("/admin/users", "/admin/audit", "/admin/system"):
        assert client.get(url).status_code == 403
        fragment = client.get(url, headers={"HX-Request": "true"})
        assert fragment.status_code == 403
        assert fragment.headers["HX-Retarget"] == "#messages"
    assert (
        client.post(
            "/admin/users/invite", data={"name": "X", "email": "x@example.com", "role": "admin"}
        ).status_code
        == 403
    )


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/users")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/admin/users")
    htmx = client.get("/admin/users", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"] == "/login"


def test_next_parameter_cannot_redirect_off_site(client, make_org):
    _org, admin = make_org()
    response = client.post(
        "/login?next=//evil.example/x", data={"email": admin.email, "password": "correct-horse"}
    )
    assert response.headers["Location"] == "/"


def test_api_requires_a_valid_bearer_token(client, make_org):
    assert client.get("/api/v1/me").status_code == 401
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer crm_not-a-token"})
    assert response.status_code == 401
    assert response.json == {
        "error": "Send a valid API token as 'Authorization: Bearer <token>'.",
        "fields": {},
    }
    assert client.get("/api/v1/nothing-here").json["error"]


def test_api_ignores_session_cookies(client, make_org, login_as):
    _org, admin = make_org()
    login_as(admin)
    assert client.get("/api/v1/me").status_code == 401
