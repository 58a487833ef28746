"""Campaigns with real workers: paused and resumed while a dramatiq Worker sends, every recipient
gets exactly one email; a `dramatiq` worker process killed with SIGKILL mid-campaign loses
nothing and repeats only what was in flight."""

import os
import signal
import time
from collections import Counter

import psycopg
import pytest
from smtp_sink import running_sink
from sqlalchemy import text
from worker_fixtures import running_worker

from crm_web.campaigns import library, services
from crm_web.db import clear_tenant, tenant_scope
from crm_web.extensions import db
from crm_web.jobs import DELIVER_OUTBOX
from crm_web.outbox import delivery
from crm_web.segments.services import create_segment
from tests.test_outbox_crash import (
    LEASE_SECONDS,
    _claimed_ids,
    _nudge,
    _start_worker,
    _wait_for,
)

pytestmark = pytest.mark.committed


def _campaign(organization, admin, count: int, **fields) -> int:
    """A campaign to `count` consenting customers (plain rows, set-based), saved as a draft."""
    with tenant_scope(organization.id, admin.id):
        db.session.execute(
            text(
                "INSERT INTO customers (organization_id, customer_code, customer_type, title, "
                "first_name, last_name, company_name, tax_number, tax_office, identity_number, "
                "gender, primary_email, secondary_email, primary_phone, secondary_phone, website, "
                "industry, company_size, lead_source, is_active, lifecycle_stage, tags, city, "
                "country, timezone, email_opt_in, sms_opt_in, do_not_contact) "
                "SELECT :org, 'W-' || n, 'person', '', 'Ece' || n, 'Kaya', '', '', '', '', '', "
                "'ece' || n || '-' || :org || '@example.com', '', '', '', '', '', '', '', true, "
                "'customer', '{}', 'Bursa', 'TR', '', true, false, false "
                "FROM generate_series(1, :count) AS n"
            ),
            {"org": organization.id, "count": count},
        )
        segment = create_segment({"segment_name": "All", "is_dynamic": False})
        library.add_starter_templates()
        template = next(t for t in library.list_templates() if t.name == "Newsletter")
        campaign = services.create_campaign(
            {
                "name": "Worker",
                "include_segment_ids": [segment.id],
                "variants": [{"template_id": template.id}],
                **fields,
            }
        )
        db.session.commit()
        return campaign.id


def _sent(database_url: str, organization_id: int) -> int:
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT count(*) FROM outbox_messages WHERE organization_id = %s AND status = 'sent'",
            (organization_id,),
        ).fetchone()[0]


def test_pause_and_resume_while_a_worker_sends_each_recipient_once(
    app, make_org, committed_context, database_url, stub_broker, smtp_to_sink
):
    organization, admin = make_org("Pause Co")
    committed_context.append(organization.id)
    total = 600
    campaign_id = _campaign(organization, admin, total, throttle_per_minute=6000)
    clear_tenant()
    db.session.remove()
    stub_broker.flush_all()
    with running_worker(stub_broker, {DELIVER_OUTBOX.queue_name}):
        with tenant_scope(organization.id, admin.id):
            services.schedule_campaign(campaign_id)
        _wait_for(lambda: _sent(database_url, organization.id) >= 50, 60, "the first sends")
        with tenant_scope(organization.id, admin.id):
            services.pause_campaign(campaign_id)
        time.sleep(1)  # what a worker held is sent or put back by now
        held = _sent(database_url, organization.id)
        time.sleep(2)
        assert _sent(database_url, organization.id) == held < total
        with tenant_scope(organization.id, admin.id):
            services.resume_campaign(campaign_id)
        # Throttled to 100 a second: each loop wakes again when the next one comes due.
        _wait_for(lambda: _sent(database_url, organization.id) == total, 120, "every send")
    recipients = Counter(mail.rcpt_tos[0] for mail in smtp_to_sink.mails)
    assert len(recipients) == total and set(recipients.values()) == {1}


def test_a_worker_killed_mid_campaign_loses_nothing(
    app, make_org, committed_context, database_url, redis_url, stub_broker
):
    organization, admin = make_org("Kill Co")
    committed_context.append(organization.id)
    total = 1500
    campaign_id = _campaign(organization, admin, total)
    clear_tenant()
    db.session.remove()
    with running_sink() as sink:
        with tenant_scope(organization.id, admin.id):
            services.schedule_campaign(campaign_id)
        stub_broker.flush_all()  # this process's nudges: the test sends its own to the worker
        worker = _start_worker(database_url, redis_url, sink.url)
        try:
            _nudge(redis_url, organization.id)
            _wait_for(lambda: len(sink.mails) >= total // 3, 90, "the first third to arrive")
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
            in_flight = len(_claimed_ids(database_url, organization.id))
            assert 0 < len(sink.mails) < total
            time.sleep(LEASE_SECONDS + 0.5)
            with app.app_context():
                delivery.sweep()
                db.session.remove()
            stub_broker.flush_all()
            worker = _start_worker(database_url, redis_url, sink.url)
            _nudge(redis_url, organization.id)
            _wait_for(lambda: _sent(database_url, organization.id) == total, 240, "every send")
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        received = Counter(mail.message["Message-ID"] for mail in sink.mails)
    assert len(received) == total  # nothing lost
    duplicates = sum(count - 1 for count in received.values())
    assert duplicates <= min(in_flight, 4 * delivery.MARK_EVERY)
    with psycopg.connect(database_url) as connection:
        ledger = dict(
            connection.execute(
                "SELECT status, count(*) FROM campaign_recipients WHERE organization_id = %s "
                "GROUP BY status",
                (organization.id,),
            ).fetchall()
        )
    assert ledger == {"sent": total}


def test_two_schedulers_at_once_start_a_campaign_once(
    app, make_org, committed_context, stub_broker
):
    import datetime as dt
    import threading

    organization, admin = make_org("Two Schedulers")
    committed_context.append(organization.id)
    campaign_id = _campaign(organization, admin, 50)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    with tenant_scope(organization.id, admin.id):
        services.schedule_campaign(campaign_id, mode="at", send_at=soon)
    clear_tenant()
    db.session.remove()
    started, swept = [], []

    later = soon + dt.timedelta(seconds=1)

    def scheduler():
        # Both sweeps look for it, and each scheduler's job runs at once. (A sweep that comes
        # after the other's start has finished no longer finds it due: that is the point.)
        with app.app_context():
            swept.append(services.sweep(now=later))
            with tenant_scope(organization.id):
                started.append(int(services.run_due(campaign_id, "start", now=later)))
            db.session.remove()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(started) == [0, 1]
    assert 1 in swept
    with tenant_scope(organization.id):
        assert (
            db.session.scalar(text("SELECT count(*) FROM outbox_messages WHERE kind = 'campaign'"))
            == 50
        )
        db.session.commit()
