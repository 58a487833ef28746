"""Consent changes on the customer timeline."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Text, cast, select

from crm_web import labels
from crm_web.accounts.models import User
from crm_web.customer360.timeline import Kind, TimelineSource, details_object, register_source
from crm_web.customers.models import ConsentEvent


def _title(entry) -> str:
    # The title column holds the new value ("true" or "false").
    channel = labels.label(entry.details.get("channel"), "consent_channel")
    if entry.data == "true":
        return _("%(channel)s: yes", channel=channel)
    return _("%(channel)s: no", channel=channel)


def _select():
    return (
        select(
            cast(ConsentEvent.new_value, Text).label("title"),
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
        title=_title,
        organization_id=ConsentEvent.organization_id,
        customer_id=ConsentEvent.customer_id,
        occurred_at=ConsentEvent.created_at,
        row_id=ConsentEvent.id,
    )
)
