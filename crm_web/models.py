"""Imports every domain's models so the mapper and Alembic see the whole schema."""

from crm_web.accounts.models import ApiToken, Organization, User
from crm_web.communications.models import Communication
from crm_web.customer360.models import CampaignPreference, CustomerDocument, CustomerNote
from crm_web.customers.models import ConsentEvent, Customer
from crm_web.events.models import Event, EventAttendee
from crm_web.imports.models import ImportJob, ImportReject
from crm_web.privacy.models import AuditEntry
from crm_web.sequences import OrganizationCounter
from crm_web.system.models import FailedJob, ScheduledJob

__all__ = [
    "ApiToken",
    "AuditEntry",
    "CampaignPreference",
    "Communication",
    "ConsentEvent",
    "Customer",
    "CustomerDocument",
    "CustomerNote",
    "Event",
    "EventAttendee",
    "FailedJob",
    "ImportJob",
    "ImportReject",
    "Organization",
    "OrganizationCounter",
    "ScheduledJob",
    "User",
]
