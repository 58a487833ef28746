"""Communications on the customer timeline: one kind (and type filter) per channel."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import Text, cast, func, select

from crm_web.accounts.models import User
from crm_web.communications.models import Communication
from crm_web.customer360.timeline import Kind, TimelineSource, details_object, register_source

# type -> (entry label, filter label)
CHANNELS = {
    "call": (_l("Call"), _l("Calls")),
    "meeting": (_l("Meeting"), _l("Meetings")),
    "email": (_l("Email"), _l("Emails")),
    "sms": (_l("SMS"), _l("SMS")),
}
# (direction, type) -> the title of an entry without a subject
UNTITLED = {
    ("inbound", "call"): _l("Inbound call"),
    ("outbound", "call"): _l("Outbound call"),
    ("inbound", "meeting"): _l("Inbound meeting"),
    ("outbound", "meeting"): _l("Outbound meeting"),
    ("inbound", "email"): _l("Inbound email"),
    ("outbound", "email"): _l("Outbound email"),
    ("inbound", "sms"): _l("Inbound SMS"),
    ("outbound", "sms"): _l("Outbound SMS"),
}


def _title(entry) -> str:
    if entry.data:
        return entry.data
    untitled = UNTITLED.get((entry.details.get("direction"), entry.kind))
    return str(untitled) if untitled is not None else entry.label


def _select():
    return (
        select(
            cast(func.nullif(Communication.subject, ""), Text).label("title"),
            Communication.content.label("body"),
            details_object(
                direction=Communication.direction,
                status=Communication.status,
                outcome=func.nullif(Communication.outcome, ""),
                duration_seconds=Communication.duration_seconds,
                delivered_at=Communication.delivery_date,
                opened_at=Communication.opened_date,
                clicked_at=Communication.clicked_date,
                logged_by=User.name,
            ).label("details"),
        )
        .select_from(Communication)
        .outerjoin(User, User.id == Communication.created_by_id)
    )


register_source(
    TimelineSource(
        name="communications",
        kinds=tuple(Kind(key, label, key, plural) for key, (label, plural) in CHANNELS.items()),
        select=_select,
        title=_title,
        organization_id=Communication.organization_id,
        customer_id=Communication.customer_id,
        occurred_at=Communication.created_at,
        row_id=Communication.id,
        kind=cast(Communication.communication_type, Text),
    )
)
