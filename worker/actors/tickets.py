"""Actors for tickets: reply emails and resolution emails with the CSAT link."""

from crm_web.tickets import services
from worker.actors.base import tenant_actor


@tenant_actor(queue_name="email", max_retries=5, time_limit=60_000)
def send_ticket_reply(message_id: int) -> None:
    """Email one public reply to the customer."""
    services.send_reply_email(message_id)


@tenant_actor(queue_name="email", max_retries=5, time_limit=60_000)
def send_resolution_email(ticket_id: int, resolved_at: str) -> None:
    """Email the resolution notice with the CSAT link."""
    services.send_resolution_email(ticket_id, resolved_at)
