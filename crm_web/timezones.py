"""Times shown and entered in the signed-in organization's time zone (stored in UTC)."""

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import g
from flask_login import current_user

DISPLAY_FORMAT = "%Y-%m-%d %H:%M"


def organization_timezone() -> ZoneInfo:
    """The signed-in user's organization's zone (UTC when unknown), looked up once per request."""
    zone = g.get("organization_timezone")
    if zone is None:
        name = "UTC"
        if current_user and current_user.is_authenticated:
            name = current_user.organization.timezone or "UTC"
        try:
            zone = ZoneInfo(name)
        except ZoneInfoNotFoundError:
            zone = ZoneInfo("UTC")
        g.organization_timezone = zone
    return zone


def to_local(value: dt.datetime) -> dt.datetime:
    """An aware datetime in the organization's zone."""
    return value.astimezone(organization_timezone())


def from_local(value: dt.datetime | None) -> dt.datetime | None:
    """A naive datetime typed in a form, read as the organization's local time."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=organization_timezone())


def format_local(value: dt.datetime | dt.date | None, fmt: str = DISPLAY_FORMAT) -> str:
    """Template filter `local`: a stored time as the organization reads it."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return to_local(value).strftime(fmt) if value.tzinfo else value.strftime(fmt)
    return value.strftime(fmt if "%H" not in fmt else "%Y-%m-%d")
