"""Actors for SLA escalations: fire escalation points (their notifications go through the
outbox), and recompute open tickets' due times after a policy or business-hours change."""

from datetime import datetime

from crm_web import jobs
from crm_web.sla import escalations, recompute
from worker.actors.base import actor_for


@actor_for(jobs.FIRE_SLA_ESCALATION)
def fire_sla_escalation(escalation_id: int) -> None:
    escalations.fire_escalation_and_due(escalation_id)


@actor_for(jobs.FIRE_DUE_SLA_ESCALATIONS)
def fire_due_sla_escalations(moment: str) -> None:
    escalations.fire_due_by(datetime.fromisoformat(moment))


@actor_for(jobs.RECOMPUTE_SLA_DUE_TIMES)
def recompute_sla_due_times(generation: int) -> None:
    recompute.run_job(generation)
