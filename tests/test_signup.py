"""Sign-up answers alike whether or not the address has an account: a new address is mailed
a link to finish, an existing account's owner is told by email; nothing is made until the link
is followed. One address cannot create organization after organization."""

import re

import pytest
from worker_fixtures import queued

from crm_web.accounts import services
from crm_web.accounts.models import Organization
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.outbox import delivery


def _signup(client, email: str, slug: str, **kwargs):
    data = {
        "name": "Newco",
        "slug": slug,
        "timezone": "UTC",
        "currency": "EUR",
        "admin_name": "Nia Founder",
        "admin_email": email,
    }
    return client.post("/signup", data=data, **kwargs)


def _organization_exists(slug: str) -> bool:
    return services.organization_id_for_slug(slug) is not None


def test_a_new_address_is_mailed_a_link_that_finishes_the_sign_up(
    app, client, stub_broker, smtp_to_sink
):
    stub_broker.flush("outbox")
    response = _signup(client, "nia@newco.example", "newco-one")

    assert response.status_code == 200
    assert "Check your email to continue" in response.get_data(as_text=True)
    # Nothing is created, nobody is signed in, until the link is followed.
    assert not _organization_exists("newco-one")
    assert client.get("/").status_code == 302
    # A message of no organization (none exists yet): the system's own outbox rows.
    [message] = queued(stub_broker, "outbox")
    assert (message.actor_name, message.args) == ("deliver_outbox", (None, "email"))
    stub_broker.flush("outbox")

    clear_tenant()
    assert delivery.deliver("email") == {"sent": 1}
    [mail] = smtp_to_sink.mails
    assert mail.rcpt_tos == ["nia@newco.example"]
    assert mail.message["Subject"] == "Finish creating Newco"
    link = re.search(r"\S+/signup/\S+", mail.body).group(0)
    assert link.startswith(f"{app.config['BASE_URL']}/signup/")
    path = link.removeprefix(app.config["BASE_URL"])

    page = client.get(path)
    assert page.status_code == 200 and "Finish creating Newco" in page.get_data(as_text=True)
    weak = client.post(path, data={"password": "Founder2026"})
    assert weak.status_code == 422
    assert "Do not use your name or email address" in weak.get_data(as_text=True)
    finished = client.post(path, data={"password": "a quiet lake at dawn"})
    assert finished.status_code == 303 and finished.headers["Location"] == "/"
    assert _organization_exists("newco-one")
    assert client.get("/").status_code == 200

    # The link does its work once.
    client.post("/logout")
    again = client.post(path, data={"password": "a quiet lake at dawn"})
    assert again.status_code == 422
    assert "already finished; sign in instead" in again.get_data(as_text=True)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_an_existing_address_gets_the_same_answer_and_its_owner_an_email(
    client, make_org, stub_broker, smtp_to_sink, htmx
):
    organization, admin = make_org("Oldco")
    headers = {"HX-Request": "true"} if htmx else {}
    stub_broker.flush("outbox")

    fresh = _signup(client, "someone-new@example.com", "newco-two", headers=headers)
    stub_broker.flush("outbox")
    taken = _signup(client, admin.email.upper(), "newco-three", headers=headers)

    assert taken.status_code == fresh.status_code == 200
    assert taken.headers.get("HX-Redirect") == fresh.headers.get("HX-Redirect")
    # The same page, word for word, but for the address it names.
    assert taken.get_data(as_text=True).replace(admin.email, "ADDRESS") == fresh.get_data(
        as_text=True
    ).replace("someone-new@example.com", "ADDRESS")
    assert not _organization_exists("newco-three")

    [message] = queued(stub_broker, "outbox")
    assert (message.actor_name, message.args) == ("deliver_outbox", (organization.id, "email"))
    stub_broker.flush("outbox")

    set_tenant(organization.id)
    assert delivery.deliver("email") == {"sent": 1}
    [mail] = smtp_to_sink.mails
    assert mail.rcpt_tos == [admin.email]
    assert mail.message["Subject"] == "You already have an account"
    assert "Oldco" in mail.body and "/login" in mail.body
    assert mail.message.get_body(preferencelist=("html",)) is not None


def test_a_link_not_signed_by_us_is_refused(client):
    from itsdangerous import URLSafeTimedSerializer

    assert client.get("/signup/not-a-token").status_code == 404
    forged = URLSafeTimedSerializer("guessed-key", salt="signup").dumps({"name": "Forged"})
    assert client.get(f"/signup/{forged}").status_code == 404
    assert client.post(f"/signup/{forged}", data={"password": "a quiet lake"}).status_code == 404


def test_one_address_cannot_sign_up_again_and_again(client, stub_broker):
    for number in range(5):
        assert _signup(client, f"n{number}@example.com", f"burst-{number}").status_code == 200
    stub_broker.flush("outbox")
    response = _signup(client, "n6@example.com", "burst-6")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many sign-ups from your address" in response.get_data(as_text=True)
    assert queued(stub_broker, "outbox") == []
    # Another address is not affected.
    other = _signup(client, "n7@example.com", "burst-7", environ_base={"REMOTE_ADDR": "10.3.3.3"})
    assert other.status_code == 200


def test_an_organization_signed_up_in_turkish_speaks_turkish(
    app, client, stub_broker, smtp_to_sink
):
    stub_broker.flush("outbox")
    _signup(client, "ece@yeni.example", "yeni-bir", headers={"Accept-Language": "tr-TR,tr"})
    clear_tenant()
    assert delivery.deliver("email") == {"sent": 1}
    [mail] = smtp_to_sink.mails
    path = re.search(r"\S+/signup/\S+", mail.body).group(0).removeprefix(app.config["BASE_URL"])
    client.post(path, data={"password": "a quiet lake at dawn"})

    organization_id = services.organization_id_for_slug("yeni-bir")
    set_tenant(organization_id)
    assert db.session.get(Organization, organization_id).locale == "tr"
