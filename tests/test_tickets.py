"""Ticket services: creation, routing (priority rules, department match, load cap, round-robin),
the thread, the status workflow, bulk actions and CSAT."""

import threading

import psycopg
import pytest
from sqlalchemy import func, select

from crm_web.customers.models import Customer
from crm_web.db import clear_tenant, set_tenant
from crm_web.errors import NotFound, ValidationError
from crm_web.extensions import db
from crm_web.outbox.services import messages_for
from crm_web.tickets import services
from crm_web.tickets.attachments import Upload
from crm_web.tickets.models import Ticket, TicketAttachment, TicketMessage
from tests import factories


@pytest.fixture
def org(make_org):
    organization, admin = make_org("Helpdesk")
    set_tenant(organization.id, admin.id)
    return organization


def events(ticket):
    return [m.data.get("event") for m in services.thread(ticket.id) if m.kind == "event"]


# -- routing ----------------------------------------------------------------------------------


def test_a_vip_customer_makes_the_ticket_urgent(org, make_user):
    vip = factories.customer(org, tags=["vip"])
    ticket = services.create_ticket(subject="Cannot log in", customer_id=vip.id, priority="low")
    assert ticket.priority == "urgent"
    assert ticket.routing_reason.startswith("VIP customer")
    assert "priority" in events(ticket)


@pytest.mark.parametrize(
    ("ticket_type", "requested", "expected"),
    [
        ("billing_issue", "normal", "high"),
        ("account_issue", "low", "high"),
        ("billing_issue", "urgent", "urgent"),
        ("bug_report", "normal", "high"),
        ("question", "urgent", "urgent"),
        ("question", "low", "low"),
    ],
)
def test_priority_rules(org, ticket_type, requested, expected):
    customer = factories.customer(org)
    ticket = services.create_ticket(
        subject="Help", customer_id=customer.id, ticket_type=ticket_type, priority=requested
    )
    assert ticket.priority == expected


def test_routing_prefers_an_agent_of_the_matching_department_or_skill(org, make_user):
    make_user(org, role="support", name="Gina General", department="General")
    billing = make_user(org, role="support", name="Bora Billing", department="Billing")
    skilled = make_user(
        org, role="support", name="Tess Tech", department="Support", skills="technical"
    )
    set_tenant(org.id)
    customer = factories.customer(org)

    by_department = services.create_ticket(
        subject="Invoice wrong", customer_id=customer.id, category="billing"
    )
    by_skill = services.create_ticket(
        subject="Crash", customer_id=customer.id, category="technical"
    )

    assert by_department.assignee_id == billing.id
    assert by_department.department == "Billing"
    assert "matching agent" in by_department.routing_reason
    assert by_skill.assignee_id == skilled.id
    assert by_skill.department == "Support"


def test_routing_falls_back_to_any_agent_and_skips_other_roles(org, make_user):
    make_user(org, role="sales", name="Sam Sales", department="Billing")
    agent = make_user(org, role="support", name="Ola Other", department="Logistics")
    customer = factories.customer(org)
    ticket = services.create_ticket(subject="Invoice", customer_id=customer.id, category="billing")
    assert ticket.assignee_id == agent.id
    assert "any free agent" in ticket.routing_reason


def test_routing_picks_the_least_loaded_and_respects_the_cap(org, make_user):
    busy = make_user(org, role="support", name="Busy Bee", department="Billing")
    free = make_user(org, role="support", name="Free Fox", department="Billing")
    customer = factories.customer(org)
    services.update_settings(agent_ticket_cap=2)
    for _ in range(2):
        services.create_ticket(subject="Old", customer_id=customer.id, assignee_id=busy.id)

    first = services.create_ticket(subject="A", customer_id=customer.id, category="billing")
    second = services.create_ticket(subject="B", customer_id=customer.id, category="billing")
    assert (first.assignee_id, second.assignee_id) == (free.id, free.id)

    # Both agents now hold two active tickets: the cap leaves the next one unassigned.
    third = services.create_ticket(subject="C", customer_id=customer.id, category="billing")
    assert third.assignee_id is None
    assert "left unassigned" in third.routing_reason

    # A resolved ticket no longer counts towards the load.
    services.change_status(first.id, "resolved")
    fourth = services.create_ticket(subject="D", customer_id=customer.id, category="billing")
    assert fourth.assignee_id == free.id


def test_round_robin_among_equally_loaded_agents(org, make_user):
    agents = [
        make_user(org, role="support", name=f"Agent {n}", department="Support") for n in range(3)
    ]
    customer = factories.customer(org)
    assigned = []
    for n in range(6):
        ticket = services.create_ticket(subject=f"T{n}", customer_id=customer.id)
        assigned.append(ticket.assignee_id)
        # Resolve at once so every agent stays at load 0: only the turn decides.
        services.change_status(ticket.id, "resolved")
    ids = [agent.id for agent in agents]
    assert assigned == ids + ids


def test_no_agents_leaves_the_ticket_unassigned(org):
    customer = factories.customer(org)
    ticket = services.create_ticket(subject="Hello", customer_id=customer.id)
    assert ticket.assignee_id is None
    assert ticket.status == "new"


@pytest.mark.committed
def test_concurrent_routing_never_exceeds_the_cap(app, make_org, make_user, database_url):
    """Eight tickets created at once by eight threads, two agents with a cap of two each."""
    with app.app_context():
        organization, admin = make_org("Race")
    try:
        with app.app_context():
            agents = [make_user(organization, role="support", name=f"R{n}") for n in range(2)]
            set_tenant(organization.id, admin.id)
            services.update_settings(agent_ticket_cap=2)
            customer_id = factories.customer(organization).id
            db.session.commit()
            clear_tenant()
        barrier = threading.Barrier(8)
        errors = []

        def create(n):
            with app.app_context():
                try:
                    set_tenant(organization.id, admin.id)
                    barrier.wait(timeout=10)
                    services.create_ticket(subject=f"Race {n}", customer_id=customer_id)
                except Exception as exc:  # reported below
                    errors.append(exc)
                finally:
                    db.session.remove()
                    clear_tenant()

        threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        with psycopg.connect(database_url) as connection:
            rows = connection.execute(
                "SELECT assignee_id, count(*) FROM tickets WHERE organization_id = %s "
                "GROUP BY assignee_id",
                (organization.id,),
            ).fetchall()
        loads = dict(rows)
        assert loads == {agents[0].id: 2, agents[1].id: 2, None: 4}
    finally:
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(
                "DELETE FROM audit_log WHERE organization_id = %s", (organization.id,)
            )
            connection.execute("DELETE FROM organizations WHERE id = %s", (organization.id,))


# -- creating ---------------------------------------------------------------------------------


def test_tickets_are_numbered_per_organization(org, make_org):
    customer = factories.customer(org)
    first = services.create_ticket(subject="One", customer_id=customer.id)
    second = services.create_ticket(subject="Two", customer_id=customer.id)
    assert second.number == first.number + 1
    other, admin = make_org("Other")
    set_tenant(other.id, admin.id)
    theirs = services.create_ticket(subject="Theirs", customer_id=factories.customer(other).id)
    assert theirs.number == 1
    assert theirs.reference == "T-1"


def test_create_validates_every_field(org):
    customer = factories.customer(org)
    with pytest.raises(ValidationError) as caught:
        services.create_ticket(
            subject=" ",
            customer_id=customer.id,
            channel="fax",
            category="weather",
            ticket_type="rant",
            priority="whenever",
        )
    assert set(caught.value.fields) == {"subject", "channel", "category", "ticket_type", "priority"}
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 0


def test_another_organizations_customer_is_refused(org, make_org):
    other, _ = make_org("Other")
    stranger = factories.customer(other)
    set_tenant(org.id)
    with pytest.raises(ValidationError) as caught:
        services.create_ticket(subject="Hi", customer_id=stranger.id)
    assert "customer_id" in caught.value.fields


def test_a_ticket_by_email_matches_the_customer_case_insensitively_or_creates_one(org):
    known = factories.customer(org, primary_email="known@example.com")
    matched = services.create_ticket(subject="Again", customer_email="KNOWN@example.com")
    assert matched.customer_id == known.id
    created = services.create_ticket(subject="First", customer_email="new.person@example.com")
    customer = db.session.get(Customer, created.customer_id)
    assert customer.primary_email == "new.person@example.com"
    assert customer.customer_code.startswith("CUS-")


def test_cross_tenant_ticket_is_not_found(org, make_org):
    ticket = services.create_ticket(subject="Mine", customer_id=factories.customer(org).id)
    other, admin = make_org("Other")
    set_tenant(other.id, admin.id)
    with pytest.raises(NotFound):
        services.get_ticket(ticket.id)
    with pytest.raises(NotFound):
        services.change_status(ticket.id, "open")


# -- thread and workflow ----------------------------------------------------------------------


def test_status_workflow_and_events(org):
    ticket = services.create_ticket(subject="Flow", customer_id=factories.customer(org).id)
    services.change_status(ticket.id, "in_progress")
    services.change_status(ticket.id, "waiting_on_customer")
    ticket = services.change_status(ticket.id, "resolved")
    assert ticket.resolved_at is not None
    ticket = services.change_status(ticket.id, "open")  # reopened
    assert ticket.resolved_at is None
    ticket = services.change_status(ticket.id, "closed")
    assert ticket.closed_at is not None and ticket.resolved_at is not None
    with pytest.raises(ValidationError, match="closed ticket cannot become open"):
        services.change_status(ticket.id, "open")
    with pytest.raises(ValidationError):
        services.change_status(ticket.id, "new")
    statuses = [
        (m.data["from"], m.data["to"])
        for m in services.thread(ticket.id)
        if m.data.get("event") == "status"
    ]
    assert statuses == [
        ("new", "in_progress"),
        ("in_progress", "waiting_on_customer"),
        ("waiting_on_customer", "resolved"),
        ("resolved", "open"),
        ("open", "closed"),
    ]


def test_reply_sets_first_response_and_opens_a_new_ticket(org):
    ticket = services.create_ticket(subject="Q", customer_id=factories.customer(org).id)
    reply = services.add_reply(ticket.id, "  Hello, we are on it.  ")
    ticket = services.get_ticket(ticket.id)
    assert reply.kind == "reply" and reply.body == "Hello, we are on it."
    assert reply.email_status == "queued"
    assert ticket.first_responded_at is not None
    assert ticket.status == "open"
    first = ticket.first_responded_at
    services.add_reply(ticket.id, "Another", status="waiting_on_customer")
    ticket = services.get_ticket(ticket.id)
    assert ticket.first_responded_at == first
    assert ticket.status == "waiting_on_customer"


def test_a_customer_message_reopens_a_waiting_ticket(org):
    ticket = services.create_ticket(subject="Q", customer_id=factories.customer(org).id)
    services.change_status(ticket.id, "waiting_on_customer")
    message = services.add_customer_message(ticket.id, "Here is the info")
    assert message.author_customer_id == ticket.customer_id
    assert services.get_ticket(ticket.id).status == "open"


def test_notes_are_internal_and_not_queued_for_email(org, app):
    from crm_web.jobs import broker

    broker.flush("outbox")
    ticket = services.create_ticket(subject="Q", customer_id=factories.customer(org).id)
    note = services.add_note(ticket.id, "Customer sounds upset")
    assert note.kind == "note" and note.email_status == ""
    assert messages_for(("ticket_reply",), [note.id]) == []
    assert broker.queues["outbox"].qsize() == 0
    assert services.get_ticket(ticket.id).first_responded_at is None


def test_reply_to_a_customer_without_email_is_not_queued(org):
    from crm_web.jobs import broker

    broker.flush("outbox")
    ticket = services.create_ticket(
        subject="Q", customer_id=factories.customer(org, primary_email="").id
    )
    reply = services.add_reply(ticket.id, "Called you back")
    assert reply.email_status == "skipped"
    assert messages_for(("ticket_reply",), [reply.id]) == []
    assert broker.queues["outbox"].qsize() == 0


def test_closed_tickets_take_no_replies_and_empty_messages_are_refused(org):
    ticket = services.create_ticket(subject="Q", customer_id=factories.customer(org).id)
    with pytest.raises(ValidationError) as caught:
        services.add_note(ticket.id, "   ")
    assert "body" in caught.value.fields
    services.change_status(ticket.id, "closed")
    with pytest.raises(ValidationError, match="closed"):
        services.add_reply(ticket.id, "Too late")


def test_assignment_events_and_validation(org, make_user, make_org):
    agent = make_user(org, role="support", name="Ava Agent", department="Support")
    marketer = make_user(org, role="marketing", name="Mia")
    set_tenant(org.id)
    ticket = services.create_ticket(subject="Q", customer_id=factories.customer(org).id)
    assert ticket.assignee_id == agent.id  # routed
    ticket = services.assign(ticket.id, None)
    assert ticket.assignee_id is None and ticket.assigned_at is None
    ticket = services.assign(ticket.id, agent.id)
    assert ticket.assignee_id == agent.id
    with pytest.raises(ValidationError):
        services.assign(ticket.id, marketer.id)
    org_id = org.id
    other, _ = make_org("Other")
    stranger = make_user(other, role="support", name="Stranger")
    set_tenant(org_id)
    with pytest.raises(ValidationError):
        services.assign(ticket.id, stranger.id)
    assigned = [m.body for m in services.thread(ticket.id) if m.data.get("event") == "assigned"]
    assert assigned == [
        "Assigned to Ava Agent by routing (Standard routing; any free agent).",
        "Unassigned.",
        "Assigned to Ava Agent.",
    ]


def test_bulk_assign_and_status(org, make_user):
    agent = make_user(org, role="support", name="Bulk Agent")
    set_tenant(org.id)
    customer = factories.customer(org)
    services.update_settings(agent_ticket_cap=1)
    tickets = [services.create_ticket(subject=f"B{n}", customer_id=customer.id) for n in range(3)]
    ids = [t.id for t in tickets]
    assert services.bulk_assign(ids, agent.id) == 2  # one was routed to the agent already
    assert {services.get_ticket(i).assignee_id for i in ids} == {agent.id}
    assert services.bulk_change_status(ids, "in_progress") == 3
    # One refused transition refuses the whole batch.
    services.change_status(ids[0], "closed")
    with pytest.raises(ValidationError, match=tickets[0].reference):
        services.bulk_change_status(ids, "resolved")
    assert [services.get_ticket(i).status for i in ids] == ["closed", "in_progress", "in_progress"]
    with pytest.raises(ValidationError):
        services.bulk_assign([], agent.id)


def test_bulk_actions_ignore_other_organizations_tickets(org, make_org):
    mine = services.create_ticket(subject="Mine", customer_id=factories.customer(org).id)
    other, admin = make_org("Other")
    set_tenant(other.id, admin.id)
    theirs = services.create_ticket(subject="Theirs", customer_id=factories.customer(other).id)
    set_tenant(org.id)
    assert services.bulk_change_status([mine.id, theirs.id], "open") == 1
    set_tenant(other.id)
    assert services.get_ticket(theirs.id).status == "new"


# -- attachments ------------------------------------------------------------------------------


def test_attachments_are_stored_and_checked(org, attachments_dir):
    ticket = services.create_ticket(subject="Files", customer_id=factories.customer(org).id)
    note = services.add_note(
        ticket.id, "See logs", uploads=[Upload("../../etc/app.log", b"line 1\n")]
    )
    [attachment] = services.get_message(note.id).attachments
    assert attachment.filename == "app.log"
    assert attachment.content_type == "text/plain"
    assert (attachments_dir / attachment.storage_key).read_bytes() == b"line 1\n"
    assert attachment.storage_key.startswith(f"{org.id}/")

    with pytest.raises(ValidationError, match="kind of file"):
        services.add_note(ticket.id, "x", uploads=[Upload("run.exe", b"MZ")])
    with pytest.raises(ValidationError, match="too large"):
        services.add_note(
            ticket.id, "x", uploads=[Upload("big.pdf", b"0" * (10 * 1024 * 1024 + 1))]
        )
    with pytest.raises(ValidationError, match="Too many"):
        services.add_note(ticket.id, "x", uploads=[Upload(f"{n}.txt", b"x") for n in range(6)])


def test_a_rolled_back_action_leaves_no_attachment_file(org, attachments_dir):
    ticket = services.create_ticket(subject="Files", customer_id=factories.customer(org).id)
    services.change_status(ticket.id, "closed")
    with pytest.raises(ValidationError):
        # The file is stored, then the closed ticket refuses the reply and the transaction rolls back.
        services.add_customer_message(ticket.id, "late", uploads=[Upload("a.txt", b"data")])
    assert list(attachments_dir.rglob("*")) == []
    assert db.session.scalar(select(func.count()).select_from(TicketAttachment)) == 0


# -- CSAT -------------------------------------------------------------------------------------


def test_csat_once_after_resolution(org):
    ticket = services.create_ticket(subject="Q", customer_id=factories.customer(org).id)
    token = services.csat_token(ticket)
    with pytest.raises(ValidationError, match="open again"):
        services.submit_csat(token, 5)
    services.change_status(ticket.id, "resolved")
    with pytest.raises(ValidationError):
        services.submit_csat(token, 6)
    ticket = services.submit_csat(token, 4, " Quick and kind ")
    assert (ticket.csat_rating, ticket.csat_comment) == (4, "Quick and kind")
    with pytest.raises(ValidationError, match="rated already"):
        services.submit_csat(token, 1)
    with pytest.raises(NotFound):
        services.submit_csat(token + "x", 5)
    assert "csat" in events(ticket)


def test_every_message_of_the_thread_is_in_order(org):
    ticket = services.create_ticket(subject="Q", customer_id=factories.customer(org).id)
    services.add_reply(ticket.id, "one")
    services.add_note(ticket.id, "two")
    kinds = [m.kind for m in services.thread(ticket.id)]
    assert kinds == ["event", "reply", "event", "note"]
    assert db.session.scalar(select(func.count()).select_from(TicketMessage)) == 4


# -- demo data --------------------------------------------------------------------------------


def test_seeded_tickets_fill_every_queue_including_near_and_past_their_sla(org, make_user):
    from crm_web.customers.seeding import seed_customers
    from crm_web.tickets.queue import QueueFilters, queue_page, view_counts
    from crm_web.tickets.seeding import seed_tickets

    agent = make_user(org, role="support", name="Seed Agent", department="Support")
    set_tenant(org.id)
    seed_customers(40, seed=3)
    assert seed_tickets(400, seed=3) == 400
    rows = db.session.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all()
    by_status = dict(rows)
    assert set(by_status) == {
        "new",
        "open",
        "in_progress",
        "waiting_on_customer",
        "resolved",
        "closed",
    }
    assert sum(by_status.values()) == 400
    numbers = db.session.scalars(select(Ticket.number).order_by(Ticket.number)).all()
    assert numbers == list(range(1, 401))
    # The next ticket continues the numbering.
    ticket = services.create_ticket(subject="After seeding", customer_id=factories.customer(org).id)
    assert ticket.number == 401

    counts = view_counts(agent)
    assert counts["breached"] > 0 and counts["breaching"] > 0
    assert 0 < counts["mine"] < counts["all"]
    breached = queue_page(agent, QueueFilters(view="breached", sort="due"))
    dues = [t.sla_due_at for t in breached.items]
    assert dues == sorted(dues)
    # Every ticket opens its thread; every answered one has the reply.
    answered = db.session.scalar(select(func.count()).where(Ticket.first_responded_at.is_not(None)))
    replies = db.session.scalar(
        select(func.count()).select_from(TicketMessage).where(TicketMessage.kind == "reply")
    )
    assert replies == answered > 0


def test_crm_seed_adds_tickets(app, make_org):
    organization, _ = make_org("Seeded")
    result = app.test_cli_runner().invoke(
        args=["crm", "seed", "--org", organization.slug, "--customers", "30", "--tickets", "120"]
    )
    assert result.exit_code == 0, result.output
    assert "Seeded 120 tickets" in result.output
    set_tenant(organization.id)
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 120
