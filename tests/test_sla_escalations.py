"""Escalations: who is told and how (a real SMTP sink, a real HTTP gateway on loopback, through
the outbox), breach actions, relevance at firing time, failures before and after sending, the
sweeps, and the SMS delivery webhook. These run in the test's rolled-back transaction; the worker and concurrency
tests are in test_sla_worker.py."""

import smtplib
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from dramatiq import Message
from sla_helpers import freeze
from sms_gateway import app_gateway
from sqlalchemy import select, update

from crm_web.accounts.services import create_user
from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.messaging import email as email_transport
from crm_web.messaging import sms
from crm_web.outbox import channels, delivery
from crm_web.outbox.models import OutboxMessage, Suppression
from crm_web.outbox.services import messages_for
from crm_web.sla import configuration, escalations
from crm_web.sla import sweep as sla_sweep
from crm_web.sla.messages import NOTIFICATION_KINDS
from crm_web.sla.models import SlaEscalation
from crm_web.tickets import services as tickets
from tests import factories
from worker.broker import broker

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_10 = datetime(2025, 6, 2, 10, tzinfo=BERLIN)
ON_CALL = "+905321112233"


@pytest.fixture
def frozen(monkeypatch):
    return freeze(monkeypatch, MONDAY_10)


@pytest.fixture
def sink(smtp_to_sink):
    """The shared SMTP sink fixture (worker_fixtures), made the app's SMTP_URL for the test."""
    return smtp_to_sink


@pytest.fixture
def gateway(app):
    with app_gateway(app) as running:
        yield running


QUEUES = ("sla", "sla.DQ", "outbox", "outbox.DQ")


@pytest.fixture(autouse=True)
def _empty_sla_queues():
    for name in QUEUES:
        broker.flush(name)
    yield
    for name in QUEUES:
        broker.flush(name)


def make_desk(make_org) -> SimpleNamespace:
    """A help desk: a Support team with its lead and an agent, and a manager of another team.

    The staff have no passwords (they never sign in here), which spares three slow hashes.
    """
    organization, admin = make_org("Escalate", timezone="Europe/Berlin")
    set_tenant(organization.id, admin.id)
    suffix = uuid.uuid4().hex[:8]

    def staff(name, role, department):
        email = f"{name.split()[0].lower()}-{suffix}@example.com"
        return create_user(email=email, name=name, role=role, department=department)

    lead = staff("Lena Lead", "manager", "Support")
    staff("Mo Manager", "manager", "Sales")
    agent = staff("Ali Agent", "support", "Support")
    return SimpleNamespace(org=organization, admin=admin, lead=lead, agent=agent)


@pytest.fixture
def desk(make_org):
    return make_desk(make_org)


def configure(**overrides):
    settings = {
        "timezone": "Europe/Berlin",
        "weekly_hours": ["09:00-17:00"] * 5 + ["", ""],
        "warning_percents": "50, 80",
        "breach_raise_priority": False,
        "breach_reassign_to_id": None,
        "sms_numbers": ON_CALL,
        **overrides,
    }
    return configuration.update_settings(**settings)


def new_ticket(desk, **kwargs):
    return factories.ticket(
        desk.org, user=desk.admin, subject="Checkout is down", department="Support", **kwargs
    )


def point(ticket, target: str, level: int) -> SlaEscalation:
    db.session.expire_all()
    return db.session.scalar(
        select(SlaEscalation).where(
            SlaEscalation.ticket_id == ticket.id,
            SlaEscalation.target == target,
            SlaEscalation.level == level,
            SlaEscalation.status == "pending",
        )
    )


def process(escalation_id: int) -> str:
    """What the workers do for one point: fire it, then deliver the outbox's due messages."""
    status = escalations.fire_escalation(escalation_id)
    delivery.deliver("email")
    delivery.deliver("sms")
    return status


def notifications(escalation) -> list[OutboxMessage]:
    db.session.expire_all()
    return messages_for(tuple(NOTIFICATION_KINDS.values()), [escalation.id])


def retry_comes_due(rows: list[OutboxMessage]) -> None:
    """Let the backoff of these retries pass (the outbox's clock is the real one)."""
    for row in rows:
        assert row.status == "queued" and row.next_attempt_at > datetime.now(UTC)
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_([row.id for row in rows]))
        .values(next_attempt_at=datetime.now(UTC))
    )


def escalation_events(ticket) -> list:
    return [
        message
        for message in tickets.thread(ticket.id)
        if message.kind == "event" and message.data.get("event") == "sla_escalation"
    ]


def signed_status(app, client, desk, path: str, params: dict, *, secret: str | None = None):
    """POST a delivery report signed like the gateway does; the test's tenant is set again after."""
    url = app.config["BASE_URL"] + path
    signature = sms.signature(secret or sms.webhook_secret(app.config), url, params)
    response = client.post(path, data=params, headers={sms.SIGNATURE_HEADER: signature})
    set_tenant(desk.org.id, desk.admin.id)
    return response


def queued(queue_name: str, organization_id: int) -> list[tuple]:
    """The arguments of this organization's messages waiting on a stub queue."""
    messages = [Message.decode(data) for data in list(broker.queues[queue_name].queue)]
    return [m.args for m in messages if m.args[0] == organization_id]


def test_a_breach_mails_the_team_lead_and_texts_the_on_call_number(
    app, client, desk, frozen, sink, gateway
):
    configure()
    ticket = new_ticket(desk, priority="high")  # first response due 11:00
    frozen.now = MONDAY_10 + timedelta(hours=1, seconds=2)
    breach = point(ticket, "first_response", 100)

    assert process(breach.id) == "fired"

    [mail] = sink.mails
    assert mail.rcpt_tos == [desk.lead.email]  # the Support team's lead, not the Sales manager
    assert mail.message["Subject"].startswith(f"[{ticket.reference}] SLA breached")
    assert f"/tickets/{ticket.id}" in mail.body
    [texted] = gateway.messages
    assert texted.to == ON_CALL and texted.sender == "+15550000001"
    assert ticket.reference in texted.body

    email_row, sms_row = notifications(breach)
    assert (email_row.kind, email_row.channel, email_row.status, email_row.to_address) == (
        "sla_escalation",
        "email",
        "sent",
        desk.lead.email,
    )
    # The Message-ID was given when the notification was written, and the mail carries it.
    assert email_row.provider_id == email_row.message_id == mail.message["Message-ID"]
    assert (sms_row.kind, sms_row.channel, sms_row.status, sms_row.provider_id) == (
        "sla_escalation_sms",
        "sms",
        "sent",
        texted.sid,
    )
    assert texted.status_callback == channels.sms_status_url(desk.org.id, sms_row.id)

    db.session.refresh(breach)
    assert breach.status == "fired" and breach.fired_at == frozen.now
    assert desk.lead.email in breach.outcome and ON_CALL in breach.outcome
    assert ticket.first_response_breached is True
    [event] = escalation_events(ticket)
    assert event.data["target"] == "first_response" and event.data["level"] == 100
    assert event.body.startswith("SLA breached: the first response was due 2025-06-02 11:00")

    # Firing again (a duplicate message, a second sweep) changes nothing and sends nothing.
    assert process(breach.id) == "fired"
    assert len(sink.mails) == 1 and len(gateway.messages) == 1
    assert len(escalation_events(ticket)) == 1

    # The gateway's delivery report, signed with the shared secret, updates the SMS.
    path = f"/outbox/sms-status/{desk.org.id}/{sms_row.id}"
    report = {"MessageSid": texted.sid, "MessageStatus": "delivered", "To": ON_CALL}
    assert signed_status(app, client, desk, path, report).status_code == 204
    assert notifications(breach)[1].delivery_status == "delivered"
    forged = signed_status(
        app, client, desk, path, {**report, "MessageStatus": "failed"}, secret="guess"
    )
    assert forged.status_code == 403
    assert notifications(breach)[1].delivery_status == "delivered"


def test_a_warning_tells_the_assignee_only(desk, frozen, sink, gateway):
    configure()
    ticket = new_ticket(desk, priority="high")
    assert ticket.assignee_id == desk.agent.id  # routing gave it to the Support agent
    frozen.now = MONDAY_10 + timedelta(minutes=30)
    warning = point(ticket, "first_response", 50)

    assert process(warning.id) == "fired"

    assert [mail.rcpt_tos for mail in sink.mails] == [[desk.agent.email]]
    assert "SLA warning" in sink.mails[0].message["Subject"]
    assert gateway.messages == []
    [event] = escalation_events(ticket)
    assert event.body.startswith("SLA warning: 50% of the first response time used")


def test_an_unassigned_ticket_warns_the_team_lead(desk, frozen, sink):
    configure(sms_numbers="")
    tickets.update_settings(agent_ticket_cap=1)
    new_ticket(desk, priority="low")  # fills the agent's one slot
    ticket = new_ticket(desk, priority="high")
    assert ticket.assignee_id is None
    frozen.now = MONDAY_10 + timedelta(minutes=48)

    assert process(point(ticket, "first_response", 80).id) == "fired"
    assert [mail.rcpt_tos for mail in sink.mails] == [[desk.lead.email]]


def test_a_breach_can_raise_the_priority_and_reassign(desk, frozen, sink):
    configure(breach_raise_priority=True, breach_reassign_to_id=desk.lead.id, sms_numbers="")
    ticket = new_ticket(desk, priority="normal")  # first response due 14:00
    frozen.now = MONDAY_10 + timedelta(hours=4)

    assert process(point(ticket, "first_response", 100).id) == "fired"

    assert ticket.priority == "high"
    assert ticket.assignee_id == desk.lead.id
    kinds = [m.data.get("event") for m in tickets.thread(ticket.id) if m.kind == "event"]
    assert kinds[-3:] == ["sla_escalation", "priority", "assigned"]
    # The new priority's targets apply at once: resolution in 4 working hours from 10:00.
    assert ticket.resolution_due_at == MONDAY_10 + timedelta(hours=4)
    breach = db.session.scalar(
        select(SlaEscalation).where(
            SlaEscalation.ticket_id == ticket.id, SlaEscalation.status == "fired"
        )
    )
    assert (
        "priority raised to high" in breach.outcome and "reassigned to Lena Lead" in breach.outcome
    )


def test_a_breach_still_fires_when_the_reassignment_target_left(desk, frozen, sink):
    configure(breach_reassign_to_id=desk.lead.id, sms_numbers="")
    desk.lead.is_active = False  # deactivated after the setting was saved
    ticket = new_ticket(desk, priority="high")
    frozen.now = MONDAY_10 + timedelta(hours=1)

    assert process(point(ticket, "first_response", 100).id) == "fired"
    assert ticket.assignee_id == desk.agent.id
    breach = db.session.scalar(
        select(SlaEscalation).where(
            SlaEscalation.ticket_id == ticket.id, SlaEscalation.status == "fired"
        )
    )
    assert "not reassigned" in breach.outcome
    assert len(sink.mails) == 1  # the other manager, the lead being inactive


def test_nothing_fires_after_the_ticket_is_resolved(desk, frozen, sink, gateway):
    configure()
    ticket = new_ticket(desk, priority="high")
    points = {level: point(ticket, "first_response", level) for level in (50, 80, 100)}
    frozen.now = MONDAY_10 + timedelta(minutes=20)
    tickets.change_status(ticket.id, "resolved")

    frozen.now = MONDAY_10 + timedelta(hours=2)
    for row in points.values():
        assert process(row.id) == "cancelled"
        assert notifications(row) == []
    # The only mail is the customer's resolution notice; no SLA notice, by mail or SMS.
    assert [mail.message["Subject"] for mail in sink.mails] == [
        f"[{ticket.reference}] Resolved: Checkout is down"
    ]
    assert gateway.messages == []
    assert escalation_events(ticket) == []
    db.session.refresh(points[100])
    assert points[100].outcome == "Ticket resolved."


def test_relevance_is_checked_again_when_firing(desk, frozen, sink):
    configure(sms_numbers="")
    answered = new_ticket(desk, priority="high")
    breach = point(answered, "first_response", 100)
    # A change that did not pass through the tickets services (say, a data fix in SQL).
    answered.first_responded_at = MONDAY_10 + timedelta(minutes=5)
    moved = new_ticket(desk, priority="high")
    moved_breach = point(moved, "first_response", 100)
    moved.first_response_due_at = MONDAY_10 + timedelta(hours=3)
    closed = new_ticket(desk, priority="high")
    closed_breach = point(closed, "resolution", 100)
    closed.status = "closed"
    db.session.flush()

    frozen.now = MONDAY_10 + timedelta(hours=5)
    assert escalations.fire_escalation(breach.id) == "skipped"
    assert escalations.fire_escalation(moved_breach.id) == "skipped"
    assert escalations.fire_escalation(closed_breach.id) == "skipped"
    assert [breach.outcome, moved_breach.outcome, closed_breach.outcome] == [
        "Answered before the escalation.",
        "The due time moved.",
        "Ticket closed before the escalation.",
    ]
    assert sink.mails == []


def test_a_late_worker_sends_only_the_highest_passed_level(desk, frozen, sink):
    configure(sms_numbers="")
    ticket = new_ticket(desk, priority="high")
    frozen.now = MONDAY_10 + timedelta(hours=3)  # the worker was down past the breach

    results = [process(point(ticket, "first_response", lvl).id) for lvl in (50, 80, 100)]

    assert results == ["skipped", "skipped", "fired"]
    assert len(sink.mails) == 1 and "SLA breached" in sink.mails[0].message["Subject"]
    skipped = db.session.scalars(
        select(SlaEscalation.outcome).where(
            SlaEscalation.ticket_id == ticket.id, SlaEscalation.status == "skipped"
        )
    ).all()
    assert skipped == ["Superseded: the breach has passed too."] * 2


def test_an_early_message_waits_for_its_moment(desk, frozen, sink):
    configure(sms_numbers="")
    ticket = new_ticket(desk, priority="high")
    warning = point(ticket, "first_response", 50)  # 10:30
    frozen.now = MONDAY_10 + timedelta(minutes=29)

    assert process(warning.id) == "pending"
    db.session.commit()

    assert sink.mails == []
    [delayed] = [Message.decode(data) for data in list(broker.queues["sla.DQ"].queue)]
    assert delayed.args == (desk.org.id, warning.id)
    assert delayed.options["eta"] - delayed.message_timestamp == pytest.approx(60_000, abs=50)


def test_an_smtp_server_that_is_down_leaves_the_mail_for_a_retry(app, desk, frozen, sink):
    configure(sms_numbers="")
    ticket = new_ticket(desk, priority="high")
    frozen.now = MONDAY_10 + timedelta(hours=1)
    breach = point(ticket, "first_response", 100)
    app.config["SMTP_URL"] = "smtp://127.0.0.1:9"

    assert process(breach.id) == "fired"
    [row] = notifications(breach)
    # Nothing went out: back in the queue, for a retry after a backoff.
    assert (row.status, row.attempts) == ("queued", 1)
    assert "ConnectionRefusedError" in row.last_error
    app.config["SMTP_URL"] = sink.url
    assert delivery.deliver("email") == {}  # not before its retry time
    assert sink.mails == []

    retry_comes_due([row])
    assert process(breach.id) == "fired"
    assert len(sink.mails) == 1
    assert notifications(breach)[0].status == "sent"


def test_gateway_refusals_are_retried_or_given_up(desk, frozen, sink, gateway):
    configure(sms_numbers=f"{ON_CALL}, +905329998877")
    ticket = new_ticket(desk, priority="high")
    frozen.now = MONDAY_10 + timedelta(hours=1)
    breach = point(ticket, "first_response", 100)
    gateway.script(503, {"message": "Try later"})
    gateway.script(400, {"code": 21610, "message": "Unsubscribed recipient"})

    assert process(breach.id) == "fired"
    email_row, first_sms, second_sms = notifications(breach)
    assert email_row.status == "sent"
    assert (first_sms.status, first_sms.attempts) == ("queued", 1)
    assert "(503): Try later" in first_sms.last_error
    assert (second_sms.status, second_sms.attempts) == ("failed", 1)
    assert "Unsubscribed recipient" in second_sms.last_error

    retry_comes_due([first_sms])
    assert process(breach.id) == "fired"  # the outbox's retry
    assert [m.to for m in gateway.messages] == [ON_CALL]
    assert [row.status for row in notifications(breach)] == ["sent", "sent", "failed"]
    assert len(sink.mails) == 1


def test_a_crash_between_sending_and_recording_sends_again_with_the_same_message_id(
    app, monkeypatch, desk, frozen, sink
):
    configure(sms_numbers="")
    ticket = new_ticket(desk, priority="high")
    frozen.now = MONDAY_10 + timedelta(hours=1)
    breach = point(ticket, "first_response", 100)

    def die_before_recording(*args, **kwargs):
        raise RuntimeError("worker killed after the mail went out")

    with monkeypatch.context() as patch:
        patch.setattr(delivery, "record_outcomes", die_before_recording)
        with pytest.raises(RuntimeError):
            process(breach.id)

    [row] = notifications(breach)
    assert (row.status, row.attempts, row.provider_id) == ("claimed", 1, "")
    assert len(sink.mails) == 1

    # While its lease runs, a retry of the firing or another delivery loop leaves it alone.
    assert process(breach.id) == "fired"
    assert len(sink.mails) == 1
    assert notifications(breach)[0].status == "claimed"

    # Once the lease ran out, the outbox's sweep puts it back in the queue and nudges a worker.
    broker.flush("outbox")
    lease_over = datetime.now(UTC) + timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"] + 1)
    delivery.sweep(now=lease_over)
    assert (desk.org.id, "email") in queued("outbox", desk.org.id)
    [row] = notifications(breach)
    assert row.status == "queued"
    # At least once: it goes again, with the same Message-ID, so a mail client shows it once.
    assert delivery.deliver("email") == {"sent": 1}
    first, second = sink.mails
    assert first.message["Message-ID"] == second.message["Message-ID"] == row.message_id
    [row] = notifications(breach)
    assert (row.status, row.attempts) == ("sent", 2)
    # The escalation itself fired once.
    assert len(escalation_events(ticket)) == 1


def test_an_sms_whose_answer_was_lost_is_confirmed_by_its_delivery_report(
    app, client, monkeypatch, desk, frozen, sink, gateway
):
    configure()
    ticket = new_ticket(desk, priority="high")
    frozen.now = MONDAY_10 + timedelta(hours=1)
    breach = point(ticket, "first_response", 100)
    real_send = sms.SmsGateway.send

    def answer_lost(self, *args, **kwargs):
        real_send(self, *args, **kwargs)
        raise sms.SmsUncertain("The SMS gateway did not answer: ReadTimeout")

    monkeypatch.setattr(sms.SmsGateway, "send", answer_lost)
    assert process(breach.id) == "fired"
    monkeypatch.setattr(sms.SmsGateway, "send", real_send)

    _email, row = notifications(breach)
    # At least once: an answer that never came means a retry, after a backoff.
    assert (row.status, row.provider_id) == ("queued", "")
    assert "did not answer" in row.last_error
    assert process(breach.id) == "fired"
    assert len(gateway.messages) == 1  # not sent again before its retry time

    [texted] = gateway.messages
    report = {"MessageSid": texted.sid, "MessageStatus": "sent", "To": ON_CALL}
    path = f"/outbox/sms-status/{desk.org.id}/{row.id}"
    assert signed_status(app, client, desk, path, report).status_code == 204
    row = notifications(breach)[1]
    assert (row.status, row.provider_id, row.delivery_status) == ("sent", texted.sid, "sent")
    # The report confirmed it: its retry no longer goes.
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id)
        .values(next_attempt_at=datetime.now(UTC))
    )
    assert delivery.deliver("sms") == {}
    assert len(gateway.messages) == 1


def test_the_sweeps_enqueue_due_points_and_resume_unfinished_deliveries(desk, frozen, sink):
    configure(sms_numbers="")
    ticket = new_ticket(desk, priority="normal")  # first response due 14:00, points at 12:00, 13:12
    frozen.now = MONDAY_10 + timedelta(hours=1, minutes=56)

    sla_sweep.sweep()  # 12:00 is within five minutes
    warning = point(ticket, "first_response", 50)
    assert queued("sla.DQ", desk.org.id) == [(desk.org.id, warning.id)]  # held until 12:00
    assert warning.enqueued_at == frozen()
    sla_sweep.sweep()  # already enqueued: a second sweep adds nothing
    assert queued("sla.DQ", desk.org.id) == [(desk.org.id, warning.id)]
    broker.flush("sla.DQ")

    # The worker fired it but the nudge to send was lost: the outbox's sweep nudges again
    # once nobody picked the message up for a while.
    frozen.now = MONDAY_10 + timedelta(hours=2)
    assert escalations.fire_escalation(warning.id) == "fired"
    assert [n.status for n in notifications(warning)] == ["queued"]
    assert queued("outbox", desk.org.id) == [(desk.org.id, "email")]
    broker.flush("outbox")  # lost with the worker that held it
    sla_sweep.sweep()
    delivery.sweep()
    assert queued("outbox", desk.org.id) == []  # not idle long enough yet
    delivery.sweep(now=datetime.now(UTC) + delivery.NUDGE_GRACE + timedelta(seconds=1))
    assert queued("outbox", desk.org.id) == [(desk.org.id, "email")]
    assert process(warning.id) == "fired"
    assert [n.status for n in notifications(warning)] == ["sent"]
    assert len(sink.mails) == 1


def test_smtp_refusing_a_recipient_is_permanent(monkeypatch, desk, frozen, sink):
    configure(sms_numbers="")
    ticket = new_ticket(desk, priority="high")
    frozen.now = MONDAY_10 + timedelta(hours=1)
    breach = point(ticket, "first_response", 100)

    def refuse(self, sender_address, recipient_address, data):
        raise smtplib.SMTPRecipientsRefused({desk.lead.email: (550, b"No such user")})

    monkeypatch.setattr(email_transport.SmtpTransport, "send_bytes", refuse)
    assert process(breach.id) == "fired"
    [row] = notifications(breach)
    assert row.status == "failed" and "SMTP 550 at RCPT: No such user" in row.last_error
    # A hard bounce: later messages to the address are not even tried.
    assert db.session.scalars(select(Suppression.address)).all() == [desk.lead.email]


def test_the_status_webhook_refuses_what_it_cannot_trust(app, client, desk, gateway):
    path = f"/outbox/sms-status/{desk.org.id}/1"
    assert client.post(path, data={"MessageSid": "SM1", "MessageStatus": "sent"}).status_code == 403
    previous = app.config["SMS_GATEWAY_URL"]
    app.config["SMS_GATEWAY_URL"] = ""  # no gateway, no secret: webhooks are off
    try:
        report = {"MessageSid": "SM1", "MessageStatus": "sent"}
        assert signed_status(app, client, desk, path, report, secret="x").status_code == 403
    finally:
        app.config["SMS_GATEWAY_URL"] = previous
    # Signed, but naming a notification that is not this organization's SMS.
    report = {"MessageSid": "SM1", "MessageStatus": "sent"}
    assert signed_status(app, client, desk, path, report).status_code == 404
