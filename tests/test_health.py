"""/health and the admin's System page, on the real database, Redis and broker queues.

The test client's requests come from 127.0.0.1 (loopback: /health shows its details);
`environ_base=REMOTE` makes one come from elsewhere.
"""

import re
import time
import uuid

import dramatiq
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from crm_web import jobs
from crm_web.db import tenant_scope
from crm_web.devservices import free_port
from crm_web.extensions import db
from crm_web.system import services
from crm_web.system.models import FailedJob
from worker.broker import broker

HEALTH_QUEUE = "test-health"  # messages here are only counted, never run


@dramatiq.actor(queue_name=HEALTH_QUEUE)
def parked_for_health(value: int) -> None:
    raise AssertionError("never processed")


@pytest.fixture
def health_queue():
    broker.flush(HEALTH_QUEUE)
    broker.flush(f"{HEALTH_QUEUE}.DQ")
    yield
    broker.flush(HEALTH_QUEUE)
    broker.flush(f"{HEALTH_QUEUE}.DQ")


def test_health_reports_database_redis_and_queue_depths_to_loopback(client, health_queue):
    parked_for_health.send(1)
    parked_for_health.send(2)
    parked_for_health.send_with_options(args=(3,), delay=60_000)

    response = client.get("/health")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    report = response.get_json()
    assert report["status"] == "ok"
    assert report["database"] == "ok"
    assert report["redis"] == "ok"
    assert report["queues"][HEALTH_QUEUE] == {"ready": 2, "delayed": 1, "dead": 0}
    # The app's own queues are declared by its jobs (crm_web.jobs), in the web process too.
    assert {job.queue_name for job in jobs.ALL_JOBS} <= set(report["queues"])
    assert {"outbox", "default", "sla", "imports"} <= set(report["queues"])
    assert "set-cookie" not in {name.lower() for name in response.headers.keys()}


def test_health_is_503_when_redis_is_unreachable(app, client):
    working = app.extensions["redis"]
    # Nothing listens on the port; no retries, so the refusal is reported at once.
    app.extensions["redis"] = redis.Redis(
        host="127.0.0.1", port=free_port(), socket_timeout=2, retry=Retry(NoBackoff(), 0)
    )
    try:
        response = client.get("/health")
    finally:
        app.extensions["redis"] = working

    assert response.status_code == 503
    report = response.get_json()
    assert report["status"] == "degraded"
    assert report["database"] == "ok"
    assert report["redis"] == "error: ConnectionError"
    assert "queues" not in report


REMOTE = {"REMOTE_ADDR": "203.0.113.9"}


def test_health_tells_the_public_only_its_status(client, health_queue):
    parked_for_health.send(1)

    response = client.get("/health", environ_base=REMOTE)

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_a_relayed_request_from_loopback_gets_no_details(client):
    # A proxy on this machine connects from 127.0.0.1; the header it adds marks the relay.
    # Its value is never believed: claiming loopback in it changes nothing either.
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        response = client.get("/health", headers={header: "127.0.0.1"})
        assert response.get_json() == {"status": "ok"}, header
    response = client.get("/health", headers={"X-Forwarded-For": "127.0.0.1"}, environ_base=REMOTE)
    assert response.get_json() == {"status": "ok"}


def test_loopback_details_can_be_switched_off(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "HEALTH_DETAILS_FROM_LOOPBACK", False)

    assert client.get("/health").get_json() == {"status": "ok"}


def test_a_signed_in_admin_gets_the_details_from_anywhere(client, make_org, make_user, login_as):
    organization, admin = make_org("Ops Co")
    login_as(make_user(organization, role="sales"))
    assert client.get("/health", environ_base=REMOTE).get_json() == {"status": "ok"}
    client.post("/logout")
    login_as(admin)

    report = client.get("/health", environ_base=REMOTE).get_json()

    assert report["database"] == "ok" and "queues" in report


def test_the_public_still_sees_503_when_degraded(app, client):
    working = app.extensions["redis"]
    app.extensions["redis"] = redis.Redis(
        host="127.0.0.1", port=free_port(), socket_timeout=2, retry=Retry(NoBackoff(), 0)
    )
    try:
        response = client.get("/health", environ_base=REMOTE)
    finally:
        app.extensions["redis"] = working

    assert response.status_code == 503
    assert response.get_json() == {"status": "degraded"}


@pytest.fixture
def default_redis_broker(redis_broker, monkeypatch):
    """The test RedisBroker as the process's broker, so /health reads its queues."""
    rbroker, namespace, _client = redis_broker
    monkeypatch.setattr(jobs, "broker", rbroker)
    monkeypatch.setattr(jobs, "REDIS_NAMESPACE", namespace)
    return redis_broker


def test_health_counts_ready_delayed_and_dead_messages_in_redis(client, default_redis_broker):
    rbroker, namespace, redis_client = default_redis_broker

    def report(value: int) -> None:
        pass

    def broken(value: int) -> None:
        raise RuntimeError("broken on purpose")

    reports = dramatiq.actor(report, broker=rbroker, queue_name="reports")
    breaking = dramatiq.actor(broken, broker=rbroker, queue_name="broken", max_retries=0)
    reports.send(1)
    reports.send(2)
    reports.send_with_options(args=(3,), delay=60_000)
    breaking.send(4)

    # A real worker on the "broken" queue dead-letters its message.
    rworker = dramatiq.Worker(rbroker, queues={"broken"}, worker_timeout=50, worker_threads=1)
    rworker.start()
    try:
        deadline = time.monotonic() + 10
        while redis_client.zcard(f"{namespace}:broken.XQ") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        rworker.stop()

    response = client.get("/health")

    assert response.status_code == 200
    assert response.get_json()["queues"] == {
        "broken": {"ready": 0, "delayed": 0, "dead": 1},
        "reports": {"ready": 2, "delayed": 1, "dead": 0},
    }


def failed_job(organization_id, actor_name, args, error):
    """A failed job as the worker records it: as its organization, or as no tenant for the system's."""
    with tenant_scope(organization_id):
        db.session.add(
            FailedJob(
                message_id=uuid.uuid4().hex,
                organization_id=organization_id,
                queue_name="email",
                actor_name=actor_name,
                args=args,
                error=error,
            )
        )
        db.session.flush()


@pytest.fixture
def system_state(health_queue, make_org):
    """Ops Co's admin, a scheduled job, a scheduler tick, a worker heartbeat, a failed job and queued messages."""
    organization, admin = make_org("Ops Co")
    assert services.claim_job("nightly-report", 3600)
    assert services.claim_job(services.TICK_JOB, 0)
    services.record_worker_heartbeat()
    failed_job(
        organization.id,
        "send_invitation",
        [organization.id, 42],
        "SMTPRecipientsRefused: mailbox unavailable",
    )
    db.session.commit()
    parked_for_health.send(1)
    parked_for_health.send(2)
    parked_for_health.send_with_options(args=(3,), delay=60_000)
    return admin


def test_system_page_shows_queues_scheduled_jobs_and_failed_jobs(client, login_as, system_state):
    admin = system_state
    login_as(admin)

    response = client.get("/admin/system")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<h1>System</h1>" in page
    assert f"<tr><td>{HEALTH_QUEUE}</td><td>2</td><td>1</td><td>0</td></tr>" in page
    assert re.search(
        r"<tr><td>nightly-report</td><td>3600 s</td><td>\d{4}-\d\d-\d\d [\d:]{8}</td>"
        rf"<td>{re.escape(services.process_label())}</td><td>1</td></tr>",
        page,
    )
    assert f"<td>{services.TICK_JOB}</td>" not in page  # shown as the last tick instead
    assert re.search(r"<h3>Last scheduler tick</h3><p>\d{4}-\d\d-\d\d [\d:]{8} UTC</p>", page)
    assert re.search(r"<h3>Last worker heartbeat</h3><p>\d{4}-\d\d-\d\d [\d:]{8} UTC</p>", page)
    assert re.search(
        rf"<td>send_invitation</td><td>email</td><td><code>\[{admin.organization_id}, 42\]</code></td>"
        r"<td>SMTPRecipientsRefused: mailbox unavailable</td>",
        page,
    )
    assert "No failed jobs." not in page


def test_system_page_shows_only_this_organizations_failed_jobs(client, make_org, login_as):
    ops, ops_admin = make_org("Ops Co")
    other, _other_admin = make_org("Other Co")
    failed_job(ops.id, "send_reply", [ops.id, 5], "SMTPDataError: ops")
    failed_job(other.id, "send_reply", [other.id, 9], "SMTPDataError: secret@other.example")
    failed_job(None, "sweep_escalations", [], "OperationalError: for every organization")
    db.session.commit()
    login_as(ops_admin)

    page = client.get("/admin/system").get_data(as_text=True)

    assert "SMTPDataError: ops" in page
    assert "secret@other.example" not in page
    assert "for every organization" not in page
    assert "1 failed job of the system itself" in page


def test_system_page_fragment_for_htmx_polling(client, login_as, system_state):
    login_as(system_state)

    response = client.get("/admin/system", headers={"HX-Request": "true"})

    assert response.status_code == 200
    fragment = response.get_data(as_text=True).strip()
    assert fragment.startswith('<div id="system-status"')
    assert "<h1>" not in fragment and "<html" not in fragment
    assert f"<tr><td>{HEALTH_QUEUE}</td><td>2</td><td>1</td><td>0</td></tr>" in fragment
    assert "HX-Request" in response.headers.get("Vary", "")


def test_system_page_is_forbidden_to_a_sales_user(client, make_org, make_user, login_as):
    organization, _admin = make_org("Ops Co")
    login_as(make_user(organization, role="sales"))

    response = client.get("/admin/system")

    assert response.status_code == 403
    assert "Failed jobs" not in response.get_data(as_text=True)


def test_system_page_sends_anonymous_visitors_to_sign_in(client):
    response = client.get("/admin/system")

    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
