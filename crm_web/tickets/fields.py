"""A ticket's details, the fields a person edits, declared once.

The forms, the API and the service's checks read DETAILS; lengths and defaults come from the
model's columns. The workflow (status, assignee, SLA) has its own actions.
"""

from flask_babel import lazy_gettext as _l

from crm_web import labels
from crm_web.fields import Field, declare
from crm_web.limits import TEXT_MAX
from crm_web.tickets.models import Ticket

DETAILS = declare(
    Ticket,
    Field("subject", _l("Subject")),
    Field("description", _l("Description"), max_length=TEXT_MAX),
    Field("category", _l("Category"), "choice", choices=labels.choices(labels.TICKET_CATEGORY)),
    Field("ticket_type", _l("Type"), "choice", choices=labels.choices(labels.TICKET_TYPE)),
    Field("priority", _l("Priority"), "choice", choices=labels.choices(labels.PRIORITY)),
    Field("tags", _l("Tags"), "tags"),
    Field("department", _l("Team")),
)
BY_NAME = {f.name: f for f in DETAILS}
