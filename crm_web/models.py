"""Imports every domain's models so the mapper and Alembic see the whole schema."""

from crm_web.accounts.models import ApiToken, Organization, User
from crm_web.communications.models import Communication
from crm_web.customers.models import Customer
from crm_web.privacy.models import AuditEntry
from crm_web.sequences import OrganizationCounter
from crm_web.sla.models import SlaEscalation, SlaHoliday, SlaNotification, SlaPolicy, SlaSettings
from crm_web.system.models import FailedJob, ScheduledJob
from crm_web.tickets.models import (
    Ticket,
    TicketAgentState,
    TicketAttachment,
    TicketMessage,
    TicketSettings,
)

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Communication",
    "Customer",
    "FailedJob",
    "Organization",
    "OrganizationCounter",
    "ScheduledJob",
    "SlaEscalation",
    "SlaHoliday",
    "SlaNotification",
    "SlaPolicy",
    "SlaSettings",
    "Ticket",
    "TicketAgentState",
    "TicketAttachment",
    "TicketMessage",
    "TicketSettings",
    "User",
]
