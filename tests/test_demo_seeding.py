"""The demo organization looks alive: a support team within its cap, a few tickets near or past
their SLA under policies in force, escalation records from the start without a mail flood,
and business events (not sign-ins) in the dashboard's feed."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from crm_web.accounts.models import User
from crm_web.db import set_tenant
from crm_web.demo import DEMO_PASSWORD, DEMO_SLUG, DEMO_TICKETS, ensure_demo_organization
from crm_web.extensions import db
from crm_web.outbox.models import OutboxMessage
from crm_web.sla.clock import PASSED_OUTCOME, SCHEDULE_AHEAD, current_time
from crm_web.sla.models import BREACH_LEVEL, SlaEscalation, SlaPolicy
from crm_web.tickets.models import ACTIVE_STATUSES, PRIORITIES, Ticket
from crm_web.tickets.seeding import CAP_HEADROOM
from crm_web.tickets.services import get_settings
from tests import factories


@pytest.fixture
def demo(app):
    """The demo organization, made as the run command makes it; its id."""
    assert ensure_demo_organization(customers=120)
    organization_id = db.session.execute(
        text("SELECT organization_id_for_slug(:slug)"), {"slug": DEMO_SLUG}
    ).scalar_one()
    set_tenant(organization_id)
    return organization_id


def active_tickets():
    return select(Ticket).where(Ticket.status.in_(ACTIVE_STATUSES))


def test_active_tickets_spread_over_the_agents_within_the_cap(demo):
    cap = get_settings().agent_ticket_cap
    agents = set(db.session.scalars(select(User.id).where(User.role == "support")))
    assert len(agents) >= 3
    loads = dict(
        db.session.execute(
            select(Ticket.assignee_id, func.count())
            .where(Ticket.status.in_(ACTIVE_STATUSES), Ticket.assignee_id.is_not(None))
            .group_by(Ticket.assignee_id)
        ).all()
    )
    assert set(loads) == agents
    assert max(loads.values()) <= cap - CAP_HEADROOM
    active = db.session.scalar(select(func.count()).select_from(active_tickets().subquery()))
    unassigned = active - sum(loads.values())
    total = db.session.scalar(select(func.count()).select_from(Ticket))
    assert total == DEMO_TICKETS
    # Most tickets are history; of the active ones, many wait in the queue.
    assert active < total / 3 and unassigned > 0
    # History is the whole team's.
    resolved_by = set(
        db.session.scalars(
            select(Ticket.assignee_id).where(Ticket.status.in_(("resolved", "closed"))).distinct()
        )
    )
    assert agents <= resolved_by

    # A VIP customer's new ticket finds an agent with room.
    ticket = factories.ticket(db.session.get(User, min(agents)).organization, tags=["vip"])
    assert ticket.priority == "urgent" and ticket.assignee_id in agents


def test_a_few_tickets_are_near_or_past_their_sla_under_saved_policies(demo):
    policies = db.session.scalars(select(SlaPolicy)).all()
    assert sorted(policy.priority for policy in policies) == sorted(PRIORITIES)
    now = current_time()
    running = db.session.scalars(
        active_tickets().where(Ticket.status != "waiting_on_customer")
    ).all()
    assert running and all(ticket.sla_due_at is not None for ticket in running)
    assert all(ticket.sla_policy_id in {p.id for p in policies} for ticket in running)
    by_id = {policy.id: policy for policy in policies}

    def used(ticket) -> float:
        """The share of its current target the ticket's clock used when it was loaded."""
        policy = by_id[ticket.sla_policy_id]
        minutes = (
            policy.first_response_minutes
            if ticket.first_responded_at is None
            else policy.resolution_minutes
        )
        return ticket.sla_elapsed_seconds / (60 * minutes)

    past = [ticket for ticket in running if ticket.sla_due_at < now]
    near = [ticket for ticket in running if ticket.sla_due_at >= now and used(ticket) >= 0.8]
    assert 0 < len(past) <= len(running) / 10
    assert 0 < len(near) <= len(running) / 5


def test_escalation_records_exist_from_the_start_without_a_flood_of_mail(demo):
    now = current_time()
    by_status = dict(
        db.session.execute(
            select(SlaEscalation.status, func.count()).group_by(SlaEscalation.status)
        ).all()
    )
    assert by_status.get("pending", 0) > 0 and by_status.get("fired", 0) > 0
    fired = db.session.scalars(select(SlaEscalation).where(SlaEscalation.status == "fired")).all()
    # What passed before the data was loaded is history: fired then, nobody notified.
    assert all(e.outcome == PASSED_OUTCOME and e.fired_at <= now for e in fired)
    assert any(e.level == BREACH_LEVEL for e in fired)
    # (The demo's one sent campaign has its messages; no ticket or SLA message waits.)
    assert not db.session.scalar(
        select(func.count()).where(OutboxMessage.kind.notlike("campaign%"))
    )
    # Only the few points falling due in the next minutes are sent at once.
    due_now = db.session.scalar(
        select(func.count()).where(
            SlaEscalation.status == "pending",
            SlaEscalation.fire_at <= now + SCHEDULE_AHEAD + timedelta(minutes=1),
        )
    )
    assert due_now <= 5


def test_the_feed_shows_business_events_not_sign_ins(demo, client):
    for _ in range(3):
        response = client.post(
            "/login", data={"email": "admin@demo.example", "password": DEMO_PASSWORD}
        )
        assert response.status_code == 303
        client.post("/logout")
    client.post("/login", data={"email": "admin@demo.example", "password": DEMO_PASSWORD})
    feed = client.get("/dashboard/cards/feed", headers={"HX-Request": "true"})
    text = feed.get_data(as_text=True)
    # Deals won, escalations and big orders: the demo has all three.
    assert feed.status_code == 200 and text.count('<li class="feed-') == 10
    assert "signed in" not in text.lower() and "User" not in text
