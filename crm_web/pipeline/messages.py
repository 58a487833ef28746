"""What the pipeline sends through the outbox: a quote, emailed to the customer with its PDF."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from crm_web.accounts.models import Organization, User
from crm_web.communications.services import log_sent_email
from crm_web.customer360.models import CustomerDocument
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.formatting import format_long_date, format_money
from crm_web.outbox.kinds import Cancel, MessageKind, Outcome, Pending, register, rows_by_id
from crm_web.pipeline.models import Quote
from crm_web.pipeline.quote_documents import document_language
from crm_web.storage import get_storage

PDF = "application/pdf"


def _load(messages: list[Pending]) -> dict:
    """Each message's quote, its figures in the quote's language, and the kept PDF's bytes."""
    quotes = rows_by_id(
        Quote, (message.source_id for message in messages), joinedload(Quote.opportunity)
    )
    documents = rows_by_id(
        CustomerDocument, (message.context.get("document_id") for message in messages)
    )
    senders = dict(
        db.session.execute(
            select(User.id, User.name).where(
                User.id.in_({message.context.get("sent_by_id") for message in messages} - {None})
            )
        ).all()
    )
    organization = db.session.get(Organization, current_organization_id())
    language = document_language(organization)
    storage = get_storage()
    contexts = {}
    for message in messages:
        quote = quotes.get(message.source_id)
        document = documents.get(message.context.get("document_id"))
        if quote is None:
            contexts[message.id] = Cancel(_("The quote was deleted."))
            continue
        if document is None:
            contexts[message.id] = Cancel(_("The quote's PDF was deleted before it went out."))
            continue
        try:
            with storage.open(document.storage_key) as stored:
                pdf = stored.read()
        except FileNotFoundError:
            contexts[message.id] = Cancel(_("The quote's PDF is missing from storage."))
            continue
        contexts[message.id] = {
            "quote": quote,
            "deal_name": quote.opportunity.name,
            "customer_name": message.to_name,
            "total": format_money(quote.total, quote.currency, language),
            "valid_until": format_long_date(quote.valid_until, language),
            "sender_name": senders.get(message.context.get("sent_by_id"), ""),
            "attachment": (document.filename, PDF, pdf),
            "document_id": document.id,
        }
    return contexts


def _sent(outcomes: list[Outcome]) -> None:
    """A sent quote is logged with the customer, as every email to them is, PDF named."""
    sent = [outcome for outcome in outcomes if outcome.status == "sent"]
    documents = rows_by_id(
        CustomerDocument, (outcome.message.context.get("document_id") for outcome in sent)
    )
    for outcome in sent:
        document = documents.get(outcome.message.context.get("document_id"))
        attachments = (
            [
                {
                    "document_id": document.id,
                    "filename": document.filename,
                    "content_type": PDF,
                    "size_bytes": document.size_bytes,
                }
            ]
            if document
            else []
        )
        log_sent_email(
            outcome,
            source_type="quote",
            source_id=outcome.message.source_id,
            attachments=attachments,
        )


def _sample() -> dict:
    return {
        "quote": {"quote_number": "Q-000042", "version": 2, "title": "Yıllık bakım sözleşmesi"},
        "deal_name": "Işık İnşaat CRM",
        "customer_name": "Çağrı Işık",
        "total": "₺12.540,00",
        "valid_until": "5 Ocak 2027",
        "sender_name": "Şükrü Çağlar",
    }


register(
    MessageKind(
        name="quote",
        title=_l("Quote sent to a customer"),
        channel="email",
        template="pipeline/quote",
        description=_l("A quote version emailed to the deal's customer, its PDF attached."),
        load=_load,
        on_outcome=_sent,
        attachments=lambda context: [context["attachment"]],
        headers=lambda context: {"X-CRM-Quote": context["quote"].quote_number},
        sample=_sample,
    )
)
