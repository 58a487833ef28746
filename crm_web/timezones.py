"""The time zone people read and type times in (times are stored in UTC).

A signed-in user's own zone when they chose one (their profile), else their organization's;
a message's recipient's while the outbox renders it (`reading_in`); UTC when none is known.
crm_web.formatting shows times in it; forms read typed times in it (`from_local`).
"""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import has_request_context
from flask_login import current_user

from crm_web.accounts.models import Organization, User
from crm_web.db import current_tenant
from crm_web.extensions import db

UTC = ZoneInfo("UTC")
_forced: ContextVar[ZoneInfo | None] = ContextVar("reader_timezone", default=None)


def zone(name: str | None) -> ZoneInfo:
    """The zone named `name`, UTC for an unknown or empty name."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def user_timezone() -> ZoneInfo:
    """The current reader's zone: a forced one, else the acting user's own, else the acting
    organization's. The user and organization are loaded with the sign-in, so no query."""
    forced = _forced.get()
    if forced is not None:
        return forced
    tenant = current_tenant()
    if tenant.organization_id is None:
        return UTC
    reader = signed_in_reader(tenant.user_id)
    if reader is not None:
        # The session's snapshot of the user and organization (crm_web.accounts.signed_in).
        return zone(reader.timezone or reader.organization.timezone)
    user = db.session.get(User, tenant.user_id) if tenant.user_id is not None else None
    if user is not None and user.timezone:
        return zone(user.timezone)
    organization = db.session.get(Organization, tenant.organization_id)
    return zone(organization.timezone if organization else None)


def acting_organization():
    """The current organization's values (timezone, currency, locale, ...): the signed-in
    snapshot's when the request acts for the signed-in user's organization (no query), else the
    row (a worker, a public page). Read it, never change it. None without a tenant."""
    tenant = current_tenant()
    if tenant.organization_id is None:
        return None
    reader = signed_in_reader(tenant.user_id)
    if reader is not None and reader.organization.id == tenant.organization_id:
        return reader.organization
    return db.session.get(Organization, tenant.organization_id)


def signed_in_reader(user_id: int | None):
    """The request's signed-in user when they are the acting user `user_id`, else None (a
    worker, or a request acting for someone else)."""
    if user_id is None or not has_request_context() or not current_user.is_authenticated:
        return None
    return current_user if current_user.id == user_id else None


@contextmanager
def reading_in(name: str | None) -> Iterator[ZoneInfo]:
    """Show and read times in the zone `name` inside the block (a message's recipient's)."""
    token = _forced.set(zone(name))
    try:
        yield _forced.get()
    finally:
        _forced.reset(token)


def to_local(value: dt.datetime) -> dt.datetime:
    """An aware datetime in the reader's zone."""
    return value.astimezone(user_timezone())


def from_local(value: dt.datetime | None) -> dt.datetime | None:
    """A naive datetime typed in a form, read as the reader's local time."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=user_timezone())
