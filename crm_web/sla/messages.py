"""What the SLA sends through the outbox: warning and breach notices by email and SMS."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_web.outbox.kinds import Cancel, MessageKind, Pending, register, rows_by_id
from crm_web.sla.models import SlaEscalation
from crm_web.tickets.models import Ticket

# The kinds of an escalation's notifications, by channel (registered below).
NOTIFICATION_KINDS = {"email": "sla_escalation", "sms": "sla_escalation_sms"}


def _load(messages: list[Pending]) -> dict:
    escalations = rows_by_id(SlaEscalation, (message.source_id for message in messages))
    tickets = rows_by_id(Ticket, (row.ticket_id for row in escalations.values()))
    contexts = {}
    for message in messages:
        escalation = escalations.get(message.source_id)
        if escalation is None:
            contexts[message.id] = Cancel(_("The ticket was deleted."))
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
            "label": _("first response breached"),
            "is_breach": True,
            "outcome": _(
                "Notified %(recipients)s", recipients="Şükrü Çağlar <sukru@example.com> (email)"
            ),
        },
        "recipient_name": "Şükrü Çağlar",
    }


register(
    MessageKind(
        name=NOTIFICATION_KINDS["email"],
        title=_l("SLA warning or breach"),
        channel="email",
        template="sla/escalation",
        description=_l("An SLA warning (to the assignee) or breach (to the team's managers)."),
        load=_load,
        sample=_sample,
        headers=lambda context: {"X-CRM-Ticket": context["ticket"].reference},
    )
)
register(
    MessageKind(
        name=NOTIFICATION_KINDS["sms"],
        title=_l("SLA breach by SMS"),
        channel="sms",
        template="sla/escalation",
        description=_l("An SLA breach by SMS to the numbers in the SLA settings."),
        load=_load,
        sample=_sample,
    )
)
