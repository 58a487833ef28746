"""The lease of a batch's unsent messages: extended at a mark only once a quarter of it passed."""

import pytest
from smtp_sink import running_sink

from crm_web.accounts.services import invite_user
from crm_web.db import tenant_scope
from crm_web.extensions import db
from crm_web.outbox import delivery


@pytest.fixture
def batch(app, make_org):
    """120 invitations of one organization, claimed by one worker, and a sink to send them to."""
    organization, _admin = make_org("Lease")
    with tenant_scope(organization.id), running_sink() as sink:
        previous = app.config["SMTP_URL"]
        app.config["SMTP_URL"] = sink.url
        try:
            for number in range(120):
                invite_user(
                    email=f"invitee{number}@lease.example", name=f"Invitee {number}", role="sales"
                )
            db.session.commit()
            yield delivery.claim("email", owner="test-worker"), sink
        finally:
            app.config["SMTP_URL"] = previous


@pytest.fixture
def marks(monkeypatch):
    """(messages marked, messages whose lease was extended) for each mark of a batch."""
    seen = []
    record = delivery.record_outcomes

    def recording(channel, outcomes, *, owner, still_held=()):
        seen.append((len(outcomes), len(still_held)))
        return record(channel, outcomes, owner=owner, still_held=still_held)

    monkeypatch.setattr(delivery, "record_outcomes", recording)
    return seen


def test_a_quick_batch_marks_every_50_without_touching_the_leases(batch, marks):
    messages, sink = batch

    counts = delivery.send_batch("email", messages, owner="test-worker")

    assert counts == {"sent": 120}
    assert marks == [(50, 0), (50, 0), (20, 0)]
    assert len({mail.message["Message-ID"] for mail in sink.mails}) == 120


def test_a_slow_batch_extends_the_leases_of_the_messages_still_to_send(batch, marks, monkeypatch):
    messages, _sink = batch
    monkeypatch.setattr(delivery, "RENEW_AFTER", 0)  # every mark comes late enough

    delivery.send_batch("email", messages, owner="test-worker")

    assert marks == [(50, 70), (50, 20), (20, 0)]
