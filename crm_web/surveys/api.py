"""Surveys on the JSON API: list and create (the questions and logic as the document JSON),
read one, launch, its responses (keyset), and its analytics."""

from flask import Blueprint, jsonify, request, url_for
from flask_babel import gettext as _

from crm_web.errors import ValidationError
from crm_web.inputs import json_object, query_int
from crm_web.pagination import iso, list_json
from crm_web.permissions import requires
from crm_web.surveys import links, services
from crm_web.surveys.models import STATUSES

bp = Blueprint("surveys", __name__)

SETTINGS = (
    "name",
    "description",
    "language",
    "anonymous",
    "public_link",
    "starts_at",
    "ends_at",
    "max_responses",
    "thank_you",
)


def survey_json(survey, *, document: bool = True) -> dict:
    """A survey as the API shows it; `definition` is the draft document (what the builder
    edits), `version_id` the launched one respondents answer."""
    out = {
        "id": survey.id,
        "name": survey.name,
        "description": survey.description,
        "language": survey.language,
        "status": survey.status,
        "anonymous": survey.anonymous,
        "public_link": survey.public_link,
        "public_url": links.public_url(survey.organization_id, survey.id)
        if survey.public_link
        else None,
        "starts_at": iso(survey.starts_at),
        "ends_at": iso(survey.ends_at),
        "max_responses": survey.max_responses,
        "thank_you": survey.thank_you,
        "completed_count": survey.completed_count,
        "version_id": survey.version_id,
        "launched_at": iso(survey.launched_at),
        "closed_at": iso(survey.closed_at),
        "created_at": iso(survey.created_at),
    }
    if document:
        out["definition"] = survey.definition
    return out


def response_json(response) -> dict:
    return {
        "id": response.id,
        "survey_id": response.survey_id,
        "version_id": response.version_id,
        "customer_id": response.customer_id,
        "invitation_id": response.invitation_id,
        "ticket_id": response.ticket_id,
        "channel": response.channel,
        "state": response.state,
        "answers": response.answers,
        "completion": response.completion,
        "started_at": iso(response.started_at),
        "completed_at": iso(response.completed_at),
        "duration_seconds": response.duration_seconds,
        "nps": response.nps,
        "sentiment": response.sentiment,
        "sentiment_label": response.sentiment_label,
    }


def _limit() -> int:
    return query_int("limit", 50, minimum=1, maximum=200)


@bp.route("/crm/surveys/", methods=["GET"])
@requires("view surveys")
def list_surveys():
    """Surveys, newest first, without their documents; `status`, keyset `cursor`, `limit`."""
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise ValidationError(
            _("Unknown status."),
            {"status": _("Choose one of: %(choices)s.", choices=", ".join(STATUSES))},
        )
    page = services.list_surveys(cursor=request.args.get("cursor"), limit=_limit(), status=status)
    return jsonify(
        list_json([survey_json(s, document=False) for s in page.items], page.next_cursor)
    )


@bp.route("/crm/surveys/", methods=["POST"])
@requires("manage surveys")
def create_survey():
    """A draft survey; `definition` (pages, questions, logic) is checked whole, each mistake
    named by its place (`pages.0.questions.1.title`)."""
    body = json_object()
    values = {key: body[key] for key in SETTINGS if key in body}
    survey = services.create_survey(values, body.get("definition"))
    response = jsonify(survey_json(survey))
    response.status_code = 201
    response.headers["Location"] = url_for(".get_survey", survey_id=survey.id)
    return response


@bp.route("/crm/surveys/<int:survey_id>/", methods=["GET"])
@requires("view surveys")
def get_survey(survey_id: int):
    return jsonify(survey_json(services.get_survey(survey_id)))


@bp.route("/crm/surveys/<int:survey_id>/launch/", methods=["POST"])
@requires("manage surveys")
def launch(survey_id: int):
    """Open the survey to respondents (a new version when the document changed)."""
    return jsonify(survey_json(services.launch(survey_id)))


@bp.route("/crm/surveys/<int:survey_id>/responses/", methods=["GET"])
@requires("view surveys")
def responses(survey_id: int):
    """The survey's responses, newest first; keyset `cursor`, `limit`."""
    page = services.responses_page(survey_id, cursor=request.args.get("cursor"), limit=_limit())
    return jsonify(list_json([response_json(r) for r in page.items], page.next_cursor))


@bp.route("/crm/surveys/<int:survey_id>/analytics/", methods=["GET"])
@requires("view surveys")
def analytics(survey_id: int):
    """The survey's figures, as the analytics page shows them."""
    # Imported here while the analytics module lives on its own branch: the lead moves this
    # import to the top at the merge.
    from crm_web.surveys.analytics import summary

    return jsonify(summary(services.get_survey(survey_id)))
