"""Background jobs as the web side sees them: their names and queues, the broker, and enqueueing.

`crm_web` never imports `worker`. Services enqueue a job by its spec here (`enqueue_after_commit(
jobs.DELIVER_OUTBOX, organization_id, "email")`); the worker process binds a function to each
spec (`worker.actors.base.actor_for`). The spec is the one place that names a job's queue and
retry policy, so the two sides cannot disagree.

Work is enqueued after the transaction commits, never before: a rollback sends nothing. A nudge
lost on the way (Redis down) is logged, not raised: the rows in PostgreSQL are the truth and the
scheduler's sweeps pick them up.
"""

import logging
import os
import time
from dataclasses import dataclass, field

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import BrokerError
from sqlalchemy import event
from sqlalchemy.orm import Session

from crm_web.extensions import db
from crm_web.redis_client import redis_failed, redis_known_down

log = logging.getLogger("crm.jobs")

REDIS_NAMESPACE = "dramatiq"


@dataclass(frozen=True)
class Job:
    """A kind of background work: its actor's name, queue and Dramatiq options.

    `tenant` jobs take the organization id first and run with that tenant set; their failures
    are shown to that organization's admins only.
    """

    name: str
    queue_name: str = "default"
    tenant: bool = True
    options: dict = field(default_factory=dict, hash=False, compare=False)


# -- every job the app knows --------------------------------------------------------------------

# Delivering the outbox: a batch loop per organization and channel (crm_web.outbox.delivery).
# Retries are the outbox's own (per message, with backoff); the job itself is only a nudge.
DELIVER_OUTBOX = Job("deliver_outbox", "outbox", options={"max_retries": 0, "time_limit": 900_000})

PROCESS_ACTIVITY_REMINDERS = Job(
    "process_activity_reminders", "default", options={"max_retries": 3, "time_limit": 600_000}
)
SWEEP_ACTIVITY_REMINDERS = Job(
    "sweep_activity_reminders", tenant=False, options={"max_retries": 0, "time_limit": 60_000}
)
# No retries: a failed run is written on the job for the person to see and start again, and a
# 1M-row import may need minutes.
RUN_IMPORT_JOB = Job(
    "run_import_job", "imports", options={"max_retries": 0, "time_limit": 60 * 60 * 1000}
)
RESCORE_LEADS = Job("rescore_leads", options={"max_retries": 3, "time_limit": 3_600_000})
RESCORE_OPEN_LEADS_EVERYWHERE = Job(
    "rescore_open_leads_everywhere", tenant=False, options={"max_retries": 0, "time_limit": 60_000}
)
# Each point has its message, due at its moment; the first to arrive fires every point of the
# organization due by then (see crm_web.sla.escalations.fire_escalation_and_due).
FIRE_SLA_ESCALATION = Job(
    "fire_sla_escalation",
    "sla",
    options={"max_retries": 8, "min_backoff": 1_000, "max_backoff": 60_000, "time_limit": 60_000},
)
# A recompute's points due soon: one message per second they fall due in, not one each.
FIRE_DUE_SLA_ESCALATIONS = Job(
    "fire_due_sla_escalations",
    "sla",
    options={"max_retries": 8, "min_backoff": 1_000, "max_backoff": 60_000, "time_limit": 60_000},
)
# Retried after a crash, it goes on from the last committed chunk (see crm_web.sla.recompute).
RECOMPUTE_SLA_DUE_TIMES = Job(
    "recompute_sla_due_times", options={"max_retries": 5, "time_limit": 3_600_000}
)
# One segment's membership brought in line with its criteria (crm_web.segments.services); the
# scheduler's sweep asks again for a refresh that was lost.
REFRESH_SEGMENT = Job(
    "refresh_segment", "segments", options={"max_retries": 3, "time_limit": 600_000}
)
# A scheduled campaign's start (its ledger and queue) or its A/B decision, found due by the
# scheduler's sweep; done once however often it is asked (crm_web.campaigns.services.run_due).
RUN_DUE_CAMPAIGN = Job("run_due_campaign", options={"max_retries": 3, "time_limit": 900_000})
# The buffered opens and clicks of campaign emails written in batches (crm_web.campaigns.tracking).
FLUSH_CAMPAIGN_HITS = Job(
    "flush_campaign_hits", tenant=False, options={"max_retries": 0, "time_limit": 60_000}
)
# Loyalty: an order's points (earned when paid, taken back on return or cancellation) are settled
# by one idempotent job, safe to run twice; the daily job expires points, reviews tiers and
# settles what a lost nudge left behind.
SETTLE_ORDER_POINTS = Job(
    "settle_order_points", "loyalty", options={"max_retries": 5, "time_limit": 60_000}
)
RUN_LOYALTY_DAY = Job(
    "run_loyalty_day", "loyalty", options={"max_retries": 3, "time_limit": 600_000}
)
RUN_LOYALTY_DAY_EVERYWHERE = Job(
    "run_loyalty_day_everywhere", tenant=False, options={"max_retries": 0, "time_limit": 60_000}
)
# Customer value (RFM): set-based per organization, nightly and when asked.
RECOMPUTE_CUSTOMER_VALUES = Job(
    "recompute_customer_values", options={"max_retries": 3, "time_limit": 1_800_000}
)
RECOMPUTE_CUSTOMER_VALUES_EVERYWHERE = Job(
    "recompute_customer_values_everywhere",
    tenant=False,
    options={"max_retries": 0, "time_limit": 60_000},
)
# Automations: per organization, enroll whoever the triggers name and advance due enrollments
# (crm_web.automations.runner; idempotent, so a retry or a second run does no harm).
RUN_AUTOMATIONS = Job(
    "run_automations", "automations", options={"max_retries": 3, "time_limit": 900_000}
)
RUN_AUTOMATIONS_EVERYWHERE = Job(
    "run_automations_everywhere", tenant=False, options={"max_retries": 0, "time_limit": 60_000}
)
# The dashboards' materialized views, every organization's at once (crm_web.dashboard.services).
REFRESH_DASHBOARDS = Job(
    "refresh_dashboards", tenant=False, options={"max_retries": 0, "time_limit": 1_800_000}
)
RECORD_WORKER_HEARTBEAT = Job(
    "record_worker_heartbeat", tenant=False, options={"max_retries": 0, "time_limit": 30_000}
)

ALL_JOBS = tuple(value for value in list(globals().values()) if isinstance(value, Job))
TENANT_JOB_NAMES = frozenset(job.name for job in ALL_JOBS if job.tenant)


# -- the broker ---------------------------------------------------------------------------------


def _build_broker() -> dramatiq.Broker:
    if os.environ.get("CRM_BROKER") == "stub":
        return StubBroker()
    # Timeouts, so a Redis that stops answering fails a send (the web side logs a lost nudge)
    # instead of holding the request forever; no command of the broker blocks on the server.
    client = redis.Redis.from_url(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        socket_connect_timeout=2,
        socket_timeout=10,
    )
    return RedisBroker(client=client, namespace=REDIS_NAMESPACE)


broker = _build_broker()
dramatiq.set_broker(broker)
# Every queue is known to every process, so the web side can enqueue and report depths.
for _job in ALL_JOBS:
    broker.declare_queue(_job.queue_name)


def enqueue(job: Job, *args, delay_ms: int | None = None) -> None:
    """Send `job(*args)` to its queue now (outside a transaction: a sweep, the scheduler)."""
    message = dramatiq.Message(
        queue_name=job.queue_name, actor_name=job.name, args=args, kwargs={}, options={}
    )
    broker.enqueue(message, delay=delay_ms)


def enqueue_after_commit(job: Job, *args, delay_ms: int | None = None) -> None:
    """Queue `job(*args)` for after the session's transaction commits; a delay counts from this
    call, not from the commit."""
    session = db.session()
    if not session.in_transaction():
        # Begin now: a rollback of a transaction that never began fires no event, and the
        # message would wait for (and go out with) the next commit.
        session.begin()
    session.info.setdefault(_PENDING, []).append((job, args, delay_ms, time.monotonic()))


_PENDING = "crm_pending_jobs"


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    # Known to be down: nothing waits on a broker timeout. After one failure, the rest of this
    # commit's messages are not tried either. (No probe here: a commit must not wait on one.)
    reachable = bool(pending) and not redis_known_down()
    for job, args, delay_ms, asked_at in pending:
        if reachable:
            if delay_ms is not None:
                # A long transaction (a sweep enqueuing thousands) must not make the last late.
                delay_ms = max(0, delay_ms - int((time.monotonic() - asked_at) * 1000))
            try:
                enqueue(job, *args, delay_ms=delay_ms)
                continue
            except (redis.RedisError, BrokerError) as error:
                reachable = False
                redis_failed("enqueueing after commit", error)
        log.warning(
            "lost nudge: %s%r not enqueued (broker unreachable); the committed rows stand and "
            "the sweeps pick their work up",
            job.name,
            args,
        )


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction) -> None:
    # Only the outermost rollback discards: a savepoint rolling back leaves the rest of the work.
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)


def queue_depths() -> dict[str, dict[str, int]]:
    """Messages waiting, delayed and dead per declared queue."""
    queue_names = sorted(
        name for name in broker.get_declared_queues() if not name.endswith((".DQ", ".XQ"))
    )
    if isinstance(broker, StubBroker):
        return {
            name: {
                "ready": broker.queues[name].qsize(),
                "delayed": broker.queues[f"{name}.DQ"].qsize()
                if f"{name}.DQ" in broker.queues
                else 0,
                "dead": len(broker.dead_letters_by_queue.get(name, [])),
            }
            for name in queue_names
        }
    pipe = broker.client.pipeline()
    for name in queue_names:
        pipe.llen(f"{REDIS_NAMESPACE}:{name}")
        pipe.llen(f"{REDIS_NAMESPACE}:{name}.DQ")
        pipe.zcard(f"{REDIS_NAMESPACE}:{name}.XQ")
    counts = pipe.execute()
    depths = {}
    for index, name in enumerate(queue_names):
        ready, delayed, dead = counts[index * 3 : index * 3 + 3]
        depths[name] = {"ready": ready, "delayed": delayed, "dead": dead}
    return depths
