"""Actors for SLA escalations: fire an escalation point, then send its notifications.

They are two messages so that firing (the thread event, the log, the breach actions) never
waits behind a slow mail server, and a failed send is retried without firing again.
"""

from crm_web.sla import services
from worker.actors.base import tenant_actor


@tenant_actor(
    queue_name="sla", max_retries=8, min_backoff=1_000, max_backoff=60_000, time_limit=60_000
)
def fire_sla_escalation(escalation_id: int) -> None:
    services.fire_escalation(escalation_id)


# Retries back off from 2 s: a transient SMTP or gateway failure is retried soon, not in minutes.
@tenant_actor(
    queue_name="sla_notifications",
    max_retries=8,
    min_backoff=2_000,
    max_backoff=300_000,
    time_limit=120_000,
)
def deliver_sla_notifications(escalation_id: int) -> None:
    services.deliver_notifications(escalation_id)
