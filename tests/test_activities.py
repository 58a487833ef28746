"""Activities as services: validation and linking, completion with a follow-up, re-arming
reminders, "my tasks" buckets across timezones, calendar ranges, and the lead-score hook."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from crm_web.activities import reminders, services
from crm_web.activities.models import Activity
from crm_web.db import clear_tenant, set_tenant
from crm_web.errors import Conflict, NotFound, PermissionDenied, ValidationError
from crm_web.extensions import db
from crm_web.leads.models import Lead
from crm_web.outbox.models import OutboxMessage
from crm_web.privacy.models import AuditEntry
from tests.activity_fixtures import make_team, plan, team_fixture  # noqa: F401 (fixture)

# --- validation and linking ---------------------------------------------------------------


def test_an_activity_is_created_with_its_links_people_and_an_audit_entry(team):
    due = datetime(2030, 3, 4, 10, 30, tzinfo=UTC)
    activity = plan(
        team,
        activity_type="meeting",
        subject="  Kick-off  ",
        due_at=due,
        duration_minutes=45,
        priority="high",
        location="Their office",
        assigned_to_id=team.other_seller.id,
        attendee_user_ids=[team.manager.id, team.seller.id],
        attendee_customer_ids=[team.customers[1].id],
        next_action="Send the agenda",
        reminder_minutes_before=30,
    )

    assert activity.subject == "Kick-off"
    assert (activity.activity_type, activity.status, activity.priority) == (
        "meeting",
        "planned",
        "high",
    )
    assert activity.assigned_to_id == team.other_seller.id
    assert activity.created_by_id == team.seller.id
    assert activity.customer_id == team.customers[0].id
    assert activity.due_at == due and activity.duration_minutes == 45
    assert activity.reminder_at == due - timedelta(minutes=30)
    assert activity.reminder_armed is True
    assert {(a.user_id, a.customer_id) for a in activity.attendees} == {
        (team.manager.id, None),
        (team.seller.id, None),
        (None, team.customers[1].id),
    }
    entry = db.session.scalar(
        select(AuditEntry).where(
            AuditEntry.table_name == "activities", AuditEntry.row_id == str(activity.id)
        )
    )
    assert entry.action == "create"
    assert entry.user_id == team.seller.id
    assert entry.new_values["subject"] == "Kick-off"


def test_every_invalid_field_is_reported_at_once(team):
    with pytest.raises(ValidationError) as caught:
        plan(
            team,
            activity_type="lunch",
            subject=" ",
            priority="asap",
            status="completed",
            due_at="next tuesday",
            duration_minutes=-5,
            reminder_minutes_before="soon",
        )
    assert set(caught.value.fields) == {
        "activity_type",
        "subject",
        "priority",
        "status",
        "due_at",
        "duration_minutes",
        "reminder_minutes_before",
    }
    set_tenant(team.organization.id)
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 0


def test_an_activity_must_be_linked_to_something(team):
    with pytest.raises(ValidationError) as caught:
        plan(team, customer_id=None)
    assert caught.value.fields == {"links": "Link the activity to a customer, lead or opportunity."}


def test_links_by_number_and_a_deal_brings_its_customer(team):
    by_lead = plan(team, customer_id=None, lead_number=team.lead.lead_number.lower())
    assert (by_lead.lead_id, by_lead.customer_id, by_lead.opportunity_id) == (
        team.lead.id,
        None,
        None,
    )

    by_deal = plan(team, customer_id=None, opportunity_number=team.opportunity.opportunity_number)
    assert by_deal.opportunity_id == team.opportunity.id
    assert by_deal.customer_id == team.opportunity.customer_id

    by_code = plan(team, customer_id=None, customer_code=team.customers[2].customer_code)
    assert by_code.customer_id == team.customers[2].id
    assert by_code.related_label == "Customer 2 Ltd"


def test_links_must_agree_with_each_other(team):
    with pytest.raises(ValidationError) as caught:
        plan(team, customer_id=team.customers[1].id, opportunity_id=team.opportunity.id)
    assert caught.value.fields == {"customer_id": "This opportunity belongs to another customer."}

    with pytest.raises(ValidationError) as caught:
        plan(
            team,
            customer_id=team.customers[1].id,
            customer_code=team.customers[2].customer_code,
        )
    assert "customer_code" in caught.value.fields

    with pytest.raises(ValidationError) as caught:
        plan(team, customer_id=None, opportunity_number="OPP-999999", lead_number="NOPE")
    assert set(caught.value.fields) == {"opportunity_number", "lead_number"}


def test_links_and_people_of_another_organization_are_refused(team, make_org, make_user):
    other = make_team(make_org, make_user, name="Elsewhere")
    # A refused change rolls back, which expires loaded rows: read what is needed first.
    other_code = other.customers[0].customer_code
    with pytest.raises(ValidationError) as caught:
        plan(
            team,
            customer_id=other.customers[0].id,
            lead_id=other.lead.id,
            opportunity_id=other.opportunity.id,
            assigned_to_id=other.seller.id,
            attendee_user_ids=[other.manager.id],
            attendee_customer_ids=[other.customers[1].id],
        )
    assert caught.value.fields == {
        "customer_id": "No such customer in your organization.",
        "lead_id": "No such lead in your organization.",
        "opportunity_id": "No such opportunity in your organization.",
        "assigned_to_id": "No such active user in your organization.",
        "attendee_user_ids": "Some attendees are not active users of your organization.",
        "attendee_customer_ids": "Some contacts are not customers of your organization.",
    }
    with pytest.raises(ValidationError) as caught:
        plan(team, customer_code=other_code, customer_id=None)
    assert caught.value.fields == {"customer_code": f"No customer numbered {other_code}."}


def test_a_naive_due_time_is_the_organizations(make_org, make_user):
    istanbul = make_team(make_org, make_user, name="Istanbul", timezone="Europe/Istanbul")
    activity = plan(istanbul, due_at="2030-06-01T09:00")
    assert activity.due_at == datetime(2030, 6, 1, 6, 0, tzinfo=UTC)
    aware = plan(istanbul, due_at="2030-06-01T09:00+00:00")
    assert aware.due_at == datetime(2030, 6, 1, 9, 0, tzinfo=UTC)


def test_editing_replaces_attendees_and_moving_the_time_rearms_the_reminder(team):
    activity = plan(
        team,
        due_at=datetime.now(UTC) + timedelta(minutes=10),
        reminder_minutes_before=15,
        attendee_user_ids=[team.manager.id],
    )
    # The reminder time has passed already (the task is due in 10 minutes): it is written now.
    assert reminders.write_due_reminders() != []
    db.session.refresh(activity)
    assert activity.reminder_armed is False
    assert services.reminder_states([activity])[activity.id].status == "pending"

    fields = {
        "activity_type": "call",
        "subject": "Call the customer",
        "customer_id": team.customers[0].id,
        "reminder_minutes_before": 15,
        "attendee_customer_ids": [team.customers[1].id],
    }
    # Same time, other words: the reminder stays written.
    same_time = {**fields, "due_at": activity.due_at, "subject": "Call them back"}
    services.update_activity(activity.id, acting_user=team.seller, **same_time)
    assert activity.reminder_armed is False

    later = activity.due_at + timedelta(days=1)
    services.update_activity(activity.id, acting_user=team.seller, **fields, due_at=later)
    assert activity.reminder_at == later - timedelta(minutes=15)
    assert activity.reminder_armed is True
    assert [(a.user_id, a.customer_id) for a in activity.attendees] == [
        (None, team.customers[1].id)
    ]
    state = services.reminder_states([activity])[activity.id]
    assert (state.status, state.remind_at) == ("pending", activity.reminder_at)


def test_only_the_assignee_creator_or_a_manager_may_change_an_activity(team):
    activity = plan(team)
    with pytest.raises(PermissionDenied):
        services.complete_activity(activity.id, acting_user=team.other_seller, outcome="Done")
    with pytest.raises(PermissionDenied):
        services.cancel_activity(activity.id, acting_user=team.other_seller)
    done, _ = services.complete_activity(activity.id, acting_user=team.manager, outcome="Done")
    assert done.completed_by_id == team.manager.id


# --- completing ---------------------------------------------------------------------------


def test_completing_records_the_outcome_and_creates_the_follow_up(team):
    activity = plan(
        team,
        opportunity_id=team.opportunity.id,
        priority="high",
        reminder_minutes_before=60,
    )
    due = datetime(2030, 5, 6, 14, 0, tzinfo=UTC)

    done, follow_up = services.complete_activity(
        activity.id,
        acting_user=team.seller,
        outcome="They want a quote",
        next_action="Send the quote",
        follow_up={"due_at": due, "reminder_minutes_before": 15},
    )

    assert done.status == "completed"
    assert done.outcome == "They want a quote" and done.next_action == "Send the quote"
    assert done.completed_at is not None and done.completed_by_id == team.seller.id
    assert done.reminder_armed is False
    assert follow_up.follow_up_of_id == done.id
    assert (follow_up.activity_type, follow_up.subject) == (
        "follow_up",
        "Follow up: Call the customer",
    )
    assert (follow_up.customer_id, follow_up.opportunity_id) == (
        team.customers[0].id,
        team.opportunity.id,
    )
    assert (follow_up.assigned_to_id, follow_up.priority, follow_up.due_at) == (
        team.seller.id,
        "high",
        due,
    )
    assert follow_up.reminder_armed is True
    detail = services.activity_detail(done.id)
    assert [a.id for a in detail.follow_ups] == [follow_up.id]
    assert services.activity_detail(follow_up.id).follow_up_of.id == done.id
    # A closed activity's reminder is not sent.
    assert services.reminder_states([done])[done.id].status == "cancelled"


def test_a_bad_follow_up_leaves_the_activity_open_and_creates_nothing(team):
    activity = plan(team)

    with pytest.raises(ValidationError) as caught:
        services.complete_activity(
            activity.id,
            acting_user=team.seller,
            outcome="Went well",
            follow_up={"due_at": "", "activity_type": "party"},
        )

    assert caught.value.fields == {
        "follow_up_due_at": "When is it due?",
        "follow_up_activity_type": f"Choose one of: {', '.join(services.ACTIVITY_TYPES)}.",
    }
    db.session.expire_all()
    set_tenant(team.organization.id, team.seller.id)
    reloaded = services.get_activity(activity.id)
    assert (reloaded.status, reloaded.outcome, reloaded.completed_at) == ("planned", "", None)
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 1


def test_completing_needs_an_outcome_and_happens_once(team):
    activity = plan(team)
    with pytest.raises(ValidationError) as caught:
        services.complete_activity(activity.id, acting_user=team.seller, outcome="   ")
    assert caught.value.fields == {"outcome": "This field is required."}

    services.complete_activity(activity.id, acting_user=team.seller, outcome="Done")
    with pytest.raises(Conflict):
        services.complete_activity(activity.id, acting_user=team.seller, outcome="Again")
    with pytest.raises(Conflict):
        services.update_activity(
            activity.id,
            acting_user=team.seller,
            activity_type="call",
            subject="x",
            customer_id=team.customers[0].id,
            due_at=activity.due_at,
        )


def test_another_organizations_activity_is_not_found(team, make_org, make_user):
    other = make_team(make_org, make_user, name="Elsewhere")
    theirs = plan(other).id
    set_tenant(team.organization.id, team.seller.id)
    with pytest.raises(NotFound):
        services.complete_activity(theirs, acting_user=team.seller, outcome="Mine now")
    with pytest.raises(NotFound):
        services.activity_detail(theirs)


def test_activities_of_a_lead_update_its_figures_and_status(team):
    first = plan(team, customer_id=None, lead_id=team.lead.id)
    plan(team, customer_id=None, lead_id=team.lead.id)
    lead = db.session.get(Lead, team.lead.id)
    assert (lead.activity_count, lead.last_activity_at, lead.status) == (2, None, "new")

    done, _ = services.complete_activity(first.id, acting_user=team.seller, outcome="Talked")

    db.session.refresh(lead)
    assert lead.activity_count == 2
    assert lead.last_activity_at == done.completed_at
    assert lead.status == "contacted"
    assert lead.scored_at is not None


# --- my tasks -----------------------------------------------------------------------------

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("timezone", "expected"),
    [
        # 22:00 on the 22nd in Auckland: the local day ends at 11:00 UTC.
        (
            "Pacific/Auckland",
            {"overdue": ["08:00"], "today": ["10:00"], "upcoming": ["11:30", "23 09:00"]},
        ),
        # 01:00 on the 22nd in Los Angeles: the local day ends at 08:00 UTC on the 23rd.
        (
            "America/Los_Angeles",
            {"overdue": ["08:00"], "today": ["10:00", "11:30"], "upcoming": ["23 09:00"]},
        ),
        ("UTC", {"overdue": ["08:00"], "today": ["10:00", "11:30"], "upcoming": ["23 09:00"]}),
    ],
)
def test_my_tasks_buckets_follow_the_organizations_day(make_org, make_user, timezone, expected):
    team = make_team(make_org, make_user, timezone=timezone)
    labels = {}
    for label, due in (
        ("08:00", NOW - timedelta(hours=1)),
        ("10:00", NOW + timedelta(hours=1)),
        ("11:30", NOW + timedelta(hours=2, minutes=30)),
        ("23 09:00", NOW + timedelta(days=1)),
    ):
        labels[plan(team, subject=label, due_at=due).id] = label
    # Not the seller's open tasks: someone else's, and a completed one.
    plan(team, user=team.other_seller, subject="theirs", due_at=NOW + timedelta(hours=1))
    done = plan(team, subject="done", due_at=NOW + timedelta(hours=1))
    services.complete_activity(done.id, acting_user=team.seller, outcome="ok")

    set_tenant(team.organization.id, team.seller.id)
    tasks = services.my_tasks(team.seller.id, now=NOW)

    assert {
        bucket: [a.subject for a in page.items] for bucket, page in tasks.pages.items()
    } == expected
    assert tasks.counts == {bucket: len(items) for bucket, items in expected.items()}
    assert tasks.zone == ZoneInfo(timezone)


def test_a_task_bucket_pages_by_keyset(team):
    for hour in range(5):
        plan(team, subject=f"task {hour}", due_at=NOW + timedelta(days=2, hours=hour))
    set_tenant(team.organization.id, team.seller.id)

    first = services.task_bucket(team.seller.id, "upcoming", now=NOW, limit=2)
    second = services.task_bucket(
        team.seller.id, "upcoming", now=NOW, limit=2, cursor=first.next_cursor
    )
    third = services.task_bucket(
        team.seller.id, "upcoming", now=NOW, limit=2, cursor=second.next_cursor
    )

    assert [a.subject for page in (first, second, third) for a in page.items] == [
        f"task {hour}" for hour in range(5)
    ]
    assert third.next_cursor is None
    with pytest.raises(ValidationError):
        services.task_bucket(team.seller.id, "someday")


# --- the calendar -------------------------------------------------------------------------


def test_month_and_week_ranges_are_whole_weeks_from_monday():
    # November 2026 starts on a Sunday and ends on a Monday.
    start, end, previous, following, title = services.period_bounds("month", date(2026, 11, 17))
    assert (start, end, previous, following, title) == (
        date(2026, 10, 26),
        date(2026, 12, 7),
        date(2026, 10, 1),
        date(2026, 12, 1),
        "November 2026",
    )
    # February 2027 is exactly four weeks, Monday to Sunday.
    assert services.period_bounds("month", date(2027, 2, 28))[:2] == (
        date(2027, 2, 1),
        date(2027, 3, 1),
    )
    assert services.period_bounds("month", date(2026, 12, 31))[2:4] == (
        date(2026, 11, 1),
        date(2027, 1, 1),
    )
    start, end, previous, following, _title = services.period_bounds("week", date(2026, 11, 25))
    assert (start, end, previous, following) == (
        date(2026, 11, 23),
        date(2026, 11, 30),
        date(2026, 11, 16),
        date(2026, 11, 30),
    )


def _day(period, day: date):
    return next(d for week in period.weeks for d in week if d.day == day)


def test_the_calendar_puts_activities_on_the_organizations_days(make_org, make_user):
    team = make_team(make_org, make_user, timezone="Europe/Istanbul")  # UTC+3
    on_the_23rd = plan(team, subject="late", due_at=datetime(2026, 11, 22, 23, 30, tzinfo=UTC))
    first_day = plan(team, subject="first", due_at=datetime(2026, 10, 25, 22, 0, tzinfo=UTC))
    plan(team, subject="before", due_at=datetime(2026, 10, 25, 20, 0, tzinfo=UTC))
    plan(team, subject="after", due_at=datetime(2026, 12, 6, 21, 0, tzinfo=UTC))

    set_tenant(team.organization.id, team.seller.id)
    period = services.calendar_period("month", date(2026, 11, 1), user_id=team.seller.id)

    assert len(period.weeks) == 6 and all(len(week) == 7 for week in period.weeks)
    assert [a.id for a in _day(period, date(2026, 11, 23)).activities] == [on_the_23rd.id]
    assert _day(period, date(2026, 11, 22)).activities == []
    assert [a.id for a in _day(period, date(2026, 10, 26)).activities] == [first_day.id]
    assert _day(period, date(2026, 10, 26)).in_period is False
    subjects = {a.subject for week in period.weeks for d in week for a in d.activities}
    assert subjects == {"late", "first"}

    week = services.calendar_period("week", date(2026, 11, 25), user_id=team.seller.id)
    assert [d.day for d in week.weeks[0]] == [
        date(2026, 11, 23) + timedelta(days=i) for i in range(7)
    ]
    assert [a.id for a in week.weeks[0][0].activities] == [on_the_23rd.id]


def test_a_busy_day_shows_its_first_activities_and_counts_the_rest(team):
    for minute in range(6):
        plan(team, subject=f"m{minute}", due_at=datetime(2026, 11, 10, 9, minute, tzinfo=UTC))
    set_tenant(team.organization.id, team.seller.id)

    month = services.calendar_period("month", date(2026, 11, 10), user_id=team.seller.id)
    busy = _day(month, date(2026, 11, 10))
    assert [a.subject for a in busy.activities] == ["m0", "m1", "m2", "m3"]
    assert (busy.total, busy.hidden) == (6, 2)

    week = services.calendar_period("week", date(2026, 11, 10), user_id=team.seller.id)
    assert len(_day(week, date(2026, 11, 10)).activities) == 6


def test_a_calendar_day_stops_counting_at_the_cap(team, monkeypatch):
    monkeypatch.setattr(services, "COUNT_CAP", 5)
    for minute in range(7):
        plan(team, subject=f"m{minute}", due_at=datetime(2026, 11, 10, 9, minute, tzinfo=UTC))
    set_tenant(team.organization.id, team.seller.id)
    busy = _day(
        services.calendar_period("month", date(2026, 11, 10), user_id=None),
        date(2026, 11, 10),
    )
    assert [a.subject for a in busy.activities] == ["m0", "m1", "m2", "m3"]
    assert (busy.total, busy.hidden, busy.capped) == (5, 1, True)


def test_a_users_calendar_has_what_they_do_and_attend(team):
    due = datetime(2026, 11, 10, 9, tzinfo=UTC)
    own = plan(team, subject="own", due_at=due)
    attending = plan(
        team,
        user=team.other_seller,
        subject="attending",
        due_at=due,
        attendee_user_ids=[team.seller.id],
    )
    plan(team, user=team.other_seller, subject="not mine", due_at=due)
    set_tenant(team.organization.id, team.seller.id)

    def subjects(user_id):
        period = services.calendar_period("week", due.date(), user_id=user_id)
        return sorted(a.subject for a in _day(period, due.date()).activities)

    assert subjects(team.seller.id) == ["attending", "own"]
    assert subjects(None) == ["attending", "not mine", "own"]
    page = services.calendar_activities("2026-11-10", "2026-11-11", user_id=team.seller.id)
    assert [a.id for a in page.items] == [own.id, attending.id]


def test_calendar_ranges_are_checked(team):
    set_tenant(team.organization.id, team.seller.id)
    for start, end, field in (
        ("2026-11-10", "2026-11-01", "end"),
        ("2026-01-01", "2026-12-31", "end"),
        ("yesterday", "2026-11-01", "start"),
        (None, "2026-11-01", "start"),
    ):
        with pytest.raises(ValidationError) as caught:
            services.calendar_activities(start, end, user_id=None)
        assert field in caught.value.fields
    with pytest.raises(ValidationError):
        services.calendar_period("year", date(2026, 1, 1), user_id=None)
    clear_tenant()


def test_reminder_rows_are_unique_per_activity_and_time(team):
    activity = plan(
        team, due_at=datetime.now(UTC) + timedelta(minutes=5), reminder_minutes_before=10
    )
    [row_id] = reminders.write_due_reminders()
    assert reminders.write_due_reminders() == []
    # Armed again for the same time (say, edited back and forth): still the one row.
    activity.reminder_armed = True
    db.session.flush()
    assert reminders.write_due_reminders() == []
    rows = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == reminders.KIND)
    ).all()
    assert [
        (r.id, r.source_id, datetime.fromisoformat(r.context["remind_at"]), r.status) for r in rows
    ] == [(row_id, activity.id, activity.reminder_at, "queued")]
