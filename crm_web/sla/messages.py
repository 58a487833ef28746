"""What the SLA sends through the outbox: warning and breach notices by email and SMS."""

from sqlalchemy import select

from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.outbox.kinds import Cancel, MessageKind, Pending, register
from crm_web.sla.models import SlaEscalation
from crm_web.tickets.models import Ticket

# The kinds of an escalation's notifications, by channel (registered below).
NOTIFICATION_KINDS = {"email": "sla_escalation", "sms": "sla_escalation_sms"}


def _load(messages: list[Pending]) -> dict:
    organization_id = current_organization_id()
    escalations = {
        row.id: row
        for row in db.session.scalars(
            select(SlaEscalation).where(
                SlaEscalation.organization_id == organization_id,
                SlaEscalation.id.in_({message.source_id for message in messages}),
            )
        )
    }
    tickets = {
        row.id: row
        for row in db.session.scalars(
            select(Ticket).where(
                Ticket.organization_id == organization_id,
                Ticket.id.in_({row.ticket_id for row in escalations.values()}),
            )
        )
    }
    contexts = {}
    for message in messages:
        escalation = escalations.get(message.source_id)
        if escalation is None:
            contexts[message.id] = Cancel("The ticket was deleted.")
            continue
        contexts[message.id] = {
            "ticket": tickets[escalation.ticket_id],
            "escalation": escalation,
            "recipient_name": message.to_name,
        }
    return contexts


def _sample() -> dict:
    return {
        "ticket": {
            "id": 1042,
            "reference": "T-1042",
            "subject": "Fatura tutarı hatalı",
            "priority": "high",
            "status": "open",
        },
        "escalation": {
            "label": "first response breached",
            "is_breach": True,
            "outcome": "Notified Şükrü Çağlar <sukru@example.com> (email)",
        },
        "recipient_name": "Şükrü Çağlar",
    }


register(
    MessageKind(
        name=NOTIFICATION_KINDS["email"],
        title="SLA warning or breach",
        channel="email",
        template="sla/escalation",
        description="An SLA warning (to the assignee) or breach (to the team's managers).",
        load=_load,
        sample=_sample,
        headers=lambda context: {"X-CRM-Ticket": context["ticket"].reference},
    )
)
register(
    MessageKind(
        name=NOTIFICATION_KINDS["sms"],
        title="SLA breach by SMS",
        channel="sms",
        template="sla/escalation",
        description="An SLA breach by SMS to the numbers in the SLA settings.",
        load=_load,
        sample=_sample,
    )
)
