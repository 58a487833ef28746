"""Per-organization document numbers (CUS-000001, LEAD-000001, ...)."""

from sqlalchemy import BigInteger, ForeignKey, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from crm_web.extensions import db


class OrganizationCounter(db.Model):
    __tablename__ = "organization_counters"

    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


def allocate(organization_id: int, name: str, count: int = 1) -> int:
    """Reserve `count` consecutive numbers and return the first; the row lock serialises callers."""
    last = db.session.execute(
        text(
            "INSERT INTO organization_counters (organization_id, name, value) VALUES (:org, :name, :count) "
            "ON CONFLICT (organization_id, name) DO UPDATE SET value = organization_counters.value + :count "
            "RETURNING value"
        ),
        {"org": organization_id, "name": name, "count": count},
    ).scalar_one()
    return last - count + 1


def document_number(prefix: str, number: int) -> str:
    """The n-th document of a kind: CUS-000042 (more digits past a million)."""
    return f"{prefix}-{number:06d}"


def document_number_sql(prefix: str, number):
    """document_number() as SQL, for set-based inserts (lpad alone would cut a 7th digit)."""
    digits = func.cast(number, Text)
    return func.concat(f"{prefix}-", func.lpad(digits, func.greatest(6, func.length(digits)), "0"))
