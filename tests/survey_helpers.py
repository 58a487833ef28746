"""Survey responses for tests and benches, saved page by page the way the respondent's page
saves them (the tallies moved from the answers before to the answers after, the response
scored), so analytics read the same tallies live submissions produce."""

import datetime as dt

from crm_web.extensions import db
from crm_web.surveys import logic, scoring, services, tallies
from crm_web.surveys.models import Survey, SurveyResponse


def respond(
    survey: Survey,
    answers: dict,
    *,
    pages: int | None = None,
    started_at: dt.datetime | None = None,
    seconds: int = 90,
    customer_id: int | None = None,
    channel: str = "public",
) -> SurveyResponse:
    """A response to the launched `survey` giving `answers`, page after page along its path;
    `pages` stops it (in progress) after that many pages."""
    document = services.get_version(survey).definition
    started_at = started_at or dt.datetime.now(dt.UTC)
    response = SurveyResponse(
        organization_id=survey.organization_id,
        survey_id=survey.id,
        version_id=survey.version_id,
        customer_id=customer_id,
        channel=channel,
        state="in_progress",
        answers={},
        page=0,
        pages_seen=[],
        completion=0,
        started_at=started_at,
        updated_at=started_at,
        sentiment_label="",
    )
    db.session.add(response)
    db.session.flush()
    number, saved = 0, {}
    while number is not None and (pages is None or len(response.pages_seen) < pages):
        page = document["pages"][number]
        given = {
            q["id"]: answers[q["id"]]
            for q in logic.visible_questions(page, {**saved, **answers})
            if q["id"] in answers
        }
        after = logic.answers_on_path(document, {**saved, **given})
        tallies.record(
            organization_id=survey.organization_id,
            survey_id=survey.id,
            response_id=response.id,
            definition=document,
            before=saved,
            after=after,
        )
        saved = after
        response.answers = after
        response.pages_seen = [*response.pages_seen, number]
        scoring.score_response(response, document)
        number = logic.next_page(document, number, saved)
        response.page = number if number is not None else len(document["pages"])
    walked = logic.path(document, saved)
    response.completion = round(100 * len(response.pages_seen) / len(walked))
    if number is None:
        response.state = "completed"
        response.completed_at = started_at + dt.timedelta(seconds=seconds)
        response.duration_seconds = seconds
        survey.completed_count += 1
    db.session.flush()
    return response
