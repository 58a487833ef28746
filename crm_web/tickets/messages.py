"""What the tickets domain sends through the outbox: replies and resolution notices."""

from datetime import UTC, datetime

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from crm_web.accounts.models import User
from crm_web.campaigns import content
from crm_web.communications.services import log_sent_email
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.outbox.kinds import Cancel, MessageKind, Outcome, Pending, register, rows_by_id
from crm_web.surveys import links
from crm_web.tickets import services
from crm_web.tickets.models import Ticket, TicketMessage

SAMPLE_TICKET = {"reference": "T-1042", "subject": "Kargo hâlâ gelmedi"}


def _tickets(ids) -> dict[int, Ticket]:
    return rows_by_id(Ticket, ids, joinedload(Ticket.customer))


def _load_replies(messages: list[Pending]) -> dict:
    replies = rows_by_id(TicketMessage, (message.source_id for message in messages))
    tickets = _tickets(reply.ticket_id for reply in replies.values())
    agents = dict(
        db.session.execute(
            select(User.id, User.name).where(
                User.id.in_({reply.author_user_id for reply in replies.values()} - {None})
            )
        ).all()
    )
    contexts = {}
    for message in messages:
        reply = replies.get(message.source_id)
        if reply is None or reply.kind != "reply":
            contexts[message.id] = Cancel(_("The reply was deleted."))
            continue
        contexts[message.id] = {
            "ticket": tickets[reply.ticket_id],
            "reply": reply,
            "agent_name": agents.get(reply.author_user_id, ""),
            "customer_name": message.to_name,
        }
    return contexts


def _reply_outcomes(outcomes: list[Outcome]) -> None:
    """The reply's own record of its email: sent (logged with the customer) or why not."""
    replies = {
        reply.id: reply
        for reply in db.session.scalars(
            select(TicketMessage)
            .where(
                TicketMessage.organization_id == current_organization_id(),
                TicketMessage.id.in_([outcome.message.source_id for outcome in outcomes]),
            )
            .with_for_update()
        )
    }
    for outcome in outcomes:
        reply = replies.get(outcome.message.source_id)
        if reply is None:
            continue
        if outcome.status == "sent":
            reply.communication_id = log_sent_email(
                outcome, source_type="ticket", source_id=reply.ticket_id
            ).id
            reply.email_status = "sent"
            reply.emailed_at = datetime.now(UTC)
        elif outcome.status in ("failed", "suppressed", "cancelled"):
            reply.email_status = "failed"


def _load_resolutions(messages: list[Pending]) -> dict:
    tickets = _tickets(message.source_id for message in messages)
    sign = content.signer()
    contexts = {}
    for message in messages:
        ticket = tickets.get(message.source_id)
        resolved_at = message.context.get("resolved_at")
        if ticket is None:
            contexts[message.id] = Cancel(_("The ticket was deleted."))
        elif (
            ticket.status != "resolved"
            or ticket.resolved_at is None
            or ticket.resolved_at != datetime.fromisoformat(resolved_at)
        ):
            contexts[message.id] = Cancel(_("The ticket was reopened or resolved again since."))
        else:
            link = f"{current_app.config['BASE_URL']}/support/csat/{services.csat_token(ticket)}"
            invitation = message.context.get("invitation")
            contexts[message.id] = {
                "ticket": ticket,
                "customer_name": message.to_name,
                "csat_link": link,
                # The organization's longer survey, when its settings name one.
                "survey_link": links.invitation_url(ticket.organization_id, invitation, sign)
                if invitation
                else "",
            }
    return contexts


def _resolution_outcomes(outcomes: list[Outcome]) -> None:
    sent = [outcome for outcome in outcomes if outcome.status == "sent"]
    if not sent:
        return
    tickets = _tickets(outcome.message.source_id for outcome in sent)
    for outcome in sent:
        ticket = tickets.get(outcome.message.source_id)
        if ticket is None:
            continue
        log_sent_email(outcome, source_type="ticket", source_id=ticket.id)
        services.record_event(
            ticket, _("Resolution email with a satisfaction survey sent."), event="csat_sent"
        )


def _ticket_headers(context: dict) -> dict[str, str]:
    return {"X-CRM-Ticket": context["ticket"].reference}


register(
    MessageKind(
        name="ticket_reply",
        title=_l("Ticket reply"),
        channel="email",
        template="tickets/reply",
        description=_l("An agent's public reply, emailed to the customer."),
        load=_load_replies,
        on_outcome=_reply_outcomes,
        headers=_ticket_headers,
        sample=lambda: {
            "ticket": SAMPLE_TICKET,
            "reply": {"body": "Merhaba, kargonuz bugün yola çıktı.\nTakip numarası: 123456"},
            "agent_name": "Şükrü Çağlar",
            "customer_name": "Ayşe Yılmaz",
        },
    )
)
register(
    MessageKind(
        name="ticket_resolved",
        title=_l("Ticket resolved (satisfaction survey)"),
        channel="email",
        template="tickets/resolved",
        description=_l("The ticket is resolved: a one-click satisfaction (CSAT) link."),
        load=_load_resolutions,
        on_outcome=_resolution_outcomes,
        headers=_ticket_headers,
        sample=lambda: {
            "ticket": SAMPLE_TICKET,
            "customer_name": "Ayşe Yılmaz",
            "csat_link": "https://crm.example/support/csat/sample-token",
            "survey_link": "https://crm.example/s/i/sample-token",
        },
    )
)
