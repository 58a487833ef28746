"""Ticket email: public replies and resolution emails reach a real SMTP sink through the worker
and are logged in the communication log; internal notes are never emailed."""

import re

import psycopg
import pytest
from sqlalchemy import select
from worker_fixtures import queued, running_worker

from crm_web.communications.models import Communication
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.outbox import delivery
from crm_web.outbox.services import messages_for
from crm_web.tickets import services
from crm_web.tickets.models import TicketMessage
from tests import factories


@pytest.fixture
def org(make_org):
    organization, admin = make_org("Mail Desk")
    set_tenant(organization.id, admin.id)
    return organization


def test_a_reply_is_queued_after_commit_then_emailed_once_and_logged(
    org, stub_broker, smtp_to_sink
):
    stub_broker.flush("outbox")
    customer = factories.customer(
        org, primary_email="mia@example.com", first_name="Mia", last_name="Muller"
    )
    ticket = services.create_ticket(subject="Broken zipper", customer_id=customer.id)
    services.add_note(ticket.id, "Internal: check stock first")
    reply = services.add_reply(ticket.id, "We are sending a new one today.")

    [message] = queued(stub_broker, "outbox")
    assert message.actor_name == "deliver_outbox"
    assert message.args == (org.id, "email")
    stub_broker.flush("outbox")
    [row] = messages_for(("ticket_reply",), [reply.id])
    assert (row.status, row.to_address) == ("queued", "mia@example.com")

    assert delivery.deliver("email") == {"sent": 1}
    [mail] = smtp_to_sink.mails
    assert mail.rcpt_tos == ["mia@example.com"]
    assert mail.message["Subject"] == f"[{ticket.reference}] Re: Broken zipper"
    assert mail.message["X-CRM-Ticket"] == ticket.reference
    assert "We are sending a new one today." in mail.body
    assert "Internal" not in mail.body

    db.session.expire_all()
    sent = db.session.get(TicketMessage, reply.id)
    assert sent.email_status == "sent" and sent.emailed_at is not None
    entry = db.session.get(Communication, sent.communication_id)
    assert (entry.communication_type, entry.direction, entry.status) == (
        "email",
        "outbound",
        "sent",
    )
    assert (entry.source_type, entry.source_id) == ("ticket", ticket.id)
    assert entry.customer_id == customer.id
    assert entry.provider_message_id == mail.message["Message-ID"] == row.message_id

    # A second run of the delivery loop (a duplicate nudge) sends nothing more.
    assert delivery.deliver("email") == {}
    assert len(smtp_to_sink.mails) == 1
    logged = db.session.scalars(
        select(Communication).where(Communication.source_type == "ticket")
    ).all()
    assert len(logged) == 1


def test_resolution_email_carries_a_working_csat_link(org, client, stub_broker, smtp_to_sink):
    stub_broker.flush("outbox")
    customer = factories.customer(org, primary_email="rate@example.com")
    ticket = services.create_ticket(subject="Late parcel", customer_id=customer.id)
    services.change_status(ticket.id, "resolved")
    [message] = queued(stub_broker, "outbox")
    assert (message.actor_name, message.args) == ("deliver_outbox", (org.id, "email"))
    stub_broker.flush("outbox")
    [row] = messages_for(("ticket_resolved",), [ticket.id])

    assert delivery.deliver("email") == {"sent": 1}
    db.session.refresh(row)
    assert row.status == "sent"
    [mail] = smtp_to_sink.mails
    assert mail.message["Subject"] == f"[{ticket.reference}] Resolved: Late parcel"
    link = re.search(r"https?://\S+/support/csat/(\S+)", mail.body)
    assert link
    clear_tenant()
    response = client.post(f"/support/csat/{link.group(1)}", data={"rating": "4"})
    assert response.status_code == 200
    set_tenant(org.id)
    db.session.expire_all()
    assert services.get_ticket(ticket.id).csat_rating == 4
    assert "csat_sent" in [m.data.get("event") for m in services.thread(ticket.id)]


def test_no_resolution_email_once_the_ticket_is_reopened(org, stub_broker, smtp_to_sink):
    stub_broker.flush("outbox")
    ticket = services.create_ticket(subject="Flaky", customer_id=factories.customer(org).id)
    services.change_status(ticket.id, "resolved")
    [message] = queued(stub_broker, "outbox")
    stub_broker.flush("outbox")
    services.change_status(ticket.id, "open")
    assert delivery.deliver("email") == {"cancelled": 1}
    assert smtp_to_sink.mails == []
    [row] = messages_for(("ticket_resolved",), [ticket.id])
    assert (row.status, row.last_error) == (
        "cancelled",
        "The ticket was reopened or resolved again since.",
    )
    assert "csat_sent" not in [m.data.get("event") for m in services.thread(ticket.id)]


@pytest.mark.committed
def test_the_worker_emails_a_reply_and_never_a_note(
    app, stub_broker, committed_context, make_org, smtp_to_sink, database_url
):
    # Empty, delayed nudges (a retry's, from an earlier test) included: the join waits for them.
    stub_broker.flush("outbox")
    stub_broker.flush("outbox.DQ")
    organization, admin = make_org("Worker Desk")
    committed_context.append(organization.id)
    set_tenant(organization.id, admin.id)
    customer = factories.customer(organization, primary_email="worker@example.com")
    db.session.commit()
    ticket = services.create_ticket(subject="Via worker", customer_id=customer.id)
    services.add_note(ticket.id, "never emailed")
    reply = services.add_reply(ticket.id, "Emailed by the worker")
    clear_tenant()
    db.session.remove()

    with running_worker(stub_broker, {"outbox"}):
        stub_broker.join("outbox", timeout=10_000)
    assert stub_broker.dead_letters_by_queue["outbox"] == []

    assert [mail.rcpt_tos for mail in smtp_to_sink.mails] == [["worker@example.com"]]
    assert "Emailed by the worker" in smtp_to_sink.mails[0].body
    with psycopg.connect(database_url) as connection:
        status, communication_id = connection.execute(
            "SELECT email_status, communication_id FROM ticket_messages WHERE id = %s",
            (reply.id,),
        ).fetchone()
        assert status == "sent" and communication_id is not None
        kinds = connection.execute(
            "SELECT count(*) FROM communications WHERE source_type = 'ticket' AND source_id = %s",
            (ticket.id,),
        ).fetchone()[0]
    assert kinds == 1
