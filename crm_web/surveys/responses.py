"""Answering a survey: who is answering (the public link, a personal invitation, a resume link),
one page saved per transaction (its answers checked by crm_web/surveys/logic.py, the running
tallies moved, the next page chosen), and completion under the survey's response limit.

A response row is made when its first page is saved, not when the page is opened: a link
crawled by a mail scanner or opened and closed again starts nothing.
"""

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import defer

from crm_web.campaigns import content
from crm_web.db import atomic, current_organization_id, set_tenant
from crm_web.errors import Conflict, NotFound, check_fields
from crm_web.extensions import db
from crm_web.storage import TooLarge, delete_on_rollback, get_storage
from crm_web.surveys import logic, scoring, services, tallies
from crm_web.surveys.models import Survey, SurveyInvitation, SurveyResponse

# How far back a page's "opened at" may say the respondent began (a stale or forged value is
# clamped: it only feeds the time taken).
LONGEST_SITTING = dt.timedelta(days=7)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- who is answering ---------------------------------------------------------------------


@dataclass
class Respondent:
    """A survey link followed: the survey, the launched document it answers, the response so far
    (None before the first page is saved) and, for a personal link, its invitation."""

    survey: Survey
    document: dict
    response: SurveyResponse | None = None
    invitation: SurveyInvitation | None = None
    # Whether `response` was read locked for this transaction (a resume link's post).
    locked: bool = False

    @property
    def channel(self) -> str:
        return self.invitation.channel if self.invitation else "public"

    @property
    def page(self) -> int:
        return self.response.page if self.response else 0

    @property
    def answers(self) -> dict:
        return self.response.answers if self.response else {}

    @property
    def completed(self) -> bool:
        return self.response is not None and self.response.state == "completed"


# Launched versions never change, so their documents are read once per process.
_DOCUMENTS: dict[tuple[int, int], dict] = {}
_DOCUMENTS_KEPT = 256


def version_document(survey: Survey, version_id: int | None = None) -> dict:
    wanted = version_id or survey.version_id
    key = (survey.organization_id, wanted)
    document = _DOCUMENTS.get(key)
    if document is None:
        version = services.get_version(survey, wanted)
        if version is None:
            raise NotFound(_("No such survey."))
        if len(_DOCUMENTS) >= _DOCUMENTS_KEPT:
            _DOCUMENTS.clear()
        document = _DOCUMENTS[key] = version.definition
    return document


def _token(purpose: str, token: str) -> content.Token:
    found = content.verify(purpose, token)
    if found is None:
        raise NotFound(_("This link is not valid."))
    set_tenant(found.organization_id)
    return found


# A respondent's request reads the survey's settings, never the builder's draft documents, nor
# the address kept on the response (decoding an INET costs more than the rest of the row).
_SETTINGS_ONLY = (defer(Survey.definition), defer(Survey.undo_definition))
_ANSWERS_ONLY = defer(SurveyResponse.ip)


def _launched(survey_id: int) -> Survey:
    survey = db.session.scalar(
        select(Survey)
        .where(Survey.id == survey_id, Survey.organization_id == current_organization_id())
        .options(*_SETTINGS_ONLY)
    )
    if survey is None or survey.version_id is None:
        raise NotFound(_("No such survey."))
    return survey


def cookie_name(survey_id: int) -> str:
    """The cookie naming a public respondent's response to this survey (its resume token)."""
    return f"survey_{survey_id}"


def from_public_link(token: str, cookies=None) -> Respondent:
    """The public link's survey, continuing the response the browser's cookie names."""
    found = _token("survey", token)
    survey = _launched(found.recipient_id)
    if not survey.public_link:
        raise NotFound(_("This survey is answered by invitation only."))
    response = None
    resume_token = (cookies or {}).get(cookie_name(survey.id))
    resumed = content.verify("survey_resume", resume_token) if resume_token else None
    if resumed is not None and resumed.organization_id == found.organization_id:
        response = db.session.get(SurveyResponse, resumed.recipient_id, options=[_ANSWERS_ONLY])
        if response is not None and response.survey_id != survey.id:
            response = None
    version = response.version_id if response else None
    return Respondent(survey, version_document(survey, version), response)


def from_invitation(token: str) -> Respondent:
    found = _token("survey_invitation", token)
    invitation = db.session.scalar(
        select(SurveyInvitation).where(
            SurveyInvitation.id == found.recipient_id,
            SurveyInvitation.organization_id == found.organization_id,
        )
    )
    if invitation is None:
        raise NotFound(_("This link is not valid."))
    survey = _launched(invitation.survey_id)
    response = db.session.scalar(
        select(SurveyResponse)
        .options(_ANSWERS_ONLY)
        .where(SurveyResponse.invitation_id == invitation.id)
    )
    version = response.version_id if response else None
    return Respondent(survey, version_document(survey, version), response, invitation)


def from_resume_link(token: str, *, lock: bool = False) -> Respondent:
    """The response a resume link names and its survey, read together (and the response locked
    for a page about to be saved, when `lock`)."""
    found = _token("survey_resume", token)
    stmt = (
        select(SurveyResponse, Survey)
        .options(*_SETTINGS_ONLY, _ANSWERS_ONLY)
        .join(
            Survey,
            and_(
                Survey.id == SurveyResponse.survey_id,
                Survey.organization_id == SurveyResponse.organization_id,
            ),
        )
        .where(
            SurveyResponse.id == found.recipient_id,
            SurveyResponse.organization_id == found.organization_id,
        )
    )
    if lock:
        stmt = stmt.with_for_update(of=SurveyResponse)
    row = db.session.execute(stmt).first()
    if row is None:
        raise NotFound(_("This link is not valid."))
    response, survey = row
    invitation = None
    if response.invitation_id is not None:
        invitation = db.session.get(SurveyInvitation, response.invitation_id)
    document = version_document(survey, response.version_id)
    return Respondent(survey, document, response, invitation, locked=lock)


def resume_token(response: SurveyResponse) -> str:
    return content.sign("survey_resume", response.organization_id, response.id)


def closed_reason(respondent: Respondent) -> str | None:
    """Why this respondent cannot answer now (None: they can): closed, not yet open, or full
    (a response begun before the last place went cannot complete either)."""
    return services.accepting_reason(respondent.survey)


# --- one page ------------------------------------------------------------------------------


@dataclass
class Step:
    """A page answered: the checked values, the messages by question id, the response's answers
    after it (only those on the path), the page it leads to (None: the end) and how much of the
    path is behind the respondent, in percent."""

    values: dict
    errors: dict
    answers: dict
    following: int | None
    completion: int


FileKeeper = Callable[[dict, object], tuple[object, str | None]]


def step(document: dict, number: int, before: dict, form, files=None, keep_file=None) -> Step:
    """Answer page `number` over the answers `before`: what the submission and the preview both
    do, so the preview walks exactly the submission's path. `keep_file(question, upload)` turns
    an upload into what is stored (value, error)."""
    page = document["pages"][number]
    values, errors = logic.check_page(page, form, before, files)
    for question in page["questions"]:
        upload = values.get(question["id"])
        if question["type"] == "file" and upload is not None and not isinstance(upload, dict):
            kept, error = keep_file(question, upload)
            if error:
                errors[question["id"]] = error
                values.pop(question["id"])
            else:
                values[question["id"]] = kept
    if errors:
        return Step(values, errors, dict(before), number, 0)
    on_page = {question["id"] for question in page["questions"]}
    merged = {key: value for key, value in before.items() if key not in on_page}
    merged.update(values)
    answers = logic.answers_on_path(document, merged)
    following = logic.next_page(document, number, answers)
    route = logic.path(document, answers)
    if following is None:
        completion = 100
    else:
        done = route.index(following) if following in route else len(route) - 1
        completion = round(100 * done / len(route))
    return Step(values, {}, answers, following, completion)


def store_upload(organization_id: int, question: dict, upload) -> tuple[dict | None, str | None]:
    """Keep an uploaded file in the app's storage, at most the question's size."""
    key = f"surveys/{organization_id}/{uuid.uuid4().hex}"
    try:
        size = get_storage().save(key, upload.stream, question["max_kb"] * 1024)
    except TooLarge:
        return None, _("Files can be at most %(kb)s KB.", kb=question["max_kb"])
    if not size:
        return None, _("The file is empty.")
    delete_on_rollback(key)
    return {"key": key, "name": (upload.filename or "")[:200], "size": size}, None


def _started(opened_at: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    if opened_at is None or not now - LONGEST_SITTING <= opened_at <= now:
        return now
    return opened_at


def _new_response(respondent: Respondent, ip: str | None, started: dt.datetime) -> SurveyResponse:
    survey, invitation = respondent.survey, respondent.invitation
    response = SurveyResponse(
        organization_id=survey.organization_id,
        survey_id=survey.id,
        version_id=survey.version_id,
        invitation_id=invitation.id if invitation else None,
        customer_id=None if survey.anonymous or invitation is None else invitation.customer_id,
        ticket_id=invitation.ticket_id if invitation else None,
        channel=respondent.channel,
        state="in_progress",
        answers={},
        page=0,
        pages_seen=[],
        completion=0,
        started_at=started,
        updated_at=started,
        ip=None if survey.anonymous else ip,
        sentiment_label="",
    )
    db.session.add(response)
    db.session.flush()
    return response


def _locked_response(respondent: Respondent) -> SurveyResponse | None:
    """The response, locked for this page; for a personal link the invitation is locked first,
    so two tabs posting its first page make one response."""
    if respondent.locked:
        return respondent.response
    if respondent.invitation is not None:
        db.session.execute(
            select(SurveyInvitation.id)
            .where(SurveyInvitation.id == respondent.invitation.id)
            .with_for_update()
        )
        which = SurveyResponse.invitation_id == respondent.invitation.id
    elif respondent.response is not None:
        which = SurveyResponse.id == respondent.response.id
    else:
        return None
    return db.session.scalar(
        select(SurveyResponse)
        .options(_ANSWERS_ONLY)
        .where(which)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


@atomic
def save_page(
    respondent: Respondent,
    number: int,
    form,
    files=None,
    *,
    ip: str | None = None,
    opened_at: dt.datetime | None = None,
) -> SurveyResponse | None:
    """Save the answers to page `number` (the page the respondent was shown) in one transaction.
    Bad answers raise ValidationError keyed by question id, and nothing is kept. A form for a
    page the response has moved past (a second tab, a double click) saves nothing: the
    respondent is shown where they are. Returns the response (None when nothing was begun)."""
    now = _now()
    response = _locked_response(respondent)
    respondent.response = response
    reason = closed_reason(respondent)
    if reason:
        raise Conflict(reason)
    if response is not None and (response.state == "completed" or number != response.page):
        return response
    if response is None and number != 0:
        return None
    document = respondent.document
    survey = respondent.survey
    before = dict(response.answers) if response else {}
    result = step(
        document,
        number,
        before,
        form,
        files,
        lambda question, upload: store_upload(survey.organization_id, question, upload),
    )
    check_fields(result.errors)
    if response is None:
        response = respondent.response = _new_response(respondent, ip, _started(opened_at, now))
    tallies.record(
        organization_id=survey.organization_id,
        survey_id=survey.id,
        response_id=response.id,
        definition=document,
        before=before,
        after=result.answers,
    )
    response.answers = result.answers
    response.pages_seen = [seen for seen in response.pages_seen if seen != number] + [number]
    response.completion = result.completion
    response.updated_at = now
    scoring.score_response(response, document)
    if result.following is None:
        _complete(response, now)
    else:
        response.page = result.following
    return response


def _complete(response: SurveyResponse, now: dt.datetime) -> None:
    """Count the response in, unless the survey is full (the counter's row lock serializes the
    last places). The counter's update comes last, so the lock is held only until commit."""
    response.state = "completed"
    response.completed_at = now
    response.duration_seconds = max(0, round((now - response.started_at).total_seconds()))
    on_completed(response)
    db.session.flush()
    # A Core UPDATE: the ORM's bulk-update path cost more than the statement itself.
    surveys = Survey.__table__
    counted = db.session.scalar(
        update(surveys)
        .where(
            surveys.c.id == response.survey_id,
            surveys.c.organization_id == response.organization_id,
            or_(
                surveys.c.max_responses.is_(None),
                surveys.c.completed_count < surveys.c.max_responses,
            ),
        )
        .values(completed_count=surveys.c.completed_count + 1)
        .returning(surveys.c.completed_count)
    )
    if counted is None:
        raise Conflict(
            _("This survey has all the responses it needs. Thank you for your interest.")
        )


# --- completion, for the rest of the CRM --------------------------------------------------

_COMPLETION_LISTENERS: list[Callable[[SurveyResponse], None]] = []


def listen_for_completion(listener: Callable[[SurveyResponse], None]):
    """Have `listener(response)` run in the transaction that completes a response (a timeline
    entry, an automation's enrolment). Use as a decorator."""
    _COMPLETION_LISTENERS.append(listener)
    return listener


def on_completed(response: SurveyResponse) -> None:
    """The "survey_completed" event. The CRM's automations read what the domains write rather
    than a bus (crm_web/automations/triggers.py reads resolved tickets, won deals): the completed
    row itself (survey_responses.completed_at, customer_id, nps) is the event they find; work
    that must happen with the completion registers here and commits or rolls back with it
    (a listener that sends something writes a row the worker picks up, never sends itself)."""
    for listener in _COMPLETION_LISTENERS:
        listener(response)
