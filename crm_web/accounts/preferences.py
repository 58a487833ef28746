"""Language, time zone and currency: the organization's defaults and each user's own choice."""

from zoneinfo import available_timezones

from babel.numbers import is_currency
from flask_babel import gettext as _

from crm_web.accounts.models import Organization, User
from crm_web.campaigns.sms_keywords import clean_keywords
from crm_web.db import atomic, current_organization_id
from crm_web.errors import check_fields
from crm_web.extensions import db
from crm_web.i18n import LANGUAGES
from crm_web.messaging.quiet_hours import parse_window


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
def update_organization(
    *,
    name: str,
    locale: str,
    timezone: str,
    currency: str,
    sms_quiet_hours: str | None = None,
    sms_opt_out_keywords: str | None = None,
    sms_opt_in_keywords: str | None = None,
) -> Organization:
    """The organization's name and defaults: the language and time zone its users follow
    unless they chose their own, and the currency its amounts are in; and its SMS settings
    (None leaves one as it is)."""
    name, currency = name.strip(), currency.strip().upper()
    errors = {}
    sms = _sms_settings(sms_quiet_hours, sms_opt_out_keywords, sms_opt_in_keywords, errors)
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
    for field, value in sms.items():
        setattr(organization, field, value)
    return organization


def _sms_settings(quiet: str | None, stop: str | None, start: str | None, errors: dict) -> dict:
    """The SMS settings as stored: quiet hours as "21:00-09:00", keywords folded."""
    values = {}
    if quiet is not None:
        try:
            window = parse_window(quiet)
        except ValueError:
            errors["sms_quiet_hours"] = _("Use a window like 21:00-09:00, or leave it empty.")
        else:
            values["sms_quiet_hours"] = (
                "" if window.off else f"{window.start:%H:%M}-{window.end:%H:%M}"
            )
    for field, value in (("sms_opt_out_keywords", stop), ("sms_opt_in_keywords", start)):
        if value is not None:
            values[field] = clean_keywords(value)
    if set(values.get("sms_opt_out_keywords", "").split(", ")) & set(
        values.get("sms_opt_in_keywords", "").split(", ")
    ) - {""}:
        errors["sms_opt_in_keywords"] = _("A word cannot both stop and start SMS.")
    return values
