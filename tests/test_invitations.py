"""Inviting an address that has an account in another organization answers as inviting a new
one would, and creates nothing: an admin cannot probe other organizations' users."""

from sqlalchemy import select
from worker_fixtures import queued

from crm_web.accounts.models import User
from crm_web.db import tenant_scope
from crm_web.extensions import db


def _invite(client, email: str, htmx: bool = False):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(
        "/admin/users/invite",
        data={"name": "Max Manager", "email": email, "role": "manager"},
        headers=headers,
    )


def _users_named(organization_id: int, email: str) -> list[User]:
    with tenant_scope(organization_id):
        return list(
            db.session.scalars(
                select(User).where(User.organization_id == organization_id, User.email == email)
            )
        )


def test_an_address_of_another_organization_is_answered_as_a_new_one(
    client, make_org, make_user, login_as, stub_broker
):
    alpha, alpha_admin = make_org("Alpha")
    beta, _beta_admin = make_org("Beta")
    make_user(beta, role="manager", email="manager@beta.example")
    login_as(alpha_admin)
    stub_broker.flush("outbox")

    fresh = _invite(client, "someone@new.example")
    stub_broker.flush("outbox")
    probe = _invite(client, "manager@beta.example")

    assert probe.status_code == fresh.status_code == 303
    assert probe.headers["Location"] == fresh.headers["Location"] == "/admin/users"
    fresh_page = client.get("/admin/users").get_data(as_text=True)
    assert "Invitation sent to someone@new.example." in fresh_page
    # The flash of the probe is read on the next page, like any invitation's.
    probe_page = client.get("/admin/users").get_data(as_text=True)
    assert "This email already has an account" not in probe_page
    # Nothing was made for it, and no mail goes anywhere.
    assert _users_named(alpha.id, "manager@beta.example") == []
    assert queued(stub_broker, "outbox") == []
    [beta_manager] = _users_named(beta.id, "manager@beta.example")
    assert beta_manager.role == "manager"

    htmx_probe = _invite(client, "MANAGER@beta.example", htmx=True)
    htmx_fresh = _invite(client, "other@new.example", htmx=True)
    assert htmx_probe.status_code == htmx_fresh.status_code == 200
    assert htmx_probe.headers["HX-Redirect"] == htmx_fresh.headers["HX-Redirect"]


def test_the_flash_reads_the_same_for_both(client, make_org, make_user, login_as):
    _alpha, alpha_admin = make_org("Alpha")
    beta, _beta_admin = make_org("Beta")
    make_user(beta, role="manager", email="manager@beta.example")
    login_as(alpha_admin)
    _invite(client, "manager@beta.example")
    assert "Invitation sent to manager@beta.example." in client.get("/admin/users").get_data(
        as_text=True
    )


def test_an_address_already_in_the_admins_own_organization_is_named(
    client, make_org, make_user, login_as
):
    alpha, alpha_admin = make_org("Alpha")
    make_user(alpha, role="sales", email="sam@alpha.example")
    login_as(alpha_admin)
    response = _invite(client, "sam@alpha.example")
    assert response.status_code == 422
    assert "This email already has an account." in response.get_data(as_text=True)
