"""The worker side: enqueue-after-commit, actors run by a real dramatiq Worker, failed jobs, Redis.

Actors run in the Worker's own threads. Those threads push their own app context, so their
sessions use their own pooled connections and see only committed data: the tests whose actors
read or write the database are therefore `committed` and delete what they created.
"""

import re
import time
import uuid

import dramatiq
import pytest
import redis
from sqlalchemy import select
from worker_fixtures import queued, running_worker

from crm_web import jobs
from crm_web.accounts.models import User
from crm_web.accounts.services import invitation_user, invite_user
from crm_web.db import atomic, clear_tenant, set_tenant, tenant_scope
from crm_web.extensions import db
from crm_web.outbox import services as outbox
from crm_web.outbox.models import OutboxMessage
from crm_web.system.models import FailedJob
from worker.actors.base import actor_for
from worker.middleware import AppContextMiddleware

# Test jobs, declared at import so their queues exist before any Worker starts.
FAILING_QUEUE = "test-failing"
PARKED_QUEUE = "test-parked"  # messages here are only counted, never run
ALWAYS_FAILS = jobs.Job("always_fails", FAILING_QUEUE, tenant=False, options={"max_retries": 0})
ALWAYS_FAILS_FOR_AN_ORGANIZATION = jobs.Job(
    "always_fails_for_an_organization", FAILING_QUEUE, options={"max_retries": 0}
)
PARKED = jobs.Job("parked", PARKED_QUEUE, tenant=False, options={"max_retries": 0})


@actor_for(ALWAYS_FAILS)
def always_fails(marker: str) -> None:
    raise RuntimeError(f"boom {marker}")


@actor_for(ALWAYS_FAILS_FOR_AN_ORGANIZATION)
def always_fails_for_an_organization(marker: str) -> None:
    raise RuntimeError(f"boom {marker}")


@actor_for(PARKED)
def parked(value: int) -> None:
    raise AssertionError("parked messages are never processed")


@pytest.mark.committed
def test_invitation_is_sent_after_commit_and_emailed_by_the_worker(
    app, stub_broker, committed_context, make_org, smtp_to_sink
):
    organization, admin = make_org("Invite Co")
    committed_context.append(organization.id)
    # Empty, delayed nudges (a retry's, from an earlier test) included: the join waits for them.
    stub_broker.flush("outbox")
    stub_broker.flush("outbox.DQ")
    email = f"ivy-{uuid.uuid4().hex[:8]}@example.com"

    @atomic
    def invite_in_a_larger_transaction():
        user = invite_user(email=email, name="Ivy Invitee", role="sales")
        # invite_user joined this transaction: nothing is committed, so nothing is queued yet.
        assert stub_broker.queues["outbox"].qsize() == 0
        return user

    set_tenant(organization.id, admin.id)
    user = invite_in_a_larger_transaction()
    clear_tenant()

    [message] = queued(stub_broker, "outbox")
    assert message.actor_name == "deliver_outbox"
    assert message.args == (organization.id, "email")

    with running_worker(stub_broker, {"outbox"}):
        stub_broker.join("outbox", timeout=10_000)

    assert stub_broker.dead_letters_by_queue["outbox"] == []
    [mail] = smtp_to_sink.mails
    assert mail.rcpt_tos == [email]
    assert mail.message["To"] == f"Ivy Invitee <{email}>"
    assert mail.message["Subject"] == "You are invited to Invite Co"
    links = re.findall(r"(\S+/invite/(\S+))", mail.body)
    assert len(links) == 1
    link, token = links[0]
    assert link.startswith(f"{app.config['BASE_URL']}/invite/")
    # The link's token names the invited user, who has no password yet.
    assert invitation_user(token).id == user.id
    with tenant_scope(organization.id):
        [row] = outbox.messages_for(("invitation",), [user.id])
        assert (row.status, row.message_id) == ("sent", mail.message["Message-ID"])


@pytest.mark.committed
def test_an_invitation_is_not_emailed_to_a_user_who_already_has_a_password(
    app, stub_broker, committed_context, make_org, make_user, smtp_to_sink
):
    organization, _admin = make_org("Accepted Co")
    committed_context.append(organization.id)
    user = make_user(organization, role="sales")  # has a password already
    stub_broker.flush("outbox")
    stub_broker.flush("outbox.DQ")

    with tenant_scope(organization.id):
        outbox.queue(
            "invitation",
            [outbox.Recipient(user.email, user.name, user_id=user.id)],
            source_id=user.id,
        )
        db.session.commit()
    with running_worker(stub_broker, {"outbox"}):
        stub_broker.join("outbox", timeout=10_000)

    assert stub_broker.dead_letters_by_queue["outbox"] == []
    assert smtp_to_sink.mails == []
    with tenant_scope(organization.id):
        [row] = outbox.messages_for(("invitation",), [user.id])
        assert (row.status, row.last_error) == ("cancelled", "The invitation was accepted already.")


def test_a_rolled_back_transaction_sends_nothing(stub_broker):
    stub_broker.flush(PARKED_QUEUE)

    jobs.enqueue_after_commit(PARKED, 1)
    db.session.rollback()
    assert stub_broker.queues[PARKED_QUEUE].qsize() == 0
    # The pending message was discarded, not kept for the next commit.
    db.session.commit()
    assert stub_broker.queues[PARKED_QUEUE].qsize() == 0

    jobs.enqueue_after_commit(PARKED, 2)
    jobs.enqueue_after_commit(PARKED, 3, delay_ms=60_000)
    assert stub_broker.queues[PARKED_QUEUE].qsize() == 0  # not before the commit
    db.session.commit()
    assert [message.args for message in queued(stub_broker, PARKED_QUEUE)] == [(2,)]
    [delayed] = queued(stub_broker, f"{PARKED_QUEUE}.DQ")
    assert delayed.args == (3,)
    stub_broker.flush(PARKED_QUEUE)
    stub_broker.flush(f"{PARKED_QUEUE}.DQ")


def test_an_invitation_in_a_failed_transaction_is_neither_saved_nor_sent(stub_broker, make_org):
    organization, admin = make_org("Rollback Co")
    stub_broker.flush("outbox")
    set_tenant(organization.id, admin.id)
    email = f"rolled-{uuid.uuid4().hex[:8]}@example.com"

    @atomic
    def invite_then_fail():
        invite_user(email=email, name="Never", role="sales")
        raise RuntimeError("a later step failed")

    with pytest.raises(RuntimeError):
        invite_then_fail()

    assert stub_broker.queues["outbox"].qsize() == 0
    set_tenant(organization.id, admin.id)
    assert db.session.scalar(select(User).where(User.email == email)) is None
    assert db.session.scalar(select(OutboxMessage).where(OutboxMessage.to_address == email)) is None
    clear_tenant()


@pytest.mark.committed
def test_a_message_that_fails_for_good_is_recorded_in_failed_jobs(
    app, stub_broker, committed_context
):
    marker = uuid.uuid4().hex
    stub_broker.flush(FAILING_QUEUE)

    message = always_fails.send(marker)
    try:
        with running_worker(stub_broker, {FAILING_QUEUE}):
            stub_broker.join(FAILING_QUEUE, timeout=10_000, fail_fast=False)
        # Stopping the worker joined its threads, so after_nack has finished writing.

        assert [dead.message_id for dead in stub_broker.dead_letters_by_queue[FAILING_QUEUE]] == [
            message.message_id
        ]
        failed = db.session.scalars(
            select(FailedJob).where(FailedJob.message_id == message.message_id)
        ).all()
        assert len(failed) == 1
        [job] = failed
        assert job.actor_name == "always_fails"
        assert job.queue_name == FAILING_QUEUE
        assert job.args == [marker]
        assert job.error == f"RuntimeError: boom {marker}"
        assert job.failed_at is not None
        assert job.organization_id is None  # not a tenant actor: a job of the system itself

        # A message nacked again (say, redelivered after a crash) is not recorded twice.
        middleware = next(m for m in stub_broker.middleware if isinstance(m, AppContextMiddleware))
        middleware.after_nack(stub_broker, stub_broker.dead_letters_by_queue[FAILING_QUEUE][0])
        db.session.rollback()
        again = db.session.scalars(
            select(FailedJob).where(FailedJob.message_id == message.message_id)
        ).all()
        assert [(row.id, row.error) for row in again] == [(job.id, job.error)]
    finally:
        db.session.rollback()
        db.session.execute(
            FailedJob.__table__.delete().where(FailedJob.message_id == message.message_id)
        )
        db.session.commit()
        stub_broker.dead_letters_by_queue[FAILING_QUEUE].clear()


@pytest.mark.committed
def test_a_failed_tenant_message_is_recorded_for_its_organization(
    app, stub_broker, committed_context, make_org, monkeypatch
):
    organization, _admin = make_org("Failing Co")
    committed_context.append(organization.id)
    stub_broker.flush(FAILING_QUEUE)
    marker = uuid.uuid4().hex

    # The middleware knows a tenant job by its declaration in crm_web.jobs.
    monkeypatch.setattr(
        jobs, "TENANT_JOB_NAMES", jobs.TENANT_JOB_NAMES | {ALWAYS_FAILS_FOR_AN_ORGANIZATION.name}
    )
    message = always_fails_for_an_organization.send(organization.id, marker)
    with running_worker(stub_broker, {FAILING_QUEUE}):
        stub_broker.join(FAILING_QUEUE, timeout=10_000, fail_fast=False)
    stub_broker.dead_letters_by_queue[FAILING_QUEUE].clear()

    def recorded():
        return db.session.scalars(
            select(FailedJob).where(FailedJob.message_id == message.message_id)
        ).all()

    assert recorded() == []  # row-level security: not the system's, nor another organization's
    with tenant_scope(organization.id):
        [job] = recorded()
    assert (job.organization_id, job.args) == (organization.id, [organization.id, marker])
    # The organization's deletion (committed_context) cascades to its failed jobs.


def test_a_real_redis_broker_delivers_a_message_to_a_worker(redis_broker, redis_url):
    rbroker, namespace, client = redis_broker
    effect_key = f"{namespace}:effect"

    def set_key(value: str) -> None:
        redis.Redis.from_url(redis_url).set(effect_key, value)

    actor = dramatiq.actor(set_key, broker=rbroker, queue_name="integration", actor_name="set_key")
    actor.send("it ran")

    # The message really is in Redis, under the broker's namespace.
    assert client.llen(f"{namespace}:integration") == 1
    assert client.get(effect_key) is None

    worker = dramatiq.Worker(rbroker, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while client.get(effect_key) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        rbroker.join("integration", timeout=10_000)
    finally:
        worker.stop()

    assert client.get(effect_key) == b"it ran"
    assert client.llen(f"{namespace}:integration") == 0
    assert client.zcard(f"{namespace}:integration.XQ") == 0
