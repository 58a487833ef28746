"""Escalations through a real dramatiq Worker, with committed data: two schedulers sweeping at
the same moment fire each point once, and a notification whose worker died between sending and
recording goes again, with the same Message-ID, once its lease ran out and the sweep passed."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from dramatiq import Message
from sla_helpers import freeze
from sqlalchemy import select

# gateway and sink are fixtures, taken by request.getfixturevalue.
from test_sla_escalations import (  # noqa: F401
    MONDAY_10,
    ON_CALL,
    configure,
    gateway,
    make_desk,
    point,
    sink,
)
from worker_fixtures import running_worker

from crm_web.db import set_tenant, tenant_scope
from crm_web.extensions import db
from crm_web.outbox import delivery
from crm_web.outbox.services import messages_for
from crm_web.sla import sweep as sla_sweep
from crm_web.sla.messages import NOTIFICATION_KINDS
from crm_web.sla.models import SlaEscalation
from crm_web.system.models import FailedJob
from crm_web.tickets import services as tickets
from tests import factories
from worker.actors.sla import fire_sla_escalation
from worker.broker import broker

pytestmark = pytest.mark.committed
QUEUES = ("sla", "outbox")


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
    customer = factories.customer(desk.org)
    db.session.commit()
    set_tenant(desk.org.id, desk.admin.id)
    return tickets.create_ticket(
        subject="Payments fail", customer_id=customer.id, department="Support", priority="high"
    )


def queued_ids(organization_id: int, queue_name: str = "sla") -> list:
    messages = [Message.decode(data) for data in list(broker.queues[queue_name].queue)]
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
                sla_sweep.sweep()
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


def test_a_worker_killed_between_send_and_commit_sends_again_with_the_same_message_id(
    app, monkeypatch, desk, frozen
):
    configure()
    ticket = open_ticket(desk)
    frozen.now = MONDAY_10 + timedelta(hours=1)
    breach_id = point(ticket, "first_response", 100).id
    db.session.commit()

    real_record_outcomes = delivery.record_outcomes
    deaths = []

    def die_once_after_sending_email(channel, outcomes, **kwargs):
        if channel == "email" and not deaths:
            deaths.append(outcomes)
            # The mail has gone out; the process dies before recording it.
            raise RuntimeError("worker killed between send and commit")
        return real_record_outcomes(channel, outcomes, **kwargs)

    monkeypatch.setattr(delivery, "record_outcomes", die_once_after_sending_email)
    fire_sla_escalation.send(desk.org.id, breach_id)
    with running_worker(broker, QUEUES):
        for queue in QUEUES:
            broker.join(queue, timeout=20_000, fail_fast=False)

    assert broker.dead_letters_by_queue["sla"] == []
    # The delivery loop that died is the only job lost (a real crash would leave no trace).
    [dead] = broker.dead_letters_by_queue["outbox"]
    assert (dead.actor_name, dead.args) == ("deliver_outbox", (desk.org.id, "email"))
    broker.dead_letters_by_queue["outbox"].clear()
    [mail] = desk.sink.mails
    assert [sms.to for sms in desk.gateway.messages] == [ON_CALL]  # the other channel went on

    def notifications():
        return [
            (row.channel, row.status, row.attempts, row.message_id, row.provider_id)
            for row in messages_for(tuple(NOTIFICATION_KINDS.values()), [breach_id])
        ]

    email_row, sms_row = in_tenant(desk, notifications)
    assert email_row == ("email", "claimed", 1, mail.message["Message-ID"], "")
    assert sms_row[:3] == ("sms", "sent", 1) and sms_row[4] == desk.gateway.messages[0].sid

    # The scheduler's outbox sweep, once the lease ran out, puts it back and nudges a worker,
    # which sends it again with the same Message-ID: at least once, never lost.
    lease_over = datetime.now(UTC) + timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"] + 1)
    delivery.sweep(now=lease_over)
    assert queued_ids(desk.org.id, "outbox") == ["email"]
    with running_worker(broker, QUEUES):
        broker.join("outbox", timeout=20_000)
    assert broker.dead_letters_by_queue["outbox"] == []

    first, second = desk.sink.mails
    assert first.message["Message-ID"] == second.message["Message-ID"] == email_row[3]
    assert len(desk.gateway.messages) == 1
    email_row, _sms_row = in_tenant(desk, notifications)
    assert email_row[1:3] == ("sent", 2)
    # The escalation fired once, whatever happened to its notification.
    events = in_tenant(
        desk,
        lambda: [
            m
            for m in tickets.thread(ticket.id)
            if m.kind == "event" and m.data.get("event") == "sla_escalation"
        ],
    )
    assert len(events) == 1
    # The failed delivery job is on the System page of the organization (deleted with it).
    failed = in_tenant(desk, lambda: db.session.scalars(select(FailedJob.actor_name)).all())
    assert failed == ["deliver_outbox"]
