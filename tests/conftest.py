"""Fixtures: a real PostgreSQL and Redis per test process, one rolled-back transaction per test.

TEST_DATABASE_URL / TEST_REDIS_URL name servers to use; without them the embedded
PostgreSQL and Redis under instance/ are started.
"""

import os
import uuid

# Actors run on a StubBroker in unit tests; set before anything imports worker.broker.
os.environ["CRM_BROKER"] = "stub"

import pytest  # noqa: E402
import redis  # noqa: E402
from dramatiq.brokers.redis import RedisBroker  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from crm_web.config import INSTANCE_DIR, Config, sqlalchemy_url  # noqa: E402
from crm_web.devservices import (
    drop_database,
    embedded_postgres_url,
    embedded_redis_url,
    ensure_database,
)  # noqa: E402

# Fixtures that several test modules of one domain share.
pytest_plugins = ["tests.pipeline_fixtures", "tests.worker_fixtures"]

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
# Two test runs on the same servers (two checkouts, say) pick different values so they never collide.
RUN_ID = os.environ.get("CRM_TEST_RUN_ID", "")
REDIS_DB_BASE = int(os.environ.get("CRM_TEST_REDIS_DB_BASE", "1"))


def _server_admin_url() -> str:
    if url := os.environ.get("TEST_DATABASE_URL"):
        return url
    return embedded_postgres_url("postgres")


def _database_url(admin_url: str, name: str) -> str:
    url = make_url(sqlalchemy_url(admin_url)).set(database=name)
    return url.render_as_string(hide_password=False).replace(
        "postgresql+psycopg://", "postgresql://", 1
    )


@pytest.fixture(scope="session")
def server_admin_url() -> str:
    """A URL to the test server's maintenance database (creates and drops test databases)."""
    return _server_admin_url()


@pytest.fixture(scope="session")
def database_url(server_admin_url) -> str:
    """A fresh, migrated database for this test process."""
    name = f"crm_test_{RUN_ID}{WORKER}"
    drop_database(server_admin_url, name)
    ensure_database(server_admin_url, name)
    url = _database_url(server_admin_url, name)
    yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    base = os.environ.get("TEST_REDIS_URL") or embedded_redis_url(
        INSTANCE_DIR / f"redis-test-{WORKER}"
    )
    # One Redis database per test process so parallel runs never share keys.
    index = REDIS_DB_BASE + (int(WORKER[2:]) if WORKER.startswith("gw") else 0)
    url = base.split("?")[0].rstrip("/")
    if url.startswith("unix://"):
        return f"{url}?db={index}"
    return f"{url.rsplit('/', 1)[0] if url.count('/') > 2 else url}/{index}"


def make_config(database_url: str, redis_url: str, **overrides) -> Config:
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    config = Config()
    config.TESTING = True
    config.WTF_CSRF_ENABLED = False
    config.SMTP_URL = "smtp://127.0.0.1:9"  # tests that send start their own sink
    # A busy test machine can take longer than production's half second to answer: a timeout
    # would count Redis as down for a few seconds and let the next tests' rate limits fail open.
    # (Stopping a server, as the outage tests do, refuses connections at once.)
    config.REDIS_SOCKET_TIMEOUT = 5
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


class RequestIsolatedClient(FlaskClient):
    """Each request gets its own app context (fresh `g` and session), as in production,
    instead of reusing the one the test pushed; all still share the test's transaction."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def app(database_url, redis_url):
    from flask_migrate import upgrade

    from crm_web import create_app
    from crm_web.config import PROJECT_ROOT

    app = create_app(make_config(database_url, redis_url))
    app.test_client_class = RequestIsolatedClient
    with app.app_context():
        upgrade(directory=str(PROJECT_ROOT / "migrations"), revision="heads")
    app.extensions["redis"].flushdb()
    return app


@pytest.fixture(autouse=True)
def _isolated_transaction(request, app):
    """Every test runs in a transaction that is rolled back; commits become savepoints."""
    if "committed" in request.keywords:
        yield
        return
    from crm_web.extensions import db

    with app.app_context():
        engine = db.engine
        connection = engine.connect()
        outer = connection.begin()
        engines = db.engines
        engines[None] = connection
        db.session.remove()
        db.session.configure(join_transaction_mode="create_savepoint")
        context = app.app_context()
        context.push()
        try:
            yield
        finally:
            context.pop()
            db.session.remove()
            engines[None] = engine
            outer.rollback()
            connection.close()
            from crm_web.db import clear_tenant

            clear_tenant()


@pytest.fixture(autouse=True)
def _clean_redis(app):
    """Sessions and login counters start empty in every test (this process's Redis database)."""
    app.extensions["redis"].flushdb()


@pytest.fixture
def redis_broker(redis_url):
    """A RedisBroker on the test Redis, in a namespace of its own that is deleted afterwards."""
    namespace = f"crm-test-{uuid.uuid4().hex[:12]}"
    redis_broker = RedisBroker(url=redis_url, namespace=namespace)
    client = redis.Redis.from_url(redis_url)
    try:
        yield redis_broker, namespace, client
    finally:
        redis_broker.close()
        keys = list(client.scan_iter(match=f"{namespace}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def attachments_dir(app, tmp_path):
    """Attachment files of the test go to a temporary folder, not the instance folder."""
    previous = app.config["ATTACHMENTS_DIR"]
    app.config["ATTACHMENTS_DIR"] = str(tmp_path)
    yield tmp_path
    app.config["ATTACHMENTS_DIR"] = previous


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_org(app):
    """Create an organization with an admin; returns (organization, admin)."""
    from tests import factories

    return factories.organization


@pytest.fixture
def make_user(app):
    """Create a user with a role in an organization."""
    from tests import factories

    return factories.user


def login(client, email: str, password: str = "correct-horse"):
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 303, response.data[:500]
    return response


@pytest.fixture
def statements(app):
    """The SQL statements sent while the test runs (a block rendered from Redis sends none;
    a page without N+1 queries sends as many for one row as for ten)."""
    from crm_web.extensions import db

    sent: list[str] = []

    def record(conn, cursor, statement, *args):
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    yield sent
    event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def login_as(client):
    def do(user, password: str = "correct-horse"):
        return login(client, user.email, password)

    return do
