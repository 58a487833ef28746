"""Changing the SLA configuration: business hours, escalation settings, holidays and policies.

Each command validates, saves and makes the open tickets follow the change (see
`crm_web.sla.recompute`) in one transaction.
"""

from datetime import date
from zoneinfo import ZoneInfo

import phonenumbers
from flask_babel import gettext as _
from sqlalchemy import select

from crm_web import formatting
from crm_web.accounts.models import User
from crm_web.db import atomic, current_organization_id
from crm_web.errors import NotFound, ValidationError, check_fields
from crm_web.extensions import db
from crm_web.permissions import roles_with
from crm_web.sla import recompute
from crm_web.sla.business_hours import WEEKDAYS, format_windows, parse_windows
from crm_web.sla.models import BREACH_LEVEL, MAX_TARGET_MINUTES, SlaHoliday, SlaPolicy, SlaSettings
from crm_web.sla.policies import DEFAULT_TARGETS
from crm_web.tickets.models import PRIORITIES


def _clean_timezone(timezone: str, errors: dict) -> str:
    timezone = timezone.strip()
    try:
        ZoneInfo(timezone)
    except (KeyError, ValueError):
        errors["timezone"] = _("Unknown time zone; use a name such as Europe/Istanbul.")
    return timezone


def _clean_percents(percents: list[int] | str, errors: dict) -> list[int]:
    if isinstance(percents, str):
        percents = [part.strip() for part in percents.split(",") if part.strip()]
    try:
        values = sorted({int(value) for value in percents})
    except (TypeError, ValueError):
        values = None
    if values is None or any(not 1 <= value < BREACH_LEVEL for value in values) or len(values) > 5:
        errors["warning_percents"] = _("Give up to five whole percentages between 1 and 99.")
        return []
    return values


def normalize_phone(number: str) -> str:
    """A phone number in E.164 (+905321112233); ValueError if it is not a valid one."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        raise ValueError(
            _("%(number)s is not a phone number; write it with its country code.", number=number)
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(_("%(number)s is not a valid phone number.", number=number))
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@atomic
def update_settings(
    *,
    timezone: str,
    weekly_hours: list[str],
    warning_percents: list[int] | str,
    breach_raise_priority: bool,
    breach_reassign_to_id: int | None,
    sms_numbers: list[str] | str,
) -> SlaSettings:
    """Save the business hours and the escalation rules; a change of the hours, time zone or
    warning points recomputes the open tickets' due times and escalations with it."""
    errors: dict[str, str] = {}
    timezone = _clean_timezone(timezone, errors)
    if len(weekly_hours) != 7:
        raise ValidationError(_("Give the working hours of all seven days."))
    windows = []
    for day, hours in zip(WEEKDAYS, weekly_hours, strict=True):
        try:
            windows.append(format_windows(parse_windows(hours or "")))
        except ValueError as exc:
            errors[f"hours_{day.lower()}"] = str(exc)
    if not errors and not any(windows):
        errors["hours_monday"] = _("Give at least one day some working hours.")
    percents = _clean_percents(warning_percents, errors)
    if breach_reassign_to_id is not None:
        user = db.session.scalar(
            select(User).where(
                User.id == breach_reassign_to_id,
                User.organization_id == current_organization_id(),
                User.is_active,
                User.role.in_(roles_with("work tickets")),
            )
        )
        if user is None:
            errors["breach_reassign_to_id"] = _("Choose an active support agent, manager or admin.")
    if isinstance(sms_numbers, str):
        sms_numbers = sms_numbers.replace("\n", ",").split(",")
    numbers = []
    for number in filter(None, (n.strip() for n in sms_numbers)):
        try:
            numbers.append(normalize_phone(number))
        except ValueError as exc:
            errors["sms_numbers"] = str(exc)
    if len(numbers) > 10:
        errors["sms_numbers"] = _("Text at most ten numbers.")
    check_fields(errors)
    settings = db.session.get(SlaSettings, current_organization_id())
    if settings is None:
        settings = SlaSettings(organization_id=current_organization_id())
        db.session.add(settings)
        before = None
    else:
        before = (settings.timezone, list(settings.weekly_hours), list(settings.warning_percents))
    settings.timezone = timezone
    settings.weekly_hours = windows
    settings.warning_percents = percents
    settings.breach_raise_priority = breach_raise_priority
    settings.breach_reassign_to_id = breach_reassign_to_id
    settings.sms_numbers = list(dict.fromkeys(numbers))
    db.session.flush()
    if before != (timezone, windows, percents):
        _follow_change()
    return settings


@atomic
def add_holiday(day: date, name: str = "") -> SlaHoliday:
    """Make a day a holiday: the clocks of business-hours policies do not run on it."""
    if len(name.strip()) > 100:
        raise ValidationError(
            _("The name is too long."), {"name": _("At most %(count)s characters.", count=100)}
        )
    organization_id = current_organization_id()
    if db.session.scalar(
        select(SlaHoliday.id).where(
            SlaHoliday.organization_id == organization_id, SlaHoliday.day == day
        )
    ):
        raise ValidationError(_("That day is a holiday already."), {"day": _("Already a holiday.")})
    holiday = SlaHoliday(organization_id=organization_id, day=day, name=name.strip())
    db.session.add(holiday)
    db.session.flush()
    _follow_change()
    return holiday


@atomic
def delete_holiday(holiday_id: int) -> None:
    holiday = db.session.scalar(
        select(SlaHoliday).where(
            SlaHoliday.id == holiday_id, SlaHoliday.organization_id == current_organization_id()
        )
    )
    if holiday is None:
        raise NotFound(_("No such holiday."))
    db.session.delete(holiday)
    db.session.flush()
    _follow_change()


@atomic
def save_policy(
    *,
    priority: str,
    customer_tag: str = "",
    first_response_minutes: int | None,
    resolution_minutes: int | None,
    business_hours: bool,
) -> SlaPolicy:
    """Create or change the policy for a priority (and customer tag): the targets in minutes."""
    errors: dict[str, str] = {}
    if priority not in PRIORITIES:
        errors["priority"] = _("Choose one of: %(choices)s.", choices=", ".join(PRIORITIES))
    customer_tag = customer_tag.strip().lower()
    if len(customer_tag) > 40:
        errors["customer_tag"] = _("At most %(count)s characters.", count=40)
    for field, value in (
        ("first_response_minutes", first_response_minutes),
        ("resolution_minutes", resolution_minutes),
    ):
        if not isinstance(value, int) or not 1 <= value <= MAX_TARGET_MINUTES:
            errors[field] = _(
                "Give whole minutes from 1 to %(maximum)s.",
                maximum=formatting.number(MAX_TARGET_MINUTES),
            )
    check_fields(errors)
    organization_id = current_organization_id()
    policy = db.session.scalar(
        select(SlaPolicy).where(
            SlaPolicy.organization_id == organization_id,
            SlaPolicy.priority == priority,
            SlaPolicy.customer_tag == customer_tag,
        )
    )
    targets = (first_response_minutes, resolution_minutes, business_hours)
    if policy is None:
        policy = SlaPolicy(
            organization_id=organization_id, priority=priority, customer_tag=customer_tag
        )
        db.session.add(policy)
    elif (
        policy.first_response_minutes,
        policy.resolution_minutes,
        policy.business_hours,
    ) == targets:
        return policy
    policy.first_response_minutes = first_response_minutes
    policy.resolution_minutes = resolution_minutes
    policy.business_hours = business_hours
    db.session.flush()
    _follow_change(priority=priority)
    return policy


@atomic
def put_defaults_in_force() -> bool:
    """Save the built-in targets as the organization's policies unless it has saved any, so
    the settings page shows the rules its tickets run under (demo data); True if it saved."""
    if db.session.scalar(
        select(SlaPolicy.id).where(SlaPolicy.organization_id == current_organization_id()).limit(1)
    ):
        return False
    for priority in PRIORITIES:
        first_response, resolution, business_hours = DEFAULT_TARGETS[priority]
        save_policy(
            priority=priority,
            first_response_minutes=first_response,
            resolution_minutes=resolution,
            business_hours=business_hours,
        )
    return True


@atomic
def delete_policy(policy_id: int) -> None:
    """Remove a policy: its open tickets fall back to the general or built-in targets."""
    # Before the delete locks the tickets that name the policy (ON DELETE SET NULL): a running
    # recompute chunk holds this lock while it locks tickets, so the other order deadlocks.
    recompute.hold()
    policy = db.session.scalar(
        select(SlaPolicy).where(
            SlaPolicy.id == policy_id, SlaPolicy.organization_id == current_organization_id()
        )
    )
    if policy is None:
        raise NotFound(_("No such policy."))
    db.session.delete(policy)
    db.session.flush()
    _follow_change(priority=policy.priority)


def _follow_change(*, priority: str | None = None) -> None:
    """Make the open tickets follow a policy or calendar change (see crm_web.sla.recompute)."""
    recompute.follow_change([priority] if priority else None)
