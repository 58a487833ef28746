"""Inbound SMS keywords over the gateway's signed webhook: STOP (and its Turkish words, however
typed) opts the sender out of SMS with a consent history line and a confirmation SMS through
the outbox and the gateway (on loopback); START/BASLA opts back in; other texts and unsigned
requests change nothing."""

import pytest
from sms_gateway import gateway_fixture  # noqa: F401 (the `gateway` fixture)
from sqlalchemy import select

from crm_web.campaigns import sms_keywords
from crm_web.customers.models import ConsentEvent, Customer
from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.messaging import sms
from crm_web.outbox import delivery
from tests import factories

PHONE = "+905321234567"


@pytest.fixture
def shop(make_org):
    organization, admin = make_org("Kozmetik", timezone="Europe/Istanbul")
    customer = factories.customer(organization, primary_phone=PHONE, sms_opt_in=True)
    set_tenant(organization.id, admin.id)
    return organization, admin, customer


def text_in(app, client, shop, body: str, *, secret: str | None = None, sender: str = PHONE):
    organization, admin, _customer = shop
    path = f"/outbox/sms-inbound/{organization.id}"
    params = {"From": sender, "To": "+15550000001", "Body": body, "MessageSid": "SM1"}
    signature = sms.signature(
        secret or sms.webhook_secret(app.config), app.config["BASE_URL"] + path, params
    )
    response = client.post(path, data=params, headers={sms.SIGNATURE_HEADER: signature})
    set_tenant(organization.id, admin.id)
    return response


def consent(customer_id: int) -> tuple[bool, list[tuple]]:
    db.session.expire_all()
    customer = db.session.get(Customer, customer_id)
    events = db.session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.customer_id == customer_id)
        .order_by(ConsentEvent.id)
    ).all()
    return customer.sms_opt_in, [(e.channel, e.new_value, e.source, e.note) for e in events]


def test_stop_in_turkish_opts_out_with_history_and_a_confirmation(app, client, shop, gateway):
    _organization, _admin, customer = shop
    assert text_in(app, client, shop, "İptal lütfen").status_code == 204
    opted_in, events = consent(customer.id)
    assert opted_in is False
    assert events[-1] == ("sms", False, "sms_keyword", "İptal")
    delivery.deliver("sms")
    [reply] = gateway.messages
    assert reply.to == PHONE and "no more SMS" in reply.body and "Text START" in reply.body

    assert text_in(app, client, shop, "basla").status_code == 204
    opted_in, events = consent(customer.id)
    assert opted_in is True and events[-1][:3] == ("sms", True, "sms_keyword")


def test_other_texts_and_forged_requests_change_nothing(app, client, shop, gateway):
    _organization, _admin, customer = shop
    assert text_in(app, client, shop, "Merhaba, siparişim nerede?").status_code == 204
    assert text_in(app, client, shop, "STOP", secret="guess").status_code == 403
    assert consent(customer.id)[0] is True
    delivery.deliver("sms")
    assert gateway.messages == []


def test_keywords_fold_turkish_letters_and_case():
    assert sms_keywords.fold("İptal!") == "IPTAL" and sms_keywords.fold("Başla") == "BASLA"
    assert sms_keywords.fold("dur") == "DUR" and sms_keywords.fold("ret.") == "RET"


def test_the_consent_log_csv_shows_the_keyword_opt_out(app, client, shop, gateway, login_as):
    organization, admin, customer = shop
    assert text_in(app, client, shop, "DUR").status_code == 204
    login_as(admin)
    response = client.get("/customers/consent-log.csv?channel=sms")
    set_tenant(organization.id, admin.id)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0] == "When,Customer code,Channel,Consent,Before,Source,By,Note"
    assert lines[-1].split(",")[1:] == [
        customer.customer_code,
        "sms",
        "no",
        "yes",
        "sms_keyword",
        "",
        "DUR",
    ]
