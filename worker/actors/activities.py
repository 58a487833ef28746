"""Actors for activities: the reminder sweep and each organization's reminder sending."""

import dramatiq

from crm_web.activities import reminders
from worker.actors.base import tenant_actor


@dramatiq.actor(queue_name="default", max_retries=0, time_limit=60_000)
def sweep_activity_reminders() -> None:
    # No retries: the scheduler runs the sweep again within a minute.
    reminders.sweep()


@tenant_actor(queue_name="email", max_retries=3, time_limit=600_000)
def process_activity_reminders() -> None:
    reminders.process_due_reminders()
