"""Organizations, users and API tokens."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.permissions import allows
from crm_web.privacy.audit import Audited


class Organization(Audited, TimestampMixin, db.Model):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    locale: Mapped[str] = mapped_column(String(16), default="en")
    # The company as its quotes present it (crm_web.accounts.company).
    address: Mapped[str] = mapped_column(String(500), default="", server_default="")
    phone: Mapped[str] = mapped_column(String(30), default="", server_default="")
    email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    tax_office: Mapped[str] = mapped_column(String(100), default="", server_default="")
    tax_number: Mapped[str] = mapped_column(String(20), default="", server_default="")
    # SMS marketing: quiet hours ("21:00-09:00", empty: none) in each recipient's time zone,
    # and the inbound keywords (comma-separated; empty: the defaults of the configuration).
    sms_quiet_hours: Mapped[str] = mapped_column(String(20), default="", server_default="")
    sms_opt_out_keywords: Mapped[str] = mapped_column(String(200), default="", server_default="")
    sms_opt_in_keywords: Mapped[str] = mapped_column(String(200), default="", server_default="")

    @property
    def audit_organization_id(self) -> int:
        return self.id


class User(UserMixin, Audited, TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "users"
    audit_hidden = frozenset({"password_hash"})

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    department: Mapped[str] = mapped_column(String(100), default="")
    skills: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # None follows the organization's language and time zone.
    locale: Mapped[str | None] = mapped_column(String(16))
    timezone: Mapped[str | None] = mapped_column(String(64))

    organization: Mapped[Organization] = relationship(lazy="joined")

    def can(self, *capabilities: str) -> bool:
        """Whether this user's role holds at least one of `capabilities` (crm_web.permissions)."""
        return allows(self.role, *capabilities)


# Email is the login name, unique across organizations whatever its case.
Index("uq_users_email_lower", func.lower(User.email), unique=True)


class ApiToken(Audited, TenantMixin, db.Model):
    __tablename__ = "api_tokens"
    audit_hidden = frozenset({"token_hash"})

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    # Only a SHA-256 of the token is kept; the prefix lets a user tell tokens apart.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Written at most once a minute per token (see user_for_token).
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # None: the token lasts until it is revoked.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class UserSession(TenantMixin, db.Model):
    """One sign-in: the signed session cookie names this row and holds only while it exists."""

    __tablename__ = "user_sessions"

    # Random; the cookie carrying it is signed, so the id alone signs nobody in.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
