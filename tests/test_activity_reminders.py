"""Reminders through the outbox, delivered to a real SMTP sink: each sent once with two sweeps or
two scheduler ticks racing, re-sent (same Message-ID) after a sender dies once its lease ran out,
retried after an SMTP failure, and not sent for an activity closed or moved in the meantime.

The racing and crashing tests commit their data: the other senders are threads and processes
with connections of their own. They delete their organization afterwards.
"""

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from dramatiq import Message
from sqlalchemy import select, text
from worker_fixtures import running_worker

from crm_web.activities import reminders, services
from crm_web.config import PROJECT_ROOT
from crm_web.db import clear_tenant, set_tenant, tenant_scope
from crm_web.extensions import db
from crm_web.messaging.email import SmtpTransport
from crm_web.outbox import channels, delivery, failures
from crm_web.outbox.models import OutboxMessage
from crm_web.system import services as system_services
from tests.activity_fixtures import make_team, plan, team_fixture  # noqa: F401 (fixture)
from worker import scheduler
from worker.broker import broker


@pytest.fixture
def sink(smtp_to_sink):
    """The shared SMTP sink fixture (worker_fixtures), made the app's SMTP_URL for the test."""
    return smtp_to_sink


def due_soon(team, count: int, user=None) -> list[int]:
    """`count` activities due in ten minutes with a reminder 15 minutes before: due already."""
    ids = [
        plan(
            team,
            user=user,
            subject=f"Reminder {index}",
            due_at=datetime.now(UTC) + timedelta(minutes=10),
            reminder_minutes_before=15,
        ).id
        for index in range(count)
    ]
    clear_tenant()
    return ids


def outbox(organization_id: int) -> dict[int, OutboxMessage]:
    """The organization's reminder messages as committed now, by activity id."""
    with tenant_scope(organization_id):
        rows = db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == reminders.KIND)
            .execution_options(populate_existing=True)
        ).all()
    return {row.source_id: row for row in rows}


def process_due_reminders() -> dict[str, int]:
    """What the workers do for the current organization: write its due reminders to the
    outbox (process_activity_reminders), then deliver them (deliver_outbox)."""
    reminders.write_due_reminders()
    return delivery.deliver("email")


def after_the_lease(app) -> datetime:
    """A moment when every lease taken now has run out."""
    return datetime.now(UTC) + timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"] + 1)


def reminder_ids(sink) -> list[str]:
    return [mail.message["Message-ID"] for mail in sink.mails]


# --- in the test's transaction ------------------------------------------------------------


def test_a_due_reminder_is_emailed_to_the_assignee_once_and_shown_on_the_activity(
    make_org, make_user, sink, client, login_as
):
    team = make_team(make_org, make_user, timezone="Europe/Istanbul", logins=True)
    [activity_id] = due_soon(team, 1)
    set_tenant(team.organization.id)

    assert process_due_reminders() == {"sent": 1}
    assert process_due_reminders() == {}

    [mail] = sink.mails
    assert mail.rcpt_tos == [team.seller.email]
    assert mail.message["To"] == f"Sam Seller <{team.seller.email}>"
    assert mail.message["Subject"].startswith("Reminder: Reminder 0 at ")
    assert "Customer 0 Ltd" in mail.body and "(Europe/Istanbul)" in mail.body
    assert f"/activities/{activity_id}" in mail.body
    row = outbox(team.organization.id)[activity_id]
    assert (row.status, row.attempts, row.user_id) == ("sent", 1, team.seller.id)
    assert row.message_id == mail.message["Message-ID"]
    remind_at = datetime.fromisoformat(row.context["remind_at"])
    assert remind_at == services.get_activity(activity_id).reminder_at
    assert row.sent_at is not None

    login_as(team.seller)
    page = client.get(f"/activities/{activity_id}").get_data(as_text=True)
    assert 'class="badge reminder-sent">sent</span>' in page


def test_a_reminder_of_an_activity_closed_moved_or_long_past_due_is_not_sent(team, sink):
    closed, moved = due_soon(team, 2)
    set_tenant(team.organization.id, team.seller.id)
    # The scheduler was down: this one's reminder came due when the call was two hours away.
    missed = plan(team, due_at=datetime.now(UTC) - timedelta(hours=2), reminder_minutes_before=120)
    assert missed.reminder_armed is False  # past due already: not armed when created
    missed.reminder_armed = True
    assert len(reminders.write_due_reminders()) == 3
    services.complete_activity(closed, acting_user=team.seller, outcome="Done early")
    activity = services.get_activity(moved)
    services.update_activity(
        moved,
        acting_user=team.seller,
        activity_type="call",
        subject=activity.subject,
        customer_id=activity.customer_id,
        due_at=activity.due_at + timedelta(days=2),
        reminder_minutes_before=15,
    )

    assert delivery.deliver("email") == {"cancelled": 3}

    assert sink.mails == []
    rows = outbox(team.organization.id)
    assert rows[closed].last_error == "Not sent: the activity was completed first."
    assert rows[moved].last_error == "Not sent: the reminder was moved."
    assert rows[missed.id].last_error.startswith("Not sent: it was due over an hour before")
    set_tenant(team.organization.id, team.seller.id)
    # The moved one is armed again for its new time, which has not come yet.
    assert reminders.write_due_reminders() == []
    state = services.reminder_states([services.get_activity(moved)])[moved]
    assert state.status == "pending"


def test_an_smtp_failure_is_retried_later_and_then_sent(team, sink, app):
    [activity_id] = due_soon(team, 1)
    set_tenant(team.organization.id)
    app.config["SMTP_URL"] = "smtp://127.0.0.1:9"  # nothing listens there

    assert process_due_reminders() == {"queued": 1}
    row = outbox(team.organization.id)[activity_id]
    assert (row.status, row.attempts) == ("queued", 1)
    assert "ConnectionRefusedError" in row.last_error
    # The outbox's first backoff: between half and one and a half RETRY_BASE.
    assert row.next_attempt_at > datetime.now(UTC) + failures.RETRY_BASE / 2 - timedelta(seconds=5)
    # Not before its time.
    set_tenant(team.organization.id)
    assert process_due_reminders() == {}

    db.session.execute(
        text("UPDATE outbox_messages SET next_attempt_at = now() WHERE id = :id"),
        {"id": row.id},
    )
    app.config["SMTP_URL"] = sink.url
    assert process_due_reminders() == {"sent": 1}
    row = outbox(team.organization.id)[activity_id]
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, "")
    assert len(sink.mails) == 1


def test_a_refused_recipient_fails_for_good(team, sink, monkeypatch):
    import smtplib

    [activity_id] = due_soon(team, 1)

    def refuse(self, sender_address, recipient_address, data):
        raise smtplib.SMTPRecipientsRefused({recipient_address: (550, b"No such mailbox")})

    monkeypatch.setattr(SmtpTransport, "send_bytes", refuse)
    set_tenant(team.organization.id)
    assert process_due_reminders() == {"failed": 1}
    row = outbox(team.organization.id)[activity_id]
    assert (row.status, row.attempts) == ("failed", 1)
    assert "SMTP 550 at RCPT: No such mailbox" in row.last_error
    set_tenant(team.organization.id, team.seller.id)
    state = services.reminder_states([services.get_activity(activity_id)])[activity_id]
    assert (state.status, state.attempts) == ("failed", 1)


# --- committed: racing and crashing senders -----------------------------------------------


@pytest.fixture
def committed(app, database_url):
    """An app context for a committed test; deletes the organizations and job slots it lists."""
    created = {"organizations": [], "jobs": []}
    context = app.app_context()
    context.push()
    try:
        yield created
    finally:
        db.session.remove()
        clear_tenant()
        context.pop()
        with psycopg.connect(database_url, autocommit=True) as connection:
            for organization_id in created["organizations"]:
                connection.execute(
                    "DELETE FROM audit_log WHERE organization_id = %s", (organization_id,)
                )
                connection.execute("DELETE FROM organizations WHERE id = %s", (organization_id,))
            connection.execute(
                "DELETE FROM scheduled_jobs WHERE name = ANY(%s)", (created["jobs"],)
            )


def committed_team(committed, make_org, make_user, count: int):
    team = make_team(make_org, make_user, name="Reminder Co")
    committed["organizations"].append(team.organization.id)
    ids = due_soon(team, count)
    db.session.commit()
    return team, ids


def in_threads(app, count: int, work) -> list:
    """Run `work()` in `count` threads at once, each with its own app context and connection."""
    start = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            with app.app_context():
                start.wait(timeout=10)
                results[index] = work()
        except BaseException as exc:  # reported by the main thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def assert_sent_once(team, ids, sink, attempts: dict[int, int] | None = None) -> None:
    """Each reminder sent, one mail each; claimed once, but for the `attempts` given."""
    rows = outbox(team.organization.id)
    assert sorted(rows) == sorted(ids)
    assert {row.status for row in rows.values()} == {"sent"}
    assert len(sink.mails) == len(ids)
    assert sorted(reminder_ids(sink)) == sorted(row.message_id for row in rows.values())
    attempts = attempts or {}
    assert {id_: row.attempts for id_, row in rows.items()} == {
        id_: attempts.get(id_, 1) for id_ in ids
    }


@pytest.mark.committed
def test_two_sweeps_racing_send_each_reminder_exactly_once(
    app, committed, make_org, make_user, sink
):
    team, ids = committed_team(committed, make_org, make_user, 12)

    def sweep():
        with tenant_scope(team.organization.id):
            return process_due_reminders()

    results = in_threads(app, 2, sweep)

    assert sum(result.get("sent", 0) for result in results) == 12
    assert_sent_once(team, ids, sink)
    # And a third, later sweep finds nothing to do.
    assert in_threads(app, 1, sweep) == [{}]
    assert len(sink.mails) == 12


def queued(broker, queue_name: str, actor_name: str) -> list[Message]:
    return [
        message
        for message in (Message.decode(data) for data in list(broker.queues[queue_name].queue))
        if message.actor_name == actor_name
    ]


@pytest.mark.committed
@pytest.mark.usefixtures("stub_broker")
def test_two_scheduler_ticks_racing_remind_once_through_the_worker(
    app, committed, make_org, make_user, sink
):
    committed["jobs"].extend([system_services.TICK_JOB, *(job.name for job in scheduler.JOBS)])
    db.session.execute(
        text("DELETE FROM scheduled_jobs WHERE name = ANY(:names)"), {"names": committed["jobs"]}
    )
    team, ids = committed_team(committed, make_org, make_user, 6)
    # Empty, delayed nudges (a retry's, from an earlier test) included: the join waits for them.
    for queue in ("default", "outbox", "outbox.DQ"):
        broker.flush(queue)

    ran = in_threads(app, 2, lambda: scheduler.tick(app))

    assert sorted("activity-reminders" in names for names in ran) == [False, True]
    assert len(queued(broker, "default", "sweep_activity_reminders")) == 1
    # Two sweeps anyway (a second scheduler with a skewed clock, an operator's manual run):
    # each queues the organization's reminder work, and the two run at once on two worker
    # threads; what they write, the outbox's delivery loop sends.
    broker.flush("default")
    for _ in range(2):
        assert team.organization.id in reminders.sweep()
    messages = queued(broker, "default", "process_activity_reminders")
    assert [m.args for m in messages].count((team.organization.id,)) == 2
    with running_worker(broker, {"default", "outbox"}):
        broker.join("default", timeout=30_000)
        broker.join("outbox", timeout=30_000)

    assert broker.dead_letters_by_queue["default"] == []
    assert broker.dead_letters_by_queue["outbox"] == []
    assert_sent_once(team, ids, sink)


CLAIM_AND_HANG = """
import sys, time
from crm_web import create_app
from crm_web.activities import reminders
from crm_web.db import tenant_scope
from crm_web.outbox import delivery

app = create_app()
with app.app_context(), tenant_scope(int(sys.argv[1])):
    reminders.write_due_reminders()
    [reminder] = delivery.claim("email", owner="doomed sender", limit=1)
    print(reminder.source_id, flush=True)
    time.sleep(120)  # killed here: between the claim and the send
"""


@pytest.mark.committed
def test_a_sender_killed_between_claim_and_send_leaves_the_row_for_the_next_sweep(
    app, committed, make_org, make_user, sink, database_url, redis_url, stub_broker
):
    team, ids = committed_team(committed, make_org, make_user, 3)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    sender = subprocess.Popen(
        [sys.executable, "-c", CLAIM_AND_HANG, str(team.organization.id)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        claimed = int(sender.stdout.readline())
        assert claimed in ids

        # While it holds its claim, another sweep sends the rest and skips that row.
        with tenant_scope(team.organization.id):
            assert process_due_reminders() == {"sent": 2}
        assert outbox(team.organization.id)[claimed].status == "claimed"
        assert len(sink.mails) == 2
    finally:
        sender.send_signal(signal.SIGKILL)
        sender.wait(timeout=10)
        sender.stdout.close()

    # The dead sender's claim is a committed lease: it holds until it runs out.
    with tenant_scope(team.organization.id):
        assert process_due_reminders() == {}
    # Then the outbox's sweep puts the row back in the queue and the next loop sends it.
    broker.flush("outbox")
    delivery.sweep(now=after_the_lease(app))
    assert (team.organization.id, "email") in [
        m.args for m in queued(broker, "outbox", "deliver_outbox")
    ]
    broker.flush("outbox")
    with tenant_scope(team.organization.id):
        assert process_due_reminders() == {"sent": 1}
    assert_sent_once(team, ids, sink, attempts={claimed: 2})


@pytest.mark.committed
def test_a_sender_dying_after_the_send_resends_with_the_same_message_id(
    app, committed, make_org, make_user, sink, monkeypatch, stub_broker
):
    """The documented edge of the guarantee: accepted by SMTP, not yet marked sent, then a
    crash. Once its lease ran out and the sweep passed, it goes again under the same
    Message-ID, so the mailbox can tell."""
    team, [activity_id] = committed_team(committed, make_org, make_user, 1)
    organization_id = team.organization.id  # the crash's rollback expires loaded rows
    real_send = channels.EmailChannel.send

    def send_then_die(self, *args, **kwargs):
        real_send(self, *args, **kwargs)
        raise SystemExit("the worker process dies")

    monkeypatch.setattr(channels.EmailChannel, "send", send_then_die)
    with tenant_scope(organization_id), pytest.raises(SystemExit):
        process_due_reminders()
    assert outbox(organization_id)[activity_id].status == "claimed"

    monkeypatch.setattr(channels.EmailChannel, "send", real_send)
    with tenant_scope(organization_id):
        assert process_due_reminders() == {}  # not while its lease runs
    delivery.sweep(now=after_the_lease(app))
    with tenant_scope(organization_id):
        assert process_due_reminders() == {"sent": 1}
    row = outbox(organization_id)[activity_id]
    assert (row.status, row.attempts) == ("sent", 2)
    assert reminder_ids(sink) == [row.message_id, row.message_id]


@pytest.mark.usefixtures("stub_broker")
def test_the_sweep_only_names_organizations_with_reminder_work(team):
    broker.flush("default")
    plan(team, due_at=datetime.now(UTC) + timedelta(days=3), reminder_minutes_before=15)
    clear_tenant()
    assert team.organization.id not in reminders.due_organizations()

    due_soon(team, 1)
    assert team.organization.id in reminders.sweep()
    assert [m.args for m in queued(broker, "default", "process_activity_reminders")] == [
        (team.organization.id,)
    ]
    broker.flush("default")


@pytest.mark.usefixtures("stub_broker")
def test_the_scheduler_runs_the_reminder_sweep():
    [job] = [job for job in scheduler.JOBS if job.name == "activity-reminders"]
    assert job.interval_seconds <= 60
    broker.flush("default")
    job.run()
    assert len(queued(broker, "default", "sweep_activity_reminders")) == 1
    broker.flush("default")
