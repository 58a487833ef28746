"""Actors for operations: the scheduler's heartbeat."""

from crm_web import jobs
from crm_web.system import services
from worker.actors.base import actor_for


@actor_for(jobs.RECORD_WORKER_HEARTBEAT)
def record_worker_heartbeat() -> None:
    services.record_worker_heartbeat()
