"""Validation and normalisation of customer fields, shared by forms, the API and the CSV import.

Nothing here touches the database: `clean_customer` turns one record (strings from a form or
a CSV row, or JSON values) into typed, normalised values plus a dict of field errors, so an
import can check a million rows without a query per row. Emails are lower-cased and checked
with email-validator; phones become E.164 with phonenumbers, national numbers read in the
customer's country, else the organization's (from its time zone).
"""

import functools
import re
import zoneinfo
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import available_timezones

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from crm_web.customers.fields import BY_NAME, FIELDS
from crm_web.fields import Field

# Every field a person may set (owner_id is checked against the users by the service).
EDITABLE_FIELDS = tuple(f.name for f in FIELDS if f.kind != "owner")
MAX_TAGS = 20
MAX_TAG_LENGTH = 40
MAX_REVENUE = Decimal("9999999999999.99")
TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "on", "evet", "e"})
FALSE_WORDS = frozenset({"0", "false", "f", "no", "n", "off", "hayır", "hayir", "h", ""})

# The everyday address, checked without email-validator's full parse (about 20x faster, which
# matters for an import); anything unusual still goes through email-validator.
_PLAIN_EMAIL = re.compile(
    r"^[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
_SPECIAL_DOMAINS = frozenset(SPECIAL_USE_DOMAIN_NAMES)


class FieldError(ValueError):
    """A value that cannot be used; the message is meant for the person who typed it."""


def _special_use(domain: str) -> bool:
    """Whether the domain is, or is under, one that email-validator refuses (test, local...)."""
    while domain not in _SPECIAL_DOMAINS:
        dot = domain.find(".")
        if dot < 0:
            return False
        domain = domain[dot + 1 :]
    return True


def normalize_email(value: str) -> str:
    """A lower-cased valid address ('' stays ''), else FieldError."""
    value = (value or "").strip().lower()
    if not value:
        return ""
    if (
        len(value) <= 254
        and _PLAIN_EMAIL.match(value)
        and len(value.partition("@")[0]) <= 64
        and not _special_use(value.partition("@")[2])
    ):
        return value
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise FieldError(str(exc)) from None


@functools.cache
def _zone_countries() -> dict[str, str]:
    """Time zone -> ISO country, from the tz database's zone.tab (empty where it is missing)."""
    for directory in zoneinfo.TZPATH:
        path = Path(directory) / "zone.tab"
        if path.exists():
            zones = {}
            for line in path.read_text().splitlines():
                if line and not line.startswith("#"):
                    country, _coordinates, zone, *_ = line.split("\t")
                    zones[zone] = country
            return zones
    return {}


def region_for_timezone(timezone: str) -> str | None:
    """The country a time zone belongs to (Europe/Istanbul -> TR), if the tz database says."""
    return _zone_countries().get(timezone)


def default_region(country: str = "", organization_timezone: str = "") -> str | None:
    """Where national phone numbers are read: the customer's country, else the organization's."""
    country = (country or "").strip().upper()
    if country in phonenumbers.SUPPORTED_REGIONS:
        return country
    return region_for_timezone(organization_timezone)


def normalize_phone(value: str, region: str | None, *, international: bool = False) -> str:
    """The number in E.164 ('' stays ''), else FieldError; national numbers need a region.
    With `international`, spaced for reading as printed (+90 212 555 01 00)."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        hint = "" if value.startswith("+") or region else " Start it with + and the country code."
        raise FieldError(f"This is not a phone number.{hint}") from None
    if not phonenumbers.is_valid_number(number):
        raise FieldError("This phone number is not valid.")
    style = phonenumbers.PhoneNumberFormat
    return phonenumbers.format_number(number, style.INTERNATIONAL if international else style.E164)


def normalize_website(value: str, max_length: int = BY_NAME["website"].max_length) -> str:
    """An http(s) URL ('' stays ''); a bare host gets https://."""
    value = (value or "").strip()
    if not value:
        return ""
    if "://" not in value:
        value = "https://" + value
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        host = ""
    if parts.scheme not in ("http", "https") or "." not in host or " " in value:
        raise FieldError("Enter a web address such as https://example.com.")
    if len(value) > max_length:
        raise FieldError(f"Keep the address under {max_length} characters.")
    return value


def normalize_tags(value: str | list | tuple | None) -> list[str]:
    """Lower-case, trimmed, unique tags in their given order (a comma-separated string or a list)."""
    if value is None:
        return []
    if not isinstance(value, str | list | tuple):
        raise FieldError("Send a list of tags or comma-separated text.")
    items = value.split(",") if isinstance(value, str) else value
    tags = []
    for item in items:
        if not isinstance(item, str):
            raise FieldError("Tags are words or short phrases.")
        tag = " ".join(item.split()).lower()
        if not tag or tag in tags:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise FieldError(f"Keep each tag under {MAX_TAG_LENGTH} characters.")
        tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise FieldError(f"Use at most {MAX_TAGS} tags.")
    return tags


def parse_bool(value: Any) -> bool:
    """True/False from a checkbox, JSON or a CSV cell (yes/no, 1/0, true/false, evet/hayır)."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise FieldError("Use yes or no.")


def parse_date(value: Any) -> date | None:
    """A date from a date, an ISO string (2024-05-31) or a day-first one (31.05.2024)."""
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    text = str(value).strip()
    if not text:
        return None
    for pattern in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise FieldError("Use a date such as 2024-05-31.")


def parse_amount(value: Any) -> Decimal | None:
    """A non-negative amount with at most two decimals ('1234.5' or '1234,5')."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError("Enter an amount.")
    text = str(value).strip().replace(" ", "")
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise FieldError("Enter an amount such as 250000.") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_REVENUE:
        raise FieldError("Enter an amount between 0 and 9,999,999,999,999.")
    if amount != amount.quantize(Decimal("0.01")):
        raise FieldError("Use at most two decimals.")
    return amount.quantize(Decimal("0.01"))


def _digits(value: Any, field: Field) -> str:
    text = re.sub(r"\s", "", str(value or ""))
    if text and not (text.isdigit() and len(text) <= field.max_length):
        article = "An" if field.label[0] in "AEIOU" else "A"
        raise FieldError(
            f"{article} {field.label.lower()} has only digits (at most {field.max_length})."
        )
    return text


def _choice(value: Any, field: Field) -> str:
    # Values written in capitals (gender's F, M, O) are read in any case.
    if all(choice == choice.upper() for choice in field.values):
        value = str(value or "").upper()
    text = str(value or field.default or "").strip()
    if text not in field.values:
        choices = ", ".join(choice for choice in field.values if choice)
        raise FieldError(f"Choose one of: {choices}.")
    return text


def _text(value: Any, field: Field) -> str:
    text = " ".join(str(value or "").split())
    if len(text) > field.max_length:
        raise FieldError(f"Keep it under {field.max_length} characters.")
    return text


def _country(value: Any) -> str:
    code = str(value or "").strip().upper()
    if code and code not in phonenumbers.SUPPORTED_REGIONS:
        raise FieldError("Use a two-letter country code such as TR or GB.")
    return code


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def _timezone(value: Any) -> str:
    name = str(value or "").strip()
    if name and name not in _timezones():
        raise FieldError("Unknown time zone; use a name such as Europe/Istanbul.")
    return name


# kind -> parser of (value, field, region for national phone numbers).
_PARSERS = {
    "text": lambda v, f, r: _text(v, f),
    "multiline": lambda v, f, r: _text(v, f),
    "choice": lambda v, f, r: _choice(v, f),
    "digits": lambda v, f, r: _digits(v, f),
    "date": lambda v, f, r: parse_date(v),
    "email": lambda v, f, r: normalize_email(v),
    "phone": lambda v, f, r: normalize_phone(v, r),
    "website": lambda v, f, r: normalize_website(v, f.max_length),
    "amount": lambda v, f, r: parse_amount(v),
    "tags": lambda v, f, r: normalize_tags(v),
    "country": lambda v, f, r: _country(v),
    "timezone": lambda v, f, r: _timezone(v),
    "bool": lambda v, f, r: parse_bool(v),
}
# Kinds whose values need not be a scalar (JSON true/false, a list of tags).
_NOT_SCALAR = ("bool", "tags")


def _is_scalar(value: Any) -> bool:
    """Text, a number or a date: what a form, a CSV cell or a JSON scalar field holds."""
    return value is None or (
        isinstance(value, str | int | float | Decimal | date) and not isinstance(value, bool)
    )


def clean_customer(
    data: Mapping[str, Any], *, organization_timezone: str = "", today: date | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed, normalised values for the fields present in `data`, and an error per bad field.

    Give the whole record (for an update, the current values overlaid with the changes):
    the rules that span fields (a person needs a name, a company its company name; the
    second email differs from the first) look at all of it.
    """
    today = today or date.today()
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    try:
        country = _country(data.get("country"))
    except FieldError:
        country = ""
    region = default_region(country, organization_timezone)
    for name in EDITABLE_FIELDS:
        if name not in data:
            continue
        value, field = data[name], BY_NAME[name]
        try:
            if field.kind not in _NOT_SCALAR and not _is_scalar(value):
                raise FieldError("Send text, not a list, an object or true/false.")
            clean[name] = _PARSERS[field.kind](value, field, region)
        except FieldError as exc:
            errors[name] = str(exc)
    _check_record(clean, errors, today)
    return clean, errors


def _check_record(clean: dict[str, Any], errors: dict[str, str], today: date) -> None:
    customer_type = clean.get("customer_type")
    if customer_type == "company" and "company_name" in clean and not clean["company_name"]:
        errors.setdefault("company_name", "A company needs its name.")
    if (
        customer_type == "person"
        and "first_name" in clean
        and "last_name" in clean
        and not (clean["first_name"] or clean["last_name"])
    ):
        errors.setdefault("first_name", "Give a first or last name.")
    birth_date = clean.get("birth_date")
    if birth_date and not (date(1900, 1, 1) <= birth_date <= today):
        errors.setdefault("birth_date", "The birth date must be in the past.")
    since = clean.get("customer_since")
    if since and since > today:
        errors.setdefault("customer_since", "This date is in the future.")
    for first, second in (
        ("primary_email", "secondary_email"),
        ("primary_phone", "secondary_phone"),
    ):
        if clean.get(second) and first in clean and not clean[first]:
            # A lone second address or number is the customer's main one.
            clean[first], clean[second] = clean[second], ""
        elif clean.get(second) and clean.get(second) == clean.get(first):
            errors.setdefault(second, "This is the same as the first one.")
