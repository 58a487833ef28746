"""Actors for automations: the per-organization run, and the fan-out to every organization."""

from crm_web import jobs
from crm_web.automations import runner, services
from worker.actors.base import actor_for


@actor_for(jobs.RUN_AUTOMATIONS)
def run_automations() -> None:
    runner.run()


@actor_for(jobs.RUN_AUTOMATIONS_EVERYWHERE)
def run_automations_everywhere() -> None:
    services.schedule_everywhere()
