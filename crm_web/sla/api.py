"""SLA in the JSON API: GET /api/v1/crm/sla/ (policies, settings and current breaches)."""

from flask import Blueprint, jsonify, request

from crm_web.inputs import query_int
from crm_web.pagination import list_json
from crm_web.permissions import requires
from crm_web.sla import policies, reading

bp = Blueprint("sla", __name__)

MAX_PAGE = 200


def _iso(value):
    return value.isoformat() if value else None


@bp.route("/crm/sla/")
@requires("work tickets")
def sla_overview():
    """The organization's open tickets past a deadline (the list's `items`, most overdue first;
    `?cursor=` pages through them, `?limit=` up to 200), with its SLA policies and business
    hours."""
    limit = max(1, min(query_int("limit", 50), MAX_PAGE))
    page = reading.current_breaches(cursor=request.args.get("cursor"), limit=limit)
    settings = policies.get_settings()
    breaches = [
        {
            "ticket_id": ticket.id,
            "reference": ticket.reference,
            "subject": ticket.subject,
            "priority": ticket.priority,
            "status": ticket.status,
            "assignee_id": ticket.assignee_id,
            "due_at": _iso(ticket.sla_due_at),
            "first_response_due_at": _iso(ticket.first_response_due_at),
            "resolution_due_at": _iso(ticket.resolution_due_at),
        }
        for ticket in page.items
    ]
    return jsonify(
        list_json(
            breaches,
            page.next_cursor,
            policies=[
                {
                    "id": targets.policy_id,
                    "priority": targets.priority,
                    "customer_tag": targets.customer_tag,
                    "first_response_minutes": targets.first_response_minutes,
                    "resolution_minutes": targets.resolution_minutes,
                    "business_hours": targets.business_hours,
                    "default": not saved,
                }
                for targets, saved in policies.policy_table()
            ],
            business_hours={
                "timezone": settings.timezone,
                "weekly": dict(
                    zip(
                        ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
                        settings.weekly_hours,
                        strict=True,
                    )
                ),
                "holidays": [
                    {"day": holiday.day.isoformat(), "name": holiday.name}
                    for holiday in policies.list_holidays()
                ],
            },
            warning_percents=settings.warning_percents,
        )
    )
