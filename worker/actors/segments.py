"""Actors for segments: refresh one segment's members."""

from crm_web import jobs
from crm_web.segments import services
from worker.actors.base import actor_for


@actor_for(jobs.REFRESH_SEGMENT)
def refresh_segment(segment_id: int) -> None:
    services.refresh_segment(segment_id)
