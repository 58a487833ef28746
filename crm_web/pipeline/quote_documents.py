"""The quote as the customer reads it: who issues it, who it is for, and every figure formatted
in the organization's language. The quote page, the printable page and the PDF
(`crm_web.pipeline.quote_pdf`) all show this one object, so they never disagree.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale

from crm_web.accounts.models import Organization, User
from crm_web.customers.models import Customer
from crm_web.extensions import db
from crm_web.formatting import (
    format_long_date,
    format_money,
    format_percent,
    format_quantity,
)
from crm_web.i18n import DEFAULT_LANGUAGE, supported
from crm_web.pipeline.models import Quote, SalesSettings

DRAFT_STATUSES = ("draft", "pending_approval")


@dataclass(frozen=True)
class Party:
    """The company issuing the quote, or the customer it is addressed to."""

    name: str
    # Address lines, then the town and country, then how to reach them.
    lines: tuple[str, ...]
    tax_office: str = ""
    tax_number: str = ""


@dataclass(frozen=True)
class DocumentLine:
    position: int
    description: str
    quantity: str
    unit_price: str
    discount: str
    total: str


@dataclass(frozen=True)
class QuoteDocument:
    language: str
    quote_number: str
    version: int
    title: str
    deal_name: str
    issued: str
    valid_until: str
    prepared_by: str
    company: Party
    customer: Party
    lines: tuple[DocumentLine, ...]
    subtotal: str
    # "" when the quote has no discount of its own.
    discount_percent: str
    discount: str
    tax_rate: str
    tax: str
    total: str
    notes: str
    terms: str
    # Not approved yet: printed as a draft, never an offer.
    is_draft: bool = False

    @property
    def filename(self) -> str:
        return pdf_filename(self.quote_number, self.version)


def pdf_filename(quote_number: str, version: int) -> str:
    """The name a quote's PDF is downloaded, attached and kept as: Q-000042-v2.pdf."""
    return f"{quote_number}-v{version}.pdf"


def document_language(organization: Organization) -> str:
    """Quotes speak the organization's language."""
    return supported(organization.locale) or DEFAULT_LANGUAGE


def _zone(organization: Organization) -> ZoneInfo:
    try:
        return ZoneInfo(organization.timezone or "UTC")
    except ZoneInfoNotFoundError:
        return ZoneInfo("UTC")


def organization_today(organization: Organization) -> date:
    return datetime.now(_zone(organization)).date()


def issue_date(quote: Quote, organization: Organization) -> date:
    """The quote's date in the organization's time zone: when it was sent, else when this
    version was made."""
    moment = quote.sent_at or quote.created_at
    return (
        moment.astimezone(_zone(organization)).date()
        if moment
        else organization_today(organization)
    )


def valid_until(quote: Quote, organization: Organization, settings: SalesSettings) -> date:
    """The quote's own date, else its date plus the organization's validity period."""
    if quote.valid_until is not None:
        return quote.valid_until
    return issue_date(quote, organization) + timedelta(days=settings.quote_validity_days)


def _lines(*parts: str) -> tuple[str, ...]:
    """Non-empty lines; a multi-line address keeps its own line breaks."""
    lines = []
    for part in parts:
        lines.extend(line.strip() for line in (part or "").splitlines() if line.strip())
    return tuple(lines)


def company_party(organization: Organization) -> Party:
    contact = " · ".join(part for part in (organization.phone, organization.email) if part)
    return Party(
        name=organization.name,
        lines=_lines(organization.address, contact),
        tax_office=organization.tax_office,
        tax_number=organization.tax_number,
    )


def customer_party(customer: Customer, language: str) -> Party:
    """The customer's billing address: name, street, town and country, email."""
    country = Locale.parse(language).territories.get(customer.country, customer.country)
    town = ", ".join(part for part in (customer.city, country) if part)
    return Party(
        name=customer.display_name,
        lines=_lines(customer.address, town, customer.primary_email),
        tax_office=customer.tax_office,
        tax_number=customer.tax_number,
    )


def quote_document(quote: Quote, settings: SalesSettings) -> QuoteDocument:
    """The document of this quote version as it reads today."""
    organization = db.session.get(Organization, quote.organization_id)
    language = document_language(organization)
    currency = quote.currency
    customer = quote.opportunity.customer
    author = db.session.get(User, quote.created_by_id) if quote.created_by_id else None
    return QuoteDocument(
        language=language,
        quote_number=quote.quote_number,
        version=quote.version,
        title=quote.title,
        deal_name=quote.opportunity.name,
        issued=format_long_date(issue_date(quote, organization), language),
        valid_until=format_long_date(valid_until(quote, organization, settings), language),
        prepared_by=author.name if author else "",
        company=company_party(organization),
        customer=customer_party(customer, language),
        lines=tuple(
            DocumentLine(
                position=item.position,
                description=item.description,
                quantity=format_quantity(item.quantity, language),
                unit_price=format_money(item.unit_price, currency, language),
                discount=format_percent(item.discount_percent, language)
                if item.discount_percent
                else "",
                total=format_money(item.line_total, currency, language),
            )
            for item in quote.items
        ),
        subtotal=format_money(quote.subtotal, currency, language),
        discount_percent=format_percent(quote.discount_percent, language)
        if quote.discount_total
        else "",
        discount=format_money(-quote.discount_total, currency, language),
        tax_rate=format_percent(quote.tax_rate, language),
        tax=format_money(quote.tax_total, currency, language),
        total=format_money(quote.total, currency, language),
        notes=quote.notes,
        terms=settings.quote_terms,
        is_draft=quote.status in DRAFT_STATUSES,
    )
