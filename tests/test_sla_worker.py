"""Escalations through a real dramatiq Worker, with committed data: two schedulers sweeping at
the same moment fire each point once, and a worker that dies between sending and recording
does not send a second notification when its message is retried."""

import threading
from datetime import timedelta

import pytest
from dramatiq import Message
from sla_helpers import freeze
from sqlalchemy import select

# gateway, sink, committed_context and stub_broker are fixtures, taken by request.getfixturevalue.
from test_sla_escalations import (  # noqa: F401
    MONDAY_10,
    ON_CALL,
    configure,
    gateway,
    make_desk,
    point,
    sink,
)
from test_worker import committed_context, running_worker, stub_broker  # noqa: F401
from ticket_factories import make_customer

from crm_web.db import set_tenant, tenant_scope
from crm_web.extensions import db
from crm_web.sla import services as sla
from crm_web.sla.models import SlaEscalation, SlaNotification
from crm_web.tickets import services as tickets
from worker.actors.sla import fire_sla_escalation
from worker.broker import broker

pytestmark = pytest.mark.committed
QUEUES = ("sla", "sla_notifications")


@pytest.fixture
def frozen(monkeypatch):
    return freeze(monkeypatch, MONDAY_10)


@pytest.fixture
def desk(request, make_org):
    """A committed help desk (deleted afterwards) with a real SMTP sink and SMS gateway, and
    the stub broker's queues empty."""
    organizations = request.getfixturevalue("committed_context")
    request.getfixturevalue("stub_broker")
    for name in QUEUES:
        broker.flush(name)
        broker.flush(f"{name}.DQ")
    desk = make_desk(make_org)
    organizations.append(desk.org.id)
    db.session.commit()
    desk.sink = request.getfixturevalue("sink")
    desk.gateway = request.getfixturevalue("gateway")
    yield desk
    for name in QUEUES:
        broker.flush(name)
        broker.flush(f"{name}.DQ")


def open_ticket(desk):
    customer = make_customer(desk.org)
    db.session.commit()
    set_tenant(desk.org.id, desk.admin.id)
    return tickets.create_ticket(
        subject="Payments fail", customer_id=customer.id, department="Support", priority="high"
    )


def queued_ids(organization_id: int) -> list[int]:
    messages = [Message.decode(data) for data in list(broker.queues["sla"].queue)]
    return sorted(m.args[1] for m in messages if m.args[0] == organization_id)


def in_tenant(desk, fn):
    with tenant_scope(desk.org.id):
        db.session.expire_all()
        return fn()


def test_two_schedulers_sweeping_at_once_fire_each_point_once(app, desk, frozen):
    configure()
    ticket = open_ticket(desk)
    frozen.now = MONDAY_10 + timedelta(hours=1, seconds=30)  # past all three first-response points
    first_response = [point(ticket, "first_response", level).id for level in (50, 80, 100)]
    breach_id = first_response[-1]
    db.session.commit()

    start = threading.Barrier(2)
    errors = []

    def scheduler():
        try:
            with app.app_context():
                start.wait(timeout=10)
                sla.sweep()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    # Each due point was claimed by exactly one of the two sweeps.
    assert queued_ids(desk.org.id) == sorted(first_response)

    # A lost-and-found duplicate of the breach's message changes nothing either.
    fire_sla_escalation.send(desk.org.id, breach_id)
    with running_worker(broker, QUEUES):
        for queue in QUEUES:
            broker.join(queue, timeout=20_000)

    statuses = in_tenant(
        desk,
        lambda: dict(
            db.session.execute(
                select(SlaEscalation.id, SlaEscalation.status).where(
                    SlaEscalation.id.in_(first_response)
                )
            ).all()
        ),
    )
    # The late warnings are superseded by the breach; the breach fires once.
    assert [statuses[id_] for id_ in first_response] == ["skipped", "skipped", "fired"]
    events = in_tenant(
        desk,
        lambda: [
            m
            for m in tickets.thread(ticket.id)
            if m.kind == "event" and m.data.get("event") == "sla_escalation"
        ],
    )
    assert len(events) == 1
    assert [mail.rcpt_tos for mail in desk.sink.mails] == [[desk.lead.email]]
    assert [sms.to for sms in desk.gateway.messages] == [ON_CALL]

    # Sweeping again, twice at once, finds nothing more to do for these points.
    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    start.reset()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert queued_ids(desk.org.id) == []


def test_a_worker_killed_between_send_and_commit_sends_no_second_notification(
    monkeypatch, desk, frozen
):
    configure()
    ticket = open_ticket(desk)
    frozen.now = MONDAY_10 + timedelta(hours=1)
    breach_id = point(ticket, "first_response", 100).id
    db.session.commit()

    real_mark_sent = sla._mark_sent
    calls = []

    def die_once_after_sending(notification_id, provider_id):
        calls.append(notification_id)
        if len(calls) == 1:
            # The mail has gone out; the process dies before recording it.
            raise RuntimeError("worker killed between send and commit")
        return real_mark_sent(notification_id, provider_id)

    monkeypatch.setattr(sla, "_mark_sent", die_once_after_sending)
    # Short backoff so the retry comes within the test, as the actor's would within seconds.
    fire_sla_escalation.send_with_options(
        args=(desk.org.id, breach_id), min_backoff=50, max_backoff=100
    )
    with running_worker(broker, QUEUES):
        for queue in QUEUES:
            broker.join(queue, timeout=20_000)

    assert all(broker.dead_letters_by_queue[queue] == [] for queue in QUEUES)
    assert len(desk.sink.mails) == 1  # sent once, not again on the retry
    assert [sms.to for sms in desk.gateway.messages] == [ON_CALL]  # the retry sent what was left
    rows = in_tenant(
        desk,
        lambda: list(
            db.session.scalars(
                select(SlaNotification)
                .where(SlaNotification.escalation_id == breach_id)
                .order_by(SlaNotification.id)
            )
        ),
    )
    assert [(r.channel, r.status, r.attempts) for r in rows] == [
        ("email", "sending", 1),
        ("sms", "sent", 1),
    ]
    assert rows[1].provider_id == desk.gateway.messages[0].sid

    # Later the sweep marks the unconfirmed claim so the log shows it; still one mail.
    sla.sweep(now=frozen() + sla.STALE_AFTER + timedelta(seconds=1))
    status = in_tenant(desk, lambda: db.session.get(SlaNotification, rows[0].id).status)
    assert status == "unconfirmed"
    assert len(desk.sink.mails) == 1
