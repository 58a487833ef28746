"""Support tickets: creation and routing, the thread, status workflow, assignment and CSAT.

Due times: every function here that creates a ticket or changes something an SLA clock
depends on (status, priority, customer, first response) calls
`crm_web.sla.clock.ticket_changed(ticket, changed)` in the same transaction, after the
change is flushed, with `changed` the set of field names that changed ("created" for a
new ticket). The SLA domain computes and stores the due times and schedules escalations.

Over 600 lines for now: creation, the thread and the status workflow call the SLA clock in
the same transaction and share the ticket lock; routing, the queue and attachments already
live apart. The sections below are the seams to split along.
"""

from collections.abc import Iterable
from datetime import UTC, datetime

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select, text
from sqlalchemy.orm import selectinload

from crm_web import labels
from crm_web.accounts.models import Organization, User
from crm_web.accounts.services import normalize_email, organization_id_for_slug
from crm_web.customers.models import Customer
from crm_web.db import atomic, current_organization_id, current_tenant, set_tenant
from crm_web.errors import NotFound, ValidationError, check_fields, invalid
from crm_web.extensions import db
from crm_web.formatting import lowercase, number
from crm_web.outbox import services as outbox
from crm_web.permissions import roles_with
from crm_web.sequences import allocate
from crm_web.sla import clock as sla_clock
from crm_web.surveys import invitations
from crm_web.tickets import attachments as files
from crm_web.tickets import fields, routing
from crm_web.tickets.models import (
    CHANNELS,
    DEFAULT_AGENT_CAP,
    STATUSES,
    Ticket,
    TicketAttachment,
    TicketMessage,
    TicketSettings,
)

# Which status may follow which; "new" is only ever the first, "closed" the last.
TRANSITIONS = {
    "new": {"open", "in_progress", "waiting_on_customer", "resolved", "closed"},
    "open": {"in_progress", "waiting_on_customer", "resolved", "closed"},
    "in_progress": {"open", "waiting_on_customer", "resolved", "closed"},
    "waiting_on_customer": {"open", "in_progress", "resolved", "closed"},
    "resolved": {"open", "closed"},
    "closed": set(),
}
STATUS_LABELS = labels.TICKET_STATUS
BULK_LIMIT = 200
CSAT_MAX_AGE_SECONDS = 30 * 24 * 3600
MAX_TAGS = 20
LIMITS = {f.name: f.max_length for f in fields.DETAILS}


def _now() -> datetime:
    return datetime.now(UTC)


def _sla_changed(ticket: Ticket, changed: set[str]) -> None:
    db.session.flush()
    sla_clock.ticket_changed(ticket, frozenset(changed))


# -- settings ---------------------------------------------------------------------------------


def get_settings() -> TicketSettings:
    """The organization's support settings (defaults when never saved)."""
    organization_id = current_organization_id()
    settings = db.session.get(TicketSettings, organization_id)
    return settings or TicketSettings(
        organization_id=organization_id, agent_ticket_cap=DEFAULT_AGENT_CAP
    )


@atomic
def update_settings(*, agent_ticket_cap: int, resolution_survey_id=...) -> TicketSettings:
    """Save the per-agent cap routing respects and the survey sent after a resolution (left
    out: kept; empty: none)."""
    errors = {}
    if not 1 <= agent_ticket_cap <= 1000:
        errors["agent_ticket_cap"] = _("Use a number from 1 to 1000.")
    keep = resolution_survey_id is ...
    survey_id = (
        None
        if keep
        else invitations.chosen_survey(resolution_survey_id, "resolution_survey_id", errors)
    )
    check_fields(errors)
    settings = db.session.get(TicketSettings, current_organization_id())
    if settings is None:
        settings = TicketSettings(organization_id=current_organization_id())
        db.session.add(settings)
    settings.agent_ticket_cap = agent_ticket_cap
    if not keep:
        settings.resolution_survey_id = survey_id
    db.session.flush()
    return settings


def agent_loads() -> list[routing.Agent]:
    """Every support agent and their active tickets (the settings page)."""
    return routing.agent_loads(current_organization_id())


# -- reading ----------------------------------------------------------------------------------


def public_organization(slug: str) -> Organization:
    """The organization whose public support pages these are, made the tenant."""
    organization_id = organization_id_for_slug(slug)
    if organization_id is None:
        raise NotFound(_("No such organization."))
    set_tenant(organization_id)
    return db.session.get(Organization, organization_id)


def get_ticket(ticket_id: int) -> Ticket:
    """A ticket of the current organization, with its customer and assignee loaded."""
    ticket = db.session.scalar(
        select(Ticket)
        .where(Ticket.id == ticket_id, Ticket.organization_id == current_organization_id())
        .options(selectinload(Ticket.customer), selectinload(Ticket.assignee))
    )
    if ticket is None:
        raise NotFound(_("No such ticket."))
    return ticket


def _lock_ticket(ticket_id: int) -> Ticket:
    ticket = db.session.scalar(
        select(Ticket)
        .where(Ticket.id == ticket_id, Ticket.organization_id == current_organization_id())
        .options(selectinload(Ticket.customer), selectinload(Ticket.assignee))
        .with_for_update(of=Ticket)
    )
    if ticket is None:
        raise NotFound(_("No such ticket."))
    return ticket


def thread(ticket_id: int, *, after_id: int = 0) -> list[TicketMessage]:
    """The ticket's messages oldest first (only those after `after_id`), with their attachments."""
    return list(
        db.session.scalars(
            select(TicketMessage)
            .where(
                TicketMessage.organization_id == current_organization_id(),
                TicketMessage.ticket_id == ticket_id,
                TicketMessage.id > after_id,
            )
            .options(selectinload(TicketMessage.attachments))
            .order_by(TicketMessage.id)
        )
    )


def get_message(message_id: int) -> TicketMessage:
    """One thread message of the current organization, with its attachments."""
    message = db.session.scalar(
        select(TicketMessage)
        .where(
            TicketMessage.id == message_id,
            TicketMessage.organization_id == current_organization_id(),
        )
        .options(selectinload(TicketMessage.attachments))
    )
    if message is None:
        raise NotFound(_("No such message."))
    return message


def authors(messages: Iterable[TicketMessage]) -> dict[int, User]:
    """The users who wrote these messages, by id, in one query."""
    ids = {m.author_user_id for m in messages if m.author_user_id}
    if not ids:
        return {}
    return {
        user.id: user
        for user in db.session.scalars(
            select(User).where(User.organization_id == current_organization_id(), User.id.in_(ids))
        )
    }


def assignable_users() -> list[User]:
    """Active users a ticket can be assigned to by hand (routing only picks support agents)."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.organization_id == current_organization_id(),
                User.is_active,
                User.role.in_(roles_with("work tickets")),
            )
            .order_by(func.lower(User.name))
        )
    )


def get_attachment(attachment_id: int) -> TicketAttachment:
    """An attachment of the current organization (the download checks the tenant here)."""
    attachment = db.session.scalar(
        select(TicketAttachment).where(
            TicketAttachment.id == attachment_id,
            TicketAttachment.organization_id == current_organization_id(),
        )
    )
    if attachment is None:
        raise NotFound(_("No such attachment."))
    return attachment


# -- validation helpers -----------------------------------------------------------------------


def _tags(tags: Iterable[str] | str) -> list[str]:
    if isinstance(tags, str):
        tags = tags.split(",")
    cleaned = sorted({tag.strip().lower()[:40] for tag in tags if tag and tag.strip()})
    if len(cleaned) > MAX_TAGS:
        raise ValidationError(
            _("Too many tags."),
            {"tags": _("Use at most %(count)s tags on a ticket.", count=MAX_TAGS)},
        )
    return cleaned


def _check_choice(errors: dict, field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        errors[field] = _("Choose one of: %(choices)s.", choices=", ".join(choices))


def _check_fields(
    errors: dict,
    *,
    subject: str,
    description: str,
    category: str,
    ticket_type: str,
    priority: str,
    department: str,
) -> None:
    limit = LIMITS
    if not subject.strip():
        errors["subject"] = _("Write a subject.")
    elif len(subject.strip()) > limit["subject"]:
        errors["subject"] = _(
            "Keep the subject under %(limit)s characters.", limit=limit["subject"]
        )
    elif any(not character.isprintable() for character in subject.strip()):
        # It heads every email of the thread: a line break there would break them all.
        errors["subject"] = _("Write the subject on one line, without control characters.")
    if len(description) > limit["description"]:
        errors["description"] = _(
            "Keep the description under %(limit)s characters.", limit=number(limit["description"])
        )
    for name, value in (
        ("category", category),
        ("ticket_type", ticket_type),
        ("priority", priority),
    ):
        _check_choice(errors, name, value, fields.BY_NAME[name].values)
    if len(department.strip()) > limit["department"]:
        errors["department"] = _(
            "Keep the team name under %(limit)s characters.", limit=limit["department"]
        )


def _customer(customer_id: int | None) -> Customer:
    customer = (
        db.session.scalar(
            select(Customer).where(
                Customer.id == customer_id, Customer.organization_id == current_organization_id()
            )
        )
        if customer_id
        else None
    )
    if customer is None:
        raise invalid({"customer_id": _("Choose an existing customer.")})
    return customer


def _assignee(user_id: int) -> User:
    user = db.session.scalar(
        select(User).where(User.id == user_id, User.organization_id == current_organization_id())
    )
    if user is None or not user.is_active or not user.can("work tickets"):
        raise invalid({"assignee_id": _("Choose an active support agent, manager or admin.")})
    return user


# -- the thread -------------------------------------------------------------------------------


def record_event(ticket: Ticket, body: str, **data) -> TicketMessage:
    """Write a system event (status change, assignment, escalation, ...) into the ticket's thread."""
    message = TicketMessage(
        organization_id=ticket.organization_id,
        ticket_id=ticket.id,
        kind="event",
        author_user_id=current_tenant().user_id,
        body=body,
        data=data,
        email_status="",
    )
    db.session.add(message)
    return message


def _attach(ticket: Ticket, message: TicketMessage, checked: list[tuple[str, str, bytes]]) -> None:
    if not checked:
        return
    db.session.flush()
    for filename, content_type, data in checked:
        db.session.add(
            TicketAttachment(
                organization_id=ticket.organization_id,
                ticket_id=ticket.id,
                message_id=message.id,
                filename=filename,
                content_type=content_type,
                size_bytes=len(data),
                storage_key=files.store(ticket.organization_id, data),
            )
        )


def _user_name(user_id: int | None) -> str:
    if user_id is None:
        return "nobody"
    return db.session.scalar(select(User.name).where(User.id == user_id)) or f"user {user_id}"


# -- creating ---------------------------------------------------------------------------------


@atomic
def create_ticket(
    *,
    subject: str,
    customer_id: int | None = None,
    customer_email: str = "",
    description: str = "",
    channel: str = "web",
    category: str = "general",
    ticket_type: str = "question",
    priority: str = "normal",
    tags: Iterable[str] | str = (),
    department: str = "",
    assignee_id: int | None = None,
    uploads: list[files.Upload] = (),
) -> Ticket:
    """Open a ticket for a customer (by id, or by email: matched or created); the priority
    rules apply, then routing picks an agent unless one is given."""
    errors: dict[str, str] = {}
    _check_fields(
        errors,
        subject=subject,
        description=description,
        category=category,
        ticket_type=ticket_type,
        priority=priority,
        department=department,
    )
    _check_choice(errors, "channel", channel, CHANNELS)
    check_fields(errors)
    tags = _tags(tags)
    checked = files.check_uploads(list(uploads))
    if customer_id or not customer_email.strip():
        customer = _customer(customer_id)
    else:
        customer = find_or_create_customer(customer_email)
    assignee = _assignee(assignee_id) if assignee_id is not None else None
    organization_id = current_organization_id()

    decision = routing.decide_priority(priority, ticket_type, customer.tags)
    department = department.strip()
    reason = decision.reason
    if assignee is None:
        agent = routing.pick_agent(
            organization_id,
            department=department,
            category=category,
            cap=get_settings().agent_ticket_cap,
        )
        if agent is None:
            reason += "; " + _("no agent under the cap, left unassigned")
        else:
            reason += "; " + (_("matching agent") if agent.matches else _("any free agent"))
            assignee_id = agent.id
            department = department or agent.department
    else:
        department = department or assignee.department

    now = _now()
    ticket = Ticket(
        organization_id=organization_id,
        number=allocate(organization_id, "ticket"),
        subject=subject.strip(),
        description=description.strip(),
        customer_id=customer.id,
        channel=channel,
        category=category,
        ticket_type=ticket_type,
        priority=decision.priority,
        status="new",
        assignee_id=assignee_id,
        department=department,
        tags=tags,
        routing_reason=reason[:200],
        created_by_id=current_tenant().user_id,
        assigned_at=now if assignee_id else None,
        csat_comment="",
    )
    db.session.add(ticket)
    db.session.flush()
    created = record_event(
        ticket,
        _(
            "Ticket opened via %(channel)s.",
            channel=lowercase(labels.label(channel, "ticket_channel")),
        ),
        event="created",
        channel=channel,
    )
    _attach(ticket, created, checked)
    if decision.priority != priority:
        record_event(
            ticket,
            _(
                "Priority set to %(priority)s (%(reason)s).",
                priority=lowercase(labels.label(decision.priority, "priority")),
                reason=decision.reason,
            ),
            event="priority",
            **{"from": priority, "to": decision.priority},
        )
    if assignee_id:
        record_event(
            ticket,
            _("Assigned to %(name)s.", name=_user_name(assignee_id))
            if assignee
            else _(
                "Assigned to %(name)s by routing (%(reason)s).",
                name=_user_name(assignee_id),
                reason=reason,
            ),
            event="assigned",
            **{"from": None, "to": assignee_id},
        )
    _sla_changed(ticket, {"created"})
    return ticket


def find_or_create_customer(email: str, name: str = "") -> Customer:
    """The organization's customer with this email, or a new one (the public form, the API)."""
    email = normalize_email(email)
    organization_id = current_organization_id()
    # Two first tickets from one new address at once must still make one customer.
    db.session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('customer-email:' || :key, 0))"),
        {"key": f"{organization_id}:{email}"},
    )
    customer = db.session.scalar(
        select(Customer)
        .where(
            Customer.organization_id == organization_id,
            func.lower(Customer.primary_email) == email,
        )
        .order_by(Customer.id)
        .limit(1)
    )
    if customer is not None:
        return customer
    first, _, last = name.strip().partition(" ")
    customer = Customer(
        organization_id=organization_id,
        customer_code=f"CUS-{allocate(organization_id, 'customer'):06d}",
        first_name=(first or email.split("@")[0])[:50],
        last_name=last.strip()[:50],
        primary_email=email,
        lead_source="support",
        tags=[],
    )
    db.session.add(customer)
    db.session.flush()
    return customer


@atomic
def submit_public_ticket(
    slug: str,
    *,
    name: str,
    email: str,
    subject: str,
    description: str,
    category: str = "general",
    uploads: list[files.Upload] = (),
) -> Ticket:
    """A ticket from the organization's public web form; the customer is matched by email."""
    public_organization(slug)
    errors: dict[str, str] = {}
    if not description.strip():
        errors["description"] = _("Tell us what happened.")
    if len(name.strip()) > 100:
        errors["name"] = _("Keep your name under 100 characters.")
    _check_fields(
        errors,
        subject=subject,
        description=description,
        category=category,
        ticket_type="question",
        priority="normal",
        department="",
    )
    check_fields(errors)
    customer = find_or_create_customer(email, name)
    return create_ticket(
        subject=subject,
        description=description,
        customer_id=customer.id,
        channel="web",
        category=category,
        uploads=uploads,
    )


# -- changing ---------------------------------------------------------------------------------


def _set_status(ticket: Ticket, status: str) -> None:
    if status not in STATUSES:
        raise ValidationError(
            _("Unknown status."),
            {"status": _("Choose one of: %(choices)s.", choices=", ".join(STATUSES))},
        )
    if status == ticket.status:
        return
    if status not in TRANSITIONS[ticket.status]:
        raise ValidationError(
            _(
                "A %(current)s ticket cannot become %(wanted)s.",
                current=lowercase(STATUS_LABELS[ticket.status]),
                wanted=lowercase(STATUS_LABELS[status]),
            ),
            {"status": _("This change is not allowed.")},
        )
    previous = ticket.status
    now = _now()
    ticket.status = status
    if status == "resolved":
        ticket.resolved_at = now
    elif status == "closed":
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    else:
        ticket.resolved_at = None
    record_event(
        ticket,
        _(
            "Status: %(previous)s → %(status)s.",
            previous=STATUS_LABELS[previous],
            status=STATUS_LABELS[status],
        ),
        event="status",
        **{"from": previous, "to": status},
    )
    if status == "resolved":
        _queue_resolution_email(ticket, now)


def _set_assignee(ticket: Ticket, assignee: User | None) -> None:
    assignee_id = assignee.id if assignee else None
    if assignee_id == ticket.assignee_id:
        return
    previous = ticket.assignee_id
    ticket.assignee_id = assignee_id
    ticket.assigned_at = _now() if assignee else None
    if assignee is not None and not ticket.department:
        ticket.department = assignee.department
    record_event(
        ticket,
        _("Assigned to %(name)s.", name=assignee.name) if assignee else _("Unassigned."),
        event="assigned",
        **{"from": previous, "to": assignee_id},
    )
    _sla_changed(ticket, {"assignee_id"})


@atomic
def change_status(ticket_id: int, status: str) -> Ticket:
    """Move a ticket along the workflow; resolving emails the customer a CSAT link."""
    ticket = _lock_ticket(ticket_id)
    previous = ticket.status
    _set_status(ticket, status)
    if ticket.status != previous:
        _sla_changed(ticket, {"status"})
    return ticket


@atomic
def assign(ticket_id: int, assignee_id: int | None) -> Ticket:
    """Give the ticket to a user, or take it back into the unassigned queue (None)."""
    assignee = _assignee(assignee_id) if assignee_id is not None else None
    ticket = _lock_ticket(ticket_id)
    _set_assignee(ticket, assignee)
    return ticket


@atomic
def update_ticket(
    ticket_id: int,
    *,
    subject: str,
    description: str,
    category: str,
    ticket_type: str,
    priority: str,
    tags: Iterable[str] | str,
    department: str,
) -> Ticket:
    """Edit a ticket's details; a priority change is written to the thread."""
    errors: dict[str, str] = {}
    _check_fields(
        errors,
        subject=subject,
        description=description,
        category=category,
        ticket_type=ticket_type,
        priority=priority,
        department=department,
    )
    check_fields(errors)
    tags = _tags(tags)
    ticket = _lock_ticket(ticket_id)
    changed = set()
    if priority != ticket.priority:
        record_event(
            ticket,
            _(
                "Priority: %(previous)s → %(priority)s.",
                previous=lowercase(labels.label(ticket.priority, "priority")),
                priority=lowercase(labels.label(priority, "priority")),
            ),
            event="priority",
            **{"from": ticket.priority, "to": priority},
        )
        changed.add("priority")
    ticket.subject = subject.strip()
    ticket.description = description.strip()
    ticket.category = category
    ticket.ticket_type = ticket_type
    ticket.priority = priority
    ticket.tags = tags
    ticket.department = department.strip()
    if changed:
        _sla_changed(ticket, changed)
    return ticket


def _bulk_tickets(ticket_ids: list[int]) -> list[Ticket]:
    ids = sorted(set(ticket_ids))
    if not ids:
        raise ValidationError(
            _("Select at least one ticket."), {"ticket_ids": _("Select tickets.")}
        )
    if len(ids) > BULK_LIMIT:
        raise ValidationError(
            _("Select at most %(count)s tickets at once.", count=BULK_LIMIT),
            {"ticket_ids": _("Too many tickets.")},
        )
    # Locked in id order, so two bulk actions over overlapping selections cannot deadlock.
    return list(
        db.session.scalars(
            select(Ticket)
            .where(Ticket.organization_id == current_organization_id(), Ticket.id.in_(ids))
            .order_by(Ticket.id)
            .options(selectinload(Ticket.customer))  # a resolution email goes to each
            .with_for_update(of=Ticket)
        )
    )


@atomic
def bulk_assign(ticket_ids: list[int], assignee_id: int | None) -> int:
    """Assign many tickets at once; returns how many changed."""
    assignee = _assignee(assignee_id) if assignee_id is not None else None
    count = 0
    for ticket in _bulk_tickets(ticket_ids):
        if ticket.assignee_id != assignee_id:
            _set_assignee(ticket, assignee)
            count += 1
    return count


@atomic
def bulk_change_status(ticket_ids: list[int], status: str) -> int:
    """Change the status of many tickets; all or none (one refused transition refuses the lot)."""
    count = 0
    for ticket in _bulk_tickets(ticket_ids):
        if ticket.status != status:
            try:
                _set_status(ticket, status)
            except ValidationError as exc:
                raise ValidationError(f"{ticket.reference}: {exc.message}", exc.fields) from None
            _sla_changed(ticket, {"status"})
            count += 1
    return count


def _check_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise ValidationError(_("Write a message."), {"body": _("Write a message.")})
    if len(body) > 50_000:
        raise ValidationError(
            _("The message is too long."),
            {"body": _("At most %(count)s characters.", count=number(50_000))},
        )
    return body


@atomic
def add_reply(
    ticket_id: int, body: str, *, uploads: list[files.Upload] = (), status: str | None = None
) -> TicketMessage:
    """A public reply: emailed to the customer by the worker after commit and logged there."""
    body = _check_body(body)
    checked = files.check_uploads(list(uploads))
    ticket = _lock_ticket(ticket_id)
    if ticket.status == "closed":
        raise ValidationError(_("This ticket is closed; it takes no more replies."))
    has_email = bool(ticket.customer.primary_email)
    message = TicketMessage(
        organization_id=ticket.organization_id,
        ticket_id=ticket.id,
        kind="reply",
        author_user_id=current_tenant().user_id,
        body=body,
        data={},
        email_status="queued" if has_email else "skipped",
    )
    db.session.add(message)
    _attach(ticket, message, checked)
    changed = set()
    if ticket.first_responded_at is None:
        ticket.first_responded_at = _now()
        changed.add("first_responded_at")
    new_status = status or ("open" if ticket.status == "new" else ticket.status)
    if new_status != ticket.status:
        _set_status(ticket, new_status)
        changed.add("status")
    if changed:
        _sla_changed(ticket, changed)
    if has_email:
        db.session.flush()
        outbox.queue(
            "ticket_reply",
            [_customer_recipient(ticket.customer)],
            source_id=message.id,
            dedupe_key=f"ticket-reply:{message.id}",
        )
    return message


@atomic
def add_note(ticket_id: int, body: str, *, uploads: list[files.Upload] = ()) -> TicketMessage:
    """An internal note: visible to the team only, never emailed."""
    body = _check_body(body)
    checked = files.check_uploads(list(uploads))
    ticket = _lock_ticket(ticket_id)
    message = TicketMessage(
        organization_id=ticket.organization_id,
        ticket_id=ticket.id,
        kind="note",
        author_user_id=current_tenant().user_id,
        body=body,
        data={},
        email_status="",
    )
    db.session.add(message)
    _attach(ticket, message, checked)
    db.session.flush()
    return message


@atomic
def add_customer_message(
    ticket_id: int, body: str, *, uploads: list[files.Upload] = ()
) -> TicketMessage:
    """A message from the customer (an email or call logged by an agent or the API);
    a ticket waiting on the customer, or resolved, opens again."""
    body = _check_body(body)
    checked = files.check_uploads(list(uploads))
    ticket = _lock_ticket(ticket_id)
    if ticket.status == "closed":
        raise ValidationError(_("This ticket is closed; open a new one instead."))
    message = TicketMessage(
        organization_id=ticket.organization_id,
        ticket_id=ticket.id,
        kind="reply",
        author_customer_id=ticket.customer_id,
        body=body,
        data={},
        email_status="",
    )
    db.session.add(message)
    _attach(ticket, message, checked)
    if ticket.status in ("waiting_on_customer", "resolved"):
        _set_status(ticket, "open")
        _sla_changed(ticket, {"status"})
    db.session.flush()
    return message


# -- email ------------------------------------------------------------------------------------


def email_problems(messages: list[TicketMessage]) -> dict[int, str]:
    """Why each reply whose email failed did not go out, by reply id."""
    failed = [message.id for message in messages if message.email_status == "failed"]
    if not failed:
        return {}
    return {
        row.source_id: row.last_error
        for row in outbox.messages_for(("ticket_reply",), failed)
        if row.status in ("failed", "suppressed", "cancelled")
    }


def _customer_recipient(customer: Customer) -> outbox.Recipient:
    return outbox.Recipient(customer.primary_email, customer.display_name, customer_id=customer.id)


def _queue_resolution_email(ticket: Ticket, resolved_at: datetime) -> None:
    """The resolution notice with the CSAT link; checked again when it goes (see messages.py)."""
    customer = ticket.customer
    if not customer.primary_email:
        return
    context = {"resolved_at": resolved_at.isoformat()}
    # The organization's survey, if it names one, rides along: a personal link tied to the ticket.
    survey_id = get_settings().resolution_survey_id
    if survey_id is not None:
        invitation = invitations.invite(survey_id, customer.id, "ticket", ticket_id=ticket.id)
        if invitation is not None:
            context["invitation"] = invitation.id
    outbox.queue(
        "ticket_resolved",
        [_customer_recipient(customer)],
        source_id=ticket.id,
        context=context,
        dedupe_key=f"ticket-resolved:{ticket.id}:{resolved_at.isoformat()}",
    )


def _csat_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="ticket-csat")


def csat_token(ticket: Ticket) -> str:
    """The signed token of the ticket's satisfaction survey link."""
    return _csat_serializer().dumps({"org": ticket.organization_id, "ticket": ticket.id})


def _csat_ticket_id(token: str) -> int:
    try:
        data = _csat_serializer().loads(token, max_age=CSAT_MAX_AGE_SECONDS)
    except SignatureExpired:
        raise ValidationError(_("This survey link has expired.")) from None
    except BadSignature:
        raise NotFound(_("This survey link is not valid.")) from None
    set_tenant(data["org"])
    return data["ticket"]


def csat_ticket(token: str) -> Ticket:
    """The ticket a CSAT link names, its organization made the tenant."""
    return get_ticket(_csat_ticket_id(token))


@atomic
def submit_csat(token: str, rating: int, comment: str = "") -> Ticket:
    """Record the customer's satisfaction rating (1-5) once per ticket."""
    ticket = _lock_ticket(_csat_ticket_id(token))
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationError(_("Choose a rating."), {"rating": _("Choose from 1 to 5.")})
    if len(comment) > 2000:
        raise ValidationError(
            _("The comment is too long."),
            {"comment": _("At most %(count)s characters.", count=number(2000))},
        )
    if ticket.csat_rating is not None:
        raise ValidationError(_("Thank you, this ticket has been rated already."))
    if ticket.status not in ("resolved", "closed"):
        raise ValidationError(_("This ticket is open again; rate it once it is resolved."))
    ticket.csat_rating = rating
    ticket.csat_comment = comment.strip()
    ticket.csat_submitted_at = _now()
    record_event(
        ticket,
        _("Customer rated the support %(rating)s/5.", rating=rating),
        event="csat",
        rating=rating,
    )
    return ticket
