"""Redis down, then back: pages, sign-in and forms keep working, and nobody is signed out.

Each test starts a private redis-server on a free loopback port (keeping nothing on disk, as in
production) and stops it for real; the shared Redis is never touched. The app under test talks
to it from its own engine, so its data is committed (an organization of its own, deleted
afterwards).
"""

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
import redis
from smtp_sink import running_sink

from crm_web.config import PROJECT_ROOT
from crm_web.db import tenant_scope
from crm_web.devservices import free_port
from crm_web.outbox import delivery
from tests.conftest import make_config

pytestmark = pytest.mark.committed

PASSWORD = "outage-password"
BANNER = 'id="background-delayed"'
REDIS_SERVER = shutil.which("redis-server")


class PrivateRedis:
    """A redis-server of this test's own, stopped and started again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def keys(self) -> list[bytes]:
        return redis.Redis(port=self.port).keys("*")


@pytest.fixture
def private_redis():
    if REDIS_SERVER is None:
        pytest.skip("no redis-server on the PATH")
    server = PrivateRedis()
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.fixture
def outage_app(app, database_url, private_redis):
    """An app of its own on the private Redis, CSRF on, probing Redis at every check."""
    from crm_web import create_app
    from crm_web.extensions import db

    outage = create_app(
        make_config(database_url, private_redis.url, WTF_CSRF_ENABLED=True, REDIS_PROBE_SECONDS=0)
    )
    yield outage
    with outage.app_context():
        db.engine.dispose()


@pytest.fixture
def organization(outage_app, database_url):
    """A committed organization with an admin; removed (with its audit trail) afterwards."""
    from crm_web.db import clear_tenant
    from crm_web.onboarding import create_organization

    slug = f"outage-{uuid.uuid4().hex[:8]}"
    with outage_app.app_context():
        organization, admin = create_organization(
            name=f"Outage {slug[-8:]}",
            slug=slug,
            admin_email=f"admin@{slug}.example",
            admin_name="Ada Admin",
            admin_password=PASSWORD,
        )
        clear_tenant()
    yield {"id": organization.id, "slug": slug, "email": admin.email}
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("DELETE FROM audit_log WHERE organization_id = %s", (organization.id,))
        connection.execute("DELETE FROM organizations WHERE id = %s", (organization.id,))


def _csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _sign_in(client, email: str):
    token = _csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})


def _invite(client, email: str):
    token = _csrf_token(client.get("/admin/users").get_data(as_text=True))
    return client.post(
        "/admin/users/invite",
        data={"name": "New Rep", "email": email, "role": "sales", "csrf_token": token},
    )


def test_pages_sign_in_and_forms_work_without_redis_and_sessions_survive_its_restart(
    outage_app, organization, private_redis, caplog
):
    client = outage_app.test_client()
    assert _sign_in(client, organization["email"]).status_code == 303
    for url in ("/", "/pipeline", "/forecast", "/customers"):
        page = client.get(url)
        assert page.status_code == 200 and BANNER not in page.get_data(as_text=True)
    assert any(key.startswith(b"crm:fragment:") for key in private_redis.keys())

    private_redis.stop()
    caplog.set_level(logging.WARNING)

    # Signed-in pages, kept fragments (rendered from the database) included.
    for url in ("/", "/pipeline", "/forecast", "/customers", "/admin/users", "/admin/system"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert BANNER in page.get_data(as_text=True), url
    # A form post whose work goes to the worker after commit (the stub broker takes it here;
    # the gunicorn test below sees the real broker's lost nudge).
    invited = _invite(client, f"rep-{uuid.uuid4().hex[:6]}@example.com")
    assert invited.status_code == 303
    # The public support form: its rate limit fails open.
    public = outage_app.test_client()
    form_page = public.get(f"/support/{organization['slug']}")
    assert form_page.status_code == 200
    submitted = public.post(
        f"/support/{organization['slug']}",
        data={
            "name": "Pat Public",
            "email": "pat@example.com",
            "category": "general",
            "subject": "Where is my order?",
            "description": "Ordered last week.",
            # No CSRF token: the form is embeddable and sets no cookie (see tickets.views).
            "website": "",
        },
    )
    assert submitted.status_code == 200
    assert "Thank you, we have your request" in submitted.get_data(as_text=True)
    assert "public form rate limit: allowed" in caplog.text
    # The sign-in page and signing in (throttling fails open).
    other = outage_app.test_client()
    login_page = other.get("/login")
    assert login_page.status_code == 200 and BANNER in login_page.get_data(as_text=True)
    assert _sign_in(other, organization["email"]).status_code == 303
    assert "sign-in throttling: not throttled" in caplog.text
    assert other.get("/").status_code == 200
    # Signing out still ends that session, and only that one.
    other_cookie = other.get_cookie("session").value
    token = _csrf_token(other.get("/").get_data(as_text=True))
    assert other.post("/logout", data={"csrf_token": token}).status_code == 303
    other.set_cookie("session", other_cookie)
    assert other.get("/").status_code == 302

    # Back, empty: still signed in, the banner gone, nothing restarted.
    private_redis.start()
    page = client.get("/pipeline")
    assert page.status_code == 200 and BANNER not in page.get_data(as_text=True)
    assert any(key.startswith(b"crm:fragment:") for key in private_redis.keys())
    assert _invite(client, f"rep-{uuid.uuid4().hex[:6]}@example.com").status_code == 303
    token = _csrf_token(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/").status_code == 302


def test_a_known_outage_is_not_asked_again_for_a_few_seconds(
    outage_app, private_redis, monkeypatch
):
    from crm_web.redis_client import redis_up

    state = outage_app.extensions["redis_state"]
    monkeypatch.setattr(state, "probe_seconds", 60)
    with outage_app.app_context():
        assert redis_up()
        private_redis.stop()
        # The answer stands until the probe is due, however many pages ask.
        assert redis_up()
        state.checked_at = float("-inf")
        started = time.monotonic()
        assert not redis_up()
        private_redis.start()
        assert not redis_up()
        assert time.monotonic() - started < 1
        state.checked_at = float("-inf")
        assert redis_up()


@pytest.fixture
def gunicorn(app, database_url, private_redis, tmp_path):
    """The app served by gunicorn (as the Procfile runs it) on the private Redis and broker;
    yields its URL and the file its log goes to."""
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    log_file = log_path.open("w")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": private_redis.url,
        "SECRET_KEY": uuid.uuid4().hex,
        "SMTP_URL": "smtp://127.0.0.1:9",
    }
    env.pop("CRM_BROKER", None)  # the real Redis broker, as in production
    process = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "gunicorn")]
        + ["--workers", "1", "--threads", "2", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/login", timeout=2)
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"gunicorn did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
    try:
        yield base, log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_file.close()


def _until(check, seconds: float = 15) -> None:
    """Ask `check` until it holds (the server probes Redis every few seconds)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.3)


def _board_has_banner(browser: httpx.Client) -> bool:
    page = browser.get("/pipeline")
    assert page.status_code == 200
    assert "Ada Admin" in page.text  # still signed in
    return BANNER in page.text


def test_gunicorn_serves_through_a_redis_outage(gunicorn, organization, private_redis, outage_app):
    base, log_path = gunicorn
    with httpx.Client(base_url=base, timeout=10) as browser:
        token = _csrf_token(browser.get("/login").text)
        signed_in = browser.post(
            "/login",
            data={"email": organization["email"], "password": PASSWORD, "csrf_token": token},
        )
        assert signed_in.status_code == 303
        assert not _board_has_banner(browser)

        private_redis.stop()
        started = time.monotonic()
        _until(lambda: _board_has_banner(browser))
        assert time.monotonic() - started < 10
        token = _csrf_token(browser.get("/admin/users").text)
        invitee = f"rep-{uuid.uuid4().hex[:6]}@example.com"
        invited = browser.post(
            "/admin/users/invite",
            data={
                "name": "Rep",
                "email": invitee,
                "role": "sales",
                "csrf_token": token,
            },
        )
        assert invited.status_code == 303
        assert "lost nudge: deliver_outbox" in log_path.read_text()
        health = browser.get("/health")
        assert health.status_code == 503 and health.json()["redis"].startswith("error")

        private_redis.start()
        _until(lambda: not _board_has_banner(browser))
        assert browser.get("/health").status_code == 200

    # The invitation's nudge was lost, its outbox row was not: the scheduler's sweep finds it
    # once Redis is back (its nudge goes to this process's broker) and a worker mails it.
    with outage_app.app_context():
        later = datetime.now(UTC) + delivery.NUDGE_GRACE + timedelta(seconds=1)
        assert delivery.sweep(now=later) >= 1
        with running_sink() as sink, tenant_scope(organization["id"]):
            outage_app.config["SMTP_URL"] = sink.url
            assert delivery.deliver("email") == {"sent": 1}
        assert [mail.rcpt_tos for mail in sink.mails] == [[invitee]]
