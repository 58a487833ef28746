"""Activity pages: my tasks, the calendar, one activity (open, complete, edit, cancel) and the list."""

from datetime import date, datetime, time

from flask import Blueprint, abort, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crm_web import labels
from crm_web.activities import services
from crm_web.activities.forms import ActivityForm, CompleteForm, form_data
from crm_web.activities.models import STATUSES
from crm_web.errors import ValidationError
from crm_web.formatting import local, weekday_names
from crm_web.forms import form_status, submit
from crm_web.permissions import requires
from crm_web.rendering import is_htmx, redirect_to, render
from crm_web.timezones import user_timezone

bp = Blueprint("activities", __name__)

# Lists and the calendar listen for this event and reload themselves after a change.
CHANGED_EVENT = "activity-changed"
BUCKET_TITLES = {"overdue": _l("Overdue"), "today": _l("Later today"), "upcoming": _l("Upcoming")}


def _changed(response):
    response.headers["HX-Trigger"] = CHANGED_EVENT
    return response


def _panel(activity_id: int, *, form: CompleteForm | None = None, status: int = 200, notice=""):
    detail = services.activity_detail(activity_id)
    return render(
        "activities/activity.html",
        block="panel",
        status=status,
        detail=detail,
        form=form or CompleteForm(formdata=None),
        can_change=services.can_change(detail.activity, current_user),
        notice=notice,
    )


# --- my tasks and the calendar ------------------------------------------------------------


@bp.route("/tasks")
@requires("plan activities")
def tasks():
    bucket = request.args.get("bucket")
    if bucket:
        page = services.task_bucket(current_user.id, bucket, cursor=request.args.get("cursor"))
        return render("activities/tasks.html", block="rows", bucket=bucket, page=page)
    return render(
        "activities/tasks.html",
        block="buckets",
        tasks=services.my_tasks(current_user.id),
        buckets=services.BUCKETS,
        titles=BUCKET_TITLES,
    )


def _date_arg(name: str) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            _("Use a date such as 2026-11-21."), {name: _("Not a date.")}
        ) from None


@bp.route("/calendar")
@requires("plan activities")
def calendar():
    view = request.args.get("view", "month")
    who = request.args.get("user", "me")
    today = services.local_today()
    user_id = services.calendar_user(who, current_user.id)
    period = services.calendar_period(view, _date_arg("date") or today, user_id=user_id)
    return render(
        "activities/calendar.html",
        block="calendar",
        period=period,
        who=who,
        calendar_user_id=user_id,
        today=today,
        users=services.activity_users(),
        weekdays=weekday_names(),
    )


# --- one activity -------------------------------------------------------------------------


@bp.route("/activities/<int:activity_id>")
@requires("plan activities")
def detail(activity_id: int):
    return _panel(activity_id)


@bp.route("/activities/<int:activity_id>/complete", methods=["POST"])
@requires("plan activities")
def complete(activity_id: int):
    form = CompleteForm()
    if completed := submit(
        form,
        lambda: services.complete_activity(
            activity_id,
            acting_user=current_user,
            outcome=form.outcome.data,
            next_action=form.next_action.data or "",
            follow_up=form.follow_up_values(),
        ),
        shown=ValidationError,
    ):
        _activity, follow_up = completed.value
        notice = (
            _("Completed. Follow-up planned for %(due)s.", due=local(follow_up.due_at))
            if follow_up is not None
            else _("Completed.")
        )
        if not is_htmx():
            flash(notice, "success")
            return redirect_to(url_for("activities.detail", activity_id=activity_id))
        return _changed(_panel(activity_id, notice=notice))
    return _panel(activity_id, form=form, status=form_status(form))


@bp.route("/activities/<int:activity_id>/cancel", methods=["POST"])
@requires("plan activities")
def cancel(activity_id: int):
    services.cancel_activity(activity_id, acting_user=current_user)
    if not is_htmx():
        flash(_("Cancelled."), "info")
        return redirect_to(url_for("activities.detail", activity_id=activity_id))
    return _changed(_panel(activity_id, notice=_("Cancelled.")))


@bp.route("/activities/new", methods=["GET", "POST"])
@requires("plan activities")
def new():
    form = ActivityForm(users=services.activity_users())
    if request.method == "GET":
        for name in ("customer_code", "lead_number", "opportunity_number"):
            getattr(form, name).data = request.args.get(name, "")
        form.assigned_to_id.data = current_user.id
        # From a calendar day: nine in the morning of that day.
        if day := _date_arg("date"):
            form.due_at.data = datetime.combine(day, time(9))
    if created := submit(
        form, lambda: services.create_activity(**form.values()), shown=ValidationError
    ):
        activity = created.value
        flash(_("%(type)s planned.", type=activity.type_label), "success")
        return redirect_to(url_for("activities.detail", activity_id=activity.id))
    return render(
        "activities/form.html", block="form", status=form_status(form), form=form, activity=None
    )


@bp.route("/activities/<int:activity_id>/edit", methods=["GET", "POST"])
@requires("plan activities")
def edit(activity_id: int):
    activity = services.activity_detail(activity_id).activity
    if not services.can_change(activity, current_user):
        abort(403)
    users = services.activity_users()
    if request.method == "GET":
        form = ActivityForm(data=form_data(activity, user_timezone()), users=users)
    else:
        form = ActivityForm(users=users)
    if submit(
        form,
        lambda: services.update_activity(activity_id, acting_user=current_user, **form.values()),
        shown=ValidationError,
    ):
        flash(_("Saved."), "success")
        return redirect_to(url_for("activities.detail", activity_id=activity_id))
    return render(
        "activities/form.html",
        block="form",
        status=form_status(form),
        form=form,
        activity=activity,
    )


# --- the list -----------------------------------------------------------------------------

LIST_FILTERS = (
    "assigned_to_id",
    "status",
    "activity_type",
    "customer_id",
    "lead_id",
    "opportunity_id",
    "due_from",
    "due_to",
)


@bp.route("/activities")
@requires("plan activities")
def index():
    filters = {name: request.args.get(name, "").strip() or None for name in LIST_FILTERS}
    cursor = request.args.get("cursor")
    page = services.list_activities(**filters, cursor=cursor)
    active = {name: value for name, value in filters.items() if value}
    next_url = url_for("activities.index", cursor=page.next_cursor, **active)
    return render(
        "activities/index.html",
        block="rows" if cursor else "results",
        page=page,
        next_url=next_url,
        filters=filters,
        users=services.activity_users(),
        types=labels.ACTIVITY_TYPE,
        statuses=("open", *STATUSES),
    )
