"""The SLA dashboard, its settings pages, the escalation log, and the SMS delivery webhook."""

from flask import Blueprint, current_app, flash, request, url_for
from flask_babel import gettext as _
from wtforms import SelectChoice

from crm_web import labels
from crm_web.accounts.services import list_users
from crm_web.formatting import local, number, percent
from crm_web.forms import form_status, submit
from crm_web.inputs import query_int
from crm_web.messaging import sms
from crm_web.permissions import requires
from crm_web.rendering import is_htmx, redirect_to, render, render_blocks
from crm_web.sla import charts, configuration, dashboard, policies, reading, recompute
from crm_web.sla.business_hours import WEEKDAYS
from crm_web.sla.forms import HOURS_FIELDS, HolidayForm, PolicyForm, SettingsForm

bp = Blueprint("sla", __name__)


def _hours(seconds: float) -> str:
    return _("%(hours)s h", hours=number(seconds / 3600, 1))


def _percent(fraction: float) -> str:
    return percent(fraction * 100, 0)


def _charts(board: dashboard.Dashboard) -> list[charts.Chart]:
    labels = [local(week.start, "short") for week in board.weeks]

    def hours(values):
        return [None if v is None else v / 3600 for v in values]

    return [
        charts.bar_chart(
            _("Breach rate by week created"),
            labels,
            [charts.Series(_("Breached"), "series-bad", [w.breach_rate for w in board.weeks])],
            label=_percent,
            ceiling=1.0,
        ),
        charts.bar_chart(
            _("First response by week created (working hours)"),
            labels,
            [
                charts.Series(
                    _("Median"), "series-a", hours(w.first_response.median for w in board.weeks)
                ),
                charts.Series(
                    _("90th percentile"),
                    "series-b",
                    hours(w.first_response.p90 for w in board.weeks),
                ),
            ],
            label=lambda v: f"{v:.1f} h",
        ),
        charts.bar_chart(
            _("Resolution by week resolved (working hours)"),
            labels,
            [
                charts.Series(
                    _("Median"), "series-a", hours(w.resolution.median for w in board.weeks)
                ),
                charts.Series(
                    _("90th percentile"), "series-b", hours(w.resolution.p90 for w in board.weeks)
                ),
            ],
            label=lambda v: f"{v:.1f} h",
        ),
    ]


@bp.route("/sla")
@requires("manage SLA")
def index():
    weeks = query_int("weeks", 8)
    if weeks not in dashboard.WEEK_CHOICES:
        weeks = 8
    board = dashboard.build(weeks)
    return render(
        "sla/dashboard.html",
        block="board",
        board=board,
        charts=_charts(board),
        weeks=weeks,
        week_choices=dashboard.WEEK_CHOICES,
        hours=_hours,
        percent=_percent,
    )


def _settings_form(settings) -> SettingsForm:
    form = SettingsForm()
    form.breach_reassign_to_id.choices = [SelectChoice(0, _("Nobody (keep the assignee)"))] + [
        SelectChoice(user.id, f"{user.name} ({labels.label(user.role, 'role')})")
        for user in list_users()
        if user.is_active and user.can("work tickets")
    ]
    if request.method == "GET":
        form.timezone.data = settings.timezone
        for name, hours in zip(HOURS_FIELDS, settings.weekly_hours, strict=True):
            getattr(form, name).data = hours
        form.warning_percents.data = ", ".join(str(p) for p in settings.warning_percents)
        form.breach_raise_priority.data = settings.breach_raise_priority
        form.breach_reassign_to_id.data = settings.breach_reassign_to_id or 0
        form.sms_numbers.data = "\n".join(settings.sms_numbers)
    return form


def _settings_page(
    block: str,
    *,
    status: int = 200,
    form=None,
    policy_form=None,
    holiday_form=None,
    polled: bool = False,
):
    """The settings page, or for HTMX its `block` with the recompute's progress out of band
    (a change may just have started one)."""
    settings = policies.get_settings()
    context = dict(
        status=status,
        form=form or _settings_form(settings),
        policy_form=policy_form or PolicyForm(formdata=None),
        holiday_form=holiday_form or HolidayForm(formdata=None),
        policies=policies.policy_table(),
        holidays=policies.list_holidays(),
        hours_fields=list(zip(HOURS_FIELDS, WEEKDAYS, strict=True)),
        sms_configured=sms.is_configured(current_app.config),
        recompute=recompute.recompute_status(),
        polled=polled,
    )
    if is_htmx() and block != "recompute":
        return render_blocks("sla/settings.html", block, "recompute", oob=("recompute",), **context)
    return render("sla/settings.html", block=block, oob=(), **context)


@bp.route("/sla/settings", methods=["GET", "POST"])
@requires("manage SLA")
def settings():
    form = _settings_form(policies.get_settings())
    if submit(
        form,
        lambda: configuration.update_settings(
            timezone=form.timezone.data,
            weekly_hours=form.weekly_hours(),
            warning_percents=form.warning_percents.data or "",
            breach_raise_priority=form.breach_raise_priority.data,
            breach_reassign_to_id=form.breach_reassign_to_id.data or None,
            sms_numbers=form.sms_numbers.data or "",
        ),
    ):
        flash(
            _("SLA settings saved; the open tickets' due times follow them."),
            "success",
        )
        return redirect_to(url_for("sla.settings"))
    return _settings_page("settings_form", status=form_status(form), form=form)


@bp.route("/sla/settings/recompute")
@requires("manage SLA")
def recompute_progress():
    """The background recompute's progress, polled while it runs (the page without HTMX)."""
    return _settings_page("recompute", polled=True)


@bp.route("/sla/policies", methods=["POST"])
@requires("manage SLA")
def save_policy():
    form = PolicyForm()
    if submit(
        form,
        lambda: configuration.save_policy(
            priority=form.priority.data,
            customer_tag=form.customer_tag.data or "",
            first_response_minutes=form.first_response_minutes.data,
            resolution_minutes=form.resolution_minutes.data,
            business_hours=form.business_hours.data,
        ),
    ):
        return _settings_page("policies")
    return _settings_page("policies", status=form_status(form), policy_form=form)


@bp.route("/sla/policies/<int:policy_id>/delete", methods=["POST"])
@requires("manage SLA")
def delete_policy(policy_id: int):
    configuration.delete_policy(policy_id)
    return _settings_page("policies")


@bp.route("/sla/holidays", methods=["POST"])
@requires("manage SLA")
def add_holiday():
    form = HolidayForm()
    if submit(form, lambda: configuration.add_holiday(form.day.data, form.name.data or "")):
        return _settings_page("holidays")
    return _settings_page("holidays", status=form_status(form), holiday_form=form)


@bp.route("/sla/holidays/<int:holiday_id>/delete", methods=["POST"])
@requires("manage SLA")
def delete_holiday(holiday_id: int):
    configuration.delete_holiday(holiday_id)
    return _settings_page("holidays")


@bp.route("/sla/escalations")
@requires("manage SLA")
def escalations():
    cursor = request.args.get("cursor")
    page, tickets, notifications = reading.escalation_log(cursor=cursor)
    return render(
        "sla/escalations.html",
        block="rows" if cursor else "log",
        page=page,
        tickets=tickets,
        notifications=notifications,
        next_url=url_for("sla.escalations", cursor=page.next_cursor) if page.next_cursor else None,
        timezone=policies.get_settings().timezone,
    )
