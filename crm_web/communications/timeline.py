"""Communications on the customer timeline: one kind (and type filter) per channel."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import Text, case, cast, func, select

from crm_web.accounts.models import User
from crm_web.communications.models import Communication
from crm_web.customer360.timeline import Kind, TimelineSource, details_object, register_source

# type -> (entry label, filter label, noun for an entry without a subject: in the cached SQL
# statement of crm_web.customer360.timeline, so in the source language)
CHANNELS = {
    "call": (_l("Call"), _l("Calls"), "call"),
    "meeting": (_l("Meeting"), _l("Meetings"), "meeting"),
    "email": (_l("Email"), _l("Emails"), "email"),
    "sms": (_l("SMS"), _l("SMS"), "SMS"),
}


def _select():
    direction = case((Communication.direction == "inbound", "Inbound"), else_="Outbound")
    noun = case(
        *(
            (Communication.communication_type == key, n)
            for key, (_label, _plural, n) in CHANNELS.items()
        ),
        else_=Communication.communication_type,
    )
    return (
        select(
            cast(
                func.coalesce(
                    func.nullif(Communication.subject, ""), func.concat(direction, " ", noun)
                ),
                Text,
            ).label("title"),
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
        kinds=tuple(
            Kind(key, label, key, plural) for key, (label, plural, _noun) in CHANNELS.items()
        ),
        select=_select,
        organization_id=Communication.organization_id,
        customer_id=Communication.customer_id,
        occurred_at=Communication.created_at,
        row_id=Communication.id,
        kind=cast(Communication.communication_type, Text),
    )
)
