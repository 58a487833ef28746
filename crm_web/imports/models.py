"""CSV import jobs (any record type) and the rows each one left out."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited

# uploaded -> (mapping saved) queued -> running -> checked (the dry run's report)
#          -> (import confirmed) queued -> running -> imported; any run can end in failed.
STATUSES = ("uploaded", "queued", "running", "checked", "imported", "failed")
PHASES = ("check", "import")
DEDUPE_MODES = ("skip", "update", "create")


class ImportJob(Audited, TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "import_jobs"
    __table_args__ = (
        Index("ix_import_jobs_org_target", "organization_id", "target", "id"),
        CheckConstraint(f"status IN {STATUSES}", name="status_known"),
        CheckConstraint(f"phase IN {PHASES}", name="phase_known"),
        CheckConstraint(f"dedupe_mode IN {DEDUPE_MODES}", name="dedupe_mode_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # Which kind of record the rows become ("customers", later "leads"): see imports.targets.
    target: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="uploaded")
    phase: Mapped[str] = mapped_column(String(10), default="check")
    # What a running job is doing now ("Reading rows", "Saving"), for the progress bar.
    stage: Mapped[str] = mapped_column(String(40), default="")
    filename: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    encoding: Mapped[str] = mapped_column(String(20))
    encoding_note: Mapped[str] = mapped_column(Text, default="")
    delimiter: Mapped[str] = mapped_column(String(1))
    headers: Mapped[list] = mapped_column(JSONB)
    sample: Mapped[list] = mapped_column(JSONB)
    # The target field each column goes to, by position ("" leaves the column out).
    mapping: Mapped[list] = mapped_column(JSONB, default=list)
    dedupe_mode: Mapped[str] = mapped_column(String(10), default="skip")
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_processed: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    # Outcome counts of the last run: create, update, skip, duplicate, reject.
    report: Mapped[dict] = mapped_column(JSONB, default=dict)
    message: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    # Who asked for the current run: the worker writes its changes under their name.
    queued_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def percent(self) -> int:
        """How far the current run is; 100 only once it has finished."""
        if self.status in ("checked", "imported"):
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_processed * 100 // self.rows_total)


class ImportReject(TenantMixin, db.Model):
    """A row the last run of a job left out, and why (written set-based, so not audited)."""

    __tablename__ = "import_rejects"
    __table_args__ = (PrimaryKeyConstraint("organization_id", "job_id", "row_number"),)

    job_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("import_jobs.id", ondelete="CASCADE")
    )
    row_number: Mapped[int] = mapped_column(Integer)
    # reject (invalid), duplicate (of an earlier row) or skip (already exists).
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
