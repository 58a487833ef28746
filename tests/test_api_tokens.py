"""API tokens expire when given a lifetime, stop at revocation, and note their last use at most
once a minute; users make, name and revoke their own on their profile, admins see and revoke
the organization's."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from crm_web.accounts import services
from crm_web.accounts.models import ApiToken
from crm_web.db import clear_tenant, set_tenant, tenant_scope
from crm_web.errors import NotFound, ValidationError
from crm_web.extensions import db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def token(make_org):
    organization, admin = make_org()
    with tenant_scope(organization.id, admin.id):
        token, raw = services.create_api_token(admin, "Test", expires_days=30)
    clear_tenant()
    return organization.id, token.id, raw


def _me(app, client, raw):
    # Each request in its own app context, as in production (Flask-Login keeps its user in g).
    with app.app_context():
        return client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})


def _set(organization_id, token_id, **values):
    with tenant_scope(organization_id):
        db.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(**values))
        db.session.flush()


def _stored(organization_id, token_id) -> ApiToken:
    with tenant_scope(organization_id):
        db.session.expire_all()
        return db.session.scalar(select(ApiToken).where(ApiToken.id == token_id))


def test_a_token_with_a_lifetime_works_until_it_expires(app, client, token):
    organization_id, token_id, raw = token
    stored = _stored(organization_id, token_id)
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs(stored.expires_at - expected) < timedelta(minutes=1)
    assert _me(app, client, raw).status_code == 200

    _set(organization_id, token_id, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    response = _me(app, client, raw)
    assert response.status_code == 401
    assert response.json == {"error": "This API token has expired; create a new one.", "fields": {}}
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_revoked_token_no_longer_authenticates(app, client, token):
    organization_id, token_id, raw = token
    assert _me(app, client, raw).status_code == 200
    with tenant_scope(organization_id):
        owner = db.session.scalar(select(ApiToken).where(ApiToken.id == token_id)).user
        services.revoke_api_token(token_id, acting_user=owner)
    clear_tenant()
    response = _me(app, client, raw)
    assert response.status_code == 401
    assert response.json["error"].startswith("Send a valid API token")


def test_last_use_is_written_at_most_once_a_minute(app, client, token):
    organization_id, token_id, raw = token
    assert _stored(organization_id, token_id).last_used_at is None
    assert _me(app, client, raw).status_code == 200
    first = _stored(organization_id, token_id).last_used_at
    assert first is not None

    # Used again within the minute: nothing is written.
    recent = datetime.now(UTC) - timedelta(seconds=30)
    _set(organization_id, token_id, last_used_at=recent)
    _me(app, client, raw)
    assert _stored(organization_id, token_id).last_used_at == recent

    # Past the minute: the use is written again.
    stale = datetime.now(UTC) - timedelta(minutes=2)
    _set(organization_id, token_id, last_used_at=stale)
    _me(app, client, raw)
    assert _stored(organization_id, token_id).last_used_at > stale + timedelta(minutes=1)


def test_a_lifetime_is_whole_days(make_org):
    _organization, admin = make_org()
    with pytest.raises(ValidationError) as refused:
        services.create_api_token(admin, "Bad", expires_days=0)
    assert "expires_days" in refused.value.fields


def test_the_cli_makes_a_token_that_expires(app, make_org):
    organization, admin = make_org()
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["crm", "create-token", "--email", admin.email, "--expires-days", "7"]
    )
    assert result.exit_code == 0, result.output
    clear_tenant()
    with tenant_scope(organization.id):
        [stored] = db.session.scalars(
            select(ApiToken).where(ApiToken.organization_id == organization.id)
        )
    assert abs(stored.expires_at - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
    refused = runner.invoke(
        args=["crm", "create-token", "--email", admin.email, "--expires-days", "0"]
    )
    assert refused.exit_code == 2


# -- made, named and revoked by their owners; seen and revoked by admins ------------------------


@pytest.fixture
def people(make_org, make_user):
    """An organization in Istanbul with its admin and two sales reps, made the tenant."""
    organization, admin = make_org(timezone="Europe/Istanbul")
    ana, ben = (make_user(organization, role="sales", name=name) for name in ("Ana", "Ben"))
    set_tenant(organization.id, admin.id)
    return organization, admin, ana, ben


def test_a_token_needs_a_name_and_an_expiry_after_today(people):
    _organization, _admin, ana, _ben = people
    istanbul_today = datetime.now(ZoneInfo("Europe/Istanbul")).date()
    with pytest.raises(ValidationError) as refused:
        services.create_api_token(ana, "  ", expires_on=istanbul_today)
    assert refused.value.fields == {
        "name": "Name the token after what will use it.",
        "expires_on": "Choose a day after today.",
    }
    with pytest.raises(ValidationError) as refused:
        services.create_api_token(ana, "x" * 101)
    assert refused.value.fields == {"name": "Keep the name under 100 characters."}
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0

    # It works through the day before: it stops as that day begins in the organization's zone.
    day = istanbul_today + timedelta(days=3)
    token, raw = services.create_api_token(ana, " Export job ", expires_on=day)
    assert token.name == "Export job" and raw.startswith(token.prefix) and len(raw) > 40
    assert token.expires_at == datetime(
        day.year, day.month, day.day, tzinfo=ZoneInfo("Europe/Istanbul")
    )
    assert token.token_hash != raw and raw not in token.prefix


def test_owners_revoke_their_own_tokens_and_admins_anyones(people):
    _organization, admin, ana, ben = people
    anas, _ = services.create_api_token(ana, "Ana's script")
    bens, _ = services.create_api_token(ben, "Ben's sync")
    services.create_api_token(admin, "Admin's")
    assert [t.name for t in services.list_api_tokens(user_id=ana.id).items] == ["Ana's script"]
    assert [t.name for t in services.list_api_tokens().items] == [
        "Admin's",
        "Ben's sync",
        "Ana's script",
    ]

    # Another rep's token is not Ana's to see or revoke.
    with pytest.raises(NotFound):
        services.revoke_api_token(bens.id, acting_user=ana)
    assert services.revoke_api_token(anas.id, acting_user=ana).revoked_at is not None
    assert services.revoke_api_token(bens.id, acting_user=admin).revoked_at is not None
    # Revoked tokens leave the lists.
    assert [t.name for t in services.list_api_tokens().items] == ["Admin's"]
    assert services.list_api_tokens(user_id=ana.id).items == []


def test_a_user_makes_and_revokes_a_token_on_the_profile_page(app, client, people, login_as):
    organization, _admin, ana, ben = people
    bens, _ = services.create_api_token(ben, "Ben sync")
    login_as(ana)
    page = client.get("/profile").get_data(as_text=True)
    assert "You have no API tokens." in page and "Ben sync" not in page

    refused = client.post(
        "/profile/tokens", data={"name": "", "expires_on": "2001-01-01"}, headers=HTMX
    )
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert 'id="name-error"' in body and "Name the token after what will use it." in body
    assert 'id="expires_on-error"' in body and "Choose a day after today." in body
    bad_date = client.post(
        "/profile/tokens", data={"name": "X", "expires_on": "soon"}, headers=HTMX
    )
    assert bad_date.status_code == 422 and 'id="expires_on-error"' in bad_date.get_data(
        as_text=True
    )

    made = client.post("/profile/tokens", data={"name": "Reporting"}, headers=HTMX)
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    body = made.get_data(as_text=True)
    raw = re.search(r'readonly value="(crm_[^"]+)"', body).group(1)
    assert "shown this once" in body and "Reporting" in body
    # The token works, as Ana; the page shows it again without its value, used now.
    assert _me(app, client, raw).json["user"]["email"] == ana.email
    page = client.get("/profile").get_data(as_text=True)
    assert raw not in page and raw[:12] in page and "Reporting" in page
    set_tenant(organization.id)
    [token] = services.list_api_tokens(user_id=ana.id).items
    assert token.last_used_at is not None

    # Someone else's token is a 404; her own goes, and no longer works.
    assert client.post(f"/profile/tokens/{bens.id}/revoke", headers=HTMX).status_code == 404
    revoked = client.post(f"/profile/tokens/{token.id}/revoke", headers=HTMX)
    assert "The token Reporting is revoked." in revoked.get_data(as_text=True)
    assert "You have no API tokens." in revoked.get_data(as_text=True)
    assert _me(app, client, raw).status_code == 401


def test_admins_see_and_revoke_the_organizations_tokens(app, client, people, login_as):
    organization, admin, ana, _ben = people
    anas, raw = services.create_api_token(ana, "Ana script")
    login_as(ana)
    assert client.get("/admin/api-tokens").status_code == 403
    assert client.post(f"/admin/api-tokens/{anas.id}/revoke").status_code == 403
    client.post("/logout")

    login_as(admin)
    page = client.get("/admin/api-tokens").get_data(as_text=True)
    assert "Ana script" in page and ana.email in page and anas.prefix in page
    row = client.post(f"/admin/api-tokens/{anas.id}/revoke", headers=HTMX).get_data(as_text=True)
    assert row.strip().startswith(f'<tr id="api-token-{anas.id}">') and "revoked" in row
    assert _me(app, client, raw).status_code == 401
    assert "Ana script" not in client.get("/admin/api-tokens").get_data(as_text=True)
