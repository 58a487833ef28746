"""Open tickets follow a policy or business-hours change: in the change's transaction when
few, else by a background job in chunks whose progress the settings page shows; a newer
change supersedes a running job, a job run twice does the work once, the sweep restarts a
job that stopped, and a recompute's due points go out as one message per moment."""

# The desk and frozen fixtures are imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

from datetime import datetime, timedelta

import pytest
from dramatiq import Message
from sqlalchemy import func, select
from test_sla_escalations import (  # noqa: F401  (fixtures: empty SLA queues, desk, frozen)
    MONDAY_10,
    _empty_sla_queues,
    configure,
    desk,
    frozen,
    make_desk,
    new_ticket,
)
from worker_fixtures import running_worker

from crm_web.db import set_tenant, tenant_scope
from crm_web.extensions import db
from crm_web.privacy.models import AuditEntry
from crm_web.sla import configuration, escalations, recompute
from crm_web.sla import sweep as sla_sweep
from crm_web.sla.models import SlaEscalation, SlaPolicy, SlaRecompute
from crm_web.tickets import services as tickets
from crm_web.tickets.models import Ticket
from tests import factories
from worker.broker import broker


@pytest.fixture
def small_jobs(monkeypatch):
    """More than two open tickets make a background job, recomputed two at a time."""
    monkeypatch.setattr(recompute, "INLINE_LIMIT", 2)
    monkeypatch.setattr(recompute, "CHUNK", 2)
    broker.flush("default")
    yield
    broker.flush("default")


def jobs_queued() -> list[tuple]:
    return [
        Message.decode(data).args
        for data in list(broker.queues["default"].queue)
        if Message.decode(data).actor_name == "recompute_sla_due_times"
    ]


def policies_of(ticket_ids) -> list[int | None]:
    db.session.expire_all()
    return [db.session.get(Ticket, ticket_id).sla_policy_id for ticket_id in ticket_ids]


def recompute_audits(organization_id: int) -> list[list[int]]:
    """The ids each set-based recompute write named in the audit log, oldest first."""
    return [
        entry.new_values["ids"]
        for entry in db.session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.organization_id == organization_id,
                AuditEntry.table_name == "tickets",
                AuditEntry.new_values["change"].astext == "SLA due times recomputed",
            )
            .order_by(AuditEntry.id)
        )
    ]


def high_policy(minutes: int = 30):
    return configuration.save_policy(
        priority="high",
        first_response_minutes=minutes,
        resolution_minutes=4 * minutes,
        business_hours=True,
    )


def test_a_change_for_few_open_tickets_recomputes_them_in_its_transaction(desk, frozen, small_jobs):
    configure(sms_numbers="")
    high = [new_ticket(desk, priority="high").id for _ in range(2)]
    normal = new_ticket(desk, priority="normal").id

    policy = high_policy()

    assert policies_of(high) == [policy.id, policy.id]
    assert db.session.get(Ticket, high[0]).first_response_due_at == MONDAY_10 + timedelta(
        minutes=30
    )
    assert policies_of([normal]) == [None]
    assert jobs_queued() == []
    assert recompute.recompute_status().running is False
    # One write for both tickets, audited once with their ids.
    assert recompute_audits(desk.org.id) == [high]


def test_a_change_for_many_open_tickets_commits_at_once_and_a_job_recomputes_them_in_chunks(
    desk, frozen, small_jobs, client, login_as
):
    configure(sms_numbers="")
    ticket_ids = [new_ticket(desk, priority="high").id for _ in range(5)]
    due_before = db.session.get(Ticket, ticket_ids[0]).first_response_due_at

    policy = high_policy()

    # The change is saved; the tickets wait for the job the worker was sent.
    assert db.session.get(SlaPolicy, policy.id).first_response_minutes == 30
    assert policies_of(ticket_ids) == [None] * 5
    assert db.session.get(Ticket, ticket_ids[0]).first_response_due_at == due_before
    job = recompute.recompute_status()
    assert (job.status, job.priorities, job.total, job.done) == ("running", ["high"], 5, 0)
    assert jobs_queued() == [(desk.org.id, job.generation)]

    recompute._run_chunk(job.generation, set())
    assert policies_of(ticket_ids) == [policy.id] * 2 + [None] * 3
    login_as(desk.admin)
    page = client.get("/sla/settings").get_data(as_text=True)
    assert "Recomputing due times: 2 of 5 tickets" in page
    assert 'hx-trigger="every 2s"' in page

    set_tenant(desk.org.id, desk.admin.id)
    recompute.run_job(job.generation)
    assert policies_of(ticket_ids) == [policy.id] * 5
    assert db.session.get(Ticket, ticket_ids[4]).first_response_due_at == MONDAY_10 + timedelta(
        minutes=30
    )
    poll = client.get("/sla/settings/recompute", headers={"HX-Request": "true"})
    fragment = poll.get_data(as_text=True)
    assert "Due times recomputed: 5 open tickets follow the new rules." in fragment
    assert "hx-trigger" not in fragment

    # Run again (a message delivered twice): nothing more is done.
    set_tenant(desk.org.id, desk.admin.id)
    audits = recompute_audits(desk.org.id)
    assert audits == [ticket_ids[:2], ticket_ids[2:4], ticket_ids[4:]]
    recompute.run_job(job.generation)
    assert recompute_audits(desk.org.id) == audits
    assert recompute.recompute_status().done == 5


def test_a_newer_change_supersedes_a_running_job_and_covers_what_it_had_left(
    desk, frozen, small_jobs
):
    configure(sms_numbers="")
    high = [new_ticket(desk, priority="high").id for _ in range(3)]
    normal = [new_ticket(desk, priority="normal").id for _ in range(3)]
    high_targets = high_policy()
    first = recompute.recompute_status().generation
    recompute._run_chunk(first, set())
    assert policies_of(high) == [high_targets.id] * 2 + [None]

    normal_targets = configuration.save_policy(
        priority="normal", first_response_minutes=45, resolution_minutes=600, business_hours=True
    )

    job = recompute.recompute_status()
    assert job.generation == first + 1
    assert (job.priorities, job.total, job.done, job.last_ticket_id) == (
        ["high", "normal"],
        6,
        0,
        0,
    )
    recompute.run_job(first)  # the superseded job's message: it stops at once
    assert recompute.recompute_status().done == 0
    assert policies_of(high + normal) == [high_targets.id] * 2 + [None] * 4

    recompute.run_job(job.generation)
    assert policies_of(high + normal) == [high_targets.id] * 3 + [normal_targets.id] * 3
    assert recompute.recompute_status().status == "done"


def test_a_small_change_while_a_job_runs_is_recomputed_in_its_transaction(desk, frozen, small_jobs):
    configure(sms_numbers="")
    high = [new_ticket(desk, priority="high").id for _ in range(3)]
    urgent = new_ticket(desk, priority="urgent").id
    high_policy()
    generation = recompute.recompute_status().generation

    urgent_targets = configuration.save_policy(
        priority="urgent", first_response_minutes=5, resolution_minutes=30, business_hours=False
    )

    assert policies_of([urgent]) == [urgent_targets.id]
    job = recompute.recompute_status()
    assert (job.generation, job.running) == (generation, True)  # left to run on
    recompute.run_job(generation)
    assert None not in policies_of(high)


def test_the_sweep_sends_a_job_that_stopped_moving_again(desk, frozen, small_jobs):
    configure(sms_numbers="")
    for _ in range(3):
        new_ticket(desk, priority="high")
    high_policy()
    generation = recompute.recompute_status().generation
    broker.flush("default")

    sla_sweep.sweep()
    assert jobs_queued() == []  # it has not been quiet for long

    frozen.now = MONDAY_10 + sla_sweep.STALE_AFTER + timedelta(minutes=1)
    sla_sweep.sweep()
    assert jobs_queued() == [(desk.org.id, generation)]
    sla_sweep.sweep()
    assert len(jobs_queued()) == 1


def test_a_recomputes_due_points_get_one_message_per_moment(desk, frozen):
    configure(sms_numbers="")
    ticket_ids = [new_ticket(desk, priority="high").id for _ in range(3)]  # first response 11:00

    # At 10:40 the first response is due after 30 minutes: every breach (10:30) has passed,
    # and so have the warnings (10:15, 10:24), which are not sent late.
    frozen.now = MONDAY_10 + timedelta(minutes=40)
    high_policy()

    messages = [Message.decode(data) for data in list(broker.queues["sla"].queue)]
    assert [(m.actor_name, m.args[0], datetime.fromisoformat(m.args[1])) for m in messages] == [
        ("fire_due_sla_escalations", desk.org.id, frozen.now)
    ]
    assert list(broker.queues["sla.DQ"].queue) == []

    assert escalations.fire_due_by(frozen.now) == 3
    db.session.expire_all()
    fired = db.session.scalars(
        select(SlaEscalation.ticket_id).where(
            SlaEscalation.ticket_id.in_(ticket_ids),
            SlaEscalation.status == "fired",
            SlaEscalation.level == 100,
        )
    ).all()
    assert sorted(fired) == ticket_ids


def test_a_due_moment_message_that_comes_early_is_sent_again_for_its_moment(desk, frozen):
    configure(sms_numbers="")
    moment = frozen.now + timedelta(minutes=2)

    assert escalations.fire_due_by(moment) == 0

    [message] = [Message.decode(data) for data in list(broker.queues["sla.DQ"].queue)]
    assert (message.actor_name, message.args) == (
        "fire_due_sla_escalations",
        (desk.org.id, moment.isoformat()),
    )


# -- with a real worker and committed data ----------------------------------------------------


@pytest.fixture
def committed_desk(request, make_org, monkeypatch):
    organizations = request.getfixturevalue("committed_context")
    request.getfixturevalue("stub_broker")
    monkeypatch.setattr(recompute, "INLINE_LIMIT", 2)
    monkeypatch.setattr(recompute, "CHUNK", 2)
    broker.flush("default")
    desk = make_desk(make_org)
    organizations.append(desk.org.id)
    db.session.commit()
    yield desk
    broker.flush("default")


@pytest.mark.committed
def test_the_worker_runs_the_job_and_a_message_delivered_twice_does_the_work_once(
    committed_desk,
):
    desk = committed_desk
    ticket_ids = []
    for _ in range(5):
        customer = factories.customer(desk.org)
        db.session.commit()
        set_tenant(desk.org.id, desk.admin.id)
        ticket_ids.append(
            tickets.create_ticket(subject="Slow pages", customer_id=customer.id, priority="high").id
        )
    policy = high_policy()
    [message] = [Message.decode(data) for data in list(broker.queues["default"].queue)]
    broker.enqueue(message.copy())  # the same job twice, as a redelivery would

    with running_worker(broker, {"default"}):  # two threads: both copies run at once
        broker.join("default", timeout=20_000)

    assert broker.dead_letters_by_queue["default"] == []
    with tenant_scope(desk.org.id):
        db.session.expire_all()
        job = db.session.get(SlaRecompute, desk.org.id)
        assert (job.status, job.done, job.total) == ("done", 5, 5)
        assert policies_of(ticket_ids) == [policy.id] * 5
        # Each chunk was written once, by whichever run took it.
        assert sorted(sum(recompute_audits(desk.org.id), [])) == sorted(ticket_ids)
        assert (
            db.session.scalar(
                select(func.count()).where(
                    SlaEscalation.ticket_id.in_(ticket_ids), SlaEscalation.status == "pending"
                )
            )
            == len(ticket_ids) * 6
        )  # 50%, 80% and breach of both targets
        db.session.commit()
