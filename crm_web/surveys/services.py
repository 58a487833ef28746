"""Surveys: creating them, changing their settings and their document (with one step of undo),
launching a version, closing and reopening."""

import copy
import datetime as dt

from flask_babel import gettext as _
from sqlalchemy import func, select

from crm_web.db import atomic, current_organization_id, current_tenant
from crm_web.errors import Conflict, NotFound, check_fields
from crm_web.extensions import db
from crm_web.i18n import LANGUAGES
from crm_web.pagination import Page, keyset_page
from crm_web.surveys import definition as doc
from crm_web.surveys.models import Survey, SurveyVersion


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def get_survey(survey_id: int, *, for_update: bool = False) -> Survey:
    """This organization's survey, or NotFound."""
    stmt = select(Survey).where(
        Survey.id == survey_id, Survey.organization_id == current_organization_id()
    )
    survey = db.session.scalar(stmt.with_for_update() if for_update else stmt)
    if survey is None:
        raise NotFound(_("No such survey."))
    return survey


def get_version(survey: Survey, version_id: int | None = None) -> SurveyVersion | None:
    """The launched version respondents answer (or the one named)."""
    wanted = version_id or survey.version_id
    if wanted is None:
        return None
    return db.session.scalar(
        select(SurveyVersion).where(
            SurveyVersion.id == wanted,
            SurveyVersion.survey_id == survey.id,
            SurveyVersion.organization_id == current_organization_id(),
        )
    )


def list_surveys(cursor: str | None = None, limit: int = 50, status: str | None = None) -> Page:
    """Surveys, newest first; keyset by id."""
    stmt = select(Survey).where(Survey.organization_id == current_organization_id())
    if status:
        stmt = stmt.where(Survey.status == status)
    return keyset_page(stmt, (Survey.id,), cursor=cursor, limit=limit, descending=True)


def _settings(values: dict, errors: dict) -> dict:
    """The settings a marketer may change, checked: name, description, language, anonymous,
    public link, start and end, maximum responses, thank-you message."""
    clean = {}
    if "name" in values:
        clean["name"] = str(values.get("name") or "").strip()[:200]
        if not clean["name"]:
            errors["name"] = _("Give the survey a name.")
    for key, limit in (("description", 2000), ("thank_you", 2000)):
        if key in values:
            clean[key] = str(values.get(key) or "").strip()[:limit]
    if "language" in values:
        clean["language"] = values.get("language")
        if clean["language"] not in LANGUAGES:
            errors["language"] = _("Choose a language.")
    for key in ("anonymous", "public_link"):
        if key in values:
            clean[key] = values.get(key) in (True, "true", "on", "1", 1)
    for key in ("starts_at", "ends_at"):
        if key in values:
            clean[key] = _moment(values.get(key), key, errors)
    if clean.get("starts_at") and clean.get("ends_at") and clean["ends_at"] <= clean["starts_at"]:
        errors["ends_at"] = _("The end must come after the start.")
    if "max_responses" in values:
        raw = values.get("max_responses")
        clean["max_responses"] = None
        if raw not in (None, ""):
            try:
                clean["max_responses"] = int(raw)
            except (TypeError, ValueError):
                clean["max_responses"] = 0
            if not 0 < clean["max_responses"] <= 10_000_000 or isinstance(raw, bool):
                errors["max_responses"] = _("Give a whole number above 0, or leave it empty.")
    return clean


def _moment(raw, key: str, errors: dict) -> dt.datetime | None:
    """A moment from a form's datetime-local (organization's zone taken as UTC when naive is
    the caller's choice: forms send ISO with offset) or the API's ISO 8601."""
    if raw in (None, ""):
        return None
    if isinstance(raw, dt.datetime):
        moment = raw
    else:
        try:
            moment = dt.datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
        except ValueError:
            errors[key] = _("Give a date and time like 2026-05-31 09:00.")
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@atomic
def create_survey(values: dict, definition: dict | None = None) -> Survey:
    """A draft survey; `definition` (from a question template or the API) is checked whole."""
    errors: dict = {}
    settings = _settings({"name": "", **values}, errors)
    document = doc.empty_definition()
    if definition is not None:
        document = doc.clean_definition(definition, errors)
    check_fields(errors)
    tenant = current_tenant()
    defaults = {
        "description": "",
        "thank_you": "",
        "language": "en",
        "anonymous": False,
        "public_link": True,
    }
    survey = Survey(
        organization_id=tenant.organization_id,
        definition=document,
        created_by_id=tenant.user_id,
        status="draft",
        completed_count=0,
        **{**defaults, **{key: value for key, value in settings.items() if value is not None}},
    )
    db.session.add(survey)
    db.session.flush()
    return survey


@atomic
def update_settings(survey_id: int, values: dict) -> Survey:
    survey = get_survey(survey_id, for_update=True)
    errors: dict = {}
    settings = _settings(values, errors)
    check_fields(errors)
    if survey.status != "draft" and "anonymous" in settings:
        if settings["anonymous"] != survey.anonymous:
            raise Conflict(_("A launched survey keeps its anonymity: responses were promised it."))
    for key, value in settings.items():
        setattr(survey, key, value)
    return survey


@atomic
def save_definition(survey_id: int, raw: dict) -> Survey:
    """Replace the document with `raw`, checked whole (field-level messages keyed like
    `pages.0.questions.1.title`); the document before is kept for one undo."""
    survey = get_survey(survey_id, for_update=True)
    errors: dict = {}
    document = doc.clean_definition(raw, errors)
    check_fields(errors)
    if document != survey.definition:
        survey.undo_definition = survey.definition
        survey.definition = document
    return survey


def editable_copy(survey: Survey) -> dict:
    """A deep copy of the document to change and hand to `save_definition`."""
    return copy.deepcopy(survey.definition)


@atomic
def undo(survey_id: int) -> Survey:
    survey = get_survey(survey_id, for_update=True)
    if survey.undo_definition is None:
        raise Conflict(_("There is no change to undo."))
    survey.definition, survey.undo_definition = survey.undo_definition, None
    return survey


def unsaved_changes(survey: Survey) -> bool:
    """Whether the document differs from the version respondents answer."""
    version = get_version(survey)
    return version is None or version.definition != survey.definition


@atomic
def launch(survey_id: int) -> Survey:
    """Open the survey to respondents. The document is frozen as a new version when it changed
    since the last launch, so every response keeps the questions it answered."""
    survey = get_survey(survey_id, for_update=True)
    errors: dict = {}
    document = doc.clean_definition(survey.definition, errors)
    if not doc.questions(document):
        errors["pages"] = _("Add at least one question before launching.")
    check_fields(errors)
    if survey.ends_at is not None and survey.ends_at <= _now():
        raise Conflict(_("The end date has passed: move it before launching."))
    if unsaved_changes(survey):
        number = db.session.scalar(
            select(func.coalesce(func.max(SurveyVersion.number), 0)).where(
                SurveyVersion.survey_id == survey.id,
                SurveyVersion.organization_id == survey.organization_id,
            )
        )
        version = SurveyVersion(
            organization_id=survey.organization_id,
            survey_id=survey.id,
            number=number + 1,
            definition=document,
        )
        db.session.add(version)
        db.session.flush()
        survey.version_id = version.id
    survey.status = "active"
    survey.launched_at = survey.launched_at or _now()
    survey.closed_at = None
    return survey


@atomic
def close(survey_id: int) -> Survey:
    survey = get_survey(survey_id, for_update=True)
    if survey.status != "active":
        raise Conflict(_("Only an active survey can be closed."))
    survey.status = "closed"
    survey.closed_at = _now()
    return survey


def accepting_reason(survey: Survey, now: dt.datetime | None = None) -> str | None:
    """Why the survey takes no new responses now (None: it does)."""
    now = now or _now()
    if survey.status == "draft" or survey.version_id is None:
        return _("This survey has not started yet.")
    if survey.status == "closed":
        return _("This survey is closed. Thank you for your interest.")
    if survey.starts_at is not None and now < survey.starts_at:
        return _("This survey has not started yet.")
    if survey.ends_at is not None and now >= survey.ends_at:
        return _("This survey is closed. Thank you for your interest.")
    if survey.max_responses is not None and survey.completed_count >= survey.max_responses:
        return _("This survey has all the responses it needs. Thank you for your interest.")
    return None
