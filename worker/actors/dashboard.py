"""Actors for the dashboards: refreshing their materialized views."""

import logging

from crm_web import jobs
from crm_web.dashboard import services
from worker.actors.base import actor_for

log = logging.getLogger("crm.dashboard")


@actor_for(jobs.REFRESH_DASHBOARDS)
def refresh_dashboards() -> None:
    seconds = services.refresh()
    log.info(
        "dashboards refreshed in %.1f s (%s)",
        sum(seconds.values()),
        ", ".join(f"{view} {taken:.1f} s" for view, taken in seconds.items()),
    )
