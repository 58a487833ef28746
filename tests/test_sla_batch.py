"""Escalations fired set-based: a worker woken for one point fires every due point of the
organization in one transaction, skipping what is no longer relevant; two workers doing so
at once fire each point once. And policy or calendar changes move the open tickets' clocks."""

# The desk and frozen fixtures are imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

import threading
from datetime import datetime, timedelta

import pytest
from dramatiq import Message
from sla_helpers import freeze
from sqlalchemy import select, update
from test_sla_escalations import (  # noqa: F401  (fixtures: empty SLA queues, desk, frozen)
    MONDAY_10,
    _empty_sla_queues,
    configure,
    desk,
    frozen,
    make_desk,
    new_ticket,
)

from crm_web.db import tenant_scope
from crm_web.extensions import db
from crm_web.outbox.models import OutboxMessage
from crm_web.privacy.models import AuditEntry
from crm_web.sla import clock, configuration, escalations, policies
from crm_web.sla.messages import NOTIFICATION_KINDS
from crm_web.sla.models import SlaEscalation
from crm_web.tickets import services as tickets
from crm_web.tickets.models import Ticket, TicketMessage
from tests import factories
from worker.broker import broker


def resolve_behind_the_services(ticket_id: int) -> None:
    """A change that did not pass through the tickets services (a data fix in SQL): the
    ticket's points stay pending, and only the check at firing time can skip them."""
    db.session.execute(update(Ticket).where(Ticket.id == ticket_id).values(status="resolved"))


def first_response_points(ticket_ids) -> dict[int, list[tuple[int, str, str]]]:
    """Per ticket: (level, status, outcome) of its first-response points, lowest level first."""
    db.session.expire_all()
    rows = db.session.scalars(
        select(SlaEscalation)
        .where(SlaEscalation.ticket_id.in_(ticket_ids), SlaEscalation.target == "first_response")
        .order_by(SlaEscalation.ticket_id, SlaEscalation.level)
    )
    points: dict[int, list] = {}
    for row in rows:
        points.setdefault(row.ticket_id, []).append((row.level, row.status, row.outcome))
    return points


def escalation_event_tickets(ticket_ids) -> list[int]:
    return sorted(
        db.session.scalars(
            select(TicketMessage.ticket_id).where(
                TicketMessage.ticket_id.in_(ticket_ids),
                TicketMessage.data["event"].astext == "sla_escalation",
            )
        )
    )


def test_one_batch_fires_the_due_points_and_skips_what_is_no_longer_relevant(desk, frozen):
    configure(sms_numbers="")
    live = [new_ticket(desk, priority="high") for _ in range(3)]  # first response due 11:00
    resolved = new_ticket(desk, priority="high")
    resolve_behind_the_services(resolved.id)
    ids = [ticket.id for ticket in live + [resolved]]
    frozen.now = MONDAY_10 + timedelta(hours=1, seconds=1)

    assert escalations.fire_due_escalations() == 12  # 3 first-response points of 4 tickets

    points = first_response_points(ids)
    for ticket in live:
        # The breach fires; the warnings that passed unseen are superseded by it.
        assert points[ticket.id] == [
            (50, "skipped", "Superseded: the breach has passed too."),
            (80, "skipped", "Superseded: the breach has passed too."),
            (100, "fired", f"Notified {desk.lead.email} (email)"),
        ]
    assert {status for _level, status, _ in points[resolved.id]} == {"skipped"}
    assert points[resolved.id][2][2] == "Ticket resolved before the escalation."
    assert escalation_event_tickets(ids) == sorted(t.id for t in live)
    assert all(db.session.get(Ticket, t.id).first_response_breached for t in live)
    assert not db.session.get(Ticket, resolved.id).first_response_breached
    notifications = db.session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.kind.in_(NOTIFICATION_KINDS.values()),
            OutboxMessage.source_id.in_(
                select(SlaEscalation.id).where(SlaEscalation.ticket_id.in_(ids))
            ),
        )
        .order_by(OutboxMessage.id)
    ).all()
    assert [(n.to_address, n.status) for n in notifications] == [(desk.lead.email, "queued")] * 3
    breach_ids = db.session.scalars(
        select(SlaEscalation.id).where(
            SlaEscalation.ticket_id.in_(ids), SlaEscalation.status == "fired"
        )
    ).all()
    assert len(breach_ids) == 3
    assert {n.source_id for n in notifications} == set(breach_ids)
    # The three breaches' mails go out from one delivery loop (one SMTP session).
    [delivery] = [Message.decode(data) for data in list(broker.queues["outbox"].queue)]
    assert (delivery.actor_name, delivery.args) == ("deliver_outbox", (desk.org.id, "email"))
    # The set-based writes are in the audit log, naming the rows they changed.
    entries = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.organization_id == desk.org.id,
            AuditEntry.table_name.in_(("sla_escalations", "ticket_messages", "outbox_messages")),
        )
    ).all()
    audited = {
        (entry.table_name, entry.action): entry.new_values["ids"]
        for entry in entries
        if entry.new_values and "ids" in entry.new_values
    }
    assert len(audited[("ticket_messages", "create")]) == 3
    [outbox_entry] = [
        entry
        for entry in entries
        if (entry.table_name, entry.action) == ("outbox_messages", "create")
    ]
    assert outbox_entry.row_id == f"{notifications[0].id}..{notifications[-1].id}"
    assert outbox_entry.new_values == {"kinds": ["sla_escalation"], "count": 3}

    # Nothing is due any more: a second batch takes nothing.
    assert escalations.fire_due_escalations() == 0


def test_a_message_for_one_point_fires_every_due_point_and_the_others_stop_at_a_read(desk, frozen):
    configure(sms_numbers="")
    first, second = new_ticket(desk, priority="high"), new_ticket(desk, priority="high")
    frozen.now = MONDAY_10 + timedelta(minutes=30, seconds=1)  # both 50% warnings are due
    warnings = [
        db.session.scalar(
            select(SlaEscalation.id).where(
                SlaEscalation.ticket_id == ticket.id, SlaEscalation.level == 50
            )
        )
        for ticket in (first, second)
    ]

    assert escalations.fire_escalation_and_due(warnings[0]) == "fired"
    # The second ticket's warning fired in the same batch; its own message finds it done.
    assert escalations.fire_escalation_and_due(warnings[1]) == "fired"
    assert escalation_event_tickets([first.id, second.id]) == [first.id, second.id]
    # The 80% points are not due yet: still pending.
    later = first_response_points([first.id])[first.id]
    assert [(level, status) for level, status, _ in later] == [
        (50, "fired"),
        (80, "pending"),
        (100, "pending"),
    ]


@pytest.mark.committed
def test_two_workers_batching_at_once_fire_each_point_once(app, request, make_org, monkeypatch):
    organizations = request.getfixturevalue("committed_context")
    request.getfixturevalue("stub_broker")
    frozen = freeze(monkeypatch, MONDAY_10)
    desk = make_desk(make_org)
    organizations.append(desk.org.id)
    configure(sms_numbers="")
    ids = []
    for _ in range(8):
        ticket = factories.ticket(
            desk.org,
            user=desk.admin,
            subject="Payments fail",
            department="Support",
            priority="high",
        )
        ids.append(ticket.id)
    resolve_behind_the_services(ids[-1])
    db.session.commit()
    frozen.now = MONDAY_10 + timedelta(hours=1, seconds=1)

    start = threading.Barrier(2)
    taken, errors = [], []

    def worker():
        try:
            with app.app_context(), tenant_scope(desk.org.id):
                start.wait(timeout=10)
                # Small batches, so the two interleave over the 24 due points.
                while batch := escalations.fire_due_escalations(limit=3):
                    taken.append(batch)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(taken) == 24  # every point taken by exactly one of the two

    with tenant_scope(desk.org.id):
        points = first_response_points(ids)
        for ticket_id in ids[:-1]:
            assert [(level, status) for level, status, _ in points[ticket_id]] == [
                (50, "skipped"),
                (80, "skipped"),
                (100, "fired"),
            ]
        assert [status for _level, status, _ in points[ids[-1]]] == ["skipped"] * 3
        assert escalation_event_tickets(ids) == sorted(ids[:-1])  # one event per fired point
        recipients = db.session.scalars(
            select(OutboxMessage.to_address).where(
                OutboxMessage.organization_id == desk.org.id,
                OutboxMessage.kind.in_(NOTIFICATION_KINDS.values()),
            )
        ).all()
        assert recipients == [desk.lead.email] * 7
        db.session.commit()


# -- policy and calendar changes move the open tickets' clocks --------------------------------


def pending_points(ticket) -> dict[tuple[str, int], object]:
    db.session.expire_all()
    return {
        (row.target, row.level): row.due_at
        for row in db.session.scalars(
            select(SlaEscalation).where(
                SlaEscalation.ticket_id == ticket.id, SlaEscalation.status == "pending"
            )
        )
    }


def test_saving_a_policy_recomputes_the_open_tickets_of_its_priority(desk, frozen):
    configure(sms_numbers="")
    high = new_ticket(desk, priority="high")  # defaults: 1 h / 4 working hours
    normal = new_ticket(desk, priority="normal")
    done = new_ticket(desk, priority="high")
    tickets.change_status(done.id, "resolved")
    before_normal = normal.first_response_due_at
    old_breach = db.session.scalar(
        select(SlaEscalation).where(
            SlaEscalation.ticket_id == high.id,
            SlaEscalation.target == "first_response",
            SlaEscalation.level == 100,
        )
    )

    frozen.now = MONDAY_10 + timedelta(minutes=10)
    policy = configuration.save_policy(
        priority="high", first_response_minutes=30, resolution_minutes=120, business_hours=True
    )

    db.session.expire_all()
    high = db.session.get(Ticket, high.id)
    # The clock started at 10:00; the new targets count from there.
    assert high.first_response_due_at == MONDAY_10 + timedelta(minutes=30)
    assert high.resolution_due_at == MONDAY_10 + timedelta(hours=2)
    assert high.sla_policy_id == policy.id
    assert pending_points(high)[("first_response", 100)] == MONDAY_10 + timedelta(minutes=30)
    old_breach = db.session.get(SlaEscalation, old_breach.id)
    assert (old_breach.status, old_breach.outcome) == ("cancelled", "The due time moved.")
    # The new 50% point (10:15) is due within five minutes: a delayed message for its moment
    # (which fires every point due by then) is on the way.
    delayed = [Message.decode(data) for data in list(broker.queues["sla.DQ"].queue)]
    assert [(m.actor_name, m.args[0], datetime.fromisoformat(m.args[1])) for m in delayed] == [
        ("fire_due_sla_escalations", desk.org.id, MONDAY_10 + timedelta(minutes=15))
    ]
    # Another priority and a resolved ticket are left alone.
    assert db.session.get(Ticket, normal.id).first_response_due_at == before_normal
    assert db.session.get(Ticket, done.id).first_response_due_at is None

    # Deleting the policy puts the built-in targets back.
    configuration.delete_policy(policy.id)
    high = db.session.get(Ticket, high.id)
    assert high.first_response_due_at == MONDAY_10 + timedelta(hours=1)
    assert high.sla_policy_id is None


def test_business_hours_and_holidays_move_the_open_tickets_clocks(desk, frozen):
    configure(sms_numbers="")
    ticket = new_ticket(desk, priority="high")  # Monday 10:00; resolution in 4 working hours
    assert ticket.resolution_due_at == MONDAY_10 + timedelta(hours=4)

    # Work stops at 12:00 on weekdays now: 2 hours on Monday, 2 on Tuesday from 09:00.
    configure(sms_numbers="", weekly_hours=["09:00-12:00"] * 5 + ["", ""])
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.resolution_due_at == MONDAY_10 + timedelta(days=1, hours=1)
    assert pending_points(ticket)[("resolution", 100)] == ticket.resolution_due_at

    # Tuesday becomes a holiday: Wednesday 11:00.
    holiday = configuration.add_holiday((MONDAY_10 + timedelta(days=1)).date(), "Team day")
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.resolution_due_at == MONDAY_10 + timedelta(days=2, hours=1)
    configuration.delete_holiday(holiday.id)
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.resolution_due_at == MONDAY_10 + timedelta(days=1, hours=1)


def test_a_settings_change_and_its_recompute_are_one_transaction(desk, frozen, monkeypatch):
    configure(sms_numbers="")
    ticket = new_ticket(desk, priority="high")
    due = ticket.resolution_due_at
    settings_before = policies.get_settings().weekly_hours

    def fail(*args, **kwargs):
        raise RuntimeError("the recompute failed half way")

    monkeypatch.setattr(clock, "reschedule_points", fail)
    with pytest.raises(RuntimeError):
        configure(sms_numbers="", weekly_hours=["09:00-12:00"] * 5 + ["", ""])

    db.session.expire_all()
    assert policies.get_settings().weekly_hours == settings_before  # nothing half-written
    assert db.session.get(Ticket, ticket.id).resolution_due_at == due
