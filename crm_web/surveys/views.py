"""Survey pages: the list, a new survey (blank or from a template), the builder (a palette, the
pages and their questions as HTMX fragments of one page: add, drag, edit, duplicate, delete,
page breaks, logic, undo), the settings, launching and closing, and the preview's frame."""

from flask import Blueprint, abort, current_app, flash, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_web.errors import ServiceError, invalid
from crm_web.i18n import LANGUAGE_NAMES
from crm_web.permissions import can, requires
from crm_web.rendering import is_htmx, redirect_to, render, render_blocks
from crm_web.surveys import builder, forms, links, question_templates, services
from crm_web.surveys import definition as doc
from crm_web.surveys.models import STATUSES

bp = Blueprint("surveys", __name__)

STATUS_LABELS = {"draft": _l("Draft"), "active": _l("Active"), "closed": _l("Closed")}


def _serves(endpoint: str) -> bool:
    """Whether this app answers `endpoint` (the respondent's pages and the analytics are other
    blueprints: a link to one that is not there is left out)."""
    return endpoint in current_app.view_functions


@bp.route("/surveys")
@requires("view surveys")
def index():
    status = request.args.get("status") if request.args.get("status") in STATUSES else None
    page = services.list_surveys(cursor=request.args.get("cursor"), status=status)
    return render(
        "surveys/index.html",
        block="rows" if request.args.get("cursor") else "content",
        page=page,
        status=status,
        status_labels=STATUS_LABELS,
        question_counts={s.id: len(doc.questions(s.definition)) for s in page.items},
        next_url=url_for("surveys.index", cursor=page.next_cursor, status=status),
        analytics=_serves("survey_analytics.analytics_page"),
    )


@bp.route("/surveys/new", methods=["GET", "POST"])
@requires("manage surveys")
def new():
    """A blank survey, or one started from a question template, in the language chosen."""
    errors: dict[str, str] = {}
    values = {"name": "", "language": "en", "template": ""}
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in values}
        try:
            survey = services.create_survey(
                {"name": values["name"], "language": values["language"]},
                _template_document(values["template"], values["language"]),
            )
        except ServiceError as exc:
            errors = exc.fields or {"name": exc.message}
        else:
            return redirect_to(url_for("surveys.build", survey_id=survey.id))
    return render(
        "surveys/new.html",
        block="form",
        status=422 if errors else 200,
        values=values,
        errors=errors,
        templates=question_templates.TEMPLATES,
        language_names=LANGUAGE_NAMES,
    )


def _template_document(key: str, language: str) -> dict | None:
    """The template's document written in the survey's language (None: a blank survey)."""
    if not key:
        return None
    if key not in question_templates.TEMPLATES:
        raise invalid({"template": _("Choose a question template.")})
    with force_locale(language if language in LANGUAGE_NAMES else "en"):
        return question_templates.document(key)


# --- the builder -----------------------------------------------------------------------------


def _builder_context(outcome: builder.Outcome, **extra) -> dict:
    survey = outcome.survey
    opened = extra.pop("opened", None)
    if outcome.refused:  # the refused form stays open with its messages
        opened = outcome.opened or opened
    questions = doc.questions(outcome.document)
    return {
        "survey": survey,
        "document": outcome.document,
        "errors": outcome.errors,
        "opened": opened,
        "numbers": {q["id"]: n for n, q in enumerate(questions, start=1)},
        "by_id": {q["id"]: q for q in questions},
        "earlier": builder.earlier_questions(outcome.document),
        "question_types": doc.QUESTION_TYPES,
        "operators": doc.OPERATORS,
        "type_operators": doc.TYPE_OPERATORS,
        "file_types": doc.FILE_TYPES,
        "templates": question_templates.TEMPLATES,
        "status_labels": STATUS_LABELS,
        "unsaved": services.unsaved_changes(survey),
        "tab": "build",
        "manage": can("manage surveys"),
        **_links(survey),
        **extra,
    }


def _links(survey) -> dict:
    return {
        "analytics": _serves("survey_analytics.analytics_page"),
        "preview": _serves("survey_links.preview"),
    }


def _canvas(outcome: builder.Outcome, **extra):
    """The pages and questions after a change, with the toolbar (undo, launch) out of band;
    the full page when the request is not HTMX's."""
    status = 422 if outcome.refused else 200
    if not is_htmx():
        if not outcome.refused:
            return redirect_to(url_for("surveys.build", survey_id=outcome.survey.id))
        return render("surveys/builder.html", status=status, **_builder_context(outcome, **extra))
    context = _builder_context(outcome, oob=True, **extra)
    return render_blocks("surveys/builder.html", "canvas", "toolbar", status=status, **context)


def _draft(survey_id: int, **extra) -> builder.Outcome:
    survey = services.get_survey(survey_id)
    return builder.Outcome(survey, survey.definition, **extra)


@bp.route("/surveys/<int:survey_id>")
@requires("view surveys")
def build(survey_id: int):
    return render("surveys/builder.html", **_builder_context(_draft(survey_id)))


@bp.route("/surveys/<int:survey_id>/questions", methods=["POST"])
@requires("manage surveys")
def add_question(survey_id: int):
    """A palette entry or a template dropped (or clicked: at the end of the last page)."""
    form = request.form
    if form.get("template"):
        outcome = builder.add_template(
            survey_id, form["template"], form.get("page_id"), form.get("index")
        )
    else:
        outcome = builder.add_question(
            survey_id, form.get("kind", ""), form.get("page_id"), form.get("index")
        )
    return _canvas(outcome, added=outcome.opened)


@bp.route("/surveys/<int:survey_id>/questions/<question_id>/move", methods=["POST"])
@requires("manage surveys")
def move_question(survey_id: int, question_id: str):
    form = request.form
    outcome = builder.move_question(
        survey_id, question_id, form.get("page_id", ""), form.get("index")
    )
    return _canvas(outcome)


def _question_block(outcome: builder.Outcome, question: dict, *, opened: bool):
    """One question's card (its editor open or closed) as the page shows it."""
    page = next(
        p for p in outcome.document["pages"] if question["id"] in [q["id"] for q in p["questions"]]
    )
    context = _builder_context(outcome, opened=question["id"] if opened else None)
    return render_blocks(
        "surveys/builder.html", "question", question=question, page=page, **context
    )


@bp.route("/surveys/<int:survey_id>/questions/<question_id>", methods=["GET", "POST"])
@requires("view surveys")
def question(survey_id: int, question_id: str):
    """GET: the question's card with its editor open (or closed: `?closed=1`). POST (manage
    surveys): the form's own edits redraw the editor unsaved; "save" saves the question."""
    outcome = _draft(survey_id)
    found = doc.find_question(outcome.document, question_id)
    if found is None:
        return _canvas(builder.gone(outcome.survey))
    if request.method == "GET":
        opened = not request.args.get("closed")
        if not is_htmx():
            return render("surveys/builder.html", **_builder_context(outcome, opened=question_id))
        return _question_block(outcome, found, opened=opened)
    _require_manage()
    changes = forms.question_from_form(found, request.form, outcome.document)
    verb, _target = forms.action(request.form)
    if verb != "save":
        return _question_block(outcome, {**found, **changes}, opened=True)
    return _canvas(builder.update_question(survey_id, question_id, changes))


def _require_manage() -> None:
    """The editors' GETs are open to readers (support sees the survey); changes are not."""
    if not can("manage surveys"):
        abort(403)


@bp.route("/surveys/<int:survey_id>/questions/<question_id>/duplicate", methods=["POST"])
@requires("manage surveys")
def duplicate_question(survey_id: int, question_id: str):
    return _canvas(builder.duplicate_question(survey_id, question_id))


@bp.route("/surveys/<int:survey_id>/questions/<question_id>/delete", methods=["POST"])
@requires("manage surveys")
def delete_question(survey_id: int, question_id: str):
    return _canvas(builder.delete_question(survey_id, question_id))


@bp.route("/surveys/<int:survey_id>/questions/<question_id>/break", methods=["POST"])
@requires("manage surveys")
def break_page(survey_id: int, question_id: str):
    return _canvas(builder.break_page(survey_id, question_id))


@bp.route("/surveys/<int:survey_id>/pages", methods=["POST"])
@requires("manage surveys")
def add_page(survey_id: int):
    return _canvas(builder.add_page(survey_id))


@bp.route("/surveys/<int:survey_id>/pages/<page_id>", methods=["GET", "POST"])
@requires("view surveys")
def page(survey_id: int, page_id: str):
    """A page's title and logic: GET opens its editor (`?closed=1` closes it); the form's own
    edits redraw it unsaved; "save" saves it."""
    outcome = _draft(survey_id)
    number = doc.page_number(outcome.document, page_id)
    if number is None:
        return _canvas(builder.gone(outcome.survey))
    found = outcome.document["pages"][number]
    if request.method == "POST":
        _require_manage()
        changes = forms.page_from_form(request.form, outcome.document)
        if forms.action(request.form)[0] == "save":
            return _canvas(builder.update_page(survey_id, page_id, changes))
        found = {**found, **changes}
    elif not is_htmx():
        return render("surveys/builder.html", **_builder_context(outcome, opened=page_id))
    opened = request.method == "POST" or not request.args.get("closed")
    context = _builder_context(outcome, opened=page_id if opened else None)
    return render_blocks(
        "surveys/builder.html", "page_head", page=found, page_number=number, **context
    )


@bp.route("/surveys/<int:survey_id>/pages/<page_id>/join", methods=["POST"])
@requires("manage surveys")
def join_page(survey_id: int, page_id: str):
    return _canvas(builder.join_page(survey_id, page_id))


@bp.route("/surveys/<int:survey_id>/undo", methods=["POST"])
@requires("manage surveys")
def undo(survey_id: int):
    survey = services.undo(survey_id)
    return _canvas(builder.Outcome(survey, survey.definition))


@bp.route("/surveys/<int:survey_id>/launch", methods=["POST"])
@requires("manage surveys")
def launch(survey_id: int):
    try:
        services.launch(survey_id)
    except ServiceError as exc:
        flash(exc.message, "error")
        survey = services.get_survey(survey_id)
        errors = builder.errors_by_item(survey.definition, exc.fields)
        outcome = builder.Outcome(survey, survey.definition, errors)
        return render("surveys/builder.html", status=422, **_builder_context(outcome))
    flash(_("The survey is live: respondents answer this version."), "success")
    return redirect_to(url_for("surveys.build", survey_id=survey_id))


@bp.route("/surveys/<int:survey_id>/close", methods=["POST"])
@requires("manage surveys")
def close(survey_id: int):
    services.close(survey_id)
    flash(_("The survey is closed: it takes no more responses."), "success")
    return redirect_to(url_for("surveys.build", survey_id=survey_id))


# --- settings and preview ----------------------------------------------------------------


SETTINGS_FIELDS = (
    "name",
    "description",
    "language",
    "starts_at",
    "ends_at",
    "max_responses",
    "thank_you",
)


@bp.route("/surveys/<int:survey_id>/settings", methods=["GET", "POST"])
@requires("view surveys")
def settings(survey_id: int):
    """Name, language, anonymity, the public link, dates, the most responses, the thank-you."""
    errors: dict[str, str] = {}
    values = None
    if request.method == "POST":
        _require_manage()
        values = {key: request.form.get(key, "") for key in SETTINGS_FIELDS}
        values.update(
            anonymous=request.form.get("anonymous") == "on",
            public_link=request.form.get("public_link") == "on",
        )
        try:
            services.update_settings(survey_id, values)
        except ServiceError as exc:
            errors = exc.fields or {"name": exc.message}
        else:
            flash(_("Settings saved."), "success")
            return redirect_to(url_for("surveys.settings", survey_id=survey_id))
    survey = services.get_survey(survey_id)
    public_url = None
    if survey.public_link and _serves("survey_links.public"):
        public_url = links.public_url(survey.organization_id, survey.id)
    return render(
        "surveys/settings.html",
        block="form",
        status=422 if errors else 200,
        survey=survey,
        values=values,
        errors=errors,
        public_url=public_url,
        language_names=LANGUAGE_NAMES,
        status_labels=STATUS_LABELS,
        unsaved=services.unsaved_changes(survey),
        tab="settings",
        **_links(survey),
    )


@bp.route("/surveys/<int:survey_id>/preview")
@requires("manage surveys")
def preview(survey_id: int):
    """The draft as a respondent sees it, logic live, in a frame of a desktop's or a phone's
    width (the respondent's page itself is the respond blueprint's preview)."""
    survey = services.get_survey(survey_id)
    device = "phone" if request.args.get("device") == "phone" else "desktop"
    return render(
        "surveys/preview.html",
        survey=survey,
        device=device,
        status_labels=STATUS_LABELS,
        unsaved=services.unsaved_changes(survey),
        tab="preview",
        **_links(survey),
    )
