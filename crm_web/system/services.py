"""Health, scheduler slots, worker heartbeat and failed jobs: what an operator watches."""

import os
import socket
import time
from datetime import UTC, datetime

from sqlalchemy import select, text

from crm_web import jobs
from crm_web.extensions import db
from crm_web.redis_client import get_redis, when_redis_down
from crm_web.system.models import FailedJob, ScheduledJob

WORKER_HEARTBEAT_KEY = "crm:worker-heartbeat"
TICK_JOB = "scheduler-tick"


def process_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_job(name: str, interval_seconds: int) -> bool:
    """Take this job's current slot; False if another scheduler already ran it within the interval."""
    db.session.execute(
        text(
            "INSERT INTO scheduled_jobs (name, interval_seconds, last_run_by, run_count) "
            "VALUES (:name, :interval, '', 0) ON CONFLICT (name) DO NOTHING"
        ),
        {"name": name, "interval": interval_seconds},
    )
    # The row lock serialises two schedulers; the second sees the new last_run_at and gets nothing.
    claimed = db.session.execute(
        text(
            "UPDATE scheduled_jobs SET last_run_at = now(), last_run_by = :by, run_count = run_count + 1, "
            "interval_seconds = :interval "
            "WHERE name = :name AND (last_run_at IS NULL "
            "OR last_run_at <= now() - make_interval(secs => :interval) + interval '100 milliseconds') "
            "RETURNING name"
        ),
        {"name": name, "interval": interval_seconds, "by": process_label()},
    ).first()
    db.session.commit()
    return claimed is not None


def release_job(name: str) -> None:
    """Give back a job's slot (its run failed), so the next tick runs it again."""
    db.session.execute(
        text("UPDATE scheduled_jobs SET last_run_at = NULL WHERE name = :name"), {"name": name}
    )
    db.session.commit()


def record_worker_heartbeat() -> None:
    get_redis().set(WORKER_HEARTBEAT_KEY, str(time.time()))


@when_redis_down(None, "reading the worker heartbeat")
def last_worker_heartbeat() -> datetime | None:
    value = get_redis().get(WORKER_HEARTBEAT_KEY)
    return datetime.fromtimestamp(float(value), UTC) if value else None


def scheduled_jobs() -> list[ScheduledJob]:
    return list(db.session.scalars(select(ScheduledJob).order_by(ScheduledJob.name)))


def recent_failed_jobs(limit: int = 50) -> list[FailedJob]:
    """The current organization's failed jobs, newest first (row-level security scopes them)."""
    return list(db.session.scalars(select(FailedJob).order_by(FailedJob.id.desc()).limit(limit)))


def failed_system_job_count() -> int:
    """Failed jobs that ran for no organization: counted only, their details may hold anyone's data."""
    return db.session.scalar(text("SELECT failed_system_job_count()"))


def health() -> tuple[bool, dict]:
    """Whether the database, Redis and the broker answer, with queue depths."""
    report: dict = {}
    healthy = True
    try:
        db.session.execute(text("SELECT 1"))
        report["database"] = "ok"
    except Exception as exc:  # a health check reports every failure instead of raising
        db.session.rollback()
        report["database"] = f"error: {exc.__class__.__name__}"
        healthy = False
    try:
        get_redis().ping()
        report["redis"] = "ok"
        report["queues"] = jobs.queue_depths()
    except Exception as exc:
        report["redis"] = f"error: {exc.__class__.__name__}"
        healthy = False
    report["status"] = "ok" if healthy else "degraded"
    return healthy, report
