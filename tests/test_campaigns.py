"""Campaigns: the ledger's consent rules, sending through the outbox into a real SMTP sink with
consent checked again at send time, RFC 8058 headers and one-click unsubscribe, signed tracking
links (a tampered one is a 404), buffered hits, pause and resume, the A/B winner, sandboxed
templates, and a scheduled start taken once."""

import datetime as dt
import re

import pytest
from sqlalchemy import select, text

from crm_web.campaigns import content, library, results, services, tracking
from crm_web.campaigns.models import CampaignRecipient
from crm_web.customer360.services import set_campaign_preferences
from crm_web.customers.services import set_consent
from crm_web.db import set_tenant
from crm_web.errors import Conflict, ValidationError
from crm_web.extensions import db
from crm_web.outbox import delivery
from crm_web.segments.services import create_segment
from tests import factories
from tests.worker_fixtures import queued


@pytest.fixture
def org(make_org):
    organization, admin = make_org("Kampanya")
    set_tenant(organization.id, admin.id)
    library.add_starter_templates()
    return organization, admin


def _segment():
    return create_segment({"segment_name": "Everyone"})


def _customers(organization, count=4, **fields):
    return [
        factories.customer(
            organization,
            first_name=f"Deniz{index}",
            primary_email=f"deniz{index}-{organization.id}@example.com",
            email_opt_in=True,
            **fields,
        )
        for index in range(count)
    ]


def _campaign(segment, template_names=("Newsletter",), **fields):
    templates = {t.name: t for t in library.list_templates()}
    return services.create_campaign(
        {
            "name": "Spring news",
            "include_segment_ids": [segment.id],
            "variants": [{"template_id": templates[name].id} for name in template_names],
            **fields,
        }
    )


def _sent_to_one(organization):
    """A campaign to one customer, sent."""
    _customers(organization, 1)
    campaign = _campaign(_segment())
    services.schedule_campaign(campaign.id)
    delivery.deliver("email")
    return campaign


def _recipients(campaign):
    return db.session.scalars(
        select(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign.id)
        .order_by(CampaignRecipient.id)
    ).all()


def test_the_ledger_applies_consent_and_the_send_checks_it_again(org, smtp_to_sink):
    organization, _admin = org
    agreed = _customers(organization, 3)
    factories.customer(organization, primary_email="no@example.com", email_opt_in=False)
    factories.customer(
        organization, primary_email="dnc@example.com", email_opt_in=True, do_not_contact=True
    )
    segment = _segment()
    campaign = _campaign(
        segment,
        from_name="Kampanya Ekibi",
        from_address="news@kampanya.example",
        reply_to="hi@kampanya.example",
    )
    services.schedule_campaign(campaign.id)
    assert campaign.status == "sending"
    assert {r.email for r in _recipients(campaign)} == {c.primary_email for c in agreed}

    # One of them unsubscribes (from the preference form) after the start: not sent.
    set_consent(agreed[0].id, source="form", email_opt_in=False)
    totals = delivery.deliver("email")
    assert totals == {"sent": 2, "cancelled": 1}
    mails = {mail.rcpt_tos[0]: mail for mail in smtp_to_sink.mails}
    assert set(mails) == {agreed[1].primary_email, agreed[2].primary_email}
    mail = mails[agreed[1].primary_email]
    message = mail.message
    assert message["From"] == "Kampanya Ekibi <news@kampanya.example>"
    assert message["Reply-To"] == "hi@kampanya.example"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(r"<(.+)>", message["List-Unsubscribe"]).group(1)
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Hello Deniz1," in html and "/t/o/" in html and html.count("/t/c/") == 3
    assert 'style="' in html  # CSS inlined
    text_part = message.get_body(preferencelist=("plain",)).get_content()
    assert "Deniz1" in text_part
    statuses = sorted(r.status for r in _recipients(campaign))
    assert statuses == ["sent", "sent", "skipped"]
    db.session.expire_all()
    assert services.get_campaign(campaign.id).status == "sent"
    stats = results.stats(campaign)
    assert (stats.sent, stats.skipped, stats.percent) == (2, 1, 100)

    # RFC 8058: the one-click POST unsubscribes, writing the consent history.
    from flask import current_app

    client = current_app.test_client()
    path = unsubscribe.removeprefix(current_app.config["BASE_URL"])
    response = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 204
    set_tenant(organization.id)
    assert (
        db.session.scalar(
            text("SELECT email_opt_in FROM customers WHERE id = :id"), {"id": agreed[1].id}
        )
        is False
    )
    assert (
        db.session.scalar(
            text(
                "SELECT source FROM customer_consent_events WHERE customer_id = :id ORDER BY id DESC LIMIT 1"
            ),
            {"id": agreed[1].id},
        )
        == "unsubscribe"
    )
    assert client.get(path).status_code == 200
    assert client.post(path[:-3] + "AAA", data={"List-Unsubscribe": "One-Click"}).status_code == 404


def test_tracking_links_are_signed_and_hits_are_buffered(org, smtp_to_sink, client):
    organization, _admin = org
    campaign = _sent_to_one(organization)
    html = smtp_to_sink.mails[0].message.get_body(preferencelist=("html",)).get_content()
    click = re.findall(r'href="[^"]*(/t/c/[^"]+)"', html)[0]
    pixel = re.search(r'src="[^"]*(/t/o/[^"]+)"', html).group(1)

    set_tenant(organization.id)
    recipient = _recipients(campaign)[0]
    # A hit before the message could have been read (within seconds of delivery) is a machine.
    db.session.execute(
        text("UPDATE campaign_recipients SET sent_at = now() + interval '1 hour' WHERE id = :id"),
        {"id": recipient.id},
    )
    response = client.get(click)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.com/news"
    tampered = click[:-2] + ("AA" if not click.endswith("AA") else "BB")
    assert client.get(tampered).status_code == 404
    # An open token is no click token: no redirect anywhere.
    assert client.get("/t/c/" + pixel.removeprefix("/t/o/").removesuffix(".gif")).status_code == 404
    opened = client.get(pixel)
    assert opened.status_code == 200 and opened.headers["Content-Type"] == "image/gif"
    set_tenant(organization.id)
    assert recipient.opens == 0  # buffered, not written in the request
    assert tracking.flush() == 2
    db.session.refresh(recipient)
    assert (recipient.opens, recipient.clicks) == (1, 1)
    # Within seconds of delivery: counted, but flagged as a machine open / scanner click.
    assert recipient.opened_at is None
    stats = results.stats(campaign)
    assert (stats.total_opens, stats.total_clicks, stats.suspect_opens) == (1, 1, 1)
    assert results.link_clicks(campaign)[0] == ("https://example.com/news", 1, 1)
    # Later, a person: a unique open.
    db.session.execute(
        text("UPDATE campaign_recipients SET sent_at = now() - interval '1 hour' WHERE id = :id"),
        {"id": recipient.id},
    )
    client.get(pixel)
    set_tenant(organization.id)
    assert tracking.flush() == 1
    db.session.refresh(recipient)
    assert recipient.opens == 2 and recipient.opened_at is not None
    assert results.stats(campaign).opened == 1


class _Died(Exception):
    pass


def test_a_flush_that_dies_loses_no_hit_and_counts_none_twice(org, smtp_to_sink, monkeypatch):
    organization, _admin = org
    campaign = _sent_to_one(organization)
    set_tenant(organization.id)
    recipient = _recipients(campaign)[0]
    tracking.hit("open", organization.id, recipient.id)
    tracking.hit("click", organization.id, recipient.id, 1)
    client = tracking.get_redis()

    def die(*args, **kwargs):
        raise _Died()

    # The flush commits the chunk, then dies before trimming it off its key.
    monkeypatch.setattr(type(client), "ltrim", die)
    with pytest.raises(_Died):
        tracking.flush()
    monkeypatch.undo()
    set_tenant(organization.id)
    db.session.refresh(recipient)
    assert (recipient.opens, recipient.clicks) == (1, 1)
    # A new hit goes to a new buffer; the dead flush's key is not taken while it may be alive.
    tracking.hit("open", organization.id, recipient.id)
    assert tracking.flush() == 1
    assert len(list(client.scan_iter(match=tracking.BUFFER + ":flushing:*"))) == 1
    # Once it is old, a flush takes it over and writes only what was not written.
    monkeypatch.setattr(tracking, "ORPHAN_SECONDS", -1)
    assert tracking.flush() == 2
    assert list(client.scan_iter(match=tracking.BUFFER + ":*")) == []
    set_tenant(organization.id)
    db.session.refresh(recipient)
    assert (recipient.opens, recipient.clicks) == (2, 1)
    assert (
        db.session.scalar(
            text("SELECT count(*) FROM campaign_events WHERE recipient_id = :id"),
            {"id": recipient.id},
        )
        == 3
    )


def test_pause_holds_the_queue_and_resume_sends_each_once(org, smtp_to_sink):
    organization, _admin = org
    _customers(organization, 5)
    campaign = _campaign(_segment())
    services.schedule_campaign(campaign.id)
    services.pause_campaign(campaign.id)
    assert delivery.deliver("email") == {}
    with pytest.raises(Conflict):
        services.pause_campaign(campaign.id)
    services.resume_campaign(campaign.id)
    assert delivery.deliver("email") == {"sent": 5}
    assert delivery.deliver("email") == {}
    assert len(smtp_to_sink.mails) == 5
    assert len({m.message["Message-ID"] for m in smtp_to_sink.mails}) == 5


def test_a_paused_campaign_puts_back_what_a_worker_holds(org, smtp_to_sink):
    organization, _admin = org
    _customers(organization, 2)
    campaign = _campaign(_segment())
    services.schedule_campaign(campaign.id)
    held = delivery.claim("email", owner="worker:1:1")
    services.pause_campaign(campaign.id)
    counts = delivery.send_batch("email", held, owner="worker:1:1")
    assert counts == {"queued": 2}
    assert smtp_to_sink.mails == []
    services.resume_campaign(campaign.id)
    assert delivery.deliver("email") == {"sent": 2}


def test_the_ab_winner_goes_to_the_rest_once(org, smtp_to_sink):
    organization, _admin = org
    _customers(organization, 10)
    campaign = _campaign(
        _segment(),
        template_names=("Newsletter", "Promotion"),
        ab_test_percent=20,
        ab_wait_minutes=60,
    )
    services.schedule_campaign(campaign.id)
    recipients = _recipients(campaign)
    assert sorted(r.variant for r in recipients if r.variant is not None) == [0, 1]
    assert sum(r.status == "held" for r in recipients) == 8
    assert delivery.deliver("email") == {"sent": 2}
    # Variant B's recipient clicked.
    b = next(r for r in recipients if r.variant == 1)
    db.session.execute(
        text("UPDATE campaign_recipients SET clicked_at = now(), opened_at = now() WHERE id = :id"),
        {"id": b.id},
    )
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=61)
    assert services.sweep(now=later) == 1
    # The sweep enqueued the decision; a second job (another scheduler's) does nothing.
    assert services.run_due(campaign.id, "winner") is True
    assert services.run_due(campaign.id, "winner") is False
    assert services.sweep(now=later) == 0
    with pytest.raises(Conflict):
        services.choose_winner(campaign.id)
    set_tenant(organization.id)
    db.session.expire_all()
    campaign = services.get_campaign(campaign.id)
    assert campaign.winner_variant == 1
    assert delivery.deliver("email") == {"sent": 8}
    subjects = [m.message["Subject"] for m in smtp_to_sink.mails]
    assert sum("20% off" in s for s in subjects) == 9
    db.session.expire_all()
    assert services.get_campaign(campaign.id).status == "sent"
    assert [(r.label, r.sent) for r in results.variant_results(campaign)] == [("A", 1), ("B", 9)]


def test_a_scheduled_campaign_starts_once(org, stub_broker):
    organization, _admin = org
    _customers(organization, 2)
    campaign = _campaign(_segment())
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    services.schedule_campaign(campaign.id, mode="at", send_at=soon)
    assert services.get_campaign(campaign.id).status == "scheduled"
    assert services.sweep() == 0
    later = soon + dt.timedelta(seconds=1)
    stub_broker.flush_all()
    assert services.sweep(now=later) == 1
    [job] = queued(stub_broker, "default")
    assert (job.actor_name, job.args) == (
        "run_due_campaign",
        (organization.id, campaign.id, "start"),
    )
    set_tenant(organization.id)
    assert services.run_due(campaign.id, "start", now=later) is True
    assert services.run_due(campaign.id, "start", now=later) is False
    assert services.sweep(now=later) == 0
    assert len(_recipients(campaign)) == 2
    assert (
        db.session.scalar(text("SELECT count(*) FROM outbox_messages WHERE kind = 'campaign'")) == 2
    )


def test_per_timezone_sending_and_throttle_spread_the_messages(org, stub_broker):
    organization, _admin = org
    tokyo = _customers(organization, 1, timezone="Asia/Tokyo")[0]
    _customers(organization, 1, timezone="America/New_York")
    campaign = _campaign(_segment(), throttle_per_minute=60)
    tomorrow = dt.date.today() + dt.timedelta(days=2)
    services.schedule_campaign(
        campaign.id, mode="local", local_date=tomorrow, local_time=dt.time(9, 0)
    )
    assert services.get_campaign(campaign.id).status == "scheduled"
    starts = services.get_campaign(campaign.id).starts_at
    assert services.run_due(campaign.id, "start", now=starts)
    set_tenant(organization.id)
    db.session.expire_all()
    due = dict(
        db.session.execute(
            text("SELECT customer_id, next_attempt_at FROM outbox_messages WHERE kind = 'campaign'")
        ).all()
    )
    assert due[tokyo.id] == dt.datetime.combine(tomorrow, dt.time(0, 0), dt.UTC)
    assert len(due) == 2 and max(due.values()) - min(due.values()) == dt.timedelta(hours=14)


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ customer.__class__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{% for k in customer.items() %}{{ k.__class__.__base__ }}{% endfor %}",
        "{{ customer.update({'x': 1}) }}",
    ],
)
def test_a_template_cannot_reach_python(org, source):
    template = library.create_template(
        {"name": "Hack", "subject": "Hi", "html": f"<p>{source}</p>"}
    )
    version = library.current_version(template)
    preview = library.preview(version)
    assert preview.email is None or "class" not in preview.email.html
    if preview.email is None:
        assert "SecurityError" in preview.error or "Undefined" in preview.error


def test_templates_keep_versions_and_escape_merge_fields(org):
    template = library.list_templates()[0]
    first = library.current_version(template)
    library.save_version(
        template.id,
        {"subject": "New {{ customer.first_name }}", "html": "<p>{{ customer.first_name }}</p>"},
    )
    assert [v.version for v in library.versions(template)] == [2, 1]
    assert library.get_version(first.id).subject == first.subject
    preview = library.preview(
        library.current_version(template),
        first_name="<b>Ali</b>",
        last_name="",
        company="",
        city="",
        email="",
    )
    assert "&lt;b&gt;Ali&lt;/b&gt;" in preview.email.html
    assert preview.email.subject == "New <b>Ali</b>"
    with pytest.raises(ValidationError) as caught:
        library.save_version(template.id, {"subject": "Hi {{", "html": "<p>x</p>"})
    assert "subject" in caught.value.fields


def test_topic_preference_decides_the_audience(org, stub_broker):
    organization, _admin = org
    wants, other = _customers(organization, 2)
    set_campaign_preferences(wants.id, ["discounts"])
    campaign = _campaign(_segment(), topic="discounts")
    services.schedule_campaign(campaign.id)
    assert [r.customer_id for r in _recipients(campaign)] == [wants.id]


def test_tokens_are_bound_to_their_purpose(app):
    with app.test_request_context():
        token = content.sign("click", 7, 42, 3, 1)
        assert content.verify("click", token) == content.Token(7, 42, 3, 1)
        assert content.verify("open", token) is None
        assert content.verify("click", token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert content.verify("click", "not-a-token") is None


def test_a_send_shows_on_the_timeline_feeds_engagement_and_segments(org, smtp_to_sink):
    from crm_web.customer360 import scores, timeline
    from crm_web.segments import criteria
    from crm_web.segments import services as segments

    organization, _admin = org
    reader, other = _customers(organization, 2)
    campaign = _campaign(_segment())
    services.schedule_campaign(campaign.id)
    delivery.deliver("email")
    db.session.execute(
        text(
            "UPDATE campaign_recipients SET opened_at = now(), clicked_at = now() "
            "WHERE customer_id = :id"
        ),
        {"id": reader.id},
    )
    page = timeline.timeline_page(reader.id)
    entry = next(e for e in page.entries if e.kind == "campaign")
    assert entry.title == "Campaign: Spring news" and entry.details["clicks"] == 0
    activity = scores.customer_activity(reader.id)
    assert (activity.emails_opened_90d, activity.emails_clicked_90d, activity.interactions_90d) == (
        1,
        1,
        1,
    )
    engagement = scores.engagement_score(activity).value
    assert engagement == 5 + 20 + 8 + 15

    for rule, expected in (
        (
            {"field": "received_campaign", "op": "contains", "value": str(campaign.id)},
            {reader.id, other.id},
        ),
        ({"field": "campaign_clicked", "op": "within_last_days", "value": 7}, {reader.id}),
        ({"field": "engagement_score", "op": "eq", "value": engagement}, {reader.id}),
    ):
        where = segments.compiled(criteria.parse({"rules": [rule]}))
        found = set(
            db.session.scalars(
                text(f"SELECT c.id FROM customers c WHERE {where.where}"), where.params
            )
        )
        assert found & {reader.id, other.id} == expected, rule


def test_demo_data_has_segments_templates_and_a_sent_campaign_with_results(org):
    from crm_web.campaigns.seeding import seed_campaigns
    from crm_web.customer360.seeding import seed_customers_with_activity
    from crm_web.segments.seeding import seed_segments

    seed_customers_with_activity(300, seed=7)
    assert seed_segments() == 4
    assert seed_campaigns() == 3
    db.session.expire_all()
    sent, scheduled, sms = sorted(services.list_campaigns().items, key=lambda c: c.id)
    assert (sent.status, scheduled.status, sms.status) == ("sent", "scheduled", "sent")
    by_sms = results.stats(sms)
    assert sms.channel == "sms" and by_sms.sent == by_sms.recipients > 0
    assert 0 < by_sms.failed < by_sms.delivered and by_sms.delivered + by_sms.failed == by_sms.sent
    stats = results.stats(sent)
    assert stats.sent == stats.recipients > 0 and 0 < stats.opened < stats.sent
    assert len(library.list_templates()) == 4
    assert results.events_by_hour(sent)


def test_a_campaign_sends_the_version_it_was_scheduled_with(org, smtp_to_sink):
    organization, _admin = org
    _customers(organization, 1)
    campaign = _campaign(_segment())
    template = next(t for t in library.list_templates() if t.name == "Newsletter")
    library.save_version(template.id, {"subject": "Version two", "html": "<p>Two</p>"})
    services.schedule_campaign(campaign.id)
    library.save_version(template.id, {"subject": "Version three", "html": "<p>Three</p>"})
    delivery.deliver("email")
    assert [mail.message["Subject"] for mail in smtp_to_sink.mails] == ["Version two"]


def test_a_hit_is_written_at_once_while_redis_is_down(org, smtp_to_sink, client, monkeypatch):
    organization, _admin = org
    campaign = _sent_to_one(organization)
    html = smtp_to_sink.mails[0].message.get_body(preferencelist=("html",)).get_content()
    pixel = re.search(r'src="[^"]*(/t/o/[^"]+)"', html).group(1)
    monkeypatch.setattr("crm_web.redis_client.redis_up", lambda: False)
    assert client.get(pixel).status_code == 200
    set_tenant(organization.id)
    assert _recipients(campaign)[0].opens == 1


def _analyzed(*tables: str) -> dict[str, tuple[int, float]]:
    """How often each table was analyzed by hand, and the rows its statistics know of."""
    db.session.execute(text("SELECT pg_stat_clear_snapshot()"))
    return {
        row.relname: (row.analyze_count, row.reltuples)
        for row in db.session.execute(
            text(
                "SELECT s.relname, s.analyze_count, c.reltuples FROM pg_stat_user_tables s"
                " JOIN pg_class c ON c.oid = s.relid WHERE s.relname = ANY(CAST(:t AS text[]))"
            ),
            {"t": list(tables)},
        )
    }


def test_starting_a_big_campaign_leaves_the_planner_informed(org, stub_broker):
    """The workers plan their marks on the rows the start wrote: statistics first."""
    organization, _admin = org
    tables = ("campaign_recipients", "outbox_messages")
    before = _analyzed(*tables)
    # Autovacuum's threshold: 50 rows plus a tenth of the rows the statistics know of.
    _customers(organization, 60 + int(max(max(rows for _, rows in before.values()), 0) * 0.1))
    services.schedule_campaign(_campaign(_segment()).id)
    after = _analyzed(*tables)
    assert {table: after[table][0] - before[table][0] for table in tables} == {
        "campaign_recipients": 1,
        "outbox_messages": 1,
    }
