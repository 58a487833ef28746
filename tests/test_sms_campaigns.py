"""SMS campaigns on the campaigns machinery: the ledger takes SMS consent and a phone, each
recipient's SMS goes through the outbox into the loopback gateway with its merge fields (and its
Turkish letters), quiet hours hold a message until the window's end in the recipient's time zone,
STOP over the webhook keeps the customer out of the next campaign and counts as an opt-out after
the last, delivery reports reach the results, and the API refuses bad input field by field."""

import datetime as dt

import pytest
from sms_gateway import gateway_fixture  # noqa: F401 (the `gateway` fixture)
from sqlalchemy import select, update

from crm_web.accounts.models import Organization
from crm_web.campaigns import messages, results, services
from crm_web.campaigns.models import CampaignRecipient
from crm_web.customer360 import timeline
from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.messaging import sms
from crm_web.outbox import channels, delivery
from crm_web.outbox.models import OutboxMessage
from crm_web.segments.services import create_segment
from tests import factories


@pytest.fixture
def shop(make_org):
    organization, admin = make_org("Cicekci", timezone="Europe/Istanbul")
    set_tenant(organization.id, admin.id)
    return organization, admin


def _customer(organization, phone: str, **fields):
    defaults = {"first_name": "Şule", "sms_opt_in": True, "primary_phone": phone}
    return factories.customer(organization, **{**defaults, **fields})


def _sms_campaign(**fields):
    segment = create_segment({"segment_name": "Herkes"})
    return services.create_campaign(
        {
            "name": "Bahar SMS",
            "channel": "sms",
            "include_segment_ids": [segment.id],
            "sms_body": "Merhaba {{ customer.first_name }}, çiçeklerde %20 indirim! DUR yaz, çık.",
            "sender_id": "DUKKAN",
            **fields,
        }
    )


def _recipients(campaign):
    db.session.expire_all()
    return db.session.scalars(
        select(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign.id)
        .order_by(CampaignRecipient.id)
    ).all()


def test_an_sms_campaign_reaches_only_consenting_customers_with_merge_fields(shop, gateway):
    organization, _admin = shop
    agreed = _customer(organization, "+905321110001")
    _customer(organization, "+905321110002", sms_opt_in=False)
    _customer(organization, "+905321110003", do_not_contact=True)
    _customer(organization, "", first_name="Telefonsuz")
    campaign = _sms_campaign()
    assert services.reachable("sms", campaign.include_segment_ids, []) == 1
    services.schedule_campaign(campaign.id)
    [recipient] = _recipients(campaign)
    assert recipient.customer_id == agreed.id and recipient.phone == "+905321110001"
    assert delivery.deliver("sms") == {"sent": 1}
    [received] = gateway.messages
    assert received.to == "+905321110001" and received.sender == "DUKKAN"
    assert received.body == "Merhaba Şule, çiçeklerde %20 indirim! DUR yaz, çık."
    assert _recipients(campaign)[0].status == "sent"
    db.session.expire_all()
    assert services.get_campaign(campaign.id).status == "sent"
    [entry] = [e for e in timeline.timeline_page(agreed.id).entries if e.kind == "campaign"]
    assert entry.body.startswith("Merhaba {{ customer.first_name }}")


def test_quiet_hours_hold_a_message_until_the_morning_in_the_recipients_zone(
    shop, gateway, monkeypatch
):
    organization, _admin = shop
    db.session.get(Organization, organization.id).sms_quiet_hours = "21:00-09:00"
    _customer(organization, "+905321110011", timezone="Europe/Istanbul")
    campaign = _sms_campaign()
    # 23:30 in Istanbul (UTC+3): inside the window, released at 09:00 local = 06:00 UTC.
    night = dt.datetime(2026, 12, 6, 20, 30, tzinfo=dt.UTC)
    monkeypatch.setattr(messages, "_now", lambda: night)
    monkeypatch.setattr(services, "_now", lambda: night)
    services.schedule_campaign(campaign.id)
    [queued] = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.source_id == campaign.id)
    ).all()
    # Written due at the window's end already; the send-time check holds it all the same.
    assert queued.next_attempt_at == dt.datetime(2026, 12, 7, 6, 0, tzinfo=dt.UTC)
    due_now = dt.datetime.now(dt.UTC)  # as a retry would be: the kind holds it again
    db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id == queued.id).values(next_attempt_at=due_now)
    )
    delivery.deliver("sms")
    assert gateway.messages == []
    db.session.expire_all()
    [held] = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.source_id == campaign.id)
    ).all()
    assert held.status == "queued"
    assert held.next_attempt_at == dt.datetime(2026, 12, 7, 6, 0, tzinfo=dt.UTC)
    assert _recipients(campaign)[0].status == "queued"


def _post_signed(app, client, path: str, params: dict, secret: str):
    signature = sms.signature(secret, app.config["BASE_URL"] + path, params)
    return client.post(path, data=params, headers={sms.SIGNATURE_HEADER: signature})


def test_stop_keeps_the_customer_out_of_the_next_campaign(app, client, shop, gateway):
    organization, admin = shop
    db.session.get(Organization, organization.id).sms_opt_out_keywords = "YETER"
    leaving = _customer(organization, "+905321110021")
    staying = _customer(organization, "+905321110022", first_name="Can")
    first = _sms_campaign()
    services.schedule_campaign(first.id)
    delivery.deliver("sms")
    db.session.commit()
    inbound = f"/outbox/sms-inbound/{organization.id}"
    params = {
        "From": leaving.primary_phone,
        "To": "+15550000001",
        "Body": "yeter",
        "MessageSid": "SM9",
    }
    assert (
        _post_signed(app, client, inbound, params, sms.webhook_secret(app.config)).status_code
        == 204
    )
    set_tenant(organization.id, admin.id)
    stats = results.stats(services.get_campaign(first.id))
    assert stats.sent == 2 and stats.unsubscribed == 1

    second = _sms_campaign(name="Yaz SMS")
    services.schedule_campaign(second.id)
    assert [r.customer_id for r in _recipients(second)] == [staying.id]


def test_delivery_reports_reach_the_campaign_results(app, client, shop, gateway):
    organization, admin = shop
    _customer(organization, "+905321110031")
    _customer(organization, "+905321110032")
    campaign = _sms_campaign()
    services.schedule_campaign(campaign.id)
    delivery.deliver("sms")
    db.session.commit()
    outcomes = iter(("delivered", "undelivered"))
    for message in db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.source_id == campaign.id)
        .order_by(OutboxMessage.id)
    ).all():
        url = channels.sms_status_url(organization.id, message.id)
        form = {
            "MessageSid": message.provider_id,
            "MessageStatus": next(outcomes),
            "ErrorCode": "30003",
        }
        response = _post_signed(
            app, client, url.removeprefix(app.config["BASE_URL"]), form, gateway.webhook_secret
        )
        assert response.status_code == 204
    set_tenant(organization.id, admin.id)
    assert [r.status for r in _recipients(campaign)] == ["delivered", "failed"]
    stats = results.stats(services.get_campaign(campaign.id))
    assert (stats.sent, stats.delivered, stats.failed) == (2, 1, 1)
    # The campaigns list counts them as the campaign's page does.
    assert results.recipient_count_by_status([campaign.id])[campaign.id]["sent"] == 2


def test_the_api_refuses_bad_sms_campaigns_field_by_field(client, shop, stub_broker):
    organization, admin = shop
    headers = factories.bearer(admin)
    response = client.post(
        "/api/v1/crm/campaigns/",
        json={"name": "Boş", "channel": "sms", "sms_body": " ", "sender_id": "TOO-LONG-SENDER"},
        headers=headers,
    )
    assert response.status_code == 422
    fields = response.get_json()["fields"]
    assert set(fields) >= {"sms_body", "sender_id", "include_segment_ids"}
    response = client.post(
        "/api/v1/crm/campaigns/", json={"name": "X", "channel": "fax"}, headers=headers
    )
    assert response.status_code == 422 and "channel" in response.get_json()["fields"]

    set_tenant(organization.id, admin.id)
    segment = create_segment({"segment_name": "API"})
    db.session.commit()
    response = client.post(
        "/api/v1/crm/campaigns/",
        json={
            "name": "Kış",
            "channel": "sms",
            "sms_body": "Merhaba {{ customer.first_name }}",
            "sender_id": "KIS2026",
            "include_segment_ids": [segment.id],
        },
        headers=headers,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["channel"] == "sms" and body["sender_id"] == "KIS2026"
    # Counted with the sample customer Ayşe: her ş takes the text to UCS-2.
    assert body["sms"] == {"characters": 12, "encoding": "UCS-2", "parts": 1}


HTMX = {"HX-Request": "true"}


def test_the_form_switches_to_sms_and_counts_live(client, login_as, shop, stub_broker):
    organization, admin = shop
    _customer(organization, "+905321110041")
    _customer(organization, "+905321110042", sms_opt_in=False)
    segment = create_segment({"segment_name": "Form"})
    db.session.commit()
    login_as(admin)
    switched = client.post("/campaigns/form", data={"name": "Kış", "channel": "sms"}, headers=HTMX)
    html = switched.get_data(as_text=True)
    assert switched.status_code == 200 and 'name="sms_body"' in html and 'name="sender_id"' in html
    assert 'hx-trigger="input changed delay:400ms"' in html and "from_address" not in html
    body = "Ğ" * 71  # beyond one UCS-2 SMS
    estimate = client.post(
        "/campaigns/sms-estimate",
        data={"include_segment_ids": str(segment.id), "sms_body": body},
        headers=HTMX,
    ).get_data(as_text=True)
    assert "Reachable customers: 1." in estimate
    assert "71 characters, UCS-2, 2 SMS per message, 2 SMS in all" in estimate

    bad = client.post(
        "/campaigns/new",
        data={"name": "Kış", "channel": "sms", "sender_id": "ÇOK-UZUN-GÖNDEREN"},
        headers=HTMX,
    )
    assert bad.status_code == 422
    assert "Write the text of the SMS." in bad.get_data(as_text=True)
    saved = client.post(
        "/campaigns/new",
        data={
            "name": "Kış",
            "channel": "sms",
            "sms_body": "Merhaba {{ customer.first_name }}",
            "include_segment_ids": str(segment.id),
        },
    )
    assert saved.status_code == 303
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert 'id="sms-results"' in page and "Merhaba {{ customer.first_name }}" in page


def test_an_admin_sets_quiet_hours_and_keywords(client, login_as, shop):
    organization, admin = shop
    login_as(admin)
    form = {"name": "Cicekci", "locale": "en", "timezone": "Europe/Istanbul", "currency": "TRY"}
    refused = client.post("/admin/settings", data={**form, "sms_quiet_hours": "21:00"})
    assert refused.status_code == 422
    assert "Use a window like 21:00-09:00" in refused.get_data(as_text=True)
    saved = client.post(
        "/admin/settings",
        data={
            **form,
            "sms_quiet_hours": "21:00 – 9:00",
            "sms_opt_out_keywords": "stop, yeter, İptal",
            "sms_opt_in_keywords": "",
        },
    )
    assert saved.status_code == 303
    set_tenant(organization.id, admin.id)
    db.session.expire_all()
    settings = db.session.get(Organization, organization.id)
    assert settings.sms_quiet_hours == "21:00-09:00"
    assert settings.sms_opt_out_keywords == "STOP, YETER, IPTAL"
    assert settings.sms_opt_in_keywords == ""


def test_an_sms_campaign_pauses_resumes_and_cancels_like_an_email_one(shop, gateway):
    organization, _admin = shop
    _customer(organization, "+905321110061")
    _customer(organization, "+905321110062", first_name="Can")
    campaign = _sms_campaign()
    services.schedule_campaign(campaign.id)
    services.pause_campaign(campaign.id)
    assert delivery.deliver("sms") == {}
    services.resume_campaign(campaign.id)
    assert delivery.deliver("sms") == {"sent": 2}
    assert sorted(m.to for m in gateway.messages) == ["+905321110061", "+905321110062"]

    later = _sms_campaign(name="İptal edilen")
    services.schedule_campaign(later.id)
    services.cancel_campaign(later.id)
    assert [r.status for r in _recipients(later)] == ["skipped", "skipped"]
