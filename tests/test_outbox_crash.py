"""A real `dramatiq` worker process killed with SIGKILL in the middle of a batch (2,000
invitations; 300 ticket replies): after a restart every message arrives within a minute, and
only messages in flight at the kill arrive twice, with the same Message-ID."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from smtp_sink import running_sink
from sqlalchemy import text

from crm_web.db import clear_tenant, tenant_scope
from crm_web.extensions import db
from crm_web.jobs import DELIVER_OUTBOX, REDIS_NAMESPACE
from crm_web.outbox import delivery, services
from crm_web.tickets import services as tickets
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
LEASE_SECONDS = 4


def _start_worker(database_url: str, redis_url: str, smtp_url: str) -> subprocess.Popen:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CRM_BROKER", "PYTEST_XDIST_WORKER", "PYTEST_CURRENT_TEST")
    }
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SMTP_URL=smtp_url,
        SECRET_KEY="crash-test",
        OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS),
        LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "worker.main", "--processes", "1", "--threads", "4"]
        + ["--queues", DELIVER_OUTBOX.queue_name],
        cwd=ROOT,
        env=env,
        start_new_session=True,  # its own process group: the kill takes its children too
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _nudge(redis_url: str, organization_id: int, loops: int = 4) -> None:
    broker = RedisBroker(url=redis_url, namespace=REDIS_NAMESPACE)
    try:
        broker.declare_queue(DELIVER_OUTBOX.queue_name)
        for _ in range(loops):
            broker.enqueue(
                Message(
                    queue_name=DELIVER_OUTBOX.queue_name,
                    actor_name=DELIVER_OUTBOX.name,
                    args=(organization_id, "email"),
                    kwargs={},
                    options={},
                )
            )
    finally:
        broker.close()


def _statuses(database_url: str, organization_id: int) -> Counter:
    with psycopg.connect(database_url) as connection:
        return Counter(
            dict(
                connection.execute(
                    "SELECT status, count(*) FROM outbox_messages WHERE organization_id = %s "
                    "GROUP BY status",
                    (organization_id,),
                ).fetchall()
            )
        )


def _claimed_ids(database_url: str, organization_id: int) -> list[int]:
    with psycopg.connect(database_url) as connection:
        return [
            row[0]
            for row in connection.execute(
                "SELECT id FROM outbox_messages WHERE organization_id = %s AND status = 'claimed'",
                (organization_id,),
            )
        ]


def _database_now(database_url: str):
    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT now()").fetchone()[0]


def _last_sent(database_url: str, ids: list[int]):
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT max(sent_at) FROM outbox_messages WHERE id = ANY(%s)", (ids,)
        ).fetchone()[0]


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out waiting for {what}.")
        time.sleep(0.1)


def _invitations(organization) -> int:
    """2,000 invitations (the delivery-pipeline issue's batch)."""
    count = 2000
    db.session.execute(
        text(
            "INSERT INTO users (organization_id, email, name, role, department, skills, is_active) "
            "SELECT :org, 'invitee-' || n || '-' || :org || '@example.com', 'Davetli ' || n, "
            "'sales', '', '{}', true FROM generate_series(1, :count) AS n"
        ),
        {"org": organization.id, "count": count},
    )
    users = db.session.execute(
        text("SELECT id, email FROM users WHERE organization_id = :org AND role = 'sales'"),
        {"org": organization.id},
    ).all()
    services.queue_many(
        [
            services.Item("invitation", services.Recipient(email, user_id=id_), source_id=id_)
            for id_, email in users
        ]
    )
    return count


def _ticket_replies(organization) -> int:
    """300 public replies on tickets (the security issue's case), through the tickets service."""
    count = 300
    customer = factories.customer(organization, primary_email="waiting@example.com")
    for number in range(count // 10):
        ticket = tickets.create_ticket(subject=f"Sipariş {number}", customer_id=customer.id)
        for reply in range(10):
            tickets.add_reply(ticket.id, f"Yanıt {reply}")
    return count


@pytest.mark.committed
@pytest.mark.parametrize("write_messages", [_invitations, _ticket_replies])
def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_only_what_was_in_flight(
    app, make_org, committed_context, database_url, redis_url, stub_broker, write_messages
):
    organization, admin = make_org("Crash Co")
    committed_context.append(organization.id)
    with tenant_scope(organization.id, admin.id):
        total = write_messages(organization)
        db.session.commit()
    clear_tenant()
    db.session.remove()
    stub_broker.flush(DELIVER_OUTBOX.queue_name)  # this process's nudges: the test sends its own

    with running_sink() as sink:
        worker = _start_worker(database_url, redis_url, sink.url)
        try:
            _nudge(redis_url, organization.id)
            _wait_for(lambda: len(sink.mails) >= total // 3, 90, "the first third to arrive")
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
            in_flight_ids = _claimed_ids(database_url, organization.id)
            in_flight = len(in_flight_ids)
            received_before = len(sink.mails)
            assert 0 < received_before < total, "the kill came in the middle of the batch"

            time.sleep(LEASE_SECONDS + 0.5)
            with app.app_context():
                # The scheduler's sweep: expired leases go back to the queue (its nudge goes
                # to this process's stub broker; the restarted worker gets the test's own).
                delivery.sweep()
                db.session.remove()
            stub_broker.flush(DELIVER_OUTBOX.queue_name)
            restarted_at = _database_now(database_url)
            worker = _start_worker(database_url, redis_url, sink.url)
            _nudge(redis_url, organization.id)
            # How long the rest takes depends on the machine; the bound is on the recovery.
            _wait_for(
                lambda: _statuses(database_url, organization.id)["sent"] == total,
                240,
                "every message to be sent after the restart",
            )
            # What the dead worker held went out again within a minute of the restart.
            recovered_by = _last_sent(database_url, in_flight_ids)
            assert recovered_by is None or (recovered_by - restarted_at).total_seconds() < 60
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        received = Counter(mail.message["Message-ID"] for mail in sink.mails)

    with psycopg.connect(database_url) as connection:
        stored = {
            row[0]
            for row in connection.execute(
                "SELECT message_id FROM outbox_messages WHERE organization_id = %s",
                (organization.id,),
            )
        }
    assert set(received) == stored  # every message arrived, under the Message-ID it was given
    duplicates = sum(count - 1 for count in received.values())
    # At most what each of the four delivery threads had sent since its last mark.
    assert duplicates <= min(in_flight, 4 * delivery.MARK_EVERY)
