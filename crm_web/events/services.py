"""Events: scheduling them, registering customers, recording who came."""

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from crm_web.customers.models import Customer
from crm_web.customers.services import get_customer
from crm_web.db import atomic, current_organization_id, current_tenant
from crm_web.errors import Conflict, NotFound, ValidationError, check_fields, invalid
from crm_web.events.models import Event, EventAttendee
from crm_web.extensions import db
from crm_web.pagination import Page, keyset_page

WHEN = ("upcoming", "past")
# Attendance can be recorded from a little before the start (doors open early).
ATTENDANCE_OPENS_BEFORE = dt.timedelta(hours=12)


@dataclass(frozen=True)
class Counts:
    registered: int = 0
    attended: int = 0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def get_event(event_id: int, *, for_update: bool = False) -> Event:
    """This organization's event, or NotFound."""
    stmt = select(Event).where(
        Event.id == event_id, Event.organization_id == current_organization_id()
    )
    event = db.session.scalar(stmt.with_for_update() if for_update else stmt)
    if event is None:
        raise NotFound(_("No such event."))
    return event


def list_events(when: str = "upcoming", cursor: str | None = None, limit: int = 50) -> Page:
    """Upcoming events soonest first, or past events latest first; keyset by (starts_at, id)."""
    if when not in WHEN:
        raise ValidationError(_("Unknown list."), {"when": _("Choose upcoming or past.")})
    stmt = select(Event).where(Event.organization_id == current_organization_id())
    # An event stays "upcoming" until it is over (or, without an end, for its first day).
    ends = func.coalesce(Event.ends_at, Event.starts_at + dt.timedelta(days=1))
    if when == "upcoming":
        stmt = stmt.where(ends >= _now())
    else:
        stmt = stmt.where(ends < _now())
    return keyset_page(
        stmt, (Event.starts_at, Event.id), cursor=cursor, limit=limit, descending=when == "past"
    )


def attendee_counts(event_ids: list[int]) -> dict[int, Counts]:
    """Registered and attended counts of these events, in one grouped query."""
    if not event_ids:
        return {}
    rows = db.session.execute(
        select(
            EventAttendee.event_id,
            func.count(),
            func.count(EventAttendee.attended_at),
        )
        .where(
            EventAttendee.organization_id == current_organization_id(),
            EventAttendee.event_id.in_(event_ids),
        )
        .group_by(EventAttendee.event_id)
    )
    return {event_id: Counts(registered, attended) for event_id, registered, attended in rows}


def _validated(
    name: str,
    starts_at: dt.datetime | None,
    ends_at: dt.datetime | None,
    location: str,
    notes: str,
    capacity: int | None,
) -> dict:
    errors = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = _("Give the event a name.")
    elif len(name) > 200:
        errors["name"] = _("Keep the name under %(limit)s characters.", limit=200)
    if starts_at is None:
        errors["starts_at"] = _("When does it start?")
    elif starts_at.tzinfo is None:
        errors["starts_at"] = _("Give the time with its time zone.")
    elif ends_at is not None and ends_at < starts_at:
        errors["ends_at"] = _("The end is before the start.")
    if len((location or "").strip()) > 200:
        errors["location"] = _("Keep the location under %(limit)s characters.", limit=200)
    if capacity is not None and capacity < 1:
        errors["capacity"] = _("Leave it empty for no limit, or give at least 1.")
    check_fields(errors)
    return {
        "name": name,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "location": (location or "").strip(),
        "notes": (notes or "").strip(),
        "capacity": capacity,
    }


@atomic
def create_event(
    *,
    name: str,
    starts_at: dt.datetime | None,
    ends_at: dt.datetime | None = None,
    location: str = "",
    notes: str = "",
    capacity: int | None = None,
) -> Event:
    """Schedule an event."""
    values = _validated(name, starts_at, ends_at, location, notes, capacity)
    event = Event(
        organization_id=current_organization_id(),
        created_by_id=current_tenant().user_id,
        **values,
    )
    db.session.add(event)
    db.session.flush()
    return event


@atomic
def update_event(
    event_id: int,
    *,
    name: str,
    starts_at: dt.datetime | None,
    ends_at: dt.datetime | None = None,
    location: str = "",
    notes: str = "",
    capacity: int | None = None,
) -> Event:
    """Change an event's details; the capacity cannot drop below who is registered."""
    event = get_event(event_id, for_update=True)
    values = _validated(name, starts_at, ends_at, location, notes, capacity)
    registered = attendee_counts([event.id]).get(event.id, Counts()).registered
    if capacity is not None and capacity < registered:
        raise invalid(
            {
                "capacity": ngettext(
                    "%(num)d customer is already registered.",
                    "%(num)d customers are already registered.",
                    registered,
                )
            }
        )
    for key, value in values.items():
        setattr(event, key, value)
    db.session.flush()
    return event


def list_attendees(event_id: int, cursor: str | None = None, limit: int = 50) -> Page:
    """The event's registrations in the order they came in, each with its customer."""
    event = get_event(event_id)
    page = keyset_page(
        select(EventAttendee).where(
            EventAttendee.organization_id == event.organization_id,
            EventAttendee.event_id == event.id,
        ),
        (EventAttendee.id,),
        cursor=cursor,
        limit=limit,
        descending=False,
    )
    customers = _customers({attendee.customer_id for attendee in page.items})
    page.items = [(attendee, customers[attendee.customer_id]) for attendee in page.items]
    return page


def _customers(ids: set[int]) -> dict[int, Customer]:
    if not ids:
        return {}
    return {
        customer.id: customer
        for customer in db.session.scalars(
            select(Customer).where(
                Customer.organization_id == current_organization_id(), Customer.id.in_(ids)
            )
        )
    }


def find_customer(reference: str) -> Customer:
    """The customer with this code (CUS-000123) or primary email, for registering by hand."""
    reference = (reference or "").strip()
    if not reference:
        raise ValidationError(
            _("Whom should we register?"), {"reference": _("Give a customer code or email.")}
        )
    column = Customer.primary_email if "@" in reference else Customer.customer_code
    value = reference.lower() if "@" in reference else reference.upper()
    customer = db.session.scalar(
        select(Customer)
        .where(Customer.organization_id == current_organization_id(), column == value)
        .order_by(Customer.id)
        .limit(1)
    )
    if customer is None:
        raise ValidationError(
            _("No such customer."),
            {
                "reference": _(
                    "No customer has the code or email %(reference)s.", reference=reference
                )
            },
        )
    return customer


@atomic
def register_customer(event_id: int, customer_id: int) -> EventAttendee:
    """Register a customer for an event, within its capacity."""
    # Locking the event serialises registrations, so two cannot both take the last seat.
    event = get_event(event_id, for_update=True)
    customer = get_customer(customer_id)
    already = db.session.scalar(
        select(EventAttendee.id).where(
            EventAttendee.organization_id == event.organization_id,
            EventAttendee.event_id == event.id,
            EventAttendee.customer_id == customer.id,
        )
    )
    if already:
        raise Conflict(
            _(
                "%(customer)s is already registered for %(event)s.",
                customer=customer.display_name,
                event=event.name,
            ),
            {"reference": _("Already registered.")},
        )
    if event.capacity is not None:
        registered = attendee_counts([event.id]).get(event.id, Counts()).registered
        if registered >= event.capacity:
            raise ValidationError(
                _("%(event)s is full.", event=event.name),
                {"reference": _("All %(count)s places are taken.", count=event.capacity)},
            )
    attendee = EventAttendee(
        organization_id=event.organization_id,
        event_id=event.id,
        customer_id=customer.id,
        registered_by_id=current_tenant().user_id,
    )
    db.session.add(attendee)
    db.session.flush()
    return attendee


def _attendee(event_id: int, attendee_id: int) -> EventAttendee:
    attendee = db.session.scalar(
        select(EventAttendee).where(
            EventAttendee.id == attendee_id,
            EventAttendee.event_id == event_id,
            EventAttendee.organization_id == current_organization_id(),
        )
    )
    if attendee is None:
        raise NotFound(_("No such registration."))
    return attendee


@atomic
def set_attendance(event_id: int, attendee_id: int, attended: bool) -> EventAttendee:
    """Record that a registered customer came (or undo it); not before the event starts."""
    event = get_event(event_id)
    attendee = _attendee(event.id, attendee_id)
    if attended and event.starts_at - ATTENDANCE_OPENS_BEFORE > _now():
        raise ValidationError(_("Attendance can be recorded once the event has started."))
    if attended and attendee.attended_at is None:
        attendee.attended_at = _now()
    elif not attended:
        attendee.attended_at = None
    db.session.flush()
    return attendee


@atomic
def unregister(event_id: int, attendee_id: int) -> None:
    """Cancel a registration."""
    attendee = _attendee(get_event(event_id).id, attendee_id)
    db.session.delete(attendee)
    db.session.flush()


def customer_registrations(customer_id: int, limit: int = 10) -> list[tuple[EventAttendee, Event]]:
    """The customer's latest registrations with their events."""
    rows = db.session.execute(
        select(EventAttendee, Event)
        .join(Event, Event.id == EventAttendee.event_id)
        .where(
            EventAttendee.organization_id == current_organization_id(),
            EventAttendee.customer_id == customer_id,
        )
        .order_by(Event.starts_at.desc(), EventAttendee.id.desc())
        .limit(limit)
    )
    return [(attendee, event) for attendee, event in rows]


def open_events_for(customer_id: int, limit: int = 50) -> list[Event]:
    """Upcoming events the customer is not registered for (to offer on the 360 page)."""
    registered = select(EventAttendee.event_id).where(
        EventAttendee.organization_id == current_organization_id(),
        EventAttendee.customer_id == customer_id,
    )
    return list(
        db.session.scalars(
            select(Event)
            .where(
                Event.organization_id == current_organization_id(),
                Event.starts_at >= _now(),
                Event.id.not_in(registered),
            )
            .order_by(Event.starts_at, Event.id)
            .limit(limit)
        )
    )
