"""Imports every domain's models so the mapper and Alembic see the whole schema."""

from crm_web.accounts.models import ApiToken, Organization, User, UserSession
from crm_web.activities.models import Activity, ActivityAttendee
from crm_web.automations.models import Automation, Enrollment, Holiday, StepRun
from crm_web.campaigns.models import (
    Campaign,
    CampaignEvent,
    CampaignRecipient,
    CampaignVariant,
    EmailTemplate,
    EmailTemplateVersion,
)
from crm_web.catalog.models import (
    CustomerValue,
    CustomerValueRun,
    Order,
    OrderLine,
    OrderReturn,
    OrderReturnLine,
    Product,
    ProductCategory,
    StockMovement,
)
from crm_web.communications.models import Communication
from crm_web.customer360.models import CampaignPreference, CustomerDocument, CustomerNote
from crm_web.customers.models import ConsentEvent, Customer
from crm_web.events.models import Event, EventAttendee
from crm_web.imports.models import ImportJob, ImportReject
from crm_web.leads.models import (
    AssignmentRule,
    Lead,
    LeadAssignment,
    LeadScoringRule,
    LeadSettings,
    Team,
    TeamMember,
)
from crm_web.loyalty.models import (
    Coupon,
    LedgerEntry,
    LoyaltyCategoryRule,
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTier,
    PointLot,
    Redemption,
    Reward,
    TierChange,
)
from crm_web.outbox.models import OutboxMessage, Suppression
from crm_web.pipeline.models import (
    MonthTotal,
    Opportunity,
    PipelineStage,
    Quote,
    QuoteItem,
    SalesSettings,
    SalesTarget,
    StageChange,
    StageTotal,
)
from crm_web.privacy.models import AuditEntry
from crm_web.segments.models import Segment, SegmentMember, SegmentRefresh
from crm_web.sequences import OrganizationCounter
from crm_web.sla.models import (
    SlaEscalation,
    SlaHoliday,
    SlaPolicy,
    SlaRecompute,
    SlaSettings,
)
from crm_web.system.models import FailedJob, ScheduledJob
from crm_web.tickets.models import (
    Ticket,
    TicketAgentState,
    TicketAttachment,
    TicketMessage,
    TicketSettings,
)

__all__ = [
    "Automation",
    "Enrollment",
    "Holiday",
    "StepRun",
    "Campaign",
    "CampaignEvent",
    "CampaignRecipient",
    "CampaignVariant",
    "EmailTemplate",
    "EmailTemplateVersion",
    "Activity",
    "ActivityAttendee",
    "ApiToken",
    "AssignmentRule",
    "AuditEntry",
    "CampaignPreference",
    "Communication",
    "ConsentEvent",
    "Coupon",
    "Customer",
    "CustomerDocument",
    "CustomerNote",
    "CustomerValue",
    "CustomerValueRun",
    "Event",
    "EventAttendee",
    "FailedJob",
    "ImportJob",
    "ImportReject",
    "Lead",
    "LeadAssignment",
    "LeadScoringRule",
    "LeadSettings",
    "LedgerEntry",
    "LoyaltyCategoryRule",
    "LoyaltyMember",
    "LoyaltyProgram",
    "LoyaltyTier",
    "MonthTotal",
    "Opportunity",
    "Order",
    "OrderLine",
    "OrderReturn",
    "OrderReturnLine",
    "Organization",
    "OrganizationCounter",
    "OutboxMessage",
    "PipelineStage",
    "PointLot",
    "Product",
    "ProductCategory",
    "Quote",
    "QuoteItem",
    "Redemption",
    "Reward",
    "SalesSettings",
    "SalesTarget",
    "Segment",
    "SegmentMember",
    "SegmentRefresh",
    "ScheduledJob",
    "SlaEscalation",
    "SlaHoliday",
    "SlaPolicy",
    "SlaRecompute",
    "SlaSettings",
    "StageChange",
    "StageTotal",
    "StockMovement",
    "Suppression",
    "Team",
    "TeamMember",
    "Ticket",
    "TicketAgentState",
    "TicketAttachment",
    "TicketMessage",
    "TicketSettings",
    "TierChange",
    "User",
    "UserSession",
]
