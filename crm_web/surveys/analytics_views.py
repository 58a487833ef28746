"""A survey's analytics page (live cards, a cross-tab and a benchmark), its responses table
with filters and CSV export, and one response's answers."""

from flask import Blueprint, Response, request, stream_with_context, url_for

from crm_web.csv_writer import stream_csv
from crm_web.errors import ValidationError
from crm_web.permissions import requires
from crm_web.rendering import render, wanted_fragment
from crm_web.surveys import analytics, analytics_charts, comparisons, response_list, services

bp = Blueprint("survey_analytics", __name__)


@bp.route("/surveys/<int:survey_id>/analytics")
@requires("view surveys")
def analytics_page(survey_id: int):
    """The whole page, or one of its cards for HTMX: the live figures (polled), the cross-tab
    (`question` by `by`) or the benchmark (`against`). The cross-tab and the benchmark are
    computed when asked for, so the figures polled every half minute stay cheap."""
    survey = services.get_survey(survey_id)
    wanted = wanted_fragment("crosstab", "benchmark")
    context: dict = {"survey": survey, "errors": {}, "crosstab": None, "benchmark": None}
    if wanted != "benchmark" and request.args.get("question"):
        context["crosstab"] = _asked(
            context,
            comparisons.crosstab,
            survey,
            request.args["question"],
            request.args.get("by", ""),
        )
    if wanted == "benchmark" or "against" in request.args:
        context["benchmark"] = _asked(
            context, comparisons.benchmark, survey, request.args.get("against", "")
        )
    if wanted is None:
        context.update(
            summary=analytics.summary(survey),
            charts=analytics_charts,
            crosstab_choices=comparisons.crosstab_choices(survey),
            benchmark_choices=comparisons.benchmark_choices(survey),
        )
    return render(
        "surveys/analytics.html",
        block=wanted or "live",
        status=422 if context["errors"] else 200,
        **context,
    )


def _asked(context: dict, compute, *args):
    """What `compute` answers, or None with its field messages added to the context."""
    try:
        return compute(*args)
    except ValidationError as refused:
        context["errors"].update(refused.fields)
        return None


def _filters() -> tuple[response_list.Filters, dict]:
    """The list's filters and the messages of those not valid (left out)."""
    try:
        return response_list.parse_filters(request.args), {}
    except ValidationError as refused:
        valid = {k: v for k, v in request.args.items() if k not in refused.fields}
        return response_list.parse_filters(valid), refused.fields


@bp.route("/surveys/<int:survey_id>/responses")
@requires("view surveys")
def responses(survey_id: int):
    survey = services.get_survey(survey_id)
    filters, errors = _filters()
    cursor = request.args.get("cursor")
    page = response_list.list_responses(survey, filters, cursor)
    return render(
        "surveys/responses.html",
        block="rows" if cursor else "results",
        status=422 if errors else 200,
        survey=survey,
        page=page,
        filters=filters,
        errors=errors,
        names=response_list.customer_names(page.items),
        channels=response_list.CHANNEL_LABELS,
        states=response_list.STATES,
        nps_groups=response_list.NPS_GROUPS,
        sentiments=response_list.SENTIMENTS,
        next_url=url_for(
            ".responses", survey_id=survey.id, cursor=page.next_cursor, **filters.query
        ),
    )


@bp.route("/surveys/<int:survey_id>/responses.csv")
@requires("view surveys")
def export(survey_id: int):
    """The filtered responses, one column per question, streamed."""
    survey = services.get_survey(survey_id)
    filters = response_list.parse_filters(request.args)
    body = stream_csv(response_list.csv_header(survey), response_list.csv_rows(survey, filters))
    response = Response(stream_with_context(body), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="survey-{survey.id}.csv"'
    return response


@bp.route("/surveys/<int:survey_id>/responses/<int:response_id>")
@requires("view surveys")
def response_detail(survey_id: int, response_id: int):
    survey = services.get_survey(survey_id)
    answer = response_list.get_response(survey, response_id)
    return render(
        "surveys/response.html",
        survey=survey,
        response=answer,
        answers=response_list.answered_questions(survey, answer),
        names=response_list.customer_names([answer]),
        states=response_list.STATES,
        channels=response_list.CHANNEL_LABELS,
        sentiments=response_list.SENTIMENTS,
    )
