"""Actors for campaigns: start a due campaign or decide its A/B test, and write the buffered
opens and clicks."""

from crm_web import jobs
from crm_web.campaigns import services, tracking
from worker.actors.base import actor_for


@actor_for(jobs.RUN_DUE_CAMPAIGN)
def run_due_campaign(campaign_id: int, action: str) -> None:
    services.run_due(campaign_id, action)


# No retries: the scheduler runs it again within seconds, and the buffer keeps what is left.
@actor_for(jobs.FLUSH_CAMPAIGN_HITS)
def flush_campaign_hits() -> None:
    tracking.flush()
