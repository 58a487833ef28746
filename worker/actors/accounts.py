"""Actors for accounts: invitation and sign-up emails."""

import dramatiq

from crm_web.accounts import services
from worker.actors.base import tenant_actor


@tenant_actor(queue_name="email", max_retries=5, time_limit=60_000)
def send_invitation(user_id: int) -> None:
    services.send_invitation_email(user_id)


@tenant_actor(queue_name="email", max_retries=5, time_limit=60_000)
def send_signup_existing_account(user_id: int) -> None:
    services.send_signup_existing_account_email(user_id)


# No organization exists yet: the signed link carries the sign-up's details.
@dramatiq.actor(queue_name="email", max_retries=5, time_limit=60_000)
def send_signup_link(token: str) -> None:
    services.send_signup_link_email(token)
