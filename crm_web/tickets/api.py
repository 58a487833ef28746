"""Tickets in the JSON API: /api/v1/crm/tickets/ (list, create, read, update, thread, assign, status)."""

import base64
import binascii

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select

from crm_web.db import current_organization_id
from crm_web.errors import ValidationError, invalid
from crm_web.inputs import json_field, json_object, query_int
from crm_web.pagination import keyset_page, list_json
from crm_web.permissions import requires
from crm_web.tickets import services
from crm_web.tickets.attachments import Upload
from crm_web.tickets.fields import DETAILS
from crm_web.tickets.models import STATUSES, Ticket, TicketMessage

bp = Blueprint("tickets", __name__)
MAX_PAGE = 200


def _iso(value):
    return value.isoformat() if value else None


def ticket_json(ticket: Ticket) -> dict:
    """A ticket as the API shows it, with its SLA state."""
    return {
        "id": ticket.id,
        "reference": ticket.reference,
        "subject": ticket.subject,
        "description": ticket.description,
        "customer_id": ticket.customer_id,
        "channel": ticket.channel,
        "category": ticket.category,
        "ticket_type": ticket.ticket_type,
        "priority": ticket.priority,
        "status": ticket.status,
        "assignee_id": ticket.assignee_id,
        "department": ticket.department,
        "tags": ticket.tags,
        "routing_reason": ticket.routing_reason,
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "assigned_at": _iso(ticket.assigned_at),
        "first_responded_at": _iso(ticket.first_responded_at),
        "resolved_at": _iso(ticket.resolved_at),
        "closed_at": _iso(ticket.closed_at),
        "csat_rating": ticket.csat_rating,
        "csat_comment": ticket.csat_comment,
        "sla": {
            "due_at": _iso(ticket.sla_due_at),
            "first_response_due_at": _iso(ticket.first_response_due_at),
            "resolution_due_at": _iso(ticket.resolution_due_at),
            "paused": ticket.sla_paused,
            "first_response_breached": ticket.first_response_breached,
            "resolution_breached": ticket.resolution_breached,
        },
    }


def message_json(message: TicketMessage) -> dict:
    """A thread message as the API shows it."""
    return {
        "id": message.id,
        "kind": message.kind,
        "author_user_id": message.author_user_id,
        "author_customer_id": message.author_customer_id,
        "body": message.body,
        "data": message.data,
        "email_status": message.email_status,
        "created_at": _iso(message.created_at),
        "attachments": [
            {
                "id": a.id,
                "filename": a.filename,
                "content_type": a.content_type,
                "size_bytes": a.size_bytes,
            }
            for a in message.attachments
        ],
    }


def _tags(body: dict, default: list[str]) -> list[str]:
    tags = json_field(body, "tags", list, default)
    if not all(isinstance(tag, str) for tag in tags):
        raise invalid({"tags": _("A list of text.")})
    return tags


def _uploads(body: dict) -> list[Upload]:
    uploads = []
    for item in json_field(body, "attachments", list, []):
        if not isinstance(item, dict):
            raise invalid({"attachments": _("Each is {filename, content_base64}.")})
        try:
            data = base64.b64decode(json_field(item, "content_base64", str, ""), validate=True)
        except (binascii.Error, ValueError):
            raise invalid({"attachments": _("content_base64 is not valid base64.")}) from None
        uploads.append(Upload(json_field(item, "filename", str, ""), data))
    return uploads


@bp.route("/crm/tickets/", methods=["GET"])
@requires("work tickets")
def list_tickets():
    """Tickets newest first, filtered by status, priority, assignee or customer; keyset pages."""
    stmt = select(Ticket).where(Ticket.organization_id == current_organization_id())
    status = request.args.get("status", "")
    if status:
        if status not in STATUSES:
            raise ValidationError(
                _("Unknown status."),
                {"status": _("One of: %(choices)s.", choices=", ".join(STATUSES))},
            )
        stmt = stmt.where(Ticket.status == status)
    if priority := request.args.get("priority", ""):
        stmt = stmt.where(Ticket.priority == priority)
    if (assignee_id := query_int("assignee_id")) is not None:
        stmt = stmt.where(Ticket.assignee_id == assignee_id)
    if (customer_id := query_int("customer_id")) is not None:
        stmt = stmt.where(Ticket.customer_id == customer_id)
    limit = max(1, min(query_int("limit", 50), MAX_PAGE))
    page = keyset_page(stmt, (Ticket.id,), cursor=request.args.get("cursor"), limit=limit)
    return jsonify(list_json([ticket_json(t) for t in page.items], page.next_cursor))


@bp.route("/crm/tickets/", methods=["POST"])
@requires("work tickets")
def create_ticket():
    """Open a ticket (customer_id, or customer_email to match or create the customer)."""
    body = json_object()
    ticket = services.create_ticket(
        subject=json_field(body, "subject", str, ""),
        description=json_field(body, "description", str, ""),
        customer_id=json_field(body, "customer_id", int),
        customer_email=json_field(body, "customer_email", str, ""),
        channel=json_field(body, "channel", str, "api"),
        category=json_field(body, "category", str, "general"),
        ticket_type=json_field(body, "ticket_type", str, "question"),
        priority=json_field(body, "priority", str, "normal"),
        tags=_tags(body, []),
        department=json_field(body, "department", str, ""),
        assignee_id=json_field(body, "assignee_id", int),
        uploads=_uploads(body),
    )
    return jsonify(ticket_json(ticket)), 201


@bp.route("/crm/tickets/<int:ticket_id>/", methods=["GET"])
@requires("work tickets")
def get_ticket(ticket_id: int):
    """A ticket with its whole thread."""
    ticket = services.get_ticket(ticket_id)
    return jsonify(
        {**ticket_json(ticket), "messages": [message_json(m) for m in services.thread(ticket.id)]}
    )


@bp.route("/crm/tickets/<int:ticket_id>/", methods=["PUT"])
@requires("work tickets")
def update_ticket(ticket_id: int):
    """Change the details; fields left out keep their values."""
    body = json_object()
    ticket = services.get_ticket(ticket_id)
    details = {
        f.name: _tags(body, ticket.tags)
        if f.kind == "tags"
        else json_field(body, f.name, str, getattr(ticket, f.name))
        for f in DETAILS
    }
    ticket = services.update_ticket(ticket_id, **details)
    return jsonify(ticket_json(ticket))


@bp.route("/crm/tickets/<int:ticket_id>/messages/", methods=["POST"])
@requires("work tickets")
def post_message(ticket_id: int):
    """kind "reply" (emailed to the customer), "note" (internal) or "customer" (from them)."""
    body = json_object()
    kind = json_field(body, "kind", str, "reply")
    actions = {
        "reply": services.add_reply,
        "note": services.add_note,
        "customer": services.add_customer_message,
    }
    if kind not in actions:
        raise invalid({"kind": _("One of: reply, note, customer.")})
    message = actions[kind](ticket_id, json_field(body, "body", str, ""), uploads=_uploads(body))
    return jsonify(message_json(services.get_message(message.id))), 201


@bp.route("/crm/tickets/<int:ticket_id>/assign/", methods=["PUT"])
@requires("work tickets")
def assign_ticket(ticket_id: int):
    """Assign to {"assignee_id": id} or unassign with null."""
    body = json_object()
    if "assignee_id" not in body:
        raise invalid({"assignee_id": _("Give an id or null.")})
    ticket = services.assign(ticket_id, json_field(body, "assignee_id", int))
    return jsonify(ticket_json(ticket))


@bp.route("/crm/tickets/<int:ticket_id>/status/", methods=["PUT"])
@requires("work tickets")
def change_status(ticket_id: int):
    """Move the ticket along the workflow: {"status": ...}."""
    body = json_object()
    ticket = services.change_status(ticket_id, json_field(body, "status", str, ""))
    return jsonify(ticket_json(ticket))
