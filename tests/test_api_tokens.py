"""API tokens expire when given a lifetime, stop at revocation, and note their last use at most
once a minute."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from crm_web.accounts import services
from crm_web.accounts.models import ApiToken
from crm_web.db import clear_tenant, tenant_scope
from crm_web.errors import ValidationError
from crm_web.extensions import db


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
        services.revoke_api_token(token_id)
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
