"""Actors for SLA escalations: fire escalation points, then send their notifications; and
recompute open tickets' due times after a policy or business-hours change.

Firing and sending are two messages so that firing (the thread event, the log, the breach
actions) never waits behind a slow mail server, and a failed send is retried without firing
again.
"""

from datetime import datetime

from crm_web.sla import recompute, services
from worker.actors.base import tenant_actor


# Each point has its message, due at its moment; the first to arrive fires every point of
# the organization due by then (see services.fire_escalation_and_due).
@tenant_actor(
    queue_name="sla", max_retries=8, min_backoff=1_000, max_backoff=60_000, time_limit=60_000
)
def fire_sla_escalation(escalation_id: int) -> None:
    services.fire_escalation_and_due(escalation_id)


# Retries back off from 2 s: a transient SMTP or gateway failure is retried soon, not in minutes.
# A lower priority than firing: a worker holding both kinds of message fires points first, so
# a burst of mail never makes the next points late.
@tenant_actor(
    queue_name="sla_notifications",
    priority=10,
    max_retries=8,
    min_backoff=2_000,
    max_backoff=300_000,
    time_limit=120_000,
)
def deliver_sla_notifications(*escalation_ids: int) -> None:
    services.deliver_notifications(*escalation_ids)


# A recompute's points due soon: one message per second they fall due in, not one each.
@tenant_actor(
    queue_name="sla", max_retries=8, min_backoff=1_000, max_backoff=60_000, time_limit=60_000
)
def fire_due_sla_escalations(moment: str) -> None:
    services.fire_due_by(datetime.fromisoformat(moment))


# Retried after a crash, it goes on from the last committed chunk (see crm_web.sla.recompute).
@tenant_actor(queue_name="default", max_retries=5, time_limit=3_600_000)
def recompute_sla_due_times(generation: int) -> None:
    recompute.run_job(generation)
