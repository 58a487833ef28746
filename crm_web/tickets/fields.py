"""A ticket's details, the fields a person edits, declared once.

The forms, the API and the service's checks read DETAILS; lengths and defaults come from the
model's columns. The workflow (status, assignee, SLA) has its own actions.
"""

from crm_web.fields import Field, choices, declare
from crm_web.limits import TEXT_MAX
from crm_web.tickets.models import CATEGORIES, PRIORITIES, TICKET_TYPES, Ticket

DETAILS = declare(
    Ticket,
    Field("subject", "Subject"),
    Field("description", "Description", max_length=TEXT_MAX),
    Field("category", "Category", "choice", choices=choices(CATEGORIES)),
    Field("ticket_type", "Type", "choice", choices=choices(TICKET_TYPES)),
    Field("priority", "Priority", "choice", choices=choices(PRIORITIES)),
    Field("tags", "Tags", "tags"),
    Field("department", "Team"),
)
BY_NAME = {f.name: f for f in DETAILS}
