"""Actors for accounts: invitation emails."""

from crm_web.accounts import services
from worker.actors.base import tenant_actor


@tenant_actor(queue_name="email", max_retries=5, time_limit=60_000)
def send_invitation(user_id: int) -> None:
    services.send_invitation_email(user_id)
