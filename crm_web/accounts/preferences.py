"""Language, time zone and currency: the organization's defaults and each user's own choice."""

from zoneinfo import available_timezones

from babel.numbers import is_currency
from flask_babel import gettext as _

from crm_web.accounts.models import Organization, User
from crm_web.db import atomic, current_organization_id
from crm_web.errors import check_fields
from crm_web.extensions import db
from crm_web.i18n import LANGUAGES


def _language_problem(language: str) -> str | None:
    return None if language in LANGUAGES else _("Choose English or Turkish.")


def _timezone_problem(timezone: str) -> str | None:
    return None if timezone in available_timezones() else _("Unknown time zone.")


@atomic
def update_profile(user_id: int, *, locale: str, timezone: str) -> User:
    """A user's own language and time zone; empty follows the organization's."""
    errors = {}
    if locale and (problem := _language_problem(locale)):
        errors["locale"] = problem
    if timezone and (problem := _timezone_problem(timezone)):
        errors["timezone"] = problem
    check_fields(errors)
    user = db.session.get(User, user_id)
    user.locale = locale or None
    user.timezone = timezone or None
    return user


@atomic
def update_organization(*, name: str, locale: str, timezone: str, currency: str) -> Organization:
    """The organization's name and defaults: the language and time zone its users follow
    unless they chose their own, and the currency its amounts are in."""
    name, currency = name.strip(), currency.strip().upper()
    errors = {}
    if not name:
        errors["name"] = _("Give the organization a name.")
    if problem := _language_problem(locale):
        errors["locale"] = problem
    if problem := _timezone_problem(timezone):
        errors["timezone"] = problem
    if not is_currency(currency):
        errors["currency"] = _("Use a three-letter currency code such as TRY or EUR.")
    check_fields(errors)
    organization = db.session.get(Organization, current_organization_id())
    organization.name = name
    organization.locale = locale
    organization.timezone = timezone
    organization.currency = currency
    return organization
