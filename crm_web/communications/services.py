"""Recording communications: by hand (calls, meetings) and by the worker (emails, SMS it sent)."""

from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select

from crm_web.communications.models import COMMUNICATION_TYPES, DIRECTIONS, STATUSES, Communication
from crm_web.customers.models import Customer
from crm_web.db import atomic, current_organization_id, current_tenant
from crm_web.errors import NotFound, check_fields
from crm_web.extensions import db
from crm_web.outbox.kinds import Outcome


@atomic
def log_communication(
    customer_id: int,
    *,
    communication_type: str,
    direction: str,
    subject: str = "",
    content: str = "",
    sender: str = "",
    recipient: str = "",
    status: str = "logged",
    outcome: str = "",
    duration_seconds: int | None = None,
    delivery_date: datetime | None = None,
    provider_message_id: str = "",
    source_type: str = "",
    source_id: int | None = None,
    attachments: list[dict] | None = None,
) -> Communication:
    """Add one entry to a customer's communication log."""
    errors = {}
    if communication_type not in COMMUNICATION_TYPES:
        errors["communication_type"] = f"Choose one of: {', '.join(COMMUNICATION_TYPES)}."
    if direction not in DIRECTIONS:
        errors["direction"] = "Choose inbound or outbound."
    if status not in STATUSES:
        errors["status"] = f"Choose one of: {', '.join(STATUSES)}."
    if duration_seconds is not None and duration_seconds < 0:
        errors["duration_seconds"] = "The duration cannot be negative."
    if len(subject) > 200:
        errors["subject"] = "Keep the subject under 200 characters."
    if not (subject.strip() or content.strip()):
        errors["content"] = "Write a subject or some content."
    check_fields(errors)
    customer = db.session.scalar(
        select(Customer).where(
            Customer.id == customer_id, Customer.organization_id == current_organization_id()
        )
    )
    if customer is None:
        raise NotFound("No such customer.")
    entry = Communication(
        organization_id=customer.organization_id,
        customer_id=customer.id,
        communication_type=communication_type,
        direction=direction,
        subject=subject.strip(),
        content=content,
        sender=sender,
        recipient=recipient,
        status=status,
        outcome=outcome.strip(),
        duration_seconds=duration_seconds,
        delivery_date=delivery_date,
        provider_message_id=provider_message_id,
        source_type=source_type,
        source_id=source_id,
        attachments=attachments or [],
        tags=[],
        created_by_id=current_tenant().user_id,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def log_sent_email(
    outcome: Outcome, *, source_type: str, source_id: int, attachments: list[dict] | None = None
) -> Communication:
    """Log an email the outbox sent to a customer (a kind's `on_outcome` calls it): subject,
    text, sender, recipient and Message-ID, and what produced it."""
    message = outcome.message
    return log_communication(
        message.customer_id,
        communication_type="email",
        direction="outbound",
        subject=outcome.subject[:200],
        content=outcome.text,
        sender=current_app.config["MAIL_FROM"][:254],
        recipient=f"{message.to_name} <{message.to_address}>"[:254],
        status="sent",
        delivery_date=datetime.now(UTC),
        provider_message_id=outcome.provider_id[:200],
        source_type=source_type,
        source_id=source_id,
        attachments=attachments,
    )
