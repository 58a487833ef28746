"""Actors for leads: rescoring after the rules change, and the nightly refresh of recency scores."""

from crm_web import jobs
from crm_web.leads import scoring
from worker.actors.base import actor_for


@actor_for(jobs.RESCORE_LEADS)
def rescore_leads(open_only: bool = False) -> None:
    scoring.rescore_all(open_only=open_only)


@actor_for(jobs.RESCORE_OPEN_LEADS_EVERYWHERE)
def rescore_open_leads_everywhere() -> None:
    scoring.schedule_nightly_rescoring()
