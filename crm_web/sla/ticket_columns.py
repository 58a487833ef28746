"""The SLA state a ticket carries (added to `tickets` by migration 0009_sla).

Only `crm_web.sla.clock.ticket_changed` and the escalation worker write these columns.
Due columns hold live deadlines: NULL while the clock is paused (waiting on the customer),
stopped (resolved, closed) or the target already met; the outcome of a clock that stopped is
kept in the *_seconds and *_breached columns.
"""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Computed, DateTime, Double, ForeignKey
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

# Sorts tickets without a deadline after all others.
NO_DEADLINE = "'9999-12-31 00:00:00+00'::timestamptz"


class TicketSlaColumns:
    """Mixin for the Ticket model: its SLA clock, deadlines and their outcome."""

    @declared_attr
    def sla_policy_id(cls) -> Mapped[int | None]:
        return mapped_column(BigInteger, ForeignKey("sla_policies.id", ondelete="SET NULL"))

    # Working seconds used before sla_clock_started_at; a NULL start means the clock is not running.
    sla_elapsed_seconds: Mapped[float] = mapped_column(Double, default=0.0, server_default="0")
    sla_clock_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_response_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The earlier live deadline: what the queue sorts by and "breaching soon" looks at.
    sla_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Working seconds (pauses excluded) until the first response and until resolution.
    first_response_seconds: Mapped[float | None] = mapped_column(Double)
    resolution_seconds: Mapped[float | None] = mapped_column(Double)
    first_response_breached: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default="false"
    )
    resolution_breached: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default="false"
    )

    # sla_due_at with no deadline sorted last: a NOT NULL key that keyset pages can use. A
    # stored column, not an expression: under row-level security only leakproof operators
    # make index conditions, and coalesce() is not one, so the breach filters and keyset
    # cursors written over an expression were filters on every row read.
    sla_due_sort: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), Computed(f"coalesce(sla_due_at, {NO_DEADLINE})", persisted=True)
    )

    @property
    def sla_paused(self) -> bool:
        return clock_paused(self.status, self.sla_clock_started_at)


def clock_paused(status: str, clock_started_at: datetime | None) -> bool:
    """The clock waits for the customer (not stopped, not running)."""
    return clock_started_at is None and status == "waiting_on_customer"
