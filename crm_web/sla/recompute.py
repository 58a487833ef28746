"""Open tickets follow a policy or business-hours change: their due times are recomputed.

A change (a policy saved or removed; the business hours, time zone or warning points; a
holiday) moves the clocks of the open tickets it applies to. Each clock is computed in Python
(`clock.clock_state`, the same code a single ticket's change runs); the writes are
set-based, a chunk of tickets at a time in id order (the order every bulk change of tickets
locks them in): one UPDATE ... FROM unnest for the tickets whose SLA columns moved, one read
and at most two writes for their escalation points, one audit row per statement, and one
message per second in which points fall due within SCHEDULE_AHEAD (`fire_due_sla_escalations`
fires every point of the organization due by then) instead of one per point.

Up to INLINE_LIMIT tickets are recomputed in the change's own transaction. Beyond that, the
change commits at once and the worker recomputes in chunks, a transaction each, recording its
progress in the organization's `sla_recomputes` row, which the settings page polls. That row
is where changes and chunks meet:
- A change locks it (creating it the first time) before it touches a ticket, and a chunk
  locks it before it reads the rules: a chunk never writes due times computed from rules
  that a change committed meanwhile has replaced.
- A change that starts a job bumps the generation; a run stops at its next chunk when it sees
  a newer one (superseded). The new job starts again from the first ticket, over its own
  priorities and those of the job it superseded, if that one had not finished.
- The cursor and the counts move in each chunk's transaction, so a message delivered twice,
  or retried after a crash, goes on from the last committed chunk; recomputing a ticket again
  changes nothing.
- A running job that stops moving (its worker died) is sent again by the minute sweep.
A small change while a job runs needs no job of its own: its tickets are recomputed in its
transaction, and the job's later chunks read the new rules anyway.
"""

import logging
from datetime import datetime

from sqlalchemy import BigInteger, any_, cast, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, insert

from crm_web import jobs
from crm_web.customers.models import Customer
from crm_web.db import atomic, current_organization_id, current_tenant, tenant_scope
from crm_web.extensions import db
from crm_web.sla import clock
from crm_web.sla.models import SlaRecompute
from crm_web.tickets.models import ACTIVE_STATUSES, Ticket

log = logging.getLogger("crm.sla")

# Up to this many open tickets are recomputed in the change's transaction (about a second).
INLINE_LIMIT = 500
CHUNK = 500

# The ticket columns the clock writes, with their SQL types (for the set-based UPDATE).
CLOCK_COLUMNS = {
    "sla_policy_id": "bigint",
    "sla_elapsed_seconds": "float8",
    "sla_clock_started_at": "timestamptz",
    "first_response_due_at": "timestamptz",
    "resolution_due_at": "timestamptz",
    "sla_due_at": "timestamptz",
    "first_response_seconds": "float8",
    "first_response_breached": "boolean",
    "resolution_seconds": "float8",
    "resolution_breached": "boolean",
}
_WRITE_CLOCKS = text(
    f"""
    UPDATE tickets t
       SET {", ".join(f"{column} = v.{column}" for column in CLOCK_COLUMNS)}, updated_at = now()
      FROM unnest(CAST(:id AS bigint[]),
                  {", ".join(f"CAST(:{column} AS {kind}[])" for column, kind in CLOCK_COLUMNS.items())})
           AS v(id, {", ".join(CLOCK_COLUMNS)})
     WHERE t.organization_id = :org AND t.id = v.id
    """
)


def follow_change(priorities: list[str] | None) -> None:
    """Recompute the open tickets of these priorities (None: all) after a change of the
    rules, in the current transaction when there are few, else by the background job."""
    job = hold()
    now = clock.current_time()
    if _count_open(priorities, cap=INLINE_LIMIT + 1) <= INLINE_LIMIT:
        recompute_in_transaction(priorities, now)
        return
    if job.running:
        # The job this one supersedes may not have reached these tickets yet.
        priorities = (
            None
            if priorities is None or job.priorities is None
            else sorted({*priorities, *job.priorities})
        )
    job.generation += 1
    job.status = "running"
    job.priorities = priorities
    job.total = _count_open(priorities)
    job.done = 0
    job.last_ticket_id = 0
    job.requested_by_id = current_tenant().user_id
    job.started_at = job.updated_at = now
    job.finished_at = None
    _enqueue_job(job.generation)


def recompute_in_transaction(
    priorities: list[str] | None = None,
    now: datetime | None = None,
    *,
    after_id: int = 0,
    loaded: bool = False,
) -> int:
    """Recompute every open ticket of these priorities (None: all) in the current
    transaction, or those after `after_id`; returns how many. `loaded`: the tickets were just
    loaded with their history (see clock.reschedule_points)."""
    now = now or clock.current_time()
    context, announced = clock.SlaContext(), set()
    count, last_id = 0, after_id
    while True:
        done, last_id = _recompute_chunk(context, priorities, last_id, now, announced, loaded)
        count += done
        if done < CHUNK:
            return count


def recompute_status() -> SlaRecompute | None:
    """The organization's latest background recompute, if it ever had one."""
    return db.session.get(SlaRecompute, current_organization_id(), populate_existing=True)


def run_job(generation: int) -> None:
    """The worker's part: recompute chunk by chunk, a transaction each, until the job is done
    or a newer change supersedes it."""
    job = recompute_status()
    db.session.commit()
    if job is None or job.generation != generation or not job.running:
        return
    announced: set[datetime] = set()
    # The chunks' writes are audited under the name of the person whose change they follow.
    log.info("sla recompute started generation=%s done=%s of %s", generation, job.done, job.total)
    with tenant_scope(current_organization_id(), job.requested_by_id):
        while _run_chunk(generation, announced):
            pass
    job = recompute_status()
    db.session.commit()
    log.info(
        "sla recompute %s generation=%s done=%s of %s",
        job.status if job.generation == generation else "superseded", generation, job.done, job.total,
    )  # fmt: skip


@atomic
def _run_chunk(generation: int, announced: set[datetime]) -> bool:
    """One chunk of the job, if it is still the current one; returns whether more remain."""
    job = hold()
    if job.generation != generation or not job.running:
        return False
    now = clock.current_time()
    done, last_id = _recompute_chunk(
        clock.SlaContext(), job.priorities, job.last_ticket_id, now, announced
    )
    job.done += done
    job.last_ticket_id = last_id
    job.updated_at = now
    if done < CHUNK:
        job.status = "done"
        job.finished_at = now
    return job.running


def restart_stale_job(now: datetime, stale_before: datetime) -> bool:
    """Send the organization's running job again if it has not moved since `stale_before`
    (for the sweep)."""
    job = db.session.scalar(
        select(SlaRecompute)
        .where(
            SlaRecompute.organization_id == current_organization_id(),
            SlaRecompute.status == "running",
            SlaRecompute.updated_at < stale_before,
        )
        .with_for_update(skip_locked=True)
    )
    if job is None:
        return False
    job.updated_at = now
    _enqueue_job(job.generation)
    log.warning("sla recompute restarted generation=%s: its worker stopped", job.generation)
    return True


def hold() -> SlaRecompute:
    """The organization's recompute row, locked (created the first time): a change of the
    rules takes it before it locks any ticket, and so does each chunk of a job."""
    organization_id = current_organization_id()
    stmt = (
        insert(SlaRecompute)
        .values(
            organization_id=organization_id,
            generation=0,
            status="done",
            total=0,
            done=0,
            last_ticket_id=0,
        )
        # Updating the row on conflict locks it, as a SELECT ... FOR UPDATE would.
        .on_conflict_do_update(
            index_elements=[SlaRecompute.organization_id],
            set_={"organization_id": organization_id},
        )
        .returning(SlaRecompute)
        .execution_options(populate_existing=True)
    )

    return db.session.scalar(stmt)


def _enqueue_job(generation: int) -> None:
    jobs.enqueue_after_commit(jobs.RECOMPUTE_SLA_DUE_TIMES, current_organization_id(), generation)


def _open_tickets(priorities: list[str] | None):
    conditions = [
        Ticket.organization_id == current_organization_id(),
        Ticket.status.in_(ACTIVE_STATUSES),
    ]
    if priorities is not None:
        conditions.append(Ticket.priority.in_(priorities))
    return conditions


def _count_open(priorities: list[str] | None, cap: int | None = None) -> int:
    matches = select(Ticket.id).where(*_open_tickets(priorities))
    if cap is not None:
        matches = matches.limit(cap)
    return db.session.scalar(select(func.count()).select_from(matches.subquery()))


def _recompute_chunk(
    context: clock.SlaContext,
    priorities: list[str] | None,
    after_id: int,
    now: datetime,
    announced: set[datetime],
    loaded: bool = False,
) -> tuple[int, int]:
    """Recompute the next CHUNK open tickets after `after_id`, locked, and write what moved;
    returns how many it read and the last id."""
    organization_id = current_organization_id()
    # The chunk alone, then its customers' tags: joined in one statement, the planner may
    # join every remaining ticket before it sorts and takes the first CHUNK.
    rows = db.session.execute(
        select(
            Ticket.id,
            Ticket.customer_id,
            Ticket.priority,
            Ticket.status,
            Ticket.first_responded_at,
            *(getattr(Ticket, column) for column in CLOCK_COLUMNS),
        )
        .where(*_open_tickets(priorities), Ticket.id > after_id)
        .order_by(Ticket.id)
        .limit(CHUNK)
        .with_for_update()
    ).all()
    if not rows:
        return 0, after_id
    tags = dict(
        db.session.execute(
            select(Customer.id, Customer.tags).where(
                Customer.organization_id == organization_id,
                Customer.id
                == any_(cast(list({row.customer_id for row in rows}), ARRAY(BigInteger))),
            )
        ).all()
    )
    states = [context.clock_state(row, list(tags.get(row.customer_id) or []), now) for row in rows]
    moved = [
        state
        for row, state in zip(rows, states, strict=True)
        if any(getattr(row, column) != value for column, value in state.columns.items())
    ]
    if moved:
        db.session.execute(
            _WRITE_CLOCKS,
            {
                "org": organization_id,
                "id": [state.ticket_id for state in moved],
                **{column: [state.columns[column] for state in moved] for column in CLOCK_COLUMNS},
            },
        )
        ids = [state.ticket_id for state in moved]
        clock.audit_batch("tickets", "update", ids, change="SLA due times recomputed")
        clock.expire_changed(set(), set(ids))
    due_soon = clock.reschedule_points(states, now, loaded=loaded)
    clock.announce_due_points(
        organization_id, [fire_at for _id, fire_at in due_soon], now, announced
    )
    return len(rows), rows[-1].id
