"""Segments (seed 001's CustomerSegment), their members with entered/left times, and the count
after each refresh."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_web.accounts.models import User
from crm_web.customers.services import register_customer_reference
from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited

SEGMENT_TYPES = ("demographic", "geographic", "behavioral", "value", "custom")
REFRESH_MINUTES = (15, 60, 360, 1440)


class Segment(Audited, TenantMixin, TimestampMixin, db.Model):
    """A named set of customers: dynamic ones follow their criteria on every refresh, static
    ones keep the members they were saved with."""

    __tablename__ = "segments"
    __table_args__ = (
        Index("uq_segments_org_code", "organization_id", "segment_code", unique=True),
        Index("ix_segments_org_id", "organization_id", "id"),
        CheckConstraint(
            "segment_type IN (" + ", ".join(f"'{t}'" for t in SEGMENT_TYPES) + ")",
            name="type_known",
        ),
        CheckConstraint("refresh_minutes > 0", name="refresh_minutes_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    segment_name: Mapped[str] = mapped_column(String(100))
    segment_code: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, default="")
    segment_type: Mapped[str] = mapped_column(String(20), default="custom")
    criteria: Mapped[dict] = mapped_column(JSONB, default=dict)
    is_dynamic: Mapped[bool] = mapped_column(Boolean, default=True)
    refresh_minutes: Mapped[int] = mapped_column(Integer, default=60)
    customer_count: Mapped[int] = mapped_column(Integer, default=0)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set by "Refresh now" until a refresh after it is done (the page shows it as running).
    refresh_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_refresh_ms: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def refreshing(self) -> bool:
        requested = self.refresh_requested_at
        return requested is not None and (
            self.last_refreshed_at is None or requested > self.last_refreshed_at
        )


class SegmentMember(TenantMixin, db.Model):
    """A customer's stay in a segment: entered, and left (NULL while still a member). A customer
    who comes back gets a new row, so the rows are the movement log."""

    __tablename__ = "segment_members"
    __table_args__ = (
        Index(
            "uq_segment_members_current",
            "organization_id",
            "segment_id",
            "customer_id",
            unique=True,
            postgresql_where=text("left_at IS NULL"),
        ),
        Index("ix_segment_members_entered", "organization_id", "segment_id", "entered_at"),
        Index(
            "ix_segment_members_left",
            "organization_id",
            "segment_id",
            "left_at",
            postgresql_where=text("left_at IS NOT NULL"),
        ),
        Index("ix_segment_members_customer", "organization_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    segment_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("segments.id", ondelete="CASCADE")
    )
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SegmentRefresh(TenantMixin, db.Model):
    """The outcome of one refresh: the count, who came and who went (the chart over time)."""

    __tablename__ = "segment_refreshes"
    __table_args__ = (
        Index("ix_segment_refreshes_segment", "organization_id", "segment_id", "refreshed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    segment_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("segments.id", ondelete="CASCADE")
    )
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    customer_count: Mapped[int] = mapped_column(Integer)
    entered: Mapped[int] = mapped_column(Integer)
    left: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)


# A merge keeps one stay per segment: where both customers are current members (or left at
# the same refresh), the merged-away customer's row goes.
register_customer_reference("segment_members", unique_with=("segment_id", "left_at"))
