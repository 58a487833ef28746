"""Automation pages: the list with counts, the editor (trigger and goal, and the steps as a
vertical flow whose pieces are HTMX fragments of the editor page: add, edit, move, delete,
branch), activate and pause, the report, and the holiday calendar."""

import copy

from flask import Blueprint, abort, flash, request, url_for
from flask_babel import gettext as _

from crm_web.automations import definition, ready_made, services
from crm_web.automations.forms import step_from_form
from crm_web.automations.messages import SMS_TEMPLATES
from crm_web.campaigns import library
from crm_web.errors import ServiceError, invalid
from crm_web.i18n import LANGUAGE_NAMES
from crm_web.permissions import can, requires
from crm_web.rendering import redirect_to, render, render_blocks
from crm_web.segments import services as segments
from crm_web.surveys import invitations

bp = Blueprint("automations", __name__)


def _vocabulary() -> dict:
    return {
        "triggers": definition.TRIGGERS,
        "reentries": definition.REENTRY,
        "anniversary_fields": definition.ANNIVERSARY_FIELDS,
        "leap_days": definition.LEAP_DAYS,
        "language_names": LANGUAGE_NAMES,
        "step_types": definition.STEPS,
        "conditions": definition.CONDITIONS,
        "goals": definition.GOALS,
        "weekdays": definition.WEEKDAYS,
        "fields": definition.FIELDS,
        "field_operators": definition.FIELD_OPERATORS,
        "sms_templates": SMS_TEMPLATES,
        "survey_triggers": definition.SURVEY_TRIGGERS,
        "survey_channels": definition.SURVEY_CHANNELS,
    }


@bp.route("/automations")
@requires("view automations")
def index():
    page = services.list_automations(cursor=request.args.get("cursor"))
    return render(
        "automations/index.html",
        block="rows" if request.args.get("cursor") else "content",
        page=page,
        counts=services.counts([a.id for a in page.items]),
        next_url=url_for("automations.index", cursor=page.next_cursor),
        **_vocabulary(),
    )


@bp.route("/automations/new", methods=["GET", "POST"])
@requires("manage automations")
def new():
    """A blank journey (a name and a trigger), or one made from a ready-made journey."""
    errors: dict[str, str] = {}
    values = {"name": "", "trigger_kind": "birthday", "ready_made": ""}
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in values}
        try:
            if values["ready_made"] in ready_made.READY_MADE:
                automation = ready_made.create_from(values["ready_made"], values["name"])
            elif values["ready_made"]:
                raise invalid({"ready_made": _("Choose a ready-made journey.")})
            else:
                automation = services.create_automation(values, draft=True)
        except ServiceError as exc:
            errors = exc.fields or {"name": exc.message}
        else:
            return redirect_to(url_for("automations.edit", automation_id=automation.id))
    return render(
        "automations/new.html",
        block="form",
        status=422 if errors else 200,
        values=values,
        errors=errors,
        ready_made=ready_made.READY_MADE,
        **_vocabulary(),
    )


def _editor(automation, errors: dict | None = None, *blocks: str, status: int = 200, **extra):
    context = {
        "automation": automation,
        "errors": errors or {},
        "templates": library.list_templates(),
        "segments": segments.list_segments(limit=200).items,
        "surveys": invitations.sendable_surveys(),
        **_vocabulary(),
        **extra,
    }
    if blocks:
        return render_blocks("automations/edit.html", *blocks, status=status, **context)
    return render("automations/edit.html", status=status, **context)


@bp.route("/automations/<int:automation_id>")
@requires("view automations")
def edit(automation_id: int):
    return _editor(services.get_automation(automation_id))


def _save_flow(automation_id: int, steps: list):
    errors = services.save_draft(automation_id, {"steps": steps})
    automation = services.get_automation(automation_id)
    return _editor(automation, errors, "flow", status=422 if errors else 200)


@bp.route("/automations/<int:automation_id>/steps", methods=["POST"])
@requires("manage automations")
def add_step(automation_id: int):
    """Add a step at the end of the top list or of a branch's yes/no list."""
    automation = services.get_automation(automation_id)
    step_type = request.form.get("type", "")
    if step_type not in definition.STEPS:
        return _editor(automation, {"add": _("Choose a kind of step.")}, "flow", status=422)
    # A copy: the stored list changed in place would look unchanged to the ORM.
    steps = copy.deepcopy(automation.steps)
    target = steps
    parent = request.form.get("parent")
    if parent:
        found = definition.find(steps, parent)
        arm = request.form.get("arm")
        if found is None or found[0].get("type") != "branch" or arm not in ("yes", "no"):
            return _editor(automation, {"add": _("No such branch.")}, "flow", status=422)
        target = found[0].setdefault(arm, [])
    target.append(definition.default_step(step_type))
    return _save_flow(automation_id, steps)


@bp.route("/automations/<int:automation_id>/steps/<step_id>", methods=["POST"])
@requires("manage automations")
def save_step(automation_id: int, step_id: str):
    """Save one step's settings (the flow comes back with any field-level message)."""
    automation = services.get_automation(automation_id)
    # A copy: the stored list changed in place would look unchanged to the ORM.
    steps = copy.deepcopy(automation.steps)
    found = definition.find(steps, step_id)
    if found is None:
        return _editor(automation, {"add": _("No such step.")}, "flow", status=404)
    step, siblings, index = found
    siblings[index] = step_from_form(step, request.form)
    return _save_flow(automation_id, steps)


def _change_step(automation_id: int, step_id: str, change):
    """Apply `change(siblings, index)` to the step's list, save and answer with the flow."""
    automation = services.get_automation(automation_id)
    # A copy: the stored list changed in place would look unchanged to the ORM.
    steps = copy.deepcopy(automation.steps)
    found = definition.find(steps, step_id)
    if found is not None:
        change(found[1], found[2])
    return _save_flow(automation_id, steps)


@bp.route("/automations/<int:automation_id>/steps/<step_id>/move", methods=["POST"])
@requires("manage automations")
def move_step(automation_id: int, step_id: str):
    def move(siblings: list, index: int) -> None:
        other = index - 1 if request.form.get("direction") == "up" else index + 1
        if 0 <= other < len(siblings):
            siblings[index], siblings[other] = siblings[other], siblings[index]

    return _change_step(automation_id, step_id, move)


@bp.route("/automations/<int:automation_id>/steps/<step_id>/delete", methods=["POST"])
@requires("manage automations")
def delete_step(automation_id: int, step_id: str):
    return _change_step(automation_id, step_id, lambda siblings, index: siblings.pop(index))


@bp.route("/automations/<int:automation_id>/settings", methods=["POST"])
@requires("manage automations")
def save_settings(automation_id: int):
    """The name, trigger, re-entry rule, send hour and goal."""
    form = request.form
    config = {
        key: form.get(f"trigger_{key}")
        for key in (
            "field",
            "date",
            "days",
            "tag",
            "segment_id",
            "campaign_id",
            "leap_day",
            "survey_id",
        )
        if form.get(f"trigger_{key}") not in (None, "")
    }
    data = {
        "name": form.get("name", ""),
        "description": form.get("description", ""),
        "trigger_kind": form.get("trigger_kind", ""),
        "trigger_config": config,
        "reentry": form.get("reentry", ""),
        "send_hour": form.get("send_hour", "9"),
        "goal": {
            "kind": form.get("goal_kind", ""),
            "tag": form.get("goal_tag", ""),
            "segment_id": form.get("goal_segment_id"),
        },
    }
    try:
        errors = services.save_draft(automation_id, data)
    except ServiceError as exc:
        errors = exc.fields or {"name": exc.message}
    # The steps' own messages are the flow's to show.
    errors = {key: message for key, message in errors.items() if not key.startswith("steps")}
    automation = services.get_automation(automation_id)
    return _editor(automation, errors, "settings", status=422 if errors else 200, posted=data)


@bp.route("/automations/<int:automation_id>/activate", methods=["POST"])
@requires("manage automations")
def activate(automation_id: int):
    try:
        services.activate(automation_id)
    except ServiceError as exc:
        automation = services.get_automation(automation_id)
        flash(exc.message, "error")
        return _editor(automation, exc.fields, status=422)
    flash(_("The automation is active."), "success")
    return redirect_to(url_for("automations.edit", automation_id=automation_id))


@bp.route("/automations/<int:automation_id>/pause", methods=["POST"])
@requires("manage automations")
def pause(automation_id: int):
    services.pause(automation_id)
    flash(_("The automation is paused."), "success")
    return redirect_to(url_for("automations.edit", automation_id=automation_id))


@bp.route("/automations/<int:automation_id>/report")
@requires("view automations")
def report(automation_id: int):
    automation = services.get_automation(automation_id)
    return render(
        "automations/report.html",
        automation=automation,
        counts=services.counts([automation.id])[automation.id],
        steps=services.step_report(automation),
        **_vocabulary(),
    )


@bp.route("/automations/holidays", methods=["GET", "POST"])
@requires("view automations")
def holidays():
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not can("manage automations"):
            abort(403)
        try:
            if request.form.get("action") == "prefill":
                added = services.prefill_holidays(request.form.get("country", "TR"))
                flash(_("%(count)d holidays added.", count=added), "success")
            elif request.form.get("action") == "delete":
                services.delete_holiday(request.form.get("holiday_id", type=int) or 0)
            else:
                services.add_holiday(request.form.get("day", ""), request.form.get("name", ""))
        except ServiceError as exc:
            errors = exc.fields or {"day": exc.message}
    return render(
        "automations/holidays.html",
        block="calendar",
        status=422 if errors else 200,
        holidays=services.list_holidays(),
        errors=errors,
    )
