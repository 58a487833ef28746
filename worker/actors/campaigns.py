"""Actors for campaigns: write the buffered opens and clicks."""

from crm_web import jobs
from crm_web.campaigns import tracking
from worker.actors.base import actor_for


# No retries: the scheduler runs it again within seconds, and the buffer keeps what is left.
@actor_for(jobs.FLUSH_CAMPAIGN_HITS)
def flush_campaign_hits() -> None:
    tracking.flush()
