"""Leads: capture (by hand, API, public web form), the qualification workflow and conversion.

Every capture numbers the lead, routes it by the assignment rules and scores it, in the same
transaction. Conversion makes (or finds) the customer and optionally opens an opportunity, in one
transaction with the lead's own change, so it happens entirely or not at all.

Over 600 lines on purpose: capture, qualification and conversion share the numbering, routing
and scoring steps of one transaction; assignment rules and scoring already live apart
(assignment.py, scoring.py).
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import phonenumbers
from babel import lists
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crm_web import formatting, i18n, labels
from crm_web.accounts.models import User
from crm_web.accounts.services import organization_id_for_slug
from crm_web.customers import validation
from crm_web.customers.models import Customer
from crm_web.customers.services import create_customer, find_duplicates, get_customer
from crm_web.customers.validation import FieldError
from crm_web.db import atomic, current_organization_id, current_tenant, set_tenant
from crm_web.errors import Conflict, NotFound, Throttled, ValidationError, check_fields, invalid
from crm_web.extensions import db
from crm_web.inputs import whole_number
from crm_web.leads import assignment, scoring
from crm_web.leads.fields import FIELDS, NAMES
from crm_web.leads.models import (
    CAPTURE_CHANNELS,
    LEAD_SOURCES,
    LEAD_STATUSES,
    OPEN_STATUSES,
    Lead,
    LeadSettings,
)
from crm_web.pagination import Page, keyset_page
from crm_web.pipeline import opportunities
from crm_web.pipeline.amounts import parse_amount
from crm_web.privacy.audit import record
from crm_web.redis_client import get_redis, when_redis_down
from crm_web.sequences import allocate, document_number

LEAD_FIELDS = NAMES
BANT_FIELDS = ("budget", "authority", "need", "timeline")
WEB_FORM_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "title",
    "company_size",
    "timeline",
    "need",
)
# A field no person sees (hidden by CSS); bots that fill every input fill this one too.
HONEYPOT_FIELD = "fax_number"
WEB_FORM_MAX_PER_IP = 10
WEB_FORM_WINDOW_SECONDS = 600
# field -> the most characters it takes, for the free-text fields.
TEXT_LIMITS = {f.name: f.max_length for f in FIELDS if f.kind == "text"}
# Allowed moves; "converted" is reached only through convert_lead.
TRANSITIONS = {
    "new": ("contacted", "qualified", "disqualified"),
    "contacted": ("qualified", "disqualified"),
    "qualified": ("disqualified",),
    "disqualified": ("new",),
    "converted": (),
}
STATUS_LABELS = labels.LEAD_STATUS
# field -> (allowed values, the value when none is given)
CHOICES = {f.name: (f.values, f.default) for f in FIELDS if f.kind == "choice"}
REQUIRED = _l("This field is required.")
EMAIL_OR_PHONE = _l("Give an email address or a phone number.")
PHONE_ERROR = _l("Enter a valid phone number, with its country code (+44 20 7946 0958).")
DISQUALIFY_REASON = _l("Give the reason for disqualifying.")
MAX_REASON = 2000
CONVERTED = _l("This lead is converted; edit its customer instead.")
LEAD_NUMBER = re.compile(r"^lead-\d+$", re.IGNORECASE)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# Settings


# What the web form says once sent, until the organization words it its own way.
DEFAULT_THANK_YOU = _l("Thank you! We will be in touch shortly.")


def set_up_organization(organization_id: int) -> bool:
    """Give an organization its lead settings and default scoring rules, once, in its language;
    True if it did."""
    with i18n.organization_language(organization_id):
        thank_you = str(DEFAULT_THANK_YOU)
    inserted = db.session.execute(
        pg_insert(LeadSettings)
        .values(
            organization_id=organization_id,
            web_form_enabled=False,
            web_form_thank_you=thank_you,
            auto_assign=True,
        )
        .on_conflict_do_nothing()
        .returning(LeadSettings.organization_id)
    ).scalar()
    if inserted is None:
        return False
    record(
        db.session,
        organization_id=organization_id,
        action="create",
        table_name="lead_settings",
        row_id=organization_id,
        new={"web_form_enabled": False, "auto_assign": True},
    )
    scoring.add_default_rules(organization_id)
    db.session.flush()
    return True


@atomic
def get_settings() -> LeadSettings:
    """The organization's lead settings (set up on first use for organizations older than leads)."""
    organization_id = current_organization_id()
    settings = db.session.get(LeadSettings, organization_id)
    if settings is None:
        set_up_organization(organization_id)
        settings = db.session.get(LeadSettings, organization_id)
    return settings


@atomic
def update_settings(*, web_form_enabled: bool, web_form_thank_you: str, auto_assign: bool):
    """Switch the public form and automatic assignment on or off."""
    thank_you = web_form_thank_you.strip()
    if not thank_you or len(thank_you) > 1000:
        raise invalid(
            {"web_form_thank_you": _("Write a thank-you message of at most 1000 characters.")}
        )
    settings = get_settings()
    settings.web_form_enabled = bool(web_form_enabled)
    settings.web_form_thank_you = thank_you
    settings.auto_assign = bool(auto_assign)
    return settings


# Reading


def get_lead(lead_id: int, *, for_update: bool = False) -> Lead:
    """The lead with this id in the current organization, or NotFound."""
    stmt = select(Lead).where(Lead.id == lead_id, Lead.organization_id == current_organization_id())
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    lead = db.session.scalar(stmt)
    if lead is None:
        raise NotFound(_("No such lead."))
    return lead


def search_leads(
    *,
    q: str = "",
    status: str = "",
    source: str = "",
    assigned_to: str = "",
    band: str = "",
    sort: str = "newest",
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Leads matching the filters, newest or best-scored first, one keyset page at a time.

    `assigned_to` is a user id, "me" or "none"; `band` a score band such as "60-79".
    """
    stmt = select(Lead).where(Lead.organization_id == current_organization_id())
    q = q.strip()
    if LEAD_NUMBER.match(q):
        stmt = stmt.where(Lead.lead_number == q.upper())
    elif EMAIL.match(q):
        # A whole address: the email index, not a trigram scan full of common trigrams.
        stmt = stmt.where(Lead.email == q.lower())
    elif q:
        # Through the owner's lookup: the app role could not use the trigram index (see 0006);
        # it folds the text with crm_fold() as the search column is (0026).
        stmt = stmt.where(Lead.id.in_(select(func.lead_search_ids(q).column_valued())))
    if status in LEAD_STATUSES:
        stmt = stmt.where(Lead.status == status)
    elif status == "open":
        stmt = stmt.where(Lead.status.in_(OPEN_STATUSES))
    if source in LEAD_SOURCES:
        stmt = stmt.where(Lead.source == source)
    if assigned_to == "me":
        stmt = stmt.where(Lead.assigned_to_id == current_tenant().user_id)
    elif assigned_to == "none":
        stmt = stmt.where(Lead.assigned_to_id.is_(None))
    elif (assignee_id := whole_number(assigned_to)) is not None:
        stmt = stmt.where(Lead.assigned_to_id == assignee_id)
    for name, low, high in scoring.BANDS:
        if band == name:
            stmt = stmt.where(Lead.lead_score.between(low, high))
    columns = (Lead.lead_score, Lead.id) if sort == "score" else (Lead.id,)
    return keyset_page(stmt, columns, cursor=cursor, limit=min(max(limit, 1), 200))


# Validation


def normalize_phone(phone: str, country: str = "") -> str:
    """The number in E.164 (+905321234567), read with the country's conventions if it has no +."""
    phone = phone.strip()
    if not phone:
        return ""
    try:
        number = phonenumbers.parse(phone, country or None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise FieldError(str(PHONE_ERROR))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _budget(value):
    if value in (None, ""):
        return None
    try:
        return parse_amount(value, "budget").quantize(Decimal("0.01"))
    except ValidationError as exc:
        raise FieldError(exc.fields["budget"]) from None


def check_field(name: str, value, country: str = ""):
    """One field of a lead (a name in LEAD_FIELDS) checked and normalised, or FieldError; a
    phone number without + is read in `country`, the lead's (checked) country."""
    if name == "budget":
        return _budget(value)
    text = str(value or "").strip()
    if name in TEXT_LIMITS:
        if len(text) > TEXT_LIMITS[name]:
            raise FieldError(_("Keep this under %(num)s characters.", num=TEXT_LIMITS[name]))
        if name == "website" and text and not re.match(r"^https?://", text, re.IGNORECASE):
            text = "https://" + text
        return text
    if name in CHOICES:
        allowed, default = CHOICES[name]
        if (text or default) not in allowed:
            raise FieldError(_("Choose one of the listed values."))
        return text or default
    if name == "country":
        text = text.upper()
        if text and text not in phonenumbers.SUPPORTED_REGIONS:
            raise FieldError(_("Use a two-letter country code such as TR or GB."))
        return text
    if name == "email":
        return validation.normalize_email(text)
    if name == "phone":
        return normalize_phone(text, country)
    raise KeyError(name)


def check_field_of(name: str):
    """check_field for one field, as a parser of single values (a column of a file)."""
    return lambda value: check_field(name, value)


def _clean(values: dict) -> dict:
    """Every lead field checked and normalised; one ValidationError lists all problems."""
    errors: dict[str, str] = {}
    cleaned = {}
    try:
        country = check_field("country", values.get("country"))
    except FieldError as exc:
        errors["country"], country = str(exc), ""
    for name in LEAD_FIELDS:
        try:
            cleaned[name] = check_field(name, values.get(name), country)
        except FieldError as exc:
            errors[name] = str(exc)
    for name in ("first_name", "last_name"):
        if not cleaned.get(name) and name not in errors:
            errors[name] = str(REQUIRED)
    if not errors and not cleaned["email"] and not cleaned["phone"]:
        errors["email"] = str(EMAIL_OR_PHONE)
    check_fields(errors)
    return cleaned


def lead_number(number: int) -> str:
    """The number of the organization's n-th lead: LEAD-000042."""
    return document_number("LEAD", number)


def _fields_of(lead: Lead) -> dict:
    return {name: getattr(lead, name) for name in LEAD_FIELDS}


def _check_editable(lead: Lead) -> None:
    if lead.status == "converted":
        raise Conflict(str(CONVERTED))


# Capture and editing


@atomic
def create_lead(
    *, captured_via: str = "manual", assigned_to_id: int | None = None, **values
) -> Lead:
    """A new lead, numbered, routed by the assignment rules (unless given an owner) and scored."""
    if captured_via not in CAPTURE_CHANNELS:
        raise ValidationError(_("Unknown capture channel %(channel)r.", channel=captured_via))
    unknown = set(values) - set(LEAD_FIELDS)
    if unknown:
        raise invalid(dict.fromkeys(sorted(unknown), _("Unknown field.")))
    cleaned = _clean(values)
    owner = assignment.active_user(assigned_to_id, "assigned_to_id") if assigned_to_id else None
    settings = get_settings()
    organization_id = current_organization_id()
    lead = Lead(
        organization_id=organization_id,
        lead_number=lead_number(allocate(organization_id, "lead")),
        captured_via=captured_via,
        status="new",
        status_changed_at=datetime.now(UTC),
        form_submissions=1 if captured_via == "web_form" else 0,
        created_by_id=current_tenant().user_id,
        **cleaned,
    )
    db.session.add(lead)
    db.session.flush()
    if owner is not None:
        assignment.record_assignment(lead, owner.id, method="manual", note="Chosen at capture")
    elif settings.auto_assign:
        assignment.apply_rules(lead)
    return scoring.score_lead(lead)


@atomic
def update_lead(lead_id: int, **values) -> Lead:
    """Change a lead's details (any subset of LEAD_FIELDS) and rescore it."""
    lead = get_lead(lead_id, for_update=True)
    _check_editable(lead)
    unknown = set(values) - set(LEAD_FIELDS)
    if unknown:
        raise invalid(dict.fromkeys(sorted(unknown), _("Unknown field.")))
    for name, value in _clean({**_fields_of(lead), **values}).items():
        setattr(lead, name, value)
    return scoring.score_lead(lead)


def _throttle_web_form(organization_id: int, client_ip: str) -> None:
    if _web_form_attempts(organization_id, client_ip) > current_app.config.get(
        "LEAD_FORM_MAX_PER_IP", WEB_FORM_MAX_PER_IP
    ):
        raise Throttled(_("Too many submissions from your address. Please try again later."))


# Fails open without Redis (counted as a first attempt), as the public ticket form does: turning
# every visitor away during an outage loses real leads, and the honeypot still stops simple bots.
@when_redis_down(1, "lead form rate limit: allowed")
def _web_form_attempts(organization_id: int, client_ip: str) -> int:
    window = current_app.config.get("LEAD_FORM_WINDOW_SECONDS", WEB_FORM_WINDOW_SECONDS)
    key = f"crm:lead-form:{organization_id}:{client_ip}"
    pipe = get_redis().pipeline()
    # SET NX starts the window with the first attempt only.
    pipe.set(key, 0, ex=window, nx=True)
    pipe.incr(key)
    return pipe.execute()[1]


def web_form_organization(slug: str) -> LeadSettings:
    """The settings of the organization whose public form this is, made the current tenant."""
    organization_id = organization_id_for_slug(slug)
    if organization_id is not None:
        set_tenant(organization_id)
        settings = db.session.get(LeadSettings, organization_id)
        if settings is not None and settings.web_form_enabled:
            return settings
    set_tenant(None)
    raise NotFound(_("There is no such form."))


@atomic
def capture_web_form(slug: str, values: dict, *, client_ip: str) -> Lead | None:
    """A submission of an organization's public form: a new lead, or another visit of an open one.

    Rate-limited per address; a filled-in honeypot is accepted silently and dropped (None).
    """
    settings = web_form_organization(slug)
    _throttle_web_form(settings.organization_id, client_ip)
    if str(values.get(HONEYPOT_FIELD) or "").strip():
        return None
    fields = {name: values.get(name, "") for name in WEB_FORM_FIELDS}
    # The form needs an email (to answer, and to recognise a returning visitor).
    errors = {} if str(fields["email"]).strip() else {"email": str(REQUIRED)}
    try:
        email = _clean(fields)["email"]
    except ValidationError as exc:
        errors = {**exc.fields, **errors}
    check_fields(errors)
    returning = db.session.scalar(
        select(Lead)
        .where(
            Lead.organization_id == settings.organization_id,
            Lead.email == email,
            Lead.status.in_(OPEN_STATUSES),
        )
        .order_by(Lead.id.desc())
        .limit(1)
        .with_for_update()
    )
    if returning is None:
        return create_lead(captured_via="web_form", source="web_form", **fields)
    returning.form_submissions += 1
    message = str(fields["need"]).strip()
    if message and message not in returning.need:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d")
        returning.notes = f"{returning.notes}\n[{stamp}, web form] {message}".strip()[:10_000]
    return scoring.score_lead(returning)


@atomic
def reassign_lead(lead_id: int, user_id: int | None, *, note: str = "") -> Lead:
    """Give the lead to another user (or nobody), by hand; the assignment history keeps it."""
    lead = get_lead(lead_id, for_update=True)
    _check_editable(lead)
    if user_id is not None:
        assignment.active_user(user_id, "assigned_to_id")
    if user_id == lead.assigned_to_id:
        raise invalid({"assigned_to_id": _("The lead is already assigned to this user.")})
    assignment.record_assignment(lead, user_id, method="manual", note=note.strip())
    return lead


@atomic
def activities_changed(lead_id: int) -> Lead:
    """Refresh a lead's activity figures and rescore it (the activities domain calls this).

    A completed activity on a new lead also means it has been contacted.
    """
    from crm_web.activities.models import Activity

    lead = get_lead(lead_id, for_update=True)
    count, last_completed = db.session.execute(
        select(
            func.count().filter(Activity.status != "cancelled"),
            func.max(Activity.completed_at).filter(Activity.status == "completed"),
        ).where(Activity.organization_id == lead.organization_id, Activity.lead_id == lead.id)
    ).one()
    lead.activity_count = count
    lead.last_activity_at = last_completed
    if last_completed is not None and lead.status == "new":
        _set_status(lead, "contacted")
    return scoring.score_lead(lead)


# Workflow


def _set_status(lead: Lead, status: str, reason: str = "") -> None:
    lead.status = status
    lead.status_changed_at = datetime.now(UTC)
    lead.disqualified_reason = reason if status == "disqualified" else ""


def _transition_error(lead: Lead, status: str) -> Conflict:
    allowed = TRANSITIONS[lead.status]
    if status == "converted":
        hint = _("Convert a qualified lead with Convert.") if lead.status != "converted" else ""
    elif allowed:
        hint = _(
            "It can become %(statuses)s.",
            statuses=lists.format_list(
                [_status(s) for s in allowed], "or", locale=str(formatting.locale())
            ),
        )
    else:
        hint = _("Its status is final.")
    refusal = _(
        "A %(status)s lead cannot become %(wanted)s.",
        status=_status(lead.status),
        wanted=_status(status),
    )
    return Conflict(f"{refusal} {hint}".strip(), {"status": hint or _("Its status is final.")})


def _status(status: str) -> str:
    """A lead status's name inside a sentence, in the reader's language."""
    return formatting.lowercase(str(STATUS_LABELS[status]))


@atomic
def change_status(lead_id: int, status: str, *, reason: str = "") -> Lead:
    """Move a lead along new → contacted → qualified, or disqualify it (with a reason) or reopen it."""
    if status not in LEAD_STATUSES:
        raise invalid(
            {"status": _("Choose one of: %(choices)s.", choices=", ".join(LEAD_STATUSES))}
        )
    lead = get_lead(lead_id, for_update=True)
    if status == lead.status:
        raise Conflict(_("The lead is already %(status)s.", status=_status(status)))
    if status not in TRANSITIONS[lead.status]:
        raise _transition_error(lead, status)
    reason = reason.strip()
    if status == "disqualified" and not reason:
        raise ValidationError(
            _("Say why the lead is disqualified."), {"reason": str(DISQUALIFY_REASON)}
        )
    if len(reason) > MAX_REASON:
        raise invalid({"reason": _("Keep it under %(num)s characters.", num=MAX_REASON)})
    _set_status(lead, status, reason)
    return lead


@atomic
def qualify_lead(lead_id: int, *, status: str = "qualified", reason: str = "", **bant) -> Lead:
    """Record BANT answers and settle the lead as qualified (or disqualified with a reason)."""
    unknown = set(bant) - set(BANT_FIELDS)
    if unknown:
        raise invalid(dict.fromkeys(sorted(unknown), _("Unknown field.")))
    if status not in ("qualified", "disqualified"):
        raise invalid({"status": _("Qualify as qualified or disqualified.")})
    if bant:
        update_lead(lead_id, **bant)
    return change_status(lead_id, status, reason=reason)


# Conversion


@dataclass(frozen=True)
class CustomerMatch:
    """A customer who may be the lead, and what they share: "email" or only "phone"."""

    customer: Customer
    by: str

    @property
    def strong(self) -> bool:
        """The same email: very likely the same person. A phone number alone is often shared
        (a switchboard, a family), so it is offered, never assumed."""
        return self.by == "email"


def matching_customer(lead: Lead) -> CustomerMatch | None:
    """The customer with the lead's email, else one with its phone number: the customers
    module's own duplicate lookup, the one creating a customer makes."""
    for by, emails, phones in (("email", [lead.email], []), ("phone", [], [lead.phone])):
        found = find_duplicates(emails, phones, limit=1)
        if found:
            return CustomerMatch(found[0], by)
    return None


def converted_customer(lead: Lead) -> Customer | None:
    """The customer a converted lead became (or was linked to)."""
    if lead.converted_customer_id is None:
        return None
    return db.session.scalar(
        select(Customer).where(
            Customer.id == lead.converted_customer_id,
            Customer.organization_id == current_organization_id(),
        )
    )


def _active_owner(lead: Lead) -> int | None:
    """The lead's assignee, to own what it becomes, unless they have left since."""
    if lead.assigned_to_id is None:
        return None
    return db.session.scalar(
        select(User.id).where(
            User.id == lead.assigned_to_id,
            User.organization_id == lead.organization_id,
            User.is_active,
        )
    )


def _customer_from(
    lead: Lead, *, owner_id: int | None, with_opportunity: bool, source: str, allow_duplicate: bool
) -> Customer:
    """A new customer made of the lead, through the customers module's own create (the same
    checks, normalisation, numbering and consent history as any other new customer)."""
    data = {
        "customer_type": "company" if lead.company else "person",
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "company_name": lead.company,
        # A company customer's contact person: the lead's name, title, email and phone.
        "job_title": lead.title,
        "primary_email": lead.email,
        "primary_phone": lead.phone,
        "website": lead.website,
        "industry": lead.industry,
        "company_size": lead.company_size,
        "lead_source": lead.source,
        "city": lead.city,
        "country": lead.country,
        "lifecycle_stage": "opportunity" if with_opportunity else "customer",
        # A lead form asks for no marketing consent.
        "email_opt_in": False,
        "sms_opt_in": False,
        "owner_id": owner_id,
    }
    try:
        return create_customer(data, source=source, allow_duplicate=allow_duplicate)
    except ValidationError as exc:
        raise ValidationError(
            _("The lead cannot become a customer as it is: %(problem)s", problem=exc.message),
            {
                f"customer_{name}": f"{name.replace('_', ' ').capitalize()}: {message}"
                for name, message in exc.fields.items()
            },
        ) from None


@atomic
def convert_lead(
    lead_id: int,
    *,
    customer_id: int | None = None,
    create_new_customer: bool = False,
    opportunity: dict | None = None,
    source: str = "form",
) -> Lead:
    """Turn a qualified lead into a customer (a given one, a match by email/phone, or a new one)
    and optionally an opportunity, all in this one transaction; a second conversion is refused.
    `source` is where the request came from ("form" or "api"), as the new customer records it."""
    lead = get_lead(lead_id, for_update=True)
    if lead.status == "converted":
        raise Conflict(_("This lead has already been converted."))
    if lead.status != "qualified":
        raise Conflict(
            _(
                "Only a qualified lead can be converted; this one is %(status)s.",
                status=_status(lead.status),
            ),
            {"status": _("Qualify the lead first.")},
        )
    owner_id = _active_owner(lead)
    if customer_id:
        try:
            customer = get_customer(customer_id)
        except NotFound:
            raise invalid({"customer_id": _("No such customer.")}) from None
    else:
        match = None if create_new_customer else matching_customer(lead)
        customer = match.customer if match else None
        if customer is None:
            customer = _customer_from(
                lead,
                owner_id=owner_id,
                with_opportunity=opportunity is not None,
                source=source,
                # Asked for a new customer although one has the email or phone.
                allow_duplicate=create_new_customer,
            )
    deal = None
    if opportunity is not None:
        try:
            deal = opportunities.create_opportunity(
                customer_id=customer.id,
                lead_id=lead.id,
                owner_id=owner_id,
                source=lead.source,
                **opportunity,
            )
        except ValidationError as exc:
            raise ValidationError(
                exc.message, {f"opportunity_{name}": text for name, text in exc.fields.items()}
            ) from None
    _set_status(lead, "converted")
    lead.converted_customer_id = customer.id
    lead.converted_opportunity_id = deal.id if deal else None
    lead.converted_at = datetime.now(UTC)
    return lead
