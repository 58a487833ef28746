"""The organization as a company: the name, address, contact and tax details its quotes print.

An admin edits them under Company (`/admin/company`). Phones are checked with phonenumbers
(national numbers read in the organization's country, from its time zone) and kept spaced as
printed; the tax number is kept as written (a Turkish VKN, a European VAT number...).
"""

import re

from flask_babel import gettext as _

from crm_web.accounts.models import Organization
from crm_web.customers.validation import (
    FieldError,
    normalize_email,
    normalize_phone,
    region_for_timezone,
)
from crm_web.db import atomic, current_organization_id
from crm_web.errors import NotFound, check_fields
from crm_web.extensions import db

# Column lengths (migrations 0001 and 0024b).
LENGTHS = {"name": 200, "address": 500, "phone": 30, "email": 254, "tax_office": 100}
ADDRESS_LINES = 4
TAX_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./-]{1,18}[A-Za-z0-9]")


def get_company() -> Organization:
    """The signed-in organization, read afresh (not the copy cached with the user)."""
    organization = db.session.get(Organization, current_organization_id())
    if organization is None:
        raise NotFound("No such organization.")
    return organization


def _too_long(errors: dict, name: str, value: str) -> None:
    if len(value) > LENGTHS[name]:
        errors[name] = _("Keep it under %(most)s characters.") % {"most": LENGTHS[name]}


@atomic
def update_company(
    *, name: str, address: str, phone: str, email: str, tax_office: str, tax_number: str
) -> Organization:
    """Check and save the company details; every wrong field is named at once."""
    organization = get_company()
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = _("Give the company's name.")
    _too_long(errors, "name", name)
    lines = [line.strip() for line in (address or "").splitlines() if line.strip()]
    address = "\n".join(lines)
    if len(lines) > ADDRESS_LINES:
        errors["address"] = _("Keep the address to %(most)s lines.") % {"most": ADDRESS_LINES}
    _too_long(errors, "address", address)
    try:
        phone = normalize_phone(
            phone, region_for_timezone(organization.timezone), international=True
        )
    except FieldError as exc:
        errors["phone"] = str(exc)
    try:
        email = normalize_email(email)
    except FieldError as exc:
        errors["email"] = str(exc)
    tax_office = (tax_office or "").strip()
    _too_long(errors, "tax_office", tax_office)
    tax_number = (tax_number or "").strip()
    if tax_number and not TAX_NUMBER.fullmatch(tax_number):
        errors["tax_number"] = _(
            "Use 3 to 20 letters and digits (spaces, dots, dashes and slashes between them)."
        )
    if tax_office and not tax_number:
        errors["tax_number"] = _("Give the tax number that goes with the tax office.")
    check_fields(errors)
    organization.name = name
    organization.address = address
    organization.phone = phone
    organization.email = email
    organization.tax_office = tax_office
    organization.tax_number = tax_number
    db.session.flush()
    return organization
