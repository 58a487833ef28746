"""Organizations, users, sign-in and API tokens."""

import functools
import hashlib
import re
import secrets
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from crm_web.accounts import ratelimit
from crm_web.accounts.models import ApiToken, Organization, User, UserSession
from crm_web.accounts.passwords import check_password_strength
from crm_web.accounts.signed_in import SignedInUser, snapshot_of
from crm_web.db import (
    atomic,
    check_sign_in,
    current_organization_id,
    set_tenant,
    tenant_scope,
)
from crm_web.errors import (
    NotFound,
    PermissionDenied,
    Throttled,
    Unauthorized,
    ValidationError,
    check_fields,
    invalid,
)
from crm_web.extensions import db
from crm_web.i18n import DEFAULT_LANGUAGE, supported
from crm_web.outbox import services as outbox
from crm_web.pagination import Page, keyset_page
from crm_web.permissions import ROLES

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
INVITATION_MAX_AGE_SECONDS = 7 * 24 * 3600
SIGNUP_MAX_AGE_SECONDS = 24 * 3600
# How fresh an API token's last_used_at is kept: one write per token per minute at most.
TOKEN_USE_RESOLUTION = timedelta(minutes=1)
TOKEN_NAME_MAX = ApiToken.__table__.c.name.type.length


def normalize_email(email: str, field: str = "email") -> str:
    """A valid, lower-cased address, or a ValidationError naming the field."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValidationError(
            _("Please correct the email address."),
            {field: _("This is not an email address we can write to.")},
        ) from None


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValidationError(
            _("Unknown role."), {"role": _("Choose one of: %(choices)s.", choices=", ".join(ROLES))}
        )


def _account_organization(email: str) -> int | None:
    """The organization whose user has this address, whichever tenant is current."""
    return db.session.execute(
        text("SELECT organization_id FROM auth_user_by_email(:e)"), {"e": email}
    ).scalar()


def _user_with_email(email: str) -> User | None:
    """The user with this address in whichever organization, which becomes the tenant."""
    row = db.session.execute(
        text("SELECT user_id, organization_id FROM auth_user_by_email(:e)"), {"e": email}
    ).first()
    if row is None:
        return None
    set_tenant(row.organization_id, row.user_id)
    return db.session.get(User, row.user_id)


def organization_id_for_slug(slug: str) -> int | None:
    """The id of the organization with this slug, whichever tenant is current."""
    return db.session.execute(text("SELECT organization_id_for_slug(:s)"), {"s": slug}).scalar()


def _check_organization(name: str, slug: str, timezone: str, currency: str) -> tuple[str, str]:
    """The organization's name and slug, tidied; a ValidationError naming every bad field."""
    name, slug = name.strip(), slug.strip().lower()
    errors = {}
    if not name:
        errors["name"] = _("Give the organization a name.")
    if not SLUG_PATTERN.match(slug):
        errors["slug"] = _("Use lower-case letters, digits and dashes (at most 63).")
    elif organization_id_for_slug(slug) is not None:
        errors["slug"] = _("This address is taken; choose another.")
    if timezone not in available_timezones():
        errors["timezone"] = _("Unknown time zone.")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        errors["currency"] = _("Use a three-letter currency code such as EUR.")
    check_fields(errors)
    return name, slug


@atomic
def create_organization_and_admin(
    *,
    name: str,
    slug: str,
    admin_email: str,
    admin_name: str,
    admin_password: str,
    timezone: str = "UTC",
    currency: str = "USD",
    locale: str = "en",
) -> tuple[Organization, User]:
    """A new organization and its first admin; the domains' set-up is crm_web.onboarding's."""
    name, slug = _check_organization(name, slug, timezone, currency)
    admin_email = normalize_email(admin_email, "admin_email")
    if _account_organization(admin_email) is not None:
        raise invalid({"admin_email": _("This email already has an account.")})
    check_password_strength(
        admin_password, email=admin_email, name=admin_name, field="admin_password"
    )

    # RLS checks the new row against the tenant, so the id is reserved first and made current.
    organization_id = db.session.execute(
        text("SELECT nextval(pg_get_serial_sequence('organizations', 'id'))")
    ).scalar_one()
    set_tenant(organization_id)
    organization = Organization(
        id=organization_id,
        name=name,
        slug=slug,
        timezone=timezone,
        currency=currency,
        locale=locale,
    )
    db.session.add(organization)
    db.session.flush()
    admin = User(
        organization_id=organization_id,
        email=admin_email,
        name=admin_name.strip() or admin_email,
        password_hash=generate_password_hash(admin_password),
        role="admin",
        department="",
        skills=[],
    )
    db.session.add(admin)
    db.session.flush()
    set_tenant(organization_id, admin.id)
    return organization, admin


def _signup_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="signup")


@atomic
def request_signup(
    *,
    name: str,
    slug: str,
    timezone: str,
    currency: str,
    admin_email: str,
    admin_name: str,
    locale: str = DEFAULT_LANGUAGE,
) -> str:
    """Sign-up's first step: mail the address a link to finish, or, when it already has an
    account, tell its owner so instead. Both answer alike, so the form reveals no accounts.
    The organization will speak `locale` (the language the sign-up page was read in), and so
    does the link's email.

    Nothing is stored until the link is followed: the organization's details travel in the
    signed link, so an unfinished sign-up holds no slug and leaves no row. Returns the address.
    """
    name, slug = _check_organization(name, slug, timezone, currency)
    admin_email = normalize_email(admin_email, "admin_email")
    existing = _user_with_email(admin_email)
    if existing is not None:
        notify_signup_for_existing_account(existing)
    else:
        details = {
            "name": name,
            "slug": slug,
            "timezone": timezone,
            "currency": currency,
            "admin_email": admin_email,
            "admin_name": admin_name.strip(),
            "locale": supported(locale) or DEFAULT_LANGUAGE,
        }
        # No organization exists yet: a message of the system's own, its details in the link.
        with tenant_scope(None):
            outbox.queue(
                "signup_link",
                [outbox.Recipient(admin_email, details["admin_name"], language=details["locale"])],
                context={"token": _signup_serializer().dumps(details)},
            )
    return admin_email


def signup_details(token: str) -> dict[str, str]:
    """The organization and admin a sign-up link names (as request_signup signed them)."""
    try:
        return _signup_serializer().loads(token, max_age=SIGNUP_MAX_AGE_SECONDS)
    except SignatureExpired:
        raise ValidationError(_("This sign-up link has expired; please sign up again.")) from None
    except BadSignature:
        raise NotFound(_("This sign-up link is not valid.")) from None


def unfinished_signup(token: str) -> dict[str, str]:
    """The details of a sign-up link that has not made its organization yet."""
    details = signup_details(token)
    if _account_organization(details["admin_email"]) is not None:
        raise ValidationError(_("This sign-up is already finished; sign in instead."))
    return details


def notify_signup_for_existing_account(user: User) -> None:
    """Tell an account's owner that someone tried to sign up with their address (after commit)."""
    with tenant_scope(user.organization_id):
        outbox.queue(
            "signup_existing_account",
            [outbox.Recipient(user.email, user.name, user_id=user.id)],
            source_id=user.id,
        )


@functools.cache
def _dummy_password_hash() -> str:
    # Checked when no account matches, so an unknown address costs as much time as a known one.
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(email: str, password: str, client_ip: str) -> User:
    """The active user with these credentials; a client that keeps failing on an account waits."""
    email = email.strip().lower()
    wait = ratelimit.login_wait_seconds(email, client_ip)
    if wait:
        raise Throttled(
            ngettext(
                "Too many failed sign-ins. Try again in %(num)d second.",
                "Too many failed sign-ins. Try again in %(num)d seconds.",
                wait,
            ),
            retry_after=wait,
        )
    user = _user_with_email(email)
    known_hash = user.password_hash if user is not None else None
    password_matches = check_password_hash(known_hash or _dummy_password_hash(), password)
    if user is None or not user.is_active or not known_hash or not password_matches:
        ratelimit.record_failure(email, client_ip)
        set_tenant(None)
        raise ValidationError(
            _("Email or password is incorrect."),
            {"password": _("Email or password is incorrect.")},
        )
    ratelimit.clear_failures(email, client_ip)
    _record_login(user)
    return user


@atomic
def _record_login(user: User) -> None:
    user.last_login_at = datetime.now(UTC)


def load_user(
    user_id: int, organization_id: int, session_id: str, snapshot: dict | None
) -> tuple[SignedInUser | None, dict | None]:
    """The active user of a sign-in that still holds, made the current tenant (each request),
    and, when the session's `snapshot` of them is missing or out of date, a new one to keep.

    The signed cookie names the user, the organization and the sign-in, so the tenant is set
    before the transaction starts; the statement that sets it also checks the sign-in and
    tells whether the snapshot is still true (crm_web.accounts.signed_in). Only then are the
    user and the organization read, by primary key, where row-level security finds them only
    in that organization.
    """
    stamp = check_sign_in(organization_id, user_id, session_id)
    if stamp is None:
        # Nobody is signed in: nothing of this request runs as that organization.
        set_tenant(None)
        return None, None
    if (
        snapshot is not None
        and snapshot.get("stamp") == stamp
        and snapshot["user"]["id"] == user_id
    ):
        return SignedInUser(snapshot["user"], snapshot["organization"]), None
    user = db.session.scalar(
        select(User).where(User.id == user_id, User.organization_id == organization_id)
    )
    if user is None:
        set_tenant(None)
        return None, None
    snapshot = {
        "stamp": stamp,
        "user": snapshot_of(user, hidden=User.audit_hidden),
        "organization": snapshot_of(user.organization),
    }
    return SignedInUser(snapshot["user"], snapshot["organization"]), snapshot


@atomic
def start_session(user: User) -> str:
    """Record a new sign-in of this user (dropping their expired ones); its id goes in the cookie."""
    set_tenant(user.organization_id, user.id)
    db.session.execute(
        delete(UserSession).where(
            UserSession.user_id == user.id, UserSession.expires_at <= func.now()
        )
    )
    session_id = secrets.token_urlsafe(32)
    lifetime = timedelta(seconds=current_app.config["SESSION_LIFETIME_SECONDS"])
    db.session.add(
        UserSession(
            id=session_id,
            organization_id=user.organization_id,
            user_id=user.id,
            expires_at=datetime.now(UTC) + lifetime,
        )
    )
    return session_id


@atomic
def end_session(session_id: str) -> None:
    """Sign-out: the cookie naming this sign-in no longer signs anyone in."""
    db.session.execute(delete(UserSession).where(UserSession.id == session_id))


def _end_all_sessions(user_id: int) -> None:
    db.session.execute(delete(UserSession).where(UserSession.user_id == user_id))


def list_users() -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(User.organization_id == current_organization_id())
            .order_by(func.lower(User.name))
        )
    )


def get_user(user_id: int) -> User:
    user = db.session.scalar(
        select(User).where(User.id == user_id, User.organization_id == current_organization_id())
    )
    if user is None:
        raise NotFound(_("No such user."))
    return user


def _skills(skills: list[str] | str) -> list[str]:
    if isinstance(skills, str):
        skills = skills.split(",")
    return sorted({skill.strip().lower() for skill in skills if skill.strip()})


@atomic
def create_user(
    *,
    email: str,
    name: str,
    role: str,
    password: str | None = None,
    department: str = "",
    skills: list[str] | str = (),
) -> User:
    """A user of the current organization; without a password they sign in through an invitation."""
    email = normalize_email(email)
    _check_role(role)
    if password is not None:
        check_password_strength(password, email=email, name=name)
    if _account_organization(email) is not None:
        raise invalid({"email": _("This email already has an account.")})
    user = User(
        organization_id=current_organization_id(),
        email=email,
        name=name.strip() or email,
        role=role,
        department=department.strip(),
        skills=_skills(skills),
        password_hash=generate_password_hash(password) if password else None,
    )
    db.session.add(user)
    db.session.flush()
    return user


@atomic
def invite_user(
    *, email: str, name: str, role: str, department: str = "", skills: list[str] | str = ()
) -> User | None:
    """Create a user without a password and email them a link to choose one (after commit).

    An address with an account in another organization is answered as if invited, but nothing
    is created (None): an admin must not learn who uses other organizations. One in the
    admin's own organization is refused, as the admin can see their users anyway.
    """
    normalized = normalize_email(email)
    _check_role(role)
    elsewhere = _account_organization(normalized)
    if elsewhere is not None and elsewhere != current_organization_id():
        return None
    user = create_user(email=email, name=name, role=role, department=department, skills=skills)
    outbox.queue(
        "invitation",
        [outbox.Recipient(user.email, user.name, user_id=user.id)],
        source_id=user.id,
    )
    return user


def _invitation_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="invitation")


def invitation_token(user: User) -> str:
    return _invitation_serializer().dumps({"user": user.id, "org": user.organization_id})


def invitation_user(token: str) -> User:
    """The invited user the token names, still waiting to choose a password."""
    try:
        data = _invitation_serializer().loads(token, max_age=INVITATION_MAX_AGE_SECONDS)
    except SignatureExpired:
        raise ValidationError(
            _("This invitation has expired; ask your admin for a new one.")
        ) from None
    except BadSignature:
        raise NotFound(_("This invitation link is not valid.")) from None
    set_tenant(data["org"])
    user = db.session.get(User, data["user"])
    if user is None or not user.is_active:
        raise NotFound(_("This invitation link is not valid."))
    if user.password_hash:
        raise ValidationError(_("This invitation has already been used; sign in instead."))
    return user


@atomic
def accept_invitation(token: str, password: str) -> User:
    user = invitation_user(token)
    check_password_strength(password, email=user.email, name=user.name)
    user.password_hash = generate_password_hash(password)
    set_tenant(user.organization_id, user.id)
    # A new password ends every sign-in made with the old one.
    _end_all_sessions(user.id)
    return user


def _admin_count() -> int:
    return db.session.scalar(
        select(func.count()).where(
            User.organization_id == current_organization_id(), User.role == "admin", User.is_active
        )
    )


@atomic
def update_user(
    user_id: int,
    *,
    acting_user: User,
    name: str,
    role: str,
    department: str,
    skills: list[str] | str,
    is_active: bool,
) -> User:
    """Change a user's profile, role or status; the organization always keeps an active admin."""
    user = get_user(user_id)
    _check_role(role)
    if user.id == acting_user.id and (role != user.role or not is_active):
        raise PermissionDenied(_("You cannot change your own role or deactivate yourself."))
    losing_admin = user.role == "admin" and user.is_active and (role != "admin" or not is_active)
    if losing_admin and _admin_count() <= 1:
        raise ValidationError(
            _("The organization needs at least one active admin."), {"role": _("Keep one admin.")}
        )
    user.name = name.strip() or user.email
    user.role = role
    user.department = department.strip()
    user.skills = _skills(skills)
    user.is_active = is_active
    if not is_active:
        # Reactivating the user later must not bring back the sign-ins they had.
        _end_all_sessions(user.id)
    return user


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _token_expiry(
    user: User, expires_days: int | None, expires_on: date | None, errors: dict
) -> datetime | None:
    """When a new token stops working: after `expires_days`, or as the day `expires_on` begins
    in the organization's time zone (so it works through the day before); None: never."""
    if expires_days is not None:
        if expires_days < 1:
            errors["expires_days"] = _("Use a whole number of days, 1 or more.")
            return None
        return datetime.now(UTC) + timedelta(days=expires_days)
    if expires_on is None:
        return None
    zone = _zone(user.organization.timezone)
    if expires_on <= datetime.now(zone).date():
        errors["expires_on"] = _("Choose a day after today.")
        return None
    return datetime.combine(expires_on, time.min, zone)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except ZoneInfoNotFoundError:
        return ZoneInfo("UTC")


@atomic
def create_api_token(
    user: User,
    name: str = "API",
    expires_days: int | None = None,
    *,
    expires_on: date | None = None,
) -> tuple[ApiToken, str]:
    """A new bearer token for this user, named for what uses it, lasting `expires_days` or until
    `expires_on` (neither: until revoked); the raw value is returned once, only its hash kept."""
    errors = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = _("Name the token after what will use it.")
    elif len(name) > TOKEN_NAME_MAX:
        errors["name"] = _("Keep the name under %(max)d characters.", max=TOKEN_NAME_MAX)
    expires_at = _token_expiry(user, expires_days, expires_on, errors)
    check_fields(errors)
    raw = "crm_" + secrets.token_urlsafe(32)
    token = ApiToken(
        organization_id=user.organization_id,
        user_id=user.id,
        name=name,
        token_hash=_hash_token(raw),
        prefix=raw[:12],
        expires_at=expires_at,
    )
    db.session.add(token)
    db.session.flush()
    return token, raw


def list_api_tokens(
    *, user_id: int | None = None, cursor: str | None = None, limit: int = 50
) -> Page:
    """The tokens not revoked (working or expired) of the organization, or of one user, newest
    first, with their owners."""
    stmt = (
        select(ApiToken)
        .where(ApiToken.organization_id == current_organization_id(), ApiToken.revoked_at.is_(None))
        .options(joinedload(ApiToken.user))
    )
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    return keyset_page(stmt, (ApiToken.id,), cursor=cursor, limit=limit)


@atomic
def revoke_api_token(token_id: int, *, acting_user: User) -> ApiToken:
    """Revoke a token of the current organization, the acting user's own or (for those who
    manage API tokens) anyone's; it no longer authenticates."""
    token = db.session.scalar(
        select(ApiToken).where(
            ApiToken.id == token_id, ApiToken.organization_id == current_organization_id()
        )
    )
    # Another user's token is as unknown as a missing one to those who may not manage it.
    if token is None or (
        token.user_id != acting_user.id and not acting_user.can("manage API tokens")
    ):
        raise NotFound(_("No such API token."))
    token.revoked_at = token.revoked_at or datetime.now(UTC)
    return token


def user_for_token(raw: str) -> User | None:
    """The active user owning this live bearer token, made the current tenant; None for an
    unknown or revoked token, Unauthorized for an expired one."""
    row = db.session.execute(
        text(
            "SELECT user_id, organization_id, token_id, expires_at, last_used_at"
            " FROM auth_token_owner(:h)"
        ),
        {"h": _hash_token(raw)},
    ).first()
    if row is None:
        return None
    now = datetime.now(UTC)
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized(_("This API token has expired; create a new one."))
    set_tenant(row.organization_id, row.user_id)
    if row.last_used_at is None or now - row.last_used_at >= TOKEN_USE_RESOLUTION:
        _record_token_use(row.token_id)
    return db.session.get(User, row.user_id)


@atomic
def _record_token_use(token_id: int) -> None:
    # One write a minute at most, whatever the request rate; SQL, not the ORM, so the audit log
    # does not record every use. The condition keeps concurrent requests to one write too.
    db.session.execute(
        text(
            "UPDATE api_tokens SET last_used_at = now() WHERE id = :id"
            " AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => :secs))"
        ),
        {"id": token_id, "secs": TOKEN_USE_RESOLUTION.total_seconds()},
    )


def user_by_email(email: str) -> User:
    """The user with this email (CLI), made the current tenant."""
    user = _user_with_email(email.strip().lower())
    if user is None:
        raise NotFound(f"No user with email {email}.")
    return user
