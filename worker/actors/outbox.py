"""Actors for the outbox: an organization's delivery loop (the scheduler runs the sweep)."""

from crm_web import jobs
from crm_web.outbox import delivery
from worker.actors.base import actor_for


@actor_for(jobs.DELIVER_OUTBOX)
def deliver_outbox(channel: str) -> None:
    delivery.deliver_share(channel)
