"""The activities JSON API (seed 001): list, create, complete, and the calendar."""

from datetime import timedelta

from flask import Blueprint, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm_web.activities import services
from crm_web.activities.services import ReminderState
from crm_web.errors import ValidationError
from crm_web.inputs import json_object, query_int
from crm_web.pagination import list_json
from crm_web.permissions import requires

bp = Blueprint("activities", __name__)

CREATE_FIELDS = frozenset(
    {
        "activity_type",
        "subject",
        "description",
        "customer_id",
        "lead_id",
        "opportunity_id",
        "customer_code",
        "lead_number",
        "opportunity_number",
        "assigned_to_id",
        "due_at",
        "duration_minutes",
        "priority",
        "status",
        "location",
        "next_action",
        "reminder_minutes_before",
        "attendee_user_ids",
        "attendee_customer_ids",
        "attendee_customer_codes",
    }
)
COMPLETE_FIELDS = frozenset({"outcome", "next_action", "follow_up"})
MAX_LIMIT = 200


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def activity_json(activity, reminder: ReminderState | None) -> dict:
    """An activity as the API shows it (load its links and attendees with it)."""
    ends_at = (
        activity.due_at + timedelta(minutes=activity.duration_minutes)
        if activity.duration_minutes
        else None
    )
    return {
        "id": activity.id,
        "activity_type": activity.activity_type,
        "subject": activity.subject,
        "description": activity.description,
        "status": activity.status,
        "priority": activity.priority,
        "due_at": _iso(activity.due_at),
        "ends_at": _iso(ends_at),
        "duration_minutes": activity.duration_minutes,
        "location": activity.location,
        "outcome": activity.outcome,
        "next_action": activity.next_action,
        "customer_id": activity.customer_id,
        "lead_id": activity.lead_id,
        "opportunity_id": activity.opportunity_id,
        "related": activity.related_label,
        "assigned_to_id": activity.assigned_to_id,
        "attendees": [
            {"user_id": a.user_id, "customer_id": a.customer_id, "name": a.name}
            for a in activity.attendees
        ],
        "completed_at": _iso(activity.completed_at),
        "completed_by_id": activity.completed_by_id,
        "follow_up_of_id": activity.follow_up_of_id,
        "reminder": None
        if reminder is None
        else {
            "minutes_before": activity.reminder_minutes_before,
            "remind_at": _iso(reminder.remind_at),
            "status": reminder.status,
            "sent_at": _iso(reminder.sent_at),
            "attempts": reminder.attempts,
            "error": reminder.error,
        },
        "created_by_id": activity.created_by_id,
        "created_at": _iso(activity.created_at),
        "updated_at": _iso(activity.updated_at),
    }


def _page_json(page) -> dict:
    states = services.reminder_states(page.items)
    return list_json([activity_json(a, states.get(a.id)) for a in page.items], page.next_cursor)


def _detail_json(activity_id: int) -> dict:
    detail = services.activity_detail(activity_id)
    return activity_json(detail.activity, detail.reminder)


def _json_body(allowed: frozenset[str]) -> dict:
    body = json_object()
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationError(
            _("Unknown fields."), {name: _("Not a field of this request.") for name in unknown}
        )
    return body


def _limit() -> int:
    return query_int("limit", 50, minimum=1, maximum=MAX_LIMIT)


@bp.route("/crm/activities/", methods=["GET"])
@requires("plan activities")
def list_activities():
    """Activities by due time; filters as query parameters, keyset `cursor`."""
    args = request.args
    page = services.list_activities(
        assigned_to_id=args.get("assigned_to_id"),
        status=args.get("status"),
        activity_type=args.get("activity_type"),
        customer_id=args.get("customer_id"),
        lead_id=args.get("lead_id"),
        opportunity_id=args.get("opportunity_id"),
        due_from=args.get("due_from"),
        due_to=args.get("due_to"),
        cursor=args.get("cursor"),
        limit=_limit(),
    )
    return jsonify(_page_json(page))


@bp.route("/crm/activities/", methods=["POST"])
@requires("plan activities")
def create_activity():
    """A new activity; 201 with it, 422 with field errors."""
    activity = services.create_activity(**_json_body(CREATE_FIELDS))
    response = jsonify(_detail_json(activity.id))
    response.status_code = 201
    response.headers["Location"] = url_for("activities.detail", activity_id=activity.id)
    return response


@bp.route("/crm/activities/<int:activity_id>/complete/", methods=["PUT"])
@requires("plan activities")
def complete_activity(activity_id: int):
    """Complete with an outcome and optionally a follow-up (`follow_up`: create's fields)."""
    body = _json_body(COMPLETE_FIELDS)
    follow_up = body.get("follow_up")
    if follow_up is not None and not isinstance(follow_up, dict):
        raise ValidationError(_("Bad follow-up."), {"follow_up": _("Send an object or null.")})
    if follow_up is not None and (unknown := sorted(set(follow_up) - CREATE_FIELDS)):
        raise ValidationError(
            _("Unknown fields."), {f"follow_up_{name}": _("Not a field.") for name in unknown}
        )
    activity, created = services.complete_activity(
        activity_id,
        acting_user=current_user,
        outcome=body.get("outcome"),
        next_action=body.get("next_action") or "",
        follow_up=follow_up,
    )
    return jsonify(
        {
            "activity": _detail_json(activity.id),
            "follow_up": _detail_json(created.id) if created is not None else None,
        }
    )


@bp.route("/crm/calendar/", methods=["GET"])
@requires("plan activities")
def calendar():
    """Activities due in [start, end): `user` is me (default), all or a user id."""
    args = request.args
    page = services.calendar_activities(
        args.get("start"),
        args.get("end"),
        user_id=services.calendar_user(args.get("user", "me"), current_user.id),
        cursor=args.get("cursor"),
        limit=_limit(),
    )
    return jsonify(
        {"timezone": current_user.organization.timezone, **_page_json(page)},
    )
