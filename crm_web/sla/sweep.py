"""The SLA sweep (the scheduler's, every minute): escalation messages due soon or lost, and
recomputes whose worker stopped, across organizations."""

import logging
from datetime import datetime, timedelta

from sqlalchemy import text

from crm_web.db import atomic, tenant_scope
from crm_web.extensions import db
from crm_web.privacy.audit import record
from crm_web.sla import clock, recompute

log = logging.getLogger("crm.sla")

# Work enqueued this long ago and still not done is enqueued again.
STALE_AFTER = timedelta(minutes=5)
SWEEP_BATCH = 5000


def sweep(*, now: datetime | None = None) -> int:
    """Enqueue escalation work that is due soon or was missed, and recomputes whose worker
    stopped, across organizations; returns how many messages it enqueued. Safe to run twice
    at once: rows are claimed with FOR UPDATE SKIP LOCKED and a conditional update."""
    now = now or clock.current_time()
    organization_ids = sorted(
        set(
            db.session.scalars(
                text("SELECT sla_organizations_with_work(:until, :stale)"),
                {"until": now + clock.SCHEDULE_AHEAD, "stale": now - STALE_AFTER},
            )
        )
        | set(
            db.session.scalars(
                text("SELECT sla_organizations_with_stale_recomputes(:stale)"),
                {"stale": now - STALE_AFTER},
            )
        )
    )
    db.session.commit()
    enqueued = 0
    for organization_id in organization_ids:
        with tenant_scope(organization_id):
            enqueued += _sweep_organization(organization_id, now)
    if enqueued:
        log.info(
            "sla sweep enqueued %s messages for %s organizations", enqueued, len(organization_ids)
        )
    return enqueued


_CLAIM_DUE = text(
    """
    WITH claimed AS (
        SELECT e.id FROM sla_escalations e
         WHERE e.organization_id = :org AND e.status = 'pending' AND e.fire_at <= :until
           AND (e.enqueued_at IS NULL OR e.enqueued_at < :stale)
         ORDER BY e.fire_at
         LIMIT :batch
           FOR UPDATE SKIP LOCKED
    )
    UPDATE sla_escalations SET enqueued_at = :now
     WHERE id IN (SELECT id FROM claimed) AND (enqueued_at IS NULL OR enqueued_at < :stale)
    RETURNING id, fire_at
    """
)


@atomic
def _sweep_organization(organization_id: int, now: datetime) -> int:
    restarted = recompute.restart_stale_job(now, now - STALE_AFTER)
    rows = db.session.execute(
        _CLAIM_DUE,
        {
            "org": organization_id,
            "now": now,
            "until": now + clock.SCHEDULE_AHEAD,
            "stale": now - STALE_AFTER,
            "batch": SWEEP_BATCH,
        },
    ).all()
    for escalation_id, fire_at in rows:
        clock.enqueue_fire(organization_id, escalation_id, fire_at, now)
    if rows:
        record(
            db.session,
            organization_id=organization_id,
            action="update",
            table_name="sla_escalations",
            row_id=rows[0][0],
            new={"enqueued_at": now, "ids": [row[0] for row in rows]},
        )
    return len(rows) + restarted
