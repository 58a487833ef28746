"""Actors for operations: the scheduler's heartbeat."""

import dramatiq

from crm_web.system import services
from worker import broker as _broker  # noqa: F401


@dramatiq.actor(queue_name="default", max_retries=0, time_limit=30_000)
def record_worker_heartbeat() -> None:
    services.record_worker_heartbeat()
