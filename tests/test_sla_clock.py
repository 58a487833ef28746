"""Due times computed as tickets change: creation, priority change, waiting, first response,
resolution and reopening; policies per priority and customer tag; the queue's SLA clauses."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dramatiq import Message
from sla_helpers import freeze
from sqlalchemy import select

from crm_web.db import set_tenant
from crm_web.errors import ValidationError
from crm_web.extensions import db
from crm_web.sla import configuration, policies, reading
from crm_web.sla.models import SlaEscalation, SlaSettings
from crm_web.tickets import services as tickets
from crm_web.tickets.models import Ticket
from tests import factories
from worker.broker import broker

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


@pytest.fixture
def frozen(monkeypatch):
    return freeze(monkeypatch, berlin(2025, 6, 2, 10))  # a Monday, 10:00 in Berlin


@pytest.fixture
def org(make_org, make_user):
    organization, admin = make_org("Clockwork", timezone="Europe/Berlin")
    make_user(organization, role="support", name="Ayla Agent")
    set_tenant(organization.id, admin.id)
    return organization


@pytest.fixture(autouse=True)
def _empty_sla_queue():
    broker.flush("sla")
    broker.flush("sla.DQ")
    yield
    broker.flush("sla")
    broker.flush("sla.DQ")


def new_ticket(org, **kwargs) -> Ticket:
    return factories.ticket(org, **kwargs)


def points(ticket, status="pending") -> list[tuple[str, int, datetime]]:
    """The ticket's escalation points in this status: (target, level, fire_at in Berlin)."""
    rows = db.session.scalars(
        select(SlaEscalation)
        .where(SlaEscalation.ticket_id == ticket.id, SlaEscalation.status == status)
        .order_by(SlaEscalation.target, SlaEscalation.level)
    )
    return [(row.target, row.level, row.fire_at.astimezone(BERLIN)) for row in rows]


def test_a_new_ticket_gets_business_hours_due_times_and_escalation_points(org, frozen):
    ticket = new_ticket(org, priority="normal")

    # Normal: 4 working hours to the first response, 48 to resolution, Mon-Fri 09:00-17:00.
    assert ticket.first_response_due_at == berlin(2025, 6, 2, 14)
    assert ticket.resolution_due_at == berlin(2025, 6, 10, 10)
    assert ticket.sla_due_at == ticket.first_response_due_at
    assert ticket.sla_policy_id is None  # the built-in default
    assert ticket.sla_clock_started_at == frozen.now
    assert points(ticket) == [
        ("first_response", 50, berlin(2025, 6, 2, 12)),
        ("first_response", 80, berlin(2025, 6, 2, 13, 12)),
        ("first_response", 100, berlin(2025, 6, 2, 14)),
        ("resolution", 50, berlin(2025, 6, 5, 10)),
        ("resolution", 80, berlin(2025, 6, 6, 16, 24)),
        ("resolution", 100, berlin(2025, 6, 10, 10)),
    ]
    # None is due within minutes, so the sweep will send their messages when the time nears.
    assert broker.queues["sla.DQ"].qsize() == 0


def test_points_due_soon_get_a_delayed_message_at_once(org, frozen):
    configuration.save_policy(
        priority="high", first_response_minutes=4, resolution_minutes=60, business_hours=False
    )
    ticket = new_ticket(org, priority="high")
    db.session.commit()  # the messages go out after commit

    delayed = [Message.decode(data) for data in list(broker.queues["sla.DQ"].queue)]
    fire = {row.id: row for row in db.session.scalars(select(SlaEscalation))}
    assert sorted(
        (fire[message.args[1]].target, fire[message.args[1]].level) for message in delayed
    ) == [("first_response", 50), ("first_response", 80), ("first_response", 100)]
    for message in delayed:
        row = fire[message.args[1]]
        assert message.actor_name == "fire_sla_escalation"
        assert message.args[0] == org.id
        assert row.enqueued_at == frozen.now
        # The broker holds it until the point's moment (the eta is set from the delay).
        expected_delay = (row.fire_at - frozen()).total_seconds() * 1000
        assert message.options["eta"] - message.message_timestamp == pytest.approx(
            expected_delay, abs=50
        )
    resolution = [p for p in points(ticket) if p[0] == "resolution"]
    assert len(resolution) == 3  # an hour away: the sweep enqueues those later


def test_urgent_tickets_run_around_the_clock(org, frozen):
    frozen.now = berlin(2025, 6, 7, 22, 50)  # Saturday night
    ticket = new_ticket(org, priority="urgent")
    assert ticket.first_response_due_at == berlin(2025, 6, 7, 23, 5)
    assert ticket.resolution_due_at == berlin(2025, 6, 7, 23, 50)


def test_a_tagged_customer_gets_its_tier_policy(org, frozen):
    configuration.save_policy(
        priority="normal", first_response_minutes=120, resolution_minutes=960, business_hours=True
    )
    configuration.save_policy(
        priority="normal",
        customer_tag="Gold",
        first_response_minutes=30,
        resolution_minutes=480,
        business_hours=True,
    )
    gold = new_ticket(org, priority="normal", tags=["gold"])
    plain = new_ticket(org, priority="normal")

    assert gold.first_response_due_at == berlin(2025, 6, 2, 10, 30)
    assert gold.resolution_due_at == berlin(2025, 6, 3, 10)
    assert plain.first_response_due_at == berlin(2025, 6, 2, 12)
    assert plain.resolution_due_at == berlin(2025, 6, 4, 10)
    assert gold.sla_policy_id != plain.sla_policy_id


def test_a_priority_change_moves_the_due_times_and_cancels_the_old_points(org, frozen):
    ticket = new_ticket(org, priority="low")
    old_due = ticket.first_response_due_at
    frozen.now = berlin(2025, 6, 2, 11)

    change_priority(ticket, "high")

    # High: one working hour; one of them has been used since 10:00.
    assert ticket.first_response_due_at == berlin(2025, 6, 2, 11)
    assert ticket.first_response_due_at != old_due
    cancelled = db.session.scalars(
        select(SlaEscalation).where(
            SlaEscalation.ticket_id == ticket.id, SlaEscalation.status == "cancelled"
        )
    ).all()
    assert len(cancelled) == 6
    assert {row.outcome for row in cancelled} == {"The due time moved."}
    # The new warnings' moments are past: only the breach is due, now.
    assert [p for p in points(ticket) if p[0] == "first_response"] == [
        ("first_response", 100, berlin(2025, 6, 2, 11))
    ]


def change_priority(ticket, priority):
    tickets.update_ticket(
        ticket.id,
        subject=ticket.subject,
        description="",
        category=ticket.category,
        ticket_type=ticket.ticket_type,
        priority=priority,
        tags=[],
        department=ticket.department,
    )


def test_a_priority_changed_back_brings_its_points_back(org, frozen):
    ticket = new_ticket(org, priority="normal")
    original = points(ticket)
    frozen.now = berlin(2025, 6, 2, 10, 5)
    change_priority(ticket, "high")
    change_priority(ticket, "normal")

    # The same due times as before: the cancelled points are pending again, not duplicated.
    assert points(ticket) == original
    assert len(points(ticket, "cancelled")) == 6  # the high priority's


def test_waiting_on_the_customer_pauses_the_clock(org, frozen):
    ticket = new_ticket(org, priority="normal")
    tickets.add_reply(ticket.id, "Which printer?")  # first response at 10:00, no more FR points
    frozen.now = berlin(2025, 6, 2, 12)
    tickets.change_status(ticket.id, "waiting_on_customer")

    assert ticket.sla_clock_started_at is None
    assert ticket.sla_elapsed_seconds == 2 * 3600
    assert ticket.resolution_due_at is None and ticket.sla_due_at is None
    assert points(ticket) == []
    assert {row[0] for row in points(ticket, "cancelled")} == {"first_response", "resolution"}

    # The customer answers on Thursday 09:00: 46 working hours are left.
    frozen.now = berlin(2025, 6, 5, 9)
    tickets.add_customer_message(ticket.id, "The big one.")
    assert ticket.status == "open"
    assert ticket.resolution_due_at == berlin(2025, 6, 12, 15)
    # 50% (24 h) had not been reached at the pause: it is rescheduled with the new due time.
    assert points(ticket) == [
        ("resolution", 50, berlin(2025, 6, 9, 15)),
        ("resolution", 80, berlin(2025, 6, 11, 13, 24)),
        ("resolution", 100, berlin(2025, 6, 12, 15)),
    ]


def test_a_warning_passed_while_paused_is_not_repeated(org, frozen):
    ticket = new_ticket(org, priority="normal")
    tickets.add_reply(ticket.id, "Looking")
    frozen.now = berlin(2025, 6, 5, 12)  # 26 working hours used: past the 50% point
    tickets.change_status(ticket.id, "waiting_on_customer")
    frozen.now = berlin(2025, 6, 6, 9)
    tickets.change_status(ticket.id, "open")

    assert [level for _target, level, _at in points(ticket)] == [80, 100]


def test_the_first_response_stops_its_clock(org, frozen):
    ticket = new_ticket(org, priority="normal")
    frozen.now = berlin(2025, 6, 2, 15)  # an hour after the 14:00 deadline
    tickets.add_reply(ticket.id, "Sorry for the wait")

    assert ticket.first_response_due_at is None
    assert ticket.first_response_seconds == 5 * 3600
    assert ticket.first_response_breached is True
    assert ticket.sla_due_at == ticket.resolution_due_at
    assert [p[0] for p in points(ticket)] == ["resolution"] * 3
    answered = points(ticket, "cancelled")
    assert [p[:2] for p in answered] == [
        ("first_response", 50),
        ("first_response", 80),
        ("first_response", 100),
    ]


def test_resolving_stops_the_clock_and_reopening_runs_it_on(org, frozen):
    ticket = new_ticket(org, priority="high")  # 1 h / 4 h in business hours
    tickets.add_reply(ticket.id, "On it")
    frozen.now = berlin(2025, 6, 2, 13)
    tickets.change_status(ticket.id, "resolved")

    assert ticket.resolution_seconds == 3 * 3600
    assert ticket.resolution_breached is False
    assert ticket.first_response_breached is False
    assert ticket.sla_due_at is None and points(ticket) == []

    frozen.now = berlin(2025, 6, 3, 16)
    tickets.add_customer_message(ticket.id, "It is broken again")
    assert ticket.resolution_seconds is None
    # One working hour was left: due at 17:00.
    assert ticket.resolution_due_at == berlin(2025, 6, 3, 17)

    frozen.now = berlin(2025, 6, 4, 10)
    tickets.change_status(ticket.id, "resolved")
    assert ticket.resolution_seconds == 5 * 3600
    assert ticket.resolution_breached is True


def test_holidays_and_the_organizations_hours_apply(org, frozen):
    configuration.update_settings(
        timezone="Europe/Berlin",
        weekly_hours=["08:00-12:00"] * 5 + ["", ""],
        warning_percents="25, 75",
        breach_raise_priority=False,
        breach_reassign_to_id=None,
        sms_numbers="",
    )
    configuration.add_holiday(datetime(2025, 6, 3).date(), "Team day")
    ticket = new_ticket(org, priority="high")  # 60 min FR, 240 min resolution

    assert ticket.first_response_due_at == berlin(2025, 6, 2, 11)
    # Monday 10:00-12:00, Tuesday off, Wednesday 08:00-10:00.
    assert ticket.resolution_due_at == berlin(2025, 6, 4, 10)
    assert [level for target, level, _ in points(ticket) if target == "resolution"] == [
        25,
        75,
        100,
    ]


def test_the_queue_clauses_see_live_deadlines(org, frozen):
    real_now = datetime.now(UTC)
    frozen.now = real_now - timedelta(hours=3)
    overdue = new_ticket(org, priority="urgent")  # first response due 15 minutes after creation
    frozen.now = real_now - timedelta(minutes=10)
    soon = new_ticket(org, priority="urgent")  # due in 5 minutes
    frozen.now = real_now
    calm = new_ticket(org, priority="low")
    tickets.change_status(calm.id, "waiting_on_customer")
    db.session.flush()

    clauses = reading.queue_clauses()
    ids = {overdue.id, soon.id, calm.id}

    def matching(clause):
        return set(db.session.scalars(select(Ticket.id).where(Ticket.id.in_(ids), clause)))

    assert matching(clauses.breached) == {overdue.id}
    assert matching(clauses.breaching_soon) == {soon.id}
    ordered = db.session.scalars(
        select(Ticket.id).where(Ticket.id.in_(ids)).order_by(clauses.due_sort, Ticket.id)
    ).all()
    assert ordered == [overdue.id, soon.id, calm.id]  # a paused clock sorts last


def test_settings_are_validated(org):
    with pytest.raises(ValidationError) as error:
        configuration.update_settings(
            timezone="Moon/Base",
            weekly_hours=["9-17"] + [""] * 6,
            warning_percents="50, 120",
            breach_raise_priority=True,
            breach_reassign_to_id=999_999_999,
            sms_numbers="12",
        )
    assert set(error.value.fields) == {
        "timezone",
        "hours_monday",
        "warning_percents",
        "breach_reassign_to_id",
        "sms_numbers",
    }
    with pytest.raises(ValidationError) as error:
        configuration.update_settings(
            timezone="UTC",
            weekly_hours=[""] * 7,
            warning_percents=[50],
            breach_raise_priority=False,
            breach_reassign_to_id=None,
            sms_numbers=[],
        )
    assert error.value.fields == {"hours_monday": "Give at least one day some working hours."}

    saved = configuration.update_settings(
        timezone="Europe/Istanbul",
        weekly_hours=["9:00-17:00"] * 5 + ["10:00-14:00", ""],
        warning_percents=[80, 50, 50],
        breach_raise_priority=True,
        breach_reassign_to_id=None,
        sms_numbers="+90 532 111 22 33\n+905321112233",
    )
    assert db.session.get(SlaSettings, org.id) is saved
    assert saved.weekly_hours[0] == "09:00-17:00"
    assert saved.warning_percents == [50, 80]
    assert saved.sms_numbers == ["+905321112233"]


def test_policies_are_validated_and_listed_with_the_defaults(org):
    with pytest.raises(ValidationError) as error:
        configuration.save_policy(
            priority="critical",
            first_response_minutes=0,
            resolution_minutes=None,
            business_hours=True,
        )
    assert set(error.value.fields) == {"priority", "first_response_minutes", "resolution_minutes"}

    configuration.save_policy(
        priority="high", first_response_minutes=30, resolution_minutes=120, business_hours=False
    )
    configuration.save_policy(
        priority="urgent",
        customer_tag="vip",
        first_response_minutes=5,
        resolution_minutes=60,
        business_hours=False,
    )
    table = policies.policy_table()
    assert [
        (t.priority, t.customer_tag, t.first_response_minutes, saved) for t, saved in table
    ] == [
        ("urgent", "", 15, False),
        ("high", "", 30, True),
        ("normal", "", 240, False),
        ("low", "", 480, False),
        ("urgent", "vip", 5, True),
    ]
    # Saving the same priority and tag again changes the policy instead of adding one.
    configuration.save_policy(
        priority="high", first_response_minutes=45, resolution_minutes=120, business_hours=False
    )
    assert [t.first_response_minutes for t, _ in policies.policy_table()][1] == 45
