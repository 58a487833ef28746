"""The SLA rules in force: settings, business calendar and the policy a ticket runs under.

Lookups only; the settings page's commands that change them are in `crm_web.sla.configuration`.
"""

from dataclasses import dataclass

from sqlalchemy import or_, select

from crm_web.accounts.models import Organization
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.sla.business_hours import Calendar, parse_windows
from crm_web.sla.models import SlaHoliday, SlaPolicy, SlaSettings
from crm_web.tickets.models import PRIORITIES

DEFAULT_WEEKLY_HOURS = ["09:00-17:00"] * 5 + ["", ""]
DEFAULT_WARNING_PERCENTS = [50, 80]
# Built-in targets per priority (minutes to first response, to resolution, business hours
# only?), after seed 004's route_support_ticket; an organization's policies override them.
DEFAULT_TARGETS = {
    "urgent": (15, 60, False),
    "high": (60, 240, True),
    "normal": (240, 2880, True),
    "low": (480, 5760, True),
}


def get_settings() -> SlaSettings:
    """The organization's SLA settings (unsaved defaults when it never saved any)."""
    organization_id = current_organization_id()
    settings = db.session.get(SlaSettings, organization_id)
    if settings is not None:
        return settings
    timezone = db.session.scalar(
        select(Organization.timezone).where(Organization.id == organization_id)
    )
    return SlaSettings(
        organization_id=organization_id,
        timezone=timezone or "UTC",
        weekly_hours=list(DEFAULT_WEEKLY_HOURS),
        warning_percents=list(DEFAULT_WARNING_PERCENTS),
        breach_raise_priority=False,
        breach_reassign_to_id=None,
        sms_numbers=[],
    )


def list_holidays() -> list[SlaHoliday]:
    return list(
        db.session.scalars(
            select(SlaHoliday)
            .where(SlaHoliday.organization_id == current_organization_id())
            .order_by(SlaHoliday.day)
        )
    )


def business_calendar(settings: SlaSettings | None = None) -> Calendar:
    """The organization's business-hours calendar, holidays included."""
    settings = settings or get_settings()
    days = db.session.scalars(
        select(SlaHoliday.day).where(SlaHoliday.organization_id == current_organization_id())
    )
    weekly = tuple(parse_windows(hours) for hours in settings.weekly_hours)
    return Calendar(settings.timezone, weekly, frozenset(days))


@dataclass(frozen=True)
class Targets:
    """The policy a ticket runs under: a saved policy (with its id) or a built-in default."""

    policy_id: int | None
    priority: str
    customer_tag: str
    first_response_minutes: int
    resolution_minutes: int
    business_hours: bool

    def seconds(self, target: str) -> float:
        minutes = (
            self.first_response_minutes if target == "first_response" else self.resolution_minutes
        )
        return minutes * 60.0


def default_targets(priority: str) -> Targets:
    first_response, resolution, business_hours = DEFAULT_TARGETS[priority]
    return Targets(None, priority, "", first_response, resolution, business_hours)


def _targets(policy: SlaPolicy) -> Targets:
    return Targets(
        policy.id,
        policy.priority,
        policy.customer_tag,
        policy.first_response_minutes,
        policy.resolution_minutes,
        policy.business_hours,
    )


def targets_for(priority: str, customer_tags: list[str]) -> Targets:
    """The strictest policy for this priority and one of the customer's tags, else the
    priority's general policy, else the built-in default."""
    policies = db.session.scalars(
        select(SlaPolicy).where(
            SlaPolicy.organization_id == current_organization_id(),
            SlaPolicy.priority == priority,
            or_(SlaPolicy.customer_tag == "", SlaPolicy.customer_tag.in_(customer_tags or [""])),
        )
    ).all()
    return choose_targets(priority, customer_tags, policies)


def choose_targets(priority: str, customer_tags: list[str], policies) -> Targets:
    """The strictest of `policies` for this priority and one of the tags (see targets_for)."""
    matching = [
        policy
        for policy in policies
        if policy.priority == priority
        and (not policy.customer_tag or policy.customer_tag in customer_tags)
    ]
    tagged = [policy for policy in matching if policy.customer_tag]
    if tagged:
        return _targets(min(tagged, key=lambda p: (p.resolution_minutes, p.first_response_minutes)))
    general = [policy for policy in matching if not policy.customer_tag]
    if general:
        return _targets(general[0])
    return default_targets(priority)


def policy_table() -> list[tuple[Targets, bool]]:
    """Every priority's general targets (saved or default: the flag says saved), then the
    tag-specific policies."""
    policies = list(
        db.session.scalars(
            select(SlaPolicy)
            .where(SlaPolicy.organization_id == current_organization_id())
            .order_by(SlaPolicy.customer_tag, SlaPolicy.id)
        )
    )
    general = {policy.priority: policy for policy in policies if not policy.customer_tag}
    rows = []
    for priority in reversed(PRIORITIES):
        policy = general.get(priority)
        rows.append((_targets(policy), True) if policy else (default_targets(priority), False))
    rows.extend((_targets(policy), True) for policy in policies if policy.customer_tag)
    return rows
