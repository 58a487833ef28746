"""The email template library: templates with kept versions, starter templates, previews."""

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select

from crm_web.accounts.models import Organization
from crm_web.campaigns import content
from crm_web.campaigns.models import TEMPLATE_CATEGORIES, EmailTemplate, EmailTemplateVersion
from crm_web.customers.models import Customer
from crm_web.db import atomic, current_organization_id, current_tenant
from crm_web.errors import NotFound, check_fields, invalid
from crm_web.extensions import db
from crm_web.inputs import text_field
from crm_web.outbox import services as outbox
from crm_web.outbox.rendering import RenderedEmail

_STYLE = (
    "<style>body{font-family:Arial,sans-serif;color:#1f2937;background:#f3f4f6;margin:0}"
    ".wrap{max-width:600px;margin:0 auto;background:#ffffff;padding:24px}"
    "h1{color:#111827;font-size:24px}.button{display:inline-block;background:#2563eb;"
    "color:#ffffff;padding:10px 18px;border-radius:6px;text-decoration:none}"
    ".foot{color:#6b7280;font-size:12px;margin-top:24px}</style>"
)
_FOOT = (
    '<p class="foot">{{ organization_name }} · '
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a> · '
    '<a href="{{ preferences_url }}">Email preferences</a></p>'
)


def _page(body: str) -> str:
    return f'<html><head>{_STYLE}</head><body><div class="wrap">{body}{_FOOT}</div></body></html>'


# name, category, subject, preheader, body
STARTERS = (
    (
        "Newsletter",
        "newsletter",
        "News from {{ organization_name }}",
        "What is new this month",
        '<h1>Hello {{ customer.first_name | default("there") }},</h1>'
        "<p>Here is what happened at {{ organization_name }} this month.</p>"
        '<p><a class="button" href="https://example.com/news">Read the news</a></p>'
        '<p><a href="https://example.com/blog">Our blog</a> · '
        '<a href="https://example.com/events">Upcoming events</a></p>',
    ),
    (
        "Promotion",
        "promotion",
        '{{ customer.first_name | default("Friend") }}, 20% off this week',
        "A discount for our customers",
        '<h1>20% off, {{ customer.first_name | default("friend") }}</h1>'
        "<p>Use the code <strong>WELCOME20</strong> at checkout until Sunday.</p>"
        '<p><a class="button" href="https://example.com/shop">Shop now</a></p>',
    ),
    (
        "Event invitation",
        "event",
        "You are invited",
        "Join us in {{ customer.city | default('our city') }}",
        '<h1>Dear {{ customer.name | default("customer") }},</h1>'
        "<p>We would love to see you at our next event.</p>"
        '<p><a class="button" href="https://example.com/events/register">Register</a></p>',
    ),
    (
        "Birthday",
        "birthday",
        'Happy birthday, {{ customer.first_name | default("friend") }}!',
        "A small gift from us",
        '<h1>Happy birthday, {{ customer.first_name | default("friend") }}!</h1>'
        "<p>Everyone at {{ organization_name }} wishes you a wonderful day.</p>"
        '<p><a class="button" href="https://example.com/gift">Your gift</a></p>',
    ),
)


def list_templates() -> list[EmailTemplate]:
    return list(
        db.session.scalars(
            select(EmailTemplate)
            .where(
                EmailTemplate.organization_id == current_organization_id(),
                EmailTemplate.is_active,
            )
            .order_by(func.lower(EmailTemplate.name), EmailTemplate.id)
        )
    )


def get_template(template_id: int) -> EmailTemplate:
    template = db.session.scalar(
        select(EmailTemplate).where(
            EmailTemplate.id == template_id,
            EmailTemplate.organization_id == current_organization_id(),
            EmailTemplate.is_active,
        )
    )
    if template is None:
        raise NotFound(_("No such template."))
    return template


def get_version(version_id: int) -> EmailTemplateVersion:
    version = db.session.scalar(
        select(EmailTemplateVersion).where(
            EmailTemplateVersion.id == version_id,
            EmailTemplateVersion.organization_id == current_organization_id(),
        )
    )
    if version is None:
        raise NotFound(_("No such template version."))
    return version


def current_version(template: EmailTemplate) -> EmailTemplateVersion:
    return db.session.scalar(
        select(EmailTemplateVersion).where(
            EmailTemplateVersion.organization_id == template.organization_id,
            EmailTemplateVersion.template_id == template.id,
            EmailTemplateVersion.version == template.current_version,
        )
    )


def versions(template: EmailTemplate) -> list[EmailTemplateVersion]:
    """The template's versions, newest first."""
    return list(
        db.session.scalars(
            select(EmailTemplateVersion)
            .where(
                EmailTemplateVersion.organization_id == template.organization_id,
                EmailTemplateVersion.template_id == template.id,
            )
            .order_by(EmailTemplateVersion.version.desc())
        )
    )


def _clean_version(data: dict) -> dict:
    errors: dict[str, str] = {}
    clean = {
        "subject": text_field(data, "subject", errors, 300, required=True),
        "preheader": text_field(data, "preheader", errors, 300),
        "html": text_field(data, "html", errors, 200_000, required=True, strip=False),
        "text": text_field(data, "text", errors, 200_000, strip=False),
    }
    check_fields(errors)
    if not clean["text"].strip():
        clean["text"] = content.derived_text(clean["html"])
    content.check_syntax(clean["subject"], clean["html"], clean["text"])
    clean["links"] = content.trackable_links(clean["html"])
    return clean


def _add_version(template: EmailTemplate, number: int, clean: dict) -> EmailTemplateVersion:
    version = EmailTemplateVersion(
        organization_id=template.organization_id,
        template_id=template.id,
        version=number,
        created_by_id=current_tenant().user_id,
        **clean,
    )
    db.session.add(version)
    db.session.flush()
    return version


@atomic
def create_template(data: dict) -> EmailTemplate:
    """A new template with its first version."""
    errors: dict[str, str] = {}
    name = text_field(data, "name", errors, 120, required=True)
    category = data.get("category") or "custom"
    if category not in TEMPLATE_CATEGORIES:
        errors["category"] = _("Choose a category.")
    check_fields(errors)
    clean = _clean_version(data)
    template = EmailTemplate(
        organization_id=current_organization_id(),
        name=name,
        category=category,
        current_version=1,
        created_by_id=current_tenant().user_id,
    )
    db.session.add(template)
    db.session.flush()
    _add_version(template, 1, clean)
    return template


@atomic
def save_version(template_id: int, data: dict) -> EmailTemplateVersion:
    """Save the template's content as a new version (the old ones stay, as sent)."""
    template = db.session.scalar(
        select(EmailTemplate)
        .where(
            EmailTemplate.id == template_id,
            EmailTemplate.organization_id == current_organization_id(),
            EmailTemplate.is_active,
        )
        .with_for_update()
    )
    if template is None:
        raise NotFound(_("No such template."))
    clean = _clean_version(data)
    if data.get("name"):
        errors: dict[str, str] = {}
        template.name = text_field(data, "name", errors, 120, required=True)
        check_fields(errors)
    template.current_version += 1
    return _add_version(template, template.current_version, clean)


@atomic
def add_starter_templates() -> int:
    """The four starter templates (newsletter, promotion, event invitation, birthday), unless
    the library has templates with those names; returns how many were added."""
    existing = {template.name for template in list_templates()}
    added = 0
    for name, category, subject, preheader, body in STARTERS:
        if name in existing:
            continue
        create_template(
            {
                "name": name,
                "category": category,
                "subject": subject,
                "preheader": preheader,
                "html": _page(body),
            }
        )
        added += 1
    return added


@atomic
def send_test(template_id: int, addresses: str) -> EmailTemplateVersion:
    """Send the template's current version, with sample data, to up to ten addresses."""
    version = current_version(get_template(template_id))
    wanted = [a.strip() for a in addresses.replace(";", ",").split(",") if a.strip()]
    if not wanted or len(wanted) > 10 or any(a.count("@") != 1 or " " in a for a in wanted):
        raise invalid({"addresses": _("Give one to ten email addresses, separated by commas.")})
    outbox.queue("campaign_test", [outbox.Recipient(a) for a in wanted], source_id=version.id)
    return version


def organization_name() -> str:
    return db.session.scalar(
        select(Organization.name).where(Organization.id == current_organization_id())
    )


def sample_context(**customer) -> dict:
    """The context of a preview or test send: a sample customer (or the given one)."""
    values = customer or {
        "first_name": "Ayşe",
        "last_name": "Yılmaz",
        "company": "",
        "city": "İzmir",
        "email": "ayse@example.com",
    }
    links = ["#"]
    return {
        "customer": content.customer_fields(**values),
        "organization_name": organization_name(),
        "unsubscribe_url": "#unsubscribe",
        "preferences_url": "#preferences",
        "survey_url": "#survey",
        "links": links,
    }


@dataclass(frozen=True)
class Preview:
    email: RenderedEmail | None
    error: str = ""


def customer_values(code: str) -> dict | None:
    """The merge fields of the customer with this code (a preview as that customer), or None."""
    customer = db.session.scalar(
        select(Customer).where(
            Customer.organization_id == current_organization_id(),
            Customer.customer_code == code.strip().upper(),
        )
    )
    if customer is None:
        return None
    return {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "company": customer.company_name,
        "city": customer.city,
        "email": customer.primary_email,
    }


def preview(version: EmailTemplateVersion, **customer) -> Preview:
    """The version rendered for a sample (or given) customer; a template error says why."""
    prepared = prepare(version)
    context = {**sample_context(**customer), "links": list(prepared.links)}
    try:
        return Preview(content.render(prepared, context))
    except Exception as exc:  # noqa: BLE001 (shown to the marketer editing the template)
        return Preview(None, f"{type(exc).__name__}: {exc}")


def prepare(version: EmailTemplateVersion) -> content.Prepared:
    return content.prepare(
        version.id,
        version.subject,
        version.preheader,
        version.html,
        version.text,
        tuple(version.links),
    )
