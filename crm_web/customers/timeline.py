"""Consent changes on the customer timeline."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import Text, case, cast, func, select

from crm_web.accounts.models import User
from crm_web.customer360.timeline import Kind, TimelineSource, details_object, register_source
from crm_web.customers.models import ConsentEvent

CHANNEL_LABELS = {"email": "Email opt-in", "sms": "SMS opt-in", "all": "Do not contact"}


def _select():
    channel = case(
        *((ConsentEvent.channel == key, label) for key, label in CHANNEL_LABELS.items()),
        else_=ConsentEvent.channel,
    )
    value = case((ConsentEvent.new_value, "yes"), else_="no")
    return (
        select(
            cast(func.concat(channel, ": ", value), Text).label("title"),
            ConsentEvent.note.label("body"),
            details_object(
                channel=ConsentEvent.channel,
                previous=ConsentEvent.old_value,
                source=ConsentEvent.source,
                changed_by=User.name,
            ).label("details"),
        )
        .select_from(ConsentEvent)
        .outerjoin(User, User.id == ConsentEvent.user_id)
    )


register_source(
    TimelineSource(
        name="consent",
        kinds=(Kind("consent", _l("Consent"), "consent", _l("Consent")),),
        select=_select,
        organization_id=ConsentEvent.organization_id,
        customer_id=ConsentEvent.customer_id,
        occurred_at=ConsentEvent.created_at,
        row_id=ConsentEvent.id,
    )
)
