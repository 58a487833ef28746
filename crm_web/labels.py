"""What people read for the codes the database stores (statuses, priorities, roles, channels):
one display name per code, in the reader's language.

The codes stay English in the database, the API and CSV files; screens, forms and messages show
these names. Templates use the `label` filter (`{{ ticket.priority|label("priority") }}`);
Python reads the dictionaries, whose values are lazy (translated when shown). Each vocabulary
is checked against its model's codes by the tests, so a new code cannot go unnamed.
"""

from collections.abc import Mapping

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

PRIORITY = {
    "low": _l("Low"),
    "normal": _l("Normal"),
    "high": _l("High"),
    "urgent": _l("Urgent"),
}
ROLE = {
    "admin": _l("Admin"),
    "manager": _l("Manager"),
    "sales": _l("Sales"),
    "support": _l("Support"),
    "marketing": _l("Marketing"),
}
TICKET_STATUS = {
    "new": _l("New"),
    "open": _l("Open"),
    "in_progress": _l("In progress"),
    "waiting_on_customer": _l("Waiting on customer"),
    "resolved": _l("Resolved"),
    "closed": _l("Closed"),
}
TICKET_CHANNEL = {
    "email": _l("Email"),
    "phone": _l("Phone"),
    "web": _l("Web"),
    "api": _l("API"),
}
TICKET_CATEGORY = {
    "general": _l("General"),
    "technical": _l("Technical"),
    "billing": _l("Billing"),
    "account": _l("Account"),
    "sales": _l("Sales"),
}
TICKET_TYPE = {
    "question": _l("Question"),
    "incident": _l("Incident"),
    "problem": _l("Problem"),
    "bug_report": _l("Bug report"),
    "feature_request": _l("Feature request"),
    "billing_issue": _l("Billing issue"),
    "account_issue": _l("Account issue"),
}
ACTIVITY_TYPE = {
    "call": _l("Call"),
    "meeting": _l("Meeting"),
    "email": _l("Email"),
    "demo": _l("Demo"),
    "follow_up": _l("Follow-up"),
    "proposal": _l("Proposal"),
}
ACTIVITY_STATUS = {
    "planned": _l("Planned"),
    "in_progress": _l("In progress"),
    "completed": _l("Completed"),
    "cancelled": _l("Cancelled"),
}
# An activity's reminder as the activity shows it (crm_web.activities.services.ReminderState).
REMINDER_STATUS = {
    "pending": _l("pending"),
    "sent": _l("sent"),
    "failed": _l("failed"),
    "cancelled": _l("cancelled"),
}
# An outbox message (an email or SMS we send).
MESSAGE_STATUS = {
    "queued": _l("queued"),
    "claimed": _l("sending"),
    "sent": _l("sent"),
    "failed": _l("failed"),
    "suppressed": _l("suppressed"),
    "cancelled": _l("cancelled"),
}
# What the SMS gateway reports about a text.
SMS_STATUS = {
    "accepted": _l("accepted"),
    "queued": _l("queued"),
    "sending": _l("sending"),
    "sent": _l("sent"),
    "delivered": _l("delivered"),
    "undelivered": _l("undelivered"),
    "failed": _l("failed"),
}
IMPORT_STATUS = {
    "uploaded": _l("uploaded"),
    "queued": _l("queued"),
    "running": _l("running"),
    "checked": _l("checked"),
    "imported": _l("imported"),
    "failed": _l("failed"),
}
# What a running import is doing (ImportJob.stage keeps these English words; shown translated).
IMPORT_STAGE = {
    "Waiting for a worker": _l("Waiting for a worker"),
    "Reading rows": _l("Reading rows"),
    "Finding duplicates": _l("Finding duplicates"),
    "Saving": _l("Saving"),
}
# What an import did with a row of the file (crm_web.imports).
IMPORT_OUTCOME = {
    "create": _l("created"),
    "update": _l("updated"),
    "skip": _l("skipped"),
    "duplicate": _l("duplicate"),
    "reject": _l("rejected"),
}
AUDIT_ACTION = {
    "create": _l("create"),
    "update": _l("update"),
    "delete": _l("delete"),
}
SLA_TARGET = {
    "first_response": _l("First response"),
    "resolution": _l("Resolution"),
}
ESCALATION_STATUS = {
    "pending": _l("pending"),
    "fired": _l("fired"),
    "skipped": _l("skipped"),
    "cancelled": _l("cancelled"),
}
CUSTOMER_TYPE = {
    "person": _l("Person"),
    "company": _l("Company"),
}
LIFECYCLE_STAGE = {
    "subscriber": _l("Subscriber"),
    "lead": _l("Lead"),
    "opportunity": _l("Opportunity"),
    "customer": _l("Customer"),
    "loyal": _l("Loyal"),
    "champion": _l("Champion"),
    "churned": _l("Churned"),
}
GENDER = {
    "": "—",
    "F": _l("Female"),
    "M": _l("Male"),
    "O": _l("Other"),
}
# Seed 000's musteritercihleri: the kinds of campaign a customer wants to hear about.
CAMPAIGN_TYPE = {
    "discounts": _l("Discount offers"),
    "new_products": _l("New product alerts"),
    "newsletter": _l("Newsletter"),
    "events": _l("Event invitations"),
    "loyalty": _l("Loyalty rewards"),
    "special_occasions": _l("Birthday and anniversary greetings"),
    "surveys": _l("Surveys"),
}
# What a document on a customer's 360 page is.
DOCUMENT_CATEGORY = {
    "contract": _l("Contract"),
    "quote": _l("Quote"),
    "invoice": _l("Invoice"),
    "other": _l("Other"),
}
COMMUNICATION_TYPE = {
    "call": _l("Call"),
    "meeting": _l("Meeting"),
    "email": _l("Email"),
    "sms": _l("SMS"),
}
# A campaign's status, its recipients' (with the engagement filters of its page), its A/B metric.
CAMPAIGN_STATUS = {
    "draft": _l("draft"),
    "scheduled": _l("scheduled"),
    "sending": _l("sending"),
    "paused": _l("paused"),
    "sent": _l("sent"),
    "cancelled": _l("cancelled"),
}
RECIPIENT_STATUS = {
    "held": _l("held for the A/B winner"),
    "queued": _l("queued"),
    "sent": _l("sent"),
    "delivered": _l("delivered"),
    "failed": _l("failed"),
    "skipped": _l("skipped"),
    "opened": _l("opened"),
    "clicked": _l("clicked"),
    "unsubscribed": _l("unsubscribed"),
}
AB_METRIC = {
    "opens": _l("opens"),
    "clicks": _l("clicks"),
}
# A communication's direction and status (crm_web.communications.models).
DIRECTION = {
    "inbound": _l("inbound"),
    "outbound": _l("outbound"),
}
COMMUNICATION_STATUS = {
    "logged": _l("logged"),
    "queued": _l("queued"),
    "sent": _l("sent"),
    "delivered": _l("delivered"),
    "opened": _l("opened"),
    "clicked": _l("clicked"),
    "received": _l("received"),
    "failed": _l("failed"),
    "bounced": _l("bounced"),
}
# What a consent change is about, and where it came from (crm_web.customers.models).
CONSENT_CHANNEL = {
    "email": _l("Email opt-in"),
    "sms": _l("SMS opt-in"),
    "all": _l("Do not contact"),
}
CONSENT_SOURCE = {
    "form": _l("form"),
    "import": _l("import"),
    "api": _l("API"),
    "unsubscribe": _l("unsubscribe link"),
    "merge": _l("customer merge"),
    "bulk": _l("bulk change"),
    "sms_keyword": _l("SMS keyword"),
}

# A pipeline stage's outcome, which is also a deal's status.
DEAL_OUTCOME = {
    "open": _l("open"),
    "won": _l("won"),
    "lost": _l("lost"),
}
QUOTE_STATUS = {
    "draft": _l("draft"),
    "pending_approval": _l("pending approval"),
    "approved": _l("approved"),
    "sent": _l("sent"),
    "accepted": _l("accepted"),
    "rejected": _l("rejected"),
}
LEAD_STATUS = {
    "new": _l("New"),
    "contacted": _l("Contacted"),
    "qualified": _l("Qualified"),
    "converted": _l("Converted"),
    "disqualified": _l("Disqualified"),
}
LEAD_SOURCE = {
    "web_form": _l("Web form"),
    "social_media": _l("Social media"),
    "referral": _l("Referral"),
    "trade_show": _l("Trade show"),
    "cold_call": _l("Cold call"),
    "email_campaign": _l("Email campaign"),
    "partner": _l("Partner"),
    "advertising": _l("Advertising"),
    "other": _l("Other"),
}
# How a lead came in.
CAPTURE_CHANNEL = {
    "manual": _l("Entered by hand"),
    "web_form": _l("Web form"),
    "api": _l("API"),
    "import": _l("Import"),
}
LEAD_AUTHORITY = {
    "unknown": _l("Unknown"),
    "decision_maker": _l("Decision maker"),
    "influencer": _l("Influencer"),
    "evaluator": _l("Evaluator"),
    "end_user": _l("End user"),
}
LEAD_TIMELINE = {
    "": _l("Not known"),
    "immediate": _l("Immediate"),
    "1-3 months": _l("1-3 months"),
    "3-6 months": _l("3-6 months"),
    "6-12 months": _l("6-12 months"),
    "12+ months": _l("12+ months"),
}
SCORING_FACTOR = {
    "demographic": _l("Demographic"),
    "firmographic": _l("Firmographic"),
    "behavioural": _l("Behavioural"),
    "engagement": _l("Engagement"),
}
# How soon a lead's score says to act on it (crm_web.leads.scoring.ACTIONS).
ACTION_URGENCY = {
    "high": _l("high"),
    "medium": _l("medium"),
    "low": _l("low"),
}
ASSIGNMENT_METHOD = {
    "round_robin": _l("Round robin"),
    "least_loaded": _l("Least loaded"),
}
# The sentiment of a survey response's open answers (segments, the timeline).
SENTIMENT = {
    "positive": _l("Positive"),
    "neutral": _l("Neutral"),
    "negative": _l("Negative"),
}

VOCABULARIES: Mapping[str, Mapping[str, LazyString | str]] = {
    "priority": PRIORITY,
    "role": ROLE,
    "sentiment": SENTIMENT,
    "ticket_status": TICKET_STATUS,
    "ticket_channel": TICKET_CHANNEL,
    "ticket_category": TICKET_CATEGORY,
    "ticket_type": TICKET_TYPE,
    "activity_type": ACTIVITY_TYPE,
    "activity_status": ACTIVITY_STATUS,
    "reminder_status": REMINDER_STATUS,
    "message_status": MESSAGE_STATUS,
    "sms_status": SMS_STATUS,
    "import_status": IMPORT_STATUS,
    "import_outcome": IMPORT_OUTCOME,
    "import_stage": IMPORT_STAGE,
    "audit_action": AUDIT_ACTION,
    "sla_target": SLA_TARGET,
    "escalation_status": ESCALATION_STATUS,
    "deal_outcome": DEAL_OUTCOME,
    "quote_status": QUOTE_STATUS,
    "lead_status": LEAD_STATUS,
    "lead_source": LEAD_SOURCE,
    "capture_channel": CAPTURE_CHANNEL,
    "lead_authority": LEAD_AUTHORITY,
    "lead_timeline": LEAD_TIMELINE,
    "scoring_factor": SCORING_FACTOR,
    "assignment_method": ASSIGNMENT_METHOD,
    "action_urgency": ACTION_URGENCY,
    "customer_type": CUSTOMER_TYPE,
    "lifecycle_stage": LIFECYCLE_STAGE,
    "gender": GENDER,
    "campaign_type": CAMPAIGN_TYPE,
    "document_category": DOCUMENT_CATEGORY,
    "communication_type": COMMUNICATION_TYPE,
    "campaign_status": CAMPAIGN_STATUS,
    "recipient_status": RECIPIENT_STATUS,
    "ab_metric": AB_METRIC,
    "direction": DIRECTION,
    "communication_status": COMMUNICATION_STATUS,
    "consent_channel": CONSENT_CHANNEL,
    "consent_source": CONSENT_SOURCE,
}


def label(code: str | None, vocabulary: str) -> str:
    """The display name of `code` in `vocabulary`, in the reader's language; a code the
    vocabulary does not know reads as itself."""
    if code is None:
        return ""
    name = VOCABULARIES[vocabulary].get(code)
    return str(name) if name is not None else code.replace("_", " ")


def choices(vocabulary: Mapping[str, LazyString]) -> list[tuple[str, LazyString]]:
    """A vocabulary as (code, name) choices for a select, in its order."""
    return list(vocabulary.items())
