"""Event registrations and attendances on the customer timeline."""

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Text, cast, select

from crm_web.customer360.timeline import Kind, TimelineSource, details_object, register_source
from crm_web.events.models import Event, EventAttendee

EVENTS = ("event", _l("Events"))


def _select():
    return (
        select(
            cast(Event.name, Text).label("title"),
            Event.location.label("body"),
            details_object(
                event_id=Event.id,
                starts_at=Event.starts_at,
                location=Event.location,
                attended_at=EventAttendee.attended_at,
            ).label("details"),
        )
        .select_from(EventAttendee)
        .join(Event, Event.id == EventAttendee.event_id)
    )


def _event_page(entry) -> str:
    return url_for("events.show", event_id=entry.details["event_id"])


for name, label, title, occurred_at, where in (
    (
        "event_registration",
        _l("Event registration"),
        lambda entry: _("Registered for %(event)s", event=entry.data),
        EventAttendee.registered_at,
        (),
    ),
    (
        "event_attendance",
        _l("Attended event"),
        lambda entry: _("Attended %(event)s", event=entry.data),
        EventAttendee.attended_at,
        (EventAttendee.attended_at.isnot(None),),
    ),
):
    register_source(
        TimelineSource(
            name=name,
            kinds=(Kind(name, label, *EVENTS),),
            select=_select,
            title=title,
            organization_id=EventAttendee.organization_id,
            customer_id=EventAttendee.customer_id,
            occurred_at=occurred_at,
            row_id=EventAttendee.id,
            where=where,
            link=_event_page,
        )
    )
