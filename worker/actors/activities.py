"""Actors for activities: the reminder sweep and each organization's due reminders."""

from crm_web import jobs
from crm_web.activities import reminders
from worker.actors.base import actor_for


# No retries: the scheduler runs the sweep again within a minute.
@actor_for(jobs.SWEEP_ACTIVITY_REMINDERS)
def sweep_activity_reminders() -> None:
    reminders.sweep()


@actor_for(jobs.PROCESS_ACTIVITY_REMINDERS)
def process_activity_reminders() -> None:
    reminders.write_due_reminders()
