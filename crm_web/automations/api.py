"""Automations on the JSON API: list and create, read and change, activate, pause, and a
journey's enrollments."""

from flask import Blueprint, jsonify, request, url_for

from crm_web.automations import services
from crm_web.inputs import json_object, query_int
from crm_web.pagination import iso, list_json
from crm_web.permissions import requires

bp = Blueprint("automations", __name__)

WRITABLE = (
    "name",
    "description",
    "trigger_kind",
    "trigger_config",
    "steps",
    "goal",
    "reentry",
    "send_hour",
)


def automation_json(automation, counts: dict | None = None) -> dict:
    """A journey as the API shows it."""
    return {
        "id": automation.id,
        "name": automation.name,
        "description": automation.description,
        "status": automation.status,
        "trigger_kind": automation.trigger_kind,
        "trigger_config": automation.trigger_config,
        "steps": automation.steps,
        "goal": automation.goal,
        "reentry": automation.reentry,
        "send_hour": automation.send_hour,
        "activated_at": iso(automation.activated_at),
        "created_at": iso(automation.created_at),
        "counts": counts or services.counts([automation.id])[automation.id],
    }


def enrollment_json(enrollment) -> dict:
    return {
        "id": enrollment.id,
        "customer_id": enrollment.customer_id,
        "occurrence": enrollment.occurrence,
        "state": enrollment.state,
        "step_id": enrollment.step_id,
        "next_run_at": iso(enrollment.next_run_at),
        "exited_reason": enrollment.exited_reason,
        "goal_reached": enrollment.goal_reached,
        "enrolled_at": iso(enrollment.enrolled_at),
        "finished_at": iso(enrollment.finished_at),
    }


def _limit() -> int:
    return query_int("limit", 50, minimum=1, maximum=200)


def _writable() -> dict:
    body = json_object()
    return {key: body[key] for key in WRITABLE if key in body}


@bp.route("/crm/automations/", methods=["GET"])
@requires("view automations")
def list_automations():
    """Journeys, newest first, with their counts; keyset `cursor`, `limit`."""
    page = services.list_automations(cursor=request.args.get("cursor"), limit=_limit())
    counts = services.counts([a.id for a in page.items])
    return jsonify(
        list_json([automation_json(a, counts[a.id]) for a in page.items], page.next_cursor)
    )


@bp.route("/crm/automations/", methods=["POST"])
@requires("manage automations")
def create_automation():
    """A new journey, as a draft (201)."""
    automation = services.create_automation(_writable())
    response = jsonify(automation_json(automation))
    response.status_code = 201
    response.headers["Location"] = url_for(".get_automation", automation_id=automation.id)
    return response


@bp.route("/crm/automations/<int:automation_id>/", methods=["GET"])
@requires("view automations")
def get_automation(automation_id: int):
    return jsonify(automation_json(services.get_automation(automation_id)))


@bp.route("/crm/automations/<int:automation_id>/", methods=["PUT"])
@requires("manage automations")
def update_automation(automation_id: int):
    """Change a journey; fields left out stay as they are."""
    return jsonify(automation_json(services.update_automation(automation_id, _writable())))


@bp.route("/crm/automations/<int:automation_id>/activate/", methods=["POST"])
@requires("manage automations")
def activate(automation_id: int):
    return jsonify(automation_json(services.activate(automation_id)))


@bp.route("/crm/automations/<int:automation_id>/pause/", methods=["POST"])
@requires("manage automations")
def pause(automation_id: int):
    return jsonify(automation_json(services.pause(automation_id)))


@bp.route("/crm/automations/<int:automation_id>/enrollments/", methods=["GET"])
@requires("view automations")
def enrollments(automation_id: int):
    """The journey's enrollments, newest first; keyset `cursor`, `limit`."""
    page = services.enrollments_page(
        automation_id, cursor=request.args.get("cursor"), limit=_limit()
    )
    return jsonify(list_json([enrollment_json(e) for e in page.items], page.next_cursor))
