"""Quotes (seed 004): line items, discounts, tax and totals; versions; manager approval.

Status flow: draft -> (submit) -> pending_approval when the total is above the organization's
threshold, else approved -> sent -> accepted | rejected. A manager (or admin) approves or sends
a pending quote back to draft. Editing a draft changes it in place; editing a quote awaiting
approval or approved voids the approval (back to draft); editing a sent or rejected quote
makes a new version (v2, ...) and keeps the old one unchanged; an accepted quote is final.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel import lists
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm_web.accounts.models import User
from crm_web.db import atomic, current_organization_id, current_tenant
from crm_web.errors import Conflict, NotFound, PermissionDenied, ValidationError, check_fields
from crm_web.extensions import db
from crm_web.formatting import locale, number
from crm_web.inputs import whole_number
from crm_web.labels import label
from crm_web.pipeline.amounts import parse_amount
from crm_web.pipeline.models import Quote, QuoteItem, SalesSettings
from crm_web.pipeline.opportunities import get_opportunity
from crm_web.sequences import allocate

EDITABLE_IN_PLACE = ("draft", "pending_approval", "approved")
REVISABLE = ("sent", "rejected")
CENT = Decimal("0.01")
MAX_ITEMS = 100
MAX_VALIDITY_DAYS = 365
MAX_TERMS = 5000


@dataclass(frozen=True)
class Line:
    """A line as entered: free-text product, quantity, unit price, discount %."""

    description: str
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal = Decimal("0")

    @property
    def total(self) -> Decimal:
        gross = self.quantity * self.unit_price
        return (gross * (100 - self.discount_percent) / 100).quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    total: Decimal


def compute_totals(lines: list[Line], discount_percent: Decimal, tax_rate: Decimal) -> Totals:
    """Line totals (after line discounts) summed; the quote discount, then tax on the rest."""
    subtotal = sum((line.total for line in lines), Decimal("0"))
    discount = (subtotal * discount_percent / 100).quantize(CENT, ROUND_HALF_UP)
    tax = ((subtotal - discount) * tax_rate / 100).quantize(CENT, ROUND_HALF_UP)
    return Totals(subtotal, discount, tax, subtotal - discount + tax)


def _decimal(value, field: str, *, low: Decimal, high: Decimal, errors: dict) -> Decimal:
    try:
        number = Decimal(str(value).strip()) if value not in (None, "") else Decimal("0")
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or not low <= number <= high:
        errors[field] = _("Enter a number from %(low)s to %(high)s.", low=low, high=high)
        return Decimal("0")
    return number.quantize(CENT, ROUND_HALF_UP)


def parse_lines(raw_lines: list[dict]) -> list[Line]:
    """Lines from form or JSON dicts; rows without a description and price are skipped."""
    lines, errors = [], {}
    for index, raw in enumerate(raw_lines):
        description = str(raw.get("description") or "").strip()
        if not description and raw.get("unit_price") in (None, ""):
            continue
        prefix = f"items-{index}-"
        if not description:
            errors[prefix + "description"] = _("Describe the product or service.")
        elif len(description) > 300:
            errors[prefix + "description"] = _("Keep it under 300 characters.")
        quantity = _decimal(
            raw.get("quantity") or "1",
            prefix + "quantity",
            low=CENT,
            high=Decimal("9999999999"),
            errors=errors,
        )
        try:
            unit_price = parse_amount(raw.get("unit_price"), prefix + "unit_price")
        except ValidationError as exc:
            errors.update(exc.fields)
            unit_price = Decimal("0")
        discount = _decimal(
            raw.get("discount_percent"),
            prefix + "discount_percent",
            low=Decimal("0"),
            high=Decimal("100"),
            errors=errors,
        )
        lines.append(Line(description, quantity, unit_price, discount))
    if not lines and not errors:
        errors["items"] = _("Add at least one line.")
    if len(lines) > MAX_ITEMS:
        errors["items"] = _("A quote has at most %(num)s lines.", num=MAX_ITEMS)
    check_fields(errors)
    return lines


def settings() -> SalesSettings:
    """The organization's sales settings (created with the organization)."""
    found = db.session.get(SalesSettings, current_organization_id())
    if found is None:
        raise NotFound(_("The organization has no sales settings."))
    return found


@atomic
def update_settings(
    *, quote_approval_threshold, default_tax_rate, quote_validity_days=None, quote_terms=None
) -> SalesSettings:
    """Change the approval threshold, the default tax rate and, when given, how long a new
    quote is valid and the terms printed under every quote."""
    errors: dict = {}
    threshold = parse_amount(quote_approval_threshold, "quote_approval_threshold")
    tax = _decimal(
        default_tax_rate, "default_tax_rate", low=Decimal("0"), high=Decimal("100"), errors=errors
    )
    days = None
    if quote_validity_days is not None:
        days = whole_number(str(quote_validity_days).strip())
        if days is None or not 1 <= days <= MAX_VALIDITY_DAYS:
            errors["quote_validity_days"] = _("Enter a number of days from 1 to %(most)s.") % {
                "most": MAX_VALIDITY_DAYS
            }
    if quote_terms is not None:
        quote_terms = quote_terms.strip()
        if len(quote_terms) > MAX_TERMS:
            errors["quote_terms"] = _("Keep the terms under %(most)s characters.") % {
                "most": number(MAX_TERMS)
            }
    check_fields(errors)
    found = settings()
    found.quote_approval_threshold = threshold
    found.default_tax_rate = tax
    if days is not None:
        found.quote_validity_days = days
    if quote_terms is not None:
        found.quote_terms = quote_terms
    db.session.flush()
    return found


def get_quote(quote_id: int, *, for_update: bool = False) -> Quote:
    stmt = (
        select(Quote)
        .where(Quote.id == quote_id, Quote.organization_id == current_organization_id())
        .options(selectinload(Quote.items))
    )
    if for_update:
        stmt = stmt.with_for_update(of=Quote)
    quote = db.session.scalar(stmt)
    if quote is None:
        raise NotFound(_("No such quote."))
    return quote


def versions(quote: Quote) -> list[Quote]:
    """Every version of this quote, newest first."""
    return list(
        db.session.scalars(
            select(Quote)
            .where(
                Quote.organization_id == current_organization_id(),
                Quote.quote_number == quote.quote_number,
            )
            .order_by(Quote.version.desc())
        )
    )


def quotes_for(opportunity_id: int) -> list[Quote]:
    """The current version of each quote of a deal."""
    return list(
        db.session.scalars(
            select(Quote)
            .where(
                Quote.organization_id == current_organization_id(),
                Quote.opportunity_id == opportunity_id,
                Quote.is_current,
            )
            .order_by(Quote.id.desc())
        )
    )


def _terms(title: str, discount_percent, tax_rate, valid_until) -> tuple:
    errors: dict = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = _("Give the quote a title.")
    elif len(title) > 200:
        errors["title"] = _("Keep the title under 200 characters.")
    discount = _decimal(
        discount_percent, "discount_percent", low=Decimal("0"), high=Decimal("100"), errors=errors
    )
    tax = _decimal(tax_rate, "tax_rate", low=Decimal("0"), high=Decimal("100"), errors=errors)
    if valid_until is not None and not isinstance(valid_until, date):
        errors["valid_until"] = _("Enter a date.")
    check_fields(errors)
    return title, discount, tax


def _fill(quote: Quote, lines: list[Line]) -> None:
    quote.items = [
        QuoteItem(
            organization_id=quote.organization_id,
            position=index,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            discount_percent=line.discount_percent,
            line_total=line.total,
        )
        for index, line in enumerate(lines, start=1)
    ]
    totals = compute_totals(lines, quote.discount_percent, quote.tax_rate)
    quote.subtotal = totals.subtotal
    quote.discount_total = totals.discount_total
    quote.tax_total = totals.tax_total
    quote.total = totals.total


@atomic
def create_quote(
    opportunity_id: int,
    *,
    title: str,
    lines: list[dict],
    discount_percent=0,
    tax_rate=None,
    valid_until: date | None = None,
    notes: str = "",
) -> Quote:
    """A draft quote (v1) for a deal, in the deal's currency."""
    opportunity = get_opportunity(opportunity_id)
    if tax_rate in (None, ""):
        tax_rate = settings().default_tax_rate
    title, discount, tax = _terms(title, discount_percent, tax_rate, valid_until)
    parsed = parse_lines(lines)
    number = allocate(opportunity.organization_id, "quote")
    quote = Quote(
        organization_id=opportunity.organization_id,
        quote_number=f"Q-{number:06d}",
        version=1,
        is_current=True,
        opportunity_id=opportunity.id,
        title=title,
        status="draft",
        currency=opportunity.currency,
        valid_until=valid_until,
        notes=(notes or "").strip(),
        discount_percent=discount,
        tax_rate=tax,
        approval_note="",
        created_by_id=current_tenant().user_id,
    )
    _fill(quote, parsed)
    db.session.add(quote)
    db.session.flush()
    return quote


@atomic
def update_quote(
    quote_id: int,
    *,
    title: str,
    lines: list[dict],
    discount_percent=0,
    tax_rate=0,
    valid_until: date | None = None,
    notes: str = "",
) -> Quote:
    """Edit a quote; returns the quote that now holds the edit (a new version for a sent one)."""
    quote = get_quote(quote_id, for_update=True)
    if not quote.is_current:
        raise Conflict(_("This is an old version; edit the current one."))
    if quote.status == "accepted":
        raise Conflict(_("An accepted quote is final; create a new quote instead."))
    title, discount, tax = _terms(title, discount_percent, tax_rate, valid_until)
    parsed = parse_lines(lines)
    if quote.status in REVISABLE:
        quote.is_current = False
        # The old version leaves the partial unique index before the new one enters it.
        db.session.flush()
        quote = Quote(
            organization_id=quote.organization_id,
            quote_number=quote.quote_number,
            version=quote.version + 1,
            is_current=True,
            opportunity_id=quote.opportunity_id,
            currency=quote.currency,
            created_by_id=current_tenant().user_id,
        )
        db.session.add(quote)
    quote.title = title
    quote.discount_percent = discount
    quote.tax_rate = tax
    quote.valid_until = valid_until
    quote.notes = (notes or "").strip()
    # Whatever was approved is not what is being sent any more.
    quote.status = "draft"
    quote.approved_by_id = None
    quote.approved_at = None
    quote.approval_note = ""
    quote.sent_at = None
    quote.decided_at = None
    _fill(quote, parsed)
    db.session.flush()
    return quote


def _current(quote_id: int, *statuses: str) -> Quote:
    quote = get_quote(quote_id, for_update=True)
    if not quote.is_current:
        raise Conflict(_("This is an old version of the quote."))
    if quote.status not in statuses:
        raise Conflict(
            _(
                "The quote is %(status)s; this needs it %(needed)s.",
                status=label(quote.status, "quote_status"),
                needed=lists.format_list(
                    [label(s, "quote_status") for s in statuses], "or", locale=str(locale())
                ),
            )
        )
    return quote


@atomic
def submit_quote(quote_id: int) -> Quote:
    """Ask for approval: above the threshold it waits for a manager, else it is approved."""
    quote = _current(quote_id, "draft")
    if quote.total > settings().quote_approval_threshold:
        quote.status = "pending_approval"
    else:
        quote.status = "approved"
        quote.approved_at = datetime.now(UTC)
        quote.approval_note = _("Below the approval threshold.")
    db.session.flush()
    return quote


@atomic
def review_quote(quote_id: int, *, acting_user: User, approve: bool, note: str = "") -> Quote:
    """A manager approves a pending quote, or sends it back to draft with a note."""
    if not acting_user.can("approve quotes"):
        raise PermissionDenied(_("Only a manager or an admin can approve quotes."))
    quote = _current(quote_id, "pending_approval")
    note = (note or "").strip()
    if not approve and not note:
        raise ValidationError(
            _("Say what needs to change."), {"note": _("Explain why it is sent back.")}
        )
    quote.approval_note = note
    if approve:
        quote.status = "approved"
        quote.approved_by_id = acting_user.id
        quote.approved_at = datetime.now(UTC)
    else:
        quote.status = "draft"
    db.session.flush()
    return quote


@atomic
def send_quote(quote_id: int) -> Quote:
    """Mark an approved quote as sent to the customer."""
    quote = _current(quote_id, "approved")
    quote.status = "sent"
    quote.sent_at = datetime.now(UTC)
    db.session.flush()
    return quote


@atomic
def record_decision(quote_id: int, *, accepted: bool) -> Quote:
    """The customer accepted or rejected the sent quote."""
    quote = _current(quote_id, "sent")
    quote.status = "accepted" if accepted else "rejected"
    quote.decided_at = datetime.now(UTC)
    db.session.flush()
    return quote
