"""The scheduler's job slots: claim_job's conditional UPDATE and worker.scheduler.tick."""

import threading
import time
import uuid

import psycopg
import pytest
from dramatiq import Message
from sqlalchemy import text

from crm_web.extensions import db
from crm_web.system import services
from crm_web.system.models import ScheduledJob
from worker import scheduler
from worker.broker import broker


def unique_name(prefix: str = "test-job") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def job_row(name: str) -> ScheduledJob:
    db.session.expire_all()
    return db.session.get(ScheduledJob, name)


def move_last_run_back(name: str, seconds: int) -> None:
    db.session.execute(
        text(
            "UPDATE scheduled_jobs SET last_run_at = last_run_at - make_interval(secs => :s) "
            "WHERE name = :n"
        ),
        {"s": seconds, "n": name},
    )


def test_a_second_claim_within_the_interval_loses():
    name = unique_name()

    assert services.claim_job(name, 60) is True
    assert services.claim_job(name, 60) is False

    job = job_row(name)
    assert job.run_count == 1
    assert job.interval_seconds == 60
    assert job.last_run_by == services.process_label()
    assert job.last_run_at is not None


def test_the_job_can_be_claimed_again_once_the_interval_has_passed():
    name = unique_name()
    assert services.claim_job(name, 60) is True
    first_run_at = job_row(name).last_run_at

    # Within this test's one transaction now() stands still, so move the last run back instead.
    move_last_run_back(name, 61)
    assert services.claim_job(name, 60) is True
    assert services.claim_job(name, 60) is False

    job = job_row(name)
    assert job.run_count == 2
    assert job.last_run_at == first_run_at  # now(): the same transaction


@pytest.fixture
def committed_jobs(app, database_url):
    """An app context for a `committed` test; deletes the scheduled_jobs rows it is told about."""
    names: list[str] = []
    context = app.app_context()
    context.push()
    try:
        yield names
    finally:
        db.session.remove()
        context.pop()
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute("DELETE FROM scheduled_jobs WHERE name = ANY(%s)", (names,))


@pytest.mark.committed
def test_after_the_interval_passes_in_real_time_the_job_is_claimed_again(committed_jobs):
    name = unique_name()
    committed_jobs.append(name)

    assert services.claim_job(name, 1) is True
    assert services.claim_job(name, 1) is False
    time.sleep(1.0)
    assert services.claim_job(name, 1) is True
    assert services.claim_job(name, 1) is False
    assert job_row(name).run_count == 2


def claim_in_threads(
    app, name: str, count: int, start: threading.Barrier | None = None
) -> list[bool]:
    """`count` schedulers, each a thread with its own app context (so its own connection)."""
    results: list[bool | BaseException] = [None] * count  # type: ignore[list-item]

    def run(index: int) -> None:
        try:
            with app.app_context():
                if start is not None:
                    start.wait(timeout=10)
                results[index] = services.claim_job(name, 60)
        except BaseException as exc:  # reported by the main thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    return threads, results


def finish(threads, results) -> list[bool]:
    for thread in threads:
        thread.join(timeout=15)
        assert not thread.is_alive()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


@pytest.mark.committed
def test_concurrent_schedulers_claim_a_new_job_exactly_once(app, committed_jobs):
    for _round in range(3):
        name = unique_name("race")
        committed_jobs.append(name)

        results = finish(*claim_in_threads(app, name, 4, start=threading.Barrier(4)))

        assert sorted(results) == [False, False, False, True]
        assert job_row(name).run_count == 1


@pytest.mark.committed
def test_schedulers_blocked_on_the_same_row_claim_it_exactly_once(
    app, committed_jobs, database_url
):
    """Both schedulers reach the conditional UPDATE while another transaction holds the row;
    when it lets go, the first takes the slot and the second re-checks the updated row."""
    name = unique_name("locked")
    committed_jobs.append(name)
    assert services.claim_job(name, 60) is True
    db.session.execute(
        text("UPDATE scheduled_jobs SET last_run_at = now() - interval '1 hour' WHERE name = :n"),
        {"n": name},
    )
    db.session.commit()

    with (
        psycopg.connect(database_url) as holder,
        psycopg.connect(database_url, autocommit=True) as monitor,
    ):
        holder.execute("SELECT 1 FROM scheduled_jobs WHERE name = %s FOR UPDATE", (name,))
        threads, results = claim_in_threads(app, name, 2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            waiting = monitor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE 'UPDATE scheduled_jobs%%'"
            ).fetchone()[0]
            if waiting == 2:
                break
            time.sleep(0.01)
        assert waiting == 2, "both schedulers should be waiting on the row lock"
        holder.commit()

    assert sorted(finish(threads, results)) == [False, True]
    assert job_row(name).run_count == 2


def heartbeat_messages() -> list[Message]:
    return [
        message
        for message in (Message.decode(data) for data in list(broker.queues["default"].queue))
        if message.actor_name == "record_worker_heartbeat"
    ]


def test_tick_enqueues_the_heartbeat_once_when_called_twice(app):
    broker.flush("default")

    # Every job runs on the first tick (the other domains add theirs to JOBS).
    assert scheduler.tick(app) == [job.name for job in scheduler.JOBS]
    assert scheduler.tick(app) == []

    assert len(heartbeat_messages()) == 1
    # Every tick is recorded, so the System page shows the scheduler is alive.
    assert job_row(services.TICK_JOB).run_count == 2
    heartbeat = job_row("worker-heartbeat")
    assert heartbeat.run_count == 1
    assert heartbeat.interval_seconds == 60

    # Once the interval has passed, the next tick enqueues it again.
    move_last_run_back("worker-heartbeat", 61)
    assert scheduler.tick(app) == ["worker-heartbeat"]
    assert len(heartbeat_messages()) == 2
    broker.flush("default")


@pytest.mark.committed
def test_two_schedulers_ticking_at_once_enqueue_the_heartbeat_once(app, committed_jobs):
    committed_jobs.extend([services.TICK_JOB, *(job.name for job in scheduler.JOBS)])
    broker.flush("default")
    start = threading.Barrier(2)
    ran: list = [None, None]

    def run(index: int) -> None:
        start.wait(timeout=10)
        ran[index] = scheduler.tick(app)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)

    # Each job's slot goes to one of the two (not necessarily the same one for every job).
    assert sorted(name for names in ran for name in names) == sorted(
        job.name for job in scheduler.JOBS
    )
    assert len(heartbeat_messages()) == 1
    assert job_row(services.TICK_JOB).run_count == 2
    broker.flush("default")


def test_a_job_that_fails_gives_its_slot_back_for_the_next_tick(app, monkeypatch):
    name = unique_name("failing")
    attempts = []

    def fails():
        attempts.append(1)
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(scheduler, "JOBS", (scheduler.PeriodicJob(name, 24 * 3600, fails),))
    assert scheduler.tick(app) == []
    assert job_row(name).last_run_at is None
    assert scheduler.tick(app) == []
    assert len(attempts) == 2  # a daily job is not skipped for a day
