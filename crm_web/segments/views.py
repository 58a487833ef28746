"""Segment pages: the list, the rule builder (new and edit), a segment with its members,
movements and counts over time, and refresh."""

from flask import Blueprint, flash, make_response, request, url_for
from flask_babel import gettext as _

from crm_web.errors import Conflict, ServiceError, ValidationError
from crm_web.formatting import local, number
from crm_web.forms import form_status, show_service_error
from crm_web.permissions import requires
from crm_web.rendering import redirect_to, render, render_block, render_blocks, wanted_fragment
from crm_web.segments import builder, services
from crm_web.segments.criteria import EVERYONE
from crm_web.segments.forms import TYPE_LABELS, SegmentForm
from crm_web.segments.registry import NO_VALUE, OPERATOR_LABELS, TWO_VALUES
from crm_web.sla.charts import Series, bar_chart

bp = Blueprint("segments", __name__)


@bp.route("/segments")
@requires("view segments")
def index():
    page = services.list_segments(cursor=request.args.get("cursor"))
    return render(
        "segments/index.html",
        block="rows" if request.args.get("cursor") else "content",
        page=page,
        next_url=url_for("segments.index", cursor=page.next_cursor),
        type_labels=TYPE_LABELS,
    )


def _builder_context(criteria: dict, errors: dict | None = None) -> dict:
    return {
        "root": builder.tree(criteria, errors),
        "field_groups": builder.grouped_fields(),
        "operator_labels": OPERATOR_LABELS,
        "no_value": NO_VALUE,
        "two_values": TWO_VALUES,
    }


def _form_page(
    form: SegmentForm, segment, criteria: dict, errors: dict | None = None, status: int = 200
):
    return render(
        "segments/form.html",
        block="form",
        status=status,
        form=form,
        segment=segment,
        **_builder_context(criteria, errors),
    )


def _save(form: SegmentForm, segment, save):
    """Validate the posted segment and save it with `save(data)`; the page again on errors."""
    criteria = builder.from_form(request.form)
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            saved = save({**form.values(), "criteria": criteria})
        except ValidationError as exc:
            errors = {
                key: message for key, message in exc.fields.items() if key.startswith("criteria")
            }
            others = {key: message for key, message in exc.fields.items() if key not in errors}
            show_service_error(form, ServiceError(exc.message, others))
        else:
            flash(_("Segment %(name)s is saved.", name=saved.segment_name), "success")
            return redirect_to(url_for("segments.show", segment_id=saved.id))
    status = 422 if errors else form_status(form)
    return _form_page(form, segment, criteria, errors, status)


@bp.route("/segments/new", methods=["GET", "POST"])
@requires("manage segments")
def new():
    form = SegmentForm()
    if request.method == "GET":
        return _form_page(form, None, {**EVERYONE, "rules": []})
    return _save(form, None, services.create_segment)


@bp.route("/segments/<int:segment_id>/edit", methods=["GET", "POST"])
@requires("manage segments")
def edit(segment_id: int):
    segment = services.get_segment(segment_id)
    form = SegmentForm(obj=segment)
    if request.method == "GET":
        form.refresh_minutes.data = str(segment.refresh_minutes)
        return _form_page(form, segment, segment.criteria)
    return _save(form, segment, lambda data: services.update_segment(segment_id, data))


@bp.route("/segments/builder", methods=["POST"])
@requires("manage segments")
def rebuild():
    """The builder after a change (a field or operator picked, a condition added or removed):
    the operators and value inputs follow the field. Without HTMX, the whole form again."""
    criteria = builder.apply(builder.from_form(request.form), request.form.get("action", ""))
    context = _builder_context(criteria)
    if wanted_fragment("builder") is None:
        segment_id = request.form.get("segment_id", type=int)
        segment = services.get_segment(segment_id) if segment_id else None
        return _form_page(SegmentForm(), segment, criteria, None)
    response = make_response(render_block("segments/form.html", "builder", **context))
    response.vary.add("HX-Request")
    # The count follows the conditions: the preview listens for this event.
    response.headers["HX-Trigger"] = "criteria-changed"
    return response


@bp.route("/segments/preview", methods=["POST"])
@requires("manage segments")
def preview():
    """The live count and first customers of the conditions being edited."""
    criteria = builder.from_form(request.form)
    try:
        result, problems = services.preview(criteria), {}
    except ValidationError as exc:
        result, problems = None, exc.fields
    # Only ever a fragment: the form page loads it into its panel.
    return render_blocks("segments/form.html", "preview", result=result, problems=problems)


@bp.route("/segments/<int:segment_id>")
@requires("view segments")
def show(segment_id: int):
    segment = services.get_segment(segment_id)
    cursor = request.args.get("cursor")
    fragment = wanted_fragment("status", "members")
    if fragment == "status":
        return render("segments/show.html", block="status", segment=segment)
    page = services.members_page(segment_id, cursor=cursor)
    next_url = url_for(
        "segments.show", segment_id=segment_id, cursor=page.next_cursor, fragment="members"
    )
    if fragment == "members":
        return render("segments/show.html", block="member_rows", page=page, next_url=next_url)
    refreshes = services.history(segment_id)
    chart = bar_chart(
        _("Customers after each refresh"),
        [f"{local(r.refreshed_at, 'short')} {local(r.refreshed_at, 'time')}" for r in refreshes],
        [Series(_("Customers"), "series-a", [refresh.customer_count for refresh in refreshes])],
        label=lambda value: number(value, 0),
    )
    return render(
        "segments/show.html",
        segment=segment,
        page=page,
        next_url=next_url,
        movements=services.movements(segment_id),
        chart=chart,
        refreshes=refreshes,
        root=builder.tree(segment.criteria),
        operator_labels=OPERATOR_LABELS,
        type_labels=TYPE_LABELS,
    )


@bp.route("/segments/<int:segment_id>/refresh", methods=["POST"])
@requires("manage segments")
def refresh(segment_id: int):
    try:
        segment = services.request_refresh(segment_id)
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect_to(url_for("segments.show", segment_id=segment_id))
    if wanted_fragment("status"):
        return render("segments/show.html", block="status", segment=segment)
    flash(_("The segment is being refreshed."), "success")
    return redirect_to(url_for("segments.show", segment_id=segment_id))


@bp.route("/segments/<int:segment_id>/delete", methods=["POST"])
@requires("manage segments")
def delete(segment_id: int):
    segment = services.get_segment(segment_id)
    services.delete_segment(segment_id)
    flash(_("Segment %(name)s is deleted.", name=segment.segment_name), "success")
    return redirect_to(url_for("segments.index"))
