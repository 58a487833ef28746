"""The scheduler process: every few seconds, claim each due job's slot and enqueue its work.

Claims are conditional UPDATEs in PostgreSQL, so two schedulers running at once (or one
restarted after downtime) run each job once per interval, never twice.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.blocking import BlockingScheduler

from crm_web import create_app, jobs
from crm_web.campaigns import services as campaigns
from crm_web.dashboard import services as dashboards
from crm_web.extensions import db
from crm_web.imports import services as imports
from crm_web.outbox import delivery as outbox_delivery
from crm_web.segments import services as segments
from crm_web.sla import sweep as sla_sweep
from crm_web.system import services

TICK_SECONDS = 5
log = logging.getLogger("crm.scheduler")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval_seconds: int
    run: Callable[[], None]


JOBS = (
    PeriodicJob("worker-heartbeat", 60, lambda: jobs.enqueue(jobs.RECORD_WORKER_HEARTBEAT)),
    # "Days since the last activity" scoring rules change with time alone.
    PeriodicJob(
        "lead-rescore", 24 * 3600, lambda: jobs.enqueue(jobs.RESCORE_OPEN_LEADS_EVERYWHERE)
    ),
    PeriodicJob("activity-reminders", 30, lambda: jobs.enqueue(jobs.SWEEP_ACTIVITY_REMINDERS)),
    # The sweeps run here, not on a worker: they only enqueue, and must run even when workers lag.
    PeriodicJob("sla-sweep", 60, sla_sweep.sweep),
    # Often: after a worker dies, its messages go again once their lease ran out and this passed.
    PeriodicJob("outbox-sweep", 10, outbox_delivery.sweep),
    # An import whose worker died fails visibly (or, queued and lost, is sent again).
    PeriodicJob("import-sweep", 15, imports.sweep),
    # Dynamic segments whose refresh interval passed, or whose requested refresh was lost.
    PeriodicJob("segment-refresh", 60, segments.sweep),
    # Scheduled campaigns start (and A/B winners go out) within a tick of their time: the
    # sweep enqueues, a worker does it.
    PeriodicJob("campaign-sweep", 5, campaigns.sweep),
    PeriodicJob("campaign-hits", 5, lambda: jobs.enqueue(jobs.FLUSH_CAMPAIGN_HITS)),
    # Points past their date expire, tiers are reviewed on their day, lost nudges settled.
    PeriodicJob("loyalty", 3600, lambda: jobs.enqueue(jobs.RUN_LOYALTY_DAY_EVERYWHERE)),
    # Journeys: who the triggers enroll and which enrollments are due, every minute.
    PeriodicJob("automations", 60, lambda: jobs.enqueue(jobs.RUN_AUTOMATIONS_EVERYWHERE)),
    # RFM scores and segments move with time alone (recency): once a day.
    # The dashboards' closed-deal and organization figures ("as of" on their cards).
    PeriodicJob("dashboard-refresh", dashboards.REFRESH_SECONDS, dashboards.refresh_later),
    PeriodicJob(
        "customer-values",
        24 * 3600,
        lambda: jobs.enqueue(jobs.RECOMPUTE_CUSTOMER_VALUES_EVERYWHERE),
    ),
)


def tick(app) -> list[str]:
    """Run every job whose slot this process claims; return their names."""
    ran = []
    with app.app_context():
        services.claim_job(services.TICK_JOB, 0)
        for job in JOBS:
            if not services.claim_job(job.name, job.interval_seconds):
                continue
            try:
                job.run()
            except Exception:
                # Redis down, say: give the slot back so the next tick tries again, rather
                # than skip a daily job for a day.
                db.session.rollback()
                services.release_job(job.name)
                log.exception("scheduler job %s failed; it runs again at the next tick", job.name)
                continue
            ran.append(job.name)
            log.debug("scheduler ran %s", job.name)
    return ran


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s scheduler %(levelname)s %(message)s"
    )
    # APScheduler logs every 5-second tick at INFO; only its problems are worth a line.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    app = create_app()
    scheduler = BlockingScheduler()
    scheduler.add_job(
        tick, "interval", args=[app], seconds=TICK_SECONDS, max_instances=1, coalesce=True
    )
    log.info("Scheduler started: %s", ", ".join(job.name for job in JOBS))
    tick(app)
    scheduler.start()


if __name__ == "__main__":
    main()
