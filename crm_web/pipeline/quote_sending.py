"""A quote leaves the house: its PDF to download, and "send to customer" by email.

Sending makes the PDF once, in the transaction that marks the quote sent, and keeps it among
the customer's documents (category "quote", `quotes.document_id`). The outbox message names
that document by id: the row stays small, the worker only reads a stored file (nothing is
drawn in the delivery loop), and the customer receives this version as it was, whatever
changes later (a revision is a new version; company details or the customer's address may
change before the worker gets to it). Emailing a sent quote again attaches the same file.
"""

import io
from datetime import UTC, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from crm_web.accounts.models import Organization, User
from crm_web.customer360.models import CustomerDocument
from crm_web.customer360.services import upload_document
from crm_web.db import atomic, current_organization_id
from crm_web.errors import Conflict
from crm_web.extensions import db
from crm_web.formatting import format_long_date
from crm_web.outbox.services import Recipient, queue, undeliverable_reason
from crm_web.pipeline.models import Quote
from crm_web.pipeline.quote_documents import (
    document_language,
    issue_date,
    organization_today,
    pdf_filename,
    quote_document,
)
from crm_web.pipeline.quote_pdf import render_quote_pdf
from crm_web.pipeline.quotes import get_quote, settings
from crm_web.storage import get_storage

# An approved quote goes out for the first time; a sent one may be emailed again.
SENDABLE = ("approved", "sent")
MESSAGE_KIND = "quote"


def draw_pdf(quote: Quote) -> bytes:
    """The quote's PDF as it reads now."""
    return render_quote_pdf(quote_document(quote, settings()))


def sent_document(quote: Quote) -> CustomerDocument | None:
    """The PDF the customer was sent, if this version was emailed and the file is still kept."""
    if quote.document_id is None:
        return None
    return db.session.scalar(
        select(CustomerDocument).where(
            CustomerDocument.id == quote.document_id,
            CustomerDocument.organization_id == current_organization_id(),
        )
    )


def pdf_for_download(quote: Quote) -> tuple[str, bytes]:
    """(filename, bytes): the copy the customer was sent when there is one, else drawn now."""
    document = sent_document(quote)
    if document is not None:
        try:
            with get_storage().open(document.storage_key) as stored:
                return document.filename, stored.read()
        except FileNotFoundError:
            pass  # the file is gone from storage: the quote version itself still prints
    return pdf_filename(quote.quote_number, quote.version), draw_pdf(quote)


def refusal(quote: Quote) -> str:
    """Why this quote cannot be emailed now ("" when it can): for the page and the service."""
    if not quote.is_current:
        return _("This is an old version of the quote; send the current one.")
    if quote.status == "draft":
        return _("Submit the quote for approval before sending it.")
    if quote.status == "pending_approval":
        return _("The quote is waiting for a manager's approval; send it once it is approved.")
    if quote.status not in SENDABLE:
        return _("The customer has already decided on this quote; revise it to send a new one.")
    organization = db.session.get(Organization, quote.organization_id)
    if quote.valid_until is not None and quote.valid_until < organization_today(organization):
        return _(
            "The quote was valid until %(date)s: edit it with a new date (it needs approving "
            "again), then send it."
        ) % {"date": format_long_date(quote.valid_until, document_language(organization))}
    customer = quote.opportunity.customer
    if not customer.primary_email:
        return _(
            "%(customer)s has no email address: add one on the customer's page, then send."
        ) % {"customer": customer.display_name}
    return undeliverable_reason(customer.primary_email)


def _keep_pdf(quote: Quote) -> CustomerDocument:
    """Draw the PDF and keep it as the customer's document (its file goes if we roll back)."""
    data = draw_pdf(quote)
    return upload_document(
        quote.opportunity.customer_id,
        category="quote",
        filename=pdf_filename(quote.quote_number, quote.version),
        stream=io.BytesIO(data),
    )


@atomic
def email_quote(quote_id: int, *, acting_user: User) -> Quote:
    """Email the quote to its customer with the PDF attached; an approved quote becomes sent."""
    quote = get_quote(quote_id, for_update=True)
    reason = refusal(quote)
    if reason:
        raise Conflict(reason)
    customer = quote.opportunity.customer
    organization = db.session.get(Organization, quote.organization_id)
    if quote.status == "approved":
        quote.status = "sent"
        quote.sent_at = datetime.now(UTC)
        if quote.valid_until is None:
            # The customer's copy names a date; it is the version's from now on.
            quote.valid_until = issue_date(quote, organization) + timedelta(
                days=settings().quote_validity_days
            )
        db.session.flush()
    document = sent_document(quote)
    if document is None:
        document = _keep_pdf(quote)
        quote.document_id = document.id
        db.session.flush()
    queue(
        MESSAGE_KIND,
        [
            Recipient(
                customer.primary_email,
                customer.display_name,
                customer_id=customer.id,
                language=document_language(organization),
            )
        ],
        source_id=quote.id,
        context={"document_id": document.id, "sent_by_id": acting_user.id},
    )
    return quote
