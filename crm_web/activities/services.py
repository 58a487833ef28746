"""Activities and tasks: create, edit, complete (with a follow-up), and the task lists and calendar.

Times are stored in UTC; "today", a calendar day and a form's naive date-time are the
organization's (its timezone), whoever is looking.

Over 600 lines for now: changing activities, the task lists and the calendar share the
input readers and link loading of the top sections; reminders already live apart
(reminders.py). The sections below are the seams to split along.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import (
    Date,
    DateTime,
    Select,
    column,
    func,
    or_,
    select,
    true,
    union,
    values,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import joinedload, selectinload

from crm_web import labels
from crm_web.accounts.models import User
from crm_web.activities.models import (
    ACTIVITY_TYPES,
    OPEN_STATUSES,
    PRIORITIES,
    Activity,
    ActivityAttendee,
)
from crm_web.customers.models import Customer
from crm_web.db import atomic, current_organization_id, current_tenant
from crm_web.errors import Conflict, NotFound, PermissionDenied, ValidationError, check_fields
from crm_web.extensions import db
from crm_web.formatting import local, lowercase
from crm_web.inputs import whole_number
from crm_web.leads.models import Lead
from crm_web.outbox.services import messages_for
from crm_web.pagination import Page, keyset_page
from crm_web.permissions import roles_with
from crm_web.pipeline.models import Opportunity
from crm_web.timezones import user_timezone

BUCKETS = ("overdue", "today", "upcoming")
MAX_DURATION_MINUTES = 7 * 24 * 60
MAX_REMINDER_MINUTES = 14 * 24 * 60
MAX_CALENDAR_DAYS = 92
# A calendar day counts its activities up to here ("+99 or more"), so a busy day costs no more.
COUNT_CAP = 100
# What lists show of an activity's links and assignee: only the columns they read.
LINKS = (
    joinedload(Activity.customer).load_only(
        Customer.customer_code,
        Customer.customer_type,
        Customer.first_name,
        Customer.last_name,
        Customer.company_name,
    ),
    joinedload(Activity.lead).load_only(
        Lead.lead_number, Lead.first_name, Lead.last_name, Lead.company
    ),
    joinedload(Activity.opportunity)
    .load_only(
        Opportunity.opportunity_number,
        Opportunity.name,
        Opportunity.customer_id,
        Opportunity.lead_id,
    )
    .lazyload(Opportunity.stage),
    joinedload(Activity.assigned_to)
    .load_only(User.name, User.is_active)
    .lazyload(User.organization),
)


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


# --- reading input ------------------------------------------------------------------------


def _text(value, field: str, errors: dict, *, required: bool = False, limit: int | None = None):
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[field] = _("Send text.")
        return ""
    value = value.strip()
    if required and not value:
        errors[field] = _("This field is required.")
    elif limit is not None and len(value) > limit:
        errors[field] = _("Keep it under %(limit)s characters.", limit=limit)
    return value


def _choice(value, choices: tuple[str, ...], field: str, errors: dict) -> str:
    if value not in choices:
        errors[field] = _("Choose one of: %(choices)s.", choices=", ".join(choices))
    return value


def _integer(value, field: str, errors: dict, *, maximum: int) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        errors[field] = _("Send a whole number.")
        return None
    try:
        number = int(value)
    except ValueError:
        errors[field] = _("Send a whole number.")
        return None
    if not 0 <= number <= maximum:
        errors[field] = _("Use a number from 0 to %(maximum)s.", maximum=maximum)
        return None
    return number


def _id(value, field: str, errors: dict) -> int | None:
    return _integer(value, field, errors, maximum=2**63 - 1)


def _ids(values, field: str, errors: dict) -> list[int]:
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        errors[field] = _("Send a list of ids.")
        return []
    ids = [_id(value, field, errors) for value in values]
    return sorted({number for number in ids if number is not None})


def parse_datetime(value, field: str, zone: ZoneInfo, errors: dict) -> datetime | None:
    """An aware datetime from a datetime or ISO 8601 text; without an offset, in `zone`."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            errors[field] = _("Use a date and time such as 2026-11-21T14:30.")
            return None
    if not isinstance(value, datetime):
        errors[field] = _("Use a date and time such as 2026-11-21T14:30.")
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


# --- links and people ---------------------------------------------------------------------


def _in_organization(model, record_id: int | None):
    if record_id is None:
        return None
    return db.session.scalar(
        select(model).where(
            model.id == record_id, model.organization_id == current_organization_id()
        )
    )


# (id field, number field, model, number column, what to call it)
LINK_KINDS = (
    ("customer_id", "customer_code", Customer, Customer.customer_code, "customer"),
    ("lead_id", "lead_number", Lead, Lead.lead_number, "lead"),
    (
        "opportunity_id",
        "opportunity_number",
        Opportunity,
        Opportunity.opportunity_number,
        "opportunity",
    ),
)
LINK_FIELDS = tuple(kind[0] for kind in LINK_KINDS)


def _no_such(kind: str) -> str:
    """Each kind of record's own sentence (a noun inserted in one would not read in Turkish)."""
    return {
        "customer": _("No such customer in your organization."),
        "lead": _("No such lead in your organization."),
        "opportunity": _("No such opportunity in your organization."),
    }[kind]


def _not_numbered(kind: str, number: str) -> str:
    return {
        "customer": _("No customer numbered %(number)s.", number=number),
        "lead": _("No lead numbered %(number)s.", number=number),
        "opportunity": _("No opportunity numbered %(number)s.", number=number),
    }[kind]


def _link(values: dict, kind: tuple, errors: dict):
    """The record an id or a number (CUS-…, LEAD-…, OPP-…) names in this organization."""
    id_field, number_field, model, number_column, label = kind
    record_id = _id(values.get(id_field), id_field, errors)
    number = _text(values.get(number_field), number_field, errors, limit=20).upper()
    record = _in_organization(model, record_id)
    if record_id is not None and record is None:
        errors[id_field] = _no_such(label)
    if number:
        by_number = db.session.scalar(
            select(model).where(
                model.organization_id == current_organization_id(), number_column == number
            )
        )
        if by_number is None:
            errors[number_field] = _not_numbered(label, number)
        elif record is not None and record.id != by_number.id:
            errors[number_field] = _(
                "This number and %(field)s name different records.", field=id_field
            )
        else:
            record = by_number
    return record


def _resolve_links(values: dict, errors: dict) -> dict:
    """Customer, lead and opportunity ids that exist in this organization and agree."""
    customer, lead, opportunity = (_link(values, kind, errors) for kind in LINK_KINDS)
    if opportunity is not None:
        # A deal always has a customer: the activity shows on that customer's timeline too.
        if customer is None:
            customer = opportunity.customer
        elif customer.id != opportunity.customer_id:
            errors["customer_id"] = _("This opportunity belongs to another customer.")
        if lead is not None and opportunity.lead_id not in (None, lead.id):
            errors["lead_id"] = _("This opportunity came from another lead.")
    if customer is None and lead is None and opportunity is None and not errors:
        errors["links"] = _("Link the activity to a customer, lead or opportunity.")
    return {
        "customer_id": customer.id if customer else None,
        "lead_id": lead.id if lead else None,
        "opportunity_id": opportunity.id if opportunity else None,
    }


def _active_users(ids: list[int]) -> set[int]:
    if not ids:
        return set()
    return set(
        db.session.scalars(
            select(User.id).where(
                User.organization_id == current_organization_id(),
                User.id.in_(ids),
                User.is_active,
            )
        )
    )


def _customers(ids: list[int]) -> set[int]:
    if not ids:
        return set()
    return set(
        db.session.scalars(
            select(Customer.id).where(
                Customer.organization_id == current_organization_id(), Customer.id.in_(ids)
            )
        )
    )


def _contacts(values: dict, errors: dict) -> list[int]:
    """Contact attendees by customer id and/or customer number (a list, or text split on commas)."""
    ids = _ids(values.get("attendee_customer_ids"), "attendee_customer_ids", errors)
    if set(ids) - _customers(ids):
        errors["attendee_customer_ids"] = _("Some contacts are not customers of your organization.")
    codes = values.get("attendee_customer_codes") or []
    if isinstance(codes, str):
        codes = codes.split(",")
    if not isinstance(codes, list | tuple) or not all(isinstance(code, str) for code in codes):
        errors["attendee_customer_codes"] = _("Send customer numbers.")
        return ids
    codes = sorted({code.strip().upper() for code in codes if code.strip()})
    if codes:
        found = dict(
            db.session.execute(
                select(Customer.customer_code, Customer.id).where(
                    Customer.organization_id == current_organization_id(),
                    Customer.customer_code.in_(codes),
                )
            ).all()
        )
        if missing := [code for code in codes if code not in found]:
            errors["attendee_customer_codes"] = _not_numbered("customer", ", ".join(missing))
        ids = sorted(set(ids) | set(found.values()))
    return ids


# --- changing activities ------------------------------------------------------------------


def _clean(values: dict, zone: ZoneInfo) -> dict:
    """Validate an activity's fields; a ValidationError lists every problem at once."""
    errors: dict[str, str] = {}
    clean = {
        "activity_type": _choice(
            values.get("activity_type"), ACTIVITY_TYPES, "activity_type", errors
        ),
        "subject": _text(values.get("subject"), "subject", errors, required=True, limit=200),
        "description": _text(values.get("description"), "description", errors, limit=10_000),
        "location": _text(values.get("location"), "location", errors, limit=200),
        "next_action": _text(values.get("next_action"), "next_action", errors, limit=2_000),
        "priority": _choice(values.get("priority") or "normal", PRIORITIES, "priority", errors),
        "status": _choice(values.get("status") or "planned", OPEN_STATUSES, "status", errors),
        "duration_minutes": _integer(
            values.get("duration_minutes"), "duration_minutes", errors, maximum=MAX_DURATION_MINUTES
        ),
        "reminder_minutes_before": _integer(
            values.get("reminder_minutes_before"),
            "reminder_minutes_before",
            errors,
            maximum=MAX_REMINDER_MINUTES,
        ),
        "due_at": parse_datetime(values.get("due_at"), "due_at", zone, errors),
    }
    if clean["due_at"] is None and "due_at" not in errors:
        errors["due_at"] = _("When is it due?")
    clean.update(_resolve_links(values, errors))

    assignee = _id(values.get("assigned_to_id"), "assigned_to_id", errors)
    clean["assigned_to_id"] = assignee if assignee is not None else current_tenant().user_id
    if clean["assigned_to_id"] is None:
        errors["assigned_to_id"] = _("Who does it?")
    elif clean["assigned_to_id"] not in _active_users([clean["assigned_to_id"]]):
        errors["assigned_to_id"] = _("No such active user in your organization.")

    clean["attendee_user_ids"] = _ids(values.get("attendee_user_ids"), "attendee_user_ids", errors)
    if set(clean["attendee_user_ids"]) - _active_users(clean["attendee_user_ids"]):
        errors["attendee_user_ids"] = _("Some attendees are not active users of your organization.")
    clean["attendee_customer_ids"] = _contacts(values, errors)
    check_fields(errors)
    return clean


def _arm_reminder(activity: Activity, now: datetime) -> None:
    """Derive the reminder time and arm it, unless the activity is closed or already past due."""
    if activity.reminder_minutes_before is None:
        activity.reminder_at = None
        activity.reminder_armed = False
        return
    activity.reminder_at = activity.due_at - timedelta(minutes=activity.reminder_minutes_before)
    activity.reminder_armed = activity.is_open and activity.due_at > now


def _set_attendees(activity: Activity, user_ids: list[int], customer_ids: list[int]) -> None:
    wanted = {("user", i) for i in user_ids} | {("customer", i) for i in customer_ids}
    current = {}
    for attendee in activity.attendees:
        key = ("user", attendee.user_id) if attendee.user_id else ("customer", attendee.customer_id)
        current[key] = attendee
    for key, attendee in current.items():
        if key not in wanted:
            activity.attendees.remove(attendee)
    for kind, record_id in sorted(wanted - current.keys()):
        activity.attendees.append(
            ActivityAttendee(
                organization_id=activity.organization_id,
                user_id=record_id if kind == "user" else None,
                customer_id=record_id if kind == "customer" else None,
            )
        )


def _apply(activity: Activity, clean: dict, now: datetime) -> None:
    timing_before = (activity.due_at, activity.reminder_minutes_before, activity.assigned_to_id)
    for name in (
        "activity_type",
        "subject",
        "description",
        "location",
        "next_action",
        "priority",
        "status",
        "duration_minutes",
        "reminder_minutes_before",
        "due_at",
        "assigned_to_id",
        *LINK_FIELDS,
    ):
        setattr(activity, name, clean[name])
    _set_attendees(activity, clean["attendee_user_ids"], clean["attendee_customer_ids"])
    timing_after = (activity.due_at, activity.reminder_minutes_before, activity.assigned_to_id)
    # Any change of when or whom re-arms the reminder; other edits leave a sent one alone.
    if activity.id is None or timing_before != timing_after:
        _arm_reminder(activity, now)


@atomic
def create_activity(*, now: datetime | None = None, follow_up_of_id: int | None = None, **values):
    """A new activity (fields as in `_clean`); the signed-in user does it unless assigned_to_id says."""
    clean = _clean(values, user_timezone())
    activity = Activity(
        organization_id=current_organization_id(),
        outcome="",
        follow_up_of_id=follow_up_of_id,
        created_by_id=current_tenant().user_id,
        reminder_armed=False,
    )
    _apply(activity, clean, _now(now))
    db.session.add(activity)
    db.session.flush()
    _leads_changed({activity.lead_id})
    return activity


def get_activity(activity_id: int, *, for_update: bool = False) -> Activity:
    """The activity with this id in the current organization, or NotFound."""
    stmt = select(Activity).where(
        Activity.id == activity_id, Activity.organization_id == current_organization_id()
    )
    if for_update:
        # Two people completing the same task at once: the second waits and then sees it closed.
        stmt = stmt.with_for_update(of=Activity).execution_options(populate_existing=True)
    activity = db.session.scalar(stmt.options(selectinload(Activity.attendees)))
    if activity is None:
        raise NotFound(_("No such activity."))
    return activity


def can_change(activity: Activity, user: User) -> bool:
    """Managers change any activity; others the ones they do or created."""
    return user.can("change any activity") or user.id in (
        activity.assigned_to_id,
        activity.created_by_id,
    )


def _check_can_change(activity: Activity, user: User) -> None:
    if can_change(activity, user):
        return
    raise PermissionDenied(
        _("Only its assignee, its creator or a manager can change this activity.")
    )


def _check_open(activity: Activity) -> None:
    if not activity.is_open:
        raise Conflict(
            _(
                "This activity is already %(status)s.",
                status=lowercase(labels.label(activity.status, "activity_status")),
            )
        )


@atomic
def update_activity(activity_id: int, *, acting_user: User, now: datetime | None = None, **values):
    """Edit an open activity; moving its time (or assignee) re-arms its reminder."""
    activity = get_activity(activity_id, for_update=True)
    _check_can_change(activity, acting_user)
    _check_open(activity)
    lead_before = activity.lead_id
    _apply(activity, _clean(values, user_timezone()), _now(now))
    db.session.flush()
    _leads_changed({lead_before, activity.lead_id})
    return activity


@atomic
def complete_activity(
    activity_id: int,
    *,
    acting_user: User,
    outcome: str,
    next_action: str = "",
    follow_up: dict | None = None,
    now: datetime | None = None,
) -> tuple[Activity, Activity | None]:
    """Close an activity with its outcome and, in the same transaction, create its follow-up.

    `follow_up` takes create_activity's fields; what it leaves out comes from this activity
    (links, assignee, priority; type follow_up). Its errors carry a `follow_up_` prefix.
    """
    now = _now(now)
    activity = get_activity(activity_id, for_update=True)
    _check_can_change(activity, acting_user)
    _check_open(activity)
    errors: dict[str, str] = {}
    outcome = _text(outcome, "outcome", errors, required=True, limit=10_000)
    next_action = _text(next_action, "next_action", errors, limit=2_000)
    if errors:
        raise ValidationError(_("Say how it went."), errors)
    activity.status = "completed"
    activity.outcome = outcome
    activity.next_action = next_action
    activity.completed_at = now
    activity.completed_by_id = acting_user.id
    activity.reminder_armed = False
    created = None
    if follow_up is not None:
        values = {
            "activity_type": "follow_up",
            "subject": _("Follow up: %(subject)s", subject=activity.subject)[:200],
            "assigned_to_id": activity.assigned_to_id,
            "priority": activity.priority,
            "next_action": "",
            **{name: getattr(activity, name) for name in LINK_FIELDS},
            **{key: value for key, value in follow_up.items() if value not in (None, "")},
        }
        try:
            created = create_activity(now=now, follow_up_of_id=activity.id, **values)
        except ValidationError as exc:
            raise ValidationError(
                _("The follow-up needs a correction; nothing was saved."),
                {f"follow_up_{name}": message for name, message in exc.fields.items()},
            ) from None
    db.session.flush()
    _leads_changed({activity.lead_id})
    return activity, created


@atomic
def cancel_activity(activity_id: int, *, acting_user: User) -> Activity:
    """Call an open activity off; its reminder will not be sent."""
    activity = get_activity(activity_id, for_update=True)
    _check_can_change(activity, acting_user)
    _check_open(activity)
    activity.status = "cancelled"
    activity.reminder_armed = False
    db.session.flush()
    _leads_changed({activity.lead_id})
    return activity


def _leads_changed(lead_ids: set[int | None]) -> None:
    """Tell the leads domain that these leads' activities changed (their score reads them)."""
    from crm_web.leads import services as leads

    for lead_id in sorted(i for i in lead_ids if i is not None):
        leads.activities_changed(lead_id)


# --- reading activities -------------------------------------------------------------------


@dataclass
class ReminderState:
    status: str  # pending, sent, failed or cancelled
    remind_at: datetime
    sent_at: datetime | None = None
    attempts: int = 0
    error: str = ""


# An outbox message's status as the activity shows its reminder.
_REMINDER_STATUS = {
    "queued": "pending",
    "claimed": "pending",
    "sent": "sent",
    "failed": "failed",
    "suppressed": "failed",
    "cancelled": "cancelled",
}


def reminder_states(activities: list[Activity]) -> dict[int, ReminderState]:
    """Each activity's current reminder (the outbox message for its reminder time, if written)."""
    keyed = {(a.id, a.reminder_at): a for a in activities if a.reminder_at is not None}
    if not keyed:
        return {}
    rows = {
        (row.source_id, datetime.fromisoformat(row.context["remind_at"])): row
        for row in messages_for(("activity_reminder",), [activity_id for activity_id, _ in keyed])
    }
    states = {}
    for key, activity in keyed.items():
        row = rows.get(key)
        if row is not None:
            states[activity.id] = ReminderState(
                _REMINDER_STATUS[row.status], key[1], row.sent_at, row.attempts, row.last_error
            )
        else:
            status = "pending" if activity.reminder_armed else "cancelled"
            states[activity.id] = ReminderState(status, activity.reminder_at)
    return states


@dataclass
class ActivityDetail:
    activity: Activity
    reminder: ReminderState | None
    follow_ups: list[Activity]
    follow_up_of: Activity | None


def activity_detail(activity_id: int) -> ActivityDetail:
    """An activity with its links, attendees, reminder state and follow-ups."""
    activity = db.session.scalar(
        select(Activity)
        .where(Activity.id == activity_id, Activity.organization_id == current_organization_id())
        .options(*LINKS, selectinload(Activity.attendees))
    )
    if activity is None:
        raise NotFound(_("No such activity."))
    related = list(
        db.session.scalars(
            select(Activity)
            .where(
                Activity.organization_id == activity.organization_id,
                or_(
                    Activity.follow_up_of_id == activity.id,
                    Activity.id == activity.follow_up_of_id,
                ),
            )
            .order_by(Activity.due_at, Activity.id)
        )
    )
    return ActivityDetail(
        activity=activity,
        reminder=reminder_states([activity]).get(activity.id),
        follow_ups=[a for a in related if a.follow_up_of_id == activity.id],
        follow_up_of=next((a for a in related if a.id == activity.follow_up_of_id), None),
    )


def list_activities(
    *,
    assigned_to_id=None,
    status: str | None = None,
    activity_type: str | None = None,
    customer_id=None,
    lead_id=None,
    opportunity_id=None,
    due_from=None,
    due_to=None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Activities by due time (oldest first), filtered (ids and times may come as text); keyset pages."""
    errors: dict[str, str] = {}
    if status and status not in (*OPEN_STATUSES, "completed", "cancelled", "open"):
        errors["status"] = _("Choose planned, in_progress, completed, cancelled or open.")
    if activity_type and activity_type not in ACTIVITY_TYPES:
        errors["activity_type"] = _(
            "Choose one of: %(choices)s.", choices=", ".join(ACTIVITY_TYPES)
        )
    ids = {
        column: _id(value, name, errors)
        for column, name, value in (
            (Activity.assigned_to_id, "assigned_to_id", assigned_to_id),
            (Activity.customer_id, "customer_id", customer_id),
            (Activity.lead_id, "lead_id", lead_id),
            (Activity.opportunity_id, "opportunity_id", opportunity_id),
        )
    }
    zone = user_timezone()
    due_from = parse_datetime(due_from, "due_from", zone, errors)
    due_to = parse_datetime(due_to, "due_to", zone, errors)
    if errors:
        raise ValidationError(_("Please correct the filters."), errors)
    stmt = select(Activity).where(Activity.organization_id == current_organization_id())
    if status == "open":
        stmt = stmt.where(Activity.status.in_(OPEN_STATUSES))
    elif status:
        stmt = stmt.where(Activity.status == status)
    if activity_type:
        stmt = stmt.where(Activity.activity_type == activity_type)
    for link, value in ids.items():
        if value is not None:
            stmt = stmt.where(link == value)
    if due_from is not None:
        stmt = stmt.where(Activity.due_at >= due_from)
    if due_to is not None:
        stmt = stmt.where(Activity.due_at < due_to)
    return keyset_page(
        stmt.options(*LINKS, selectinload(Activity.attendees)),
        (Activity.due_at, Activity.id),
        cursor=cursor,
        limit=limit,
        descending=False,
    )


# --- my tasks -----------------------------------------------------------------------------


def bucket_bounds(
    bucket: str, now: datetime, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """Overdue is before now; today runs to the organization's midnight; upcoming after it."""
    tomorrow = datetime.combine(now.astimezone(zone).date() + timedelta(days=1), time(), zone)
    return {"overdue": (None, now), "today": (now, tomorrow), "upcoming": (tomorrow, None)}[bucket]


def _open_tasks(user_id: int):
    return select(Activity).where(
        Activity.organization_id == current_organization_id(),
        Activity.assigned_to_id == user_id,
        Activity.status.in_(OPEN_STATUSES),
    )


def task_bucket(
    user_id: int,
    bucket: str,
    *,
    cursor: str | None = None,
    now: datetime | None = None,
    limit: int = 20,
    zone: ZoneInfo | None = None,
) -> Page:
    """One bucket of a user's open tasks, soonest due first."""
    if bucket not in BUCKETS:
        raise ValidationError(
            _("Unknown list."),
            {"bucket": _("Choose one of: %(choices)s.", choices=", ".join(BUCKETS))},
        )
    start, end = bucket_bounds(bucket, _now(now), zone or user_timezone())
    stmt = _open_tasks(user_id).options(*LINKS)
    if start is not None:
        stmt = stmt.where(Activity.due_at >= start)
    if end is not None:
        stmt = stmt.where(Activity.due_at < end)
    return keyset_page(
        stmt, (Activity.due_at, Activity.id), cursor=cursor, limit=limit, descending=False
    )


@dataclass
class MyTasks:
    counts: dict[str, int]
    pages: dict[str, Page]
    now: datetime
    zone: ZoneInfo


def my_tasks(user_id: int, *, now: datetime | None = None, limit: int = 20) -> MyTasks:
    """A user's open tasks: overdue, due later today and upcoming, with how many of each."""
    now = _now(now)
    zone = user_timezone()
    _overdue, tomorrow = bucket_bounds("today", now, zone)
    subquery = _open_tasks(user_id).subquery()
    overdue, today, upcoming = db.session.execute(
        select(
            func.count().filter(subquery.c.due_at < now),
            func.count().filter(subquery.c.due_at >= now, subquery.c.due_at < tomorrow),
            func.count().filter(subquery.c.due_at >= tomorrow),
        )
    ).one()
    return MyTasks(
        counts={"overdue": overdue, "today": today, "upcoming": upcoming},
        pages={
            bucket: task_bucket(user_id, bucket, now=now, limit=limit, zone=zone)
            for bucket in BUCKETS
        },
        now=now,
        zone=zone,
    )


# --- the calendar -------------------------------------------------------------------------


@dataclass
class CalendarDay:
    day: date
    in_period: bool
    activities: list[Activity] = field(default_factory=list)
    total: int = 0

    @property
    def hidden(self) -> int:
        return self.total - len(self.activities)

    @property
    def capped(self) -> bool:
        """There may be more than `total` (it stopped counting at COUNT_CAP)."""
        return self.total >= COUNT_CAP

    @property
    def next_day(self) -> date:
        return self.day + timedelta(days=1)


@dataclass
class CalendarPeriod:
    view: str
    anchor: date
    start: date
    end: date  # exclusive
    previous: date
    next: date
    title: str
    weeks: list[list[CalendarDay]]
    zone: ZoneInfo


def period_bounds(view: str, anchor: date) -> tuple[date, date, date, date, str]:
    """(start, end, previous anchor, next anchor, title) of the month or week around `anchor`;
    weeks start on Monday and a month shows whole weeks."""
    if view == "week":
        start = anchor - timedelta(days=anchor.weekday())
        end = start + timedelta(days=7)
        title = _("Week of %(day)s", day=local(start, "full_date"))
        return start, end, start - timedelta(days=7), end, title
    first = anchor.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    previous = (first - timedelta(days=1)).replace(day=1)
    last = following - timedelta(days=1)
    start = first - timedelta(days=first.weekday())
    end = last + timedelta(days=7 - last.weekday())
    return start, end, previous, following, local(first, "full_month")


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone)


def calendar_user(value: str, signed_in_user_id: int) -> int | None:
    """Whose calendar a `user` parameter asks for: me, all (None) or a user's id."""
    if value == "me":
        return signed_in_user_id
    if value == "all":
        return None
    if (user_id := whole_number(value)) is not None:
        return user_id
    raise ValidationError(_("Unknown calendar."), {"user": _("Choose me, all or a user's id.")})


def _on_calendar(user_id: int | None, starts, ends) -> list[Select]:
    """(id, due_at) of the activities due in [starts, ends) on a user's calendar: what they are
    assigned, and what they attend; with no user, everyone's. One select per index that serves it."""
    organization_id = current_organization_id()
    in_range = (
        Activity.organization_id == organization_id,
        Activity.due_at >= starts,
        Activity.due_at < ends,
    )
    assigned = select(Activity.id, Activity.due_at).where(*in_range)
    if user_id is None:
        return [assigned]
    attending = (
        select(Activity.id, Activity.due_at)
        .join(
            ActivityAttendee,
            (ActivityAttendee.activity_id == Activity.id)
            & (ActivityAttendee.organization_id == Activity.organization_id),
        )
        .where(
            *in_range,
            ActivityAttendee.organization_id == organization_id,
            ActivityAttendee.user_id == user_id,
        )
    )
    return [assigned.where(Activity.assigned_to_id == user_id), attending]


def calendar_period(
    view: str, anchor: date, *, user_id: int | None, per_day: int | None = None
) -> CalendarPeriod:
    """The days of a month or week with their first `per_day` activities and how many there are.

    One statement: a LATERAL subquery per day reads at most COUNT_CAP activities of that day
    from an index range, so a team with thousands a day costs the same as one with a few.
    """
    if view not in ("month", "week"):
        raise ValidationError(_("Unknown view."), {"view": _("Choose month or week.")})
    per_day = per_day or (4 if view == "month" else 50)
    zone = user_timezone()
    start, end, previous, following, title = period_bounds(view, anchor)
    days = {
        start + timedelta(days=offset): CalendarDay(
            start + timedelta(days=offset),
            in_period=view == "week" or (start + timedelta(days=offset)).month == anchor.month,
        )
        for offset in range((end - start).days)
    }
    bounds = (
        values(
            column("day", Date),
            column("starts", DateTime(timezone=True)),
            column("ends", DateTime(timezone=True)),
            name="days",
        )
        .data(
            [(day, _midnight(day, zone), _midnight(day + timedelta(days=1), zone)) for day in days]
        )
        .alias("days")
    )
    parts = [
        part.correlate(bounds).order_by(Activity.due_at, Activity.id).limit(COUNT_CAP)
        for part in _on_calendar(user_id, bounds.c.starts, bounds.c.ends)
    ]
    if len(parts) == 1:
        first = parts[0]
    else:
        either = union(*parts).subquery()
        first = select(either.c.id, either.c.due_at)
        first = first.order_by(either.c.due_at, either.c.id).limit(COUNT_CAP)
    picked = first.lateral("picked")
    ids = []
    for day, total, day_ids in db.session.execute(
        select(
            bounds.c.day,
            func.count(),
            func.array_agg(aggregate_order_by(picked.c.id, picked.c.due_at, picked.c.id)),
        )
        .select_from(bounds)
        .join(picked, true())
        .group_by(bounds.c.day)
    ):
        days[day].total = total
        ids += day_ids[:per_day]
    if ids:
        for activity in db.session.scalars(
            select(Activity)
            .where(Activity.organization_id == current_organization_id(), Activity.id.in_(ids))
            .options(*LINKS)
            .order_by(Activity.due_at, Activity.id)
        ):
            days[activity.due_at.astimezone(zone).date()].activities.append(activity)
    ordered = list(days.values())
    return CalendarPeriod(
        view=view,
        anchor=anchor,
        start=start,
        end=end,
        previous=previous,
        next=following,
        title=title,
        weeks=[ordered[index : index + 7] for index in range(0, len(ordered), 7)],
        zone=zone,
    )


def calendar_activities(
    start, end, *, user_id: int | None, cursor: str | None = None, limit: int = 200
) -> Page:
    """Activities due in [start, end) (dates or date-times, the organization's when naive),
    for the API; at most MAX_CALENDAR_DAYS at a time."""
    zone = user_timezone()
    errors: dict[str, str] = {}
    bounds = []
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, str) and len(value.strip()) == 10:
            value = f"{value.strip()}T00:00"
        moment = parse_datetime(value, name, zone, errors)
        if moment is None and name not in errors:
            errors[name] = _("Required.")
        bounds.append(moment)
    if not errors:
        if bounds[1] <= bounds[0]:
            errors["end"] = _("The end must come after the start.")
        elif bounds[1] - bounds[0] > timedelta(days=MAX_CALENDAR_DAYS):
            errors["end"] = _("Ask for at most %(days)s days at a time.", days=MAX_CALENDAR_DAYS)
    if errors:
        raise ValidationError(_("Please correct the date range."), errors)
    visible = union(*_on_calendar(user_id, bounds[0], bounds[1])).subquery()
    stmt = select(Activity).where(
        Activity.organization_id == current_organization_id(),
        Activity.due_at >= bounds[0],
        Activity.due_at < bounds[1],
        Activity.id.in_(select(visible.c.id)),
    )
    return keyset_page(
        stmt.options(*LINKS, selectinload(Activity.attendees)),
        (Activity.due_at, Activity.id),
        cursor=cursor,
        limit=limit,
        descending=False,
    )


def local_today() -> date:
    """Today in the organization's timezone."""
    return datetime.now(user_timezone()).date()


def activity_users() -> list[User]:
    """Active users who can be assigned activities, by name."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.organization_id == current_organization_id(),
                User.is_active,
                User.role.in_(roles_with("plan activities")),
            )
            .order_by(func.lower(User.name))
        )
    )
