"""Automations under real concurrency: four schedulers' runs at once (threads on connections of
their own, committing) enroll each customer once and run each step once."""

import datetime as dt

import pytest
from sqlalchemy import text

from crm_web.automations import runner, services
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from tests import factories
from tests.test_orders_concurrency import _in_threads

pytestmark = pytest.mark.committed

CUSTOMERS = 30


@pytest.fixture
def journey(app, make_org, committed_context):
    organization, admin = make_org("Racing journeys")
    committed_context.append(organization.id)
    set_tenant(organization.id, admin.id)
    for index in range(CUSTOMERS):
        factories.customer(
            organization, first_name=f"Racer{index}", sms_opt_in=True,
            primary_phone=f"+90532{index:07d}",
        )  # fmt: skip
    set_tenant(organization.id, admin.id)
    automation = services.create_automation(
        {
            "name": "Welcome",
            "trigger_kind": "customer_created",
            "steps": [
                {"type": "tag", "action": "add", "tag": "welcomed"},
                {"type": "sms", "template": "welcome"},
            ],
        }
    )
    services.activate(automation.id)
    set_tenant(organization.id, admin.id)
    db.session.execute(
        text("UPDATE automations SET activated_at = now() - interval '1 hour' WHERE id = :id"),
        {"id": automation.id},
    )
    db.session.commit()
    clear_tenant()
    return organization, admin, automation


def test_racing_runs_enroll_once_and_send_once(app, journey):
    organization, admin, automation = journey
    now = dt.datetime.now(dt.UTC)
    results = _in_threads(
        app, organization.id, admin.id, 4, lambda _index: runner.run(now, batch=5)
    )
    assert all(isinstance(result, dict) for result in results), results
    assert sum(result["enrolled"] for result in results) == CUSTOMERS
    set_tenant(organization.id)
    counts = db.session.execute(
        text(
            "SELECT (SELECT count(*) FROM automation_enrollments WHERE state = 'completed'),"
            " (SELECT count(*) FROM automation_step_runs),"
            " (SELECT count(*) FROM outbox_messages WHERE kind = 'automation_sms_welcome')"
        )
    ).one()
    assert tuple(counts) == (CUSTOMERS, 2 * CUSTOMERS, CUSTOMERS)
    clear_tenant()
