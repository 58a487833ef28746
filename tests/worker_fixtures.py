"""Fixtures for tests of background work: the stub broker, a real dramatiq Worker, an SMTP sink.

Actors run in the Worker's own threads. Those threads push their own app context, so their
sessions use their own pooled connections and see only committed data: the tests whose actors
read or write the database are therefore `committed` and delete what they created.
"""

from contextlib import contextmanager

import dramatiq
import psycopg
import pytest
from dramatiq import Message
from smtp_sink import running_sink

import worker.actors  # noqa: F401  (declares the app's actors on the stub broker)
from crm_web.db import clear_tenant
from crm_web.extensions import db
from worker.broker import broker
from worker.middleware import AppContextMiddleware


@pytest.fixture(scope="session")
def stub_broker(app):
    """The process's StubBroker, with the app context middleware the worker process adds."""
    assert isinstance(broker, dramatiq.brokers.stub.StubBroker)
    if not any(isinstance(middleware, AppContextMiddleware) for middleware in broker.middleware):
        broker.add_middleware(AppContextMiddleware(app))
    return broker


@contextmanager
def running_worker(broker, queues):
    """A real dramatiq Worker on `queues`; stopped (all threads joined) when the block ends."""
    dramatiq_worker = dramatiq.Worker(
        broker, queues=set(queues), worker_timeout=50, worker_threads=2
    )
    dramatiq_worker.start()
    try:
        yield dramatiq_worker
    finally:
        dramatiq_worker.stop()
        # Worker.start adds a middleware that outlives the worker; drop it so a later queue
        # declaration does not start consumers for this stopped worker.
        broker.middleware[:] = [
            m for m in broker.middleware if getattr(m, "worker", None) is not dramatiq_worker
        ]


def queued(broker, queue_name) -> list[Message]:
    """The messages waiting on a stub queue, without taking them off."""
    return [Message.decode(data) for data in list(broker.queues[queue_name].queue)]


@pytest.fixture
def committed_context(app, database_url):
    """An app context for a `committed` test; deletes the organizations it is told about."""
    organization_ids: list[int] = []
    context = app.app_context()
    context.push()
    try:
        yield organization_ids
    finally:
        db.session.remove()
        clear_tenant()
        context.pop()
        # The superuser connection bypasses row-level security; deleting the organization
        # cascades to its users.
        with psycopg.connect(database_url, autocommit=True) as connection:
            for organization_id in organization_ids:
                connection.execute(
                    "DELETE FROM audit_log WHERE organization_id = %s", (organization_id,)
                )
                connection.execute("DELETE FROM organizations WHERE id = %s", (organization_id,))


@pytest.fixture
def smtp_to_sink(app):
    """A real SMTP sink, made the app's SMTP_URL for the test."""
    previous = app.config["SMTP_URL"]
    with running_sink() as sink:
        app.config["SMTP_URL"] = sink.url
        try:
            yield sink
        finally:
            app.config["SMTP_URL"] = previous
