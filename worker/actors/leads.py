"""Actors for leads: rescoring after the rules change, and the nightly refresh of recency scores."""

import dramatiq

from crm_web.leads import scoring
from worker import broker as _broker  # noqa: F401
from worker.actors.base import tenant_actor


@tenant_actor(queue_name="default", max_retries=3, time_limit=3_600_000)
def rescore_leads(open_only: bool = False) -> None:
    scoring.rescore_all(open_only=open_only)


@dramatiq.actor(queue_name="default", max_retries=0, time_limit=60_000)
def rescore_open_leads_everywhere() -> None:
    scoring.schedule_nightly_rescoring()
