"""The scheduler process: every few seconds, claim each due job's slot and enqueue its work.

Claims are conditional UPDATEs in PostgreSQL, so two schedulers running at once (or one
restarted after downtime) run each job once per interval, never twice.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.blocking import BlockingScheduler

from crm_web import create_app
from crm_web.sla import services as sla_services
from crm_web.system import services
from worker.actors import activities as activities_actors
from worker.actors import leads as leads_actors
from worker.actors import system as system_actors

TICK_SECONDS = 5
log = logging.getLogger("crm.scheduler")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval_seconds: int
    run: Callable[[], None]


JOBS = (
    PeriodicJob("worker-heartbeat", 60, system_actors.record_worker_heartbeat.send),
    # "Days since the last activity" scoring rules change with time alone.
    PeriodicJob("lead-rescore", 24 * 3600, leads_actors.rescore_open_leads_everywhere.send),
    PeriodicJob("activity-reminders", 30, activities_actors.sweep_activity_reminders.send),
    # Runs here, not on a worker: it only enqueues, and must run even when workers lag.
    PeriodicJob("sla-sweep", 60, sla_services.sweep),
)


def tick(app) -> list[str]:
    """Run every job whose slot this process claims; return their names."""
    ran = []
    with app.app_context():
        services.claim_job(services.TICK_JOB, 0)
        for job in JOBS:
            if services.claim_job(job.name, job.interval_seconds):
                job.run()
                ran.append(job.name)
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
