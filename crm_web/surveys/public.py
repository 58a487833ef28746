"""The respondent's pages: the public link, a personal link, the resume link, and the builder's
preview of the draft. One page of questions at a time, saved as it is sent; which questions a
page shows is asked of the server (crm_web/surveys/logic.py) as answers change, never worked
out in the browser.

The links are exempt from CSRF, as the public forms are: the signed token in the URL is the
authority, and the resume cookie is SameSite=Lax, so another site's forged post carries none.
"""

import datetime as dt
import json

from flask import Blueprint, make_response, request, session, url_for
from flask_babel import gettext as _

from crm_web import security
from crm_web.accounts.ratelimit import allow
from crm_web.errors import Conflict, ValidationError
from crm_web.extensions import csrf
from crm_web.i18n import switch_to
from crm_web.permissions import requires
from crm_web.rendering import redirect_to, render, wanted_fragment
from crm_web.surveys import logic, responses, services
from crm_web.surveys.responses import Respondent

bp = Blueprint("survey_links", __name__)

# New responses one address may begin on one survey's public link in a window.
START_LIMIT = 20
START_WINDOW_SECONDS = 600
COOKIE_DAYS = 60
# The builder frames the preview; nobody else may.
PREVIEW_CONTENT_SECURITY_POLICY = security.CONTENT_SECURITY_POLICY.replace(
    "frame-ancestors 'none'", "frame-ancestors 'self'"
)


@bp.route("/s/<token>", methods=["GET", "POST"])
@security.public
@csrf.exempt
def public(token: str):
    respondent = responses.from_public_link(token, request.cookies)
    switch_to(respondent.survey.language)  # the survey's language, as its author wrote it
    if respondent.response is not None and not respondent.completed:
        # The cookie's response goes on where it was, under the link that names it.
        return redirect_to(url_for("survey_links.resume", token=_resume_token(respondent)))
    return _answer(respondent, request.path)


@bp.route("/s/i/<token>", methods=["GET", "POST"])
@security.public
@csrf.exempt
def invitation(token: str):
    respondent = responses.from_invitation(token)
    switch_to(respondent.survey.language)  # the survey's language, as its author wrote it
    return _answer(respondent, request.path)


@bp.route("/s/r/<token>", methods=["GET", "POST"])
@security.public
@csrf.exempt
def resume(token: str):
    respondent = responses.from_resume_link(token, lock=request.method == "POST")
    switch_to(respondent.survey.language)  # the survey's language, as its author wrote it
    return _answer(respondent, request.path)


def _resume_token(respondent: Respondent) -> str:
    return responses.resume_token(respondent.response)


def _opened_at() -> dt.datetime | None:
    """When the respondent opened the survey's first page (a hidden field of its form)."""
    try:
        return dt.datetime.fromtimestamp(int(request.form.get("opened", "")), dt.UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _page_number() -> int:
    try:
        return int(request.form.get("page", ""))
    except ValueError:
        return -1


def _answer(respondent: Respondent, action: str):
    """A link's page: the thank-you, why it is closed, or the current page and its saving."""
    if respondent.completed:
        return _thanks(respondent)
    reason = responses.closed_reason(respondent)
    if reason:
        return render("surveys/respond.html", survey=respondent.survey, closed=reason)
    page = respondent.page
    if wanted_fragment("visibility"):
        return _visibility(respondent.document, page, respondent.answers)
    if request.method == "GET":
        return _page(respondent.survey, respondent.document, page, respondent, action)
    if request.form.get("website"):
        # A bot filled in the hidden field: it looks accepted, nothing is stored.
        return render("surveys/respond.html", survey=respondent.survey, done=True)
    ip = request.remote_addr
    if respondent.response is None and respondent.invitation is None:
        if not allow(
            f"survey-start:{respondent.survey.id}:{ip}", START_LIMIT, START_WINDOW_SECONDS
        ):
            return render(
                "surveys/respond.html",
                survey=respondent.survey,
                closed=_("Too many responses from your address; try again later."),
                status=429,
            )
    try:
        response = responses.save_page(
            respondent,
            _page_number(),
            request.form,
            request.files,
            ip=ip,
            opened_at=_opened_at(),
        )
    except ValidationError as exc:
        return _page(respondent.survey, respondent.document, page, respondent, action, exc.fields)
    except Conflict as exc:
        return render("surveys/respond.html", survey=respondent.survey, closed=exc.message)
    if response is None:
        return redirect_to(action)
    if request.endpoint != "survey_links.public":
        return redirect_to(action)  # a personal or resume link goes on under its own URL
    # A public respondent's first page: from now on their response has a link of its own, and
    # the browser remembers it for the public link.
    token = _resume_token(respondent)
    reply = redirect_to(url_for("survey_links.resume", token=token))
    reply.set_cookie(
        responses.cookie_name(respondent.survey.id),
        token,
        max_age=COOKIE_DAYS * 86400,
        path="/s/",
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",
    )
    return reply


def _thanks(respondent: Respondent):
    return render("surveys/respond.html", survey=respondent.survey, done=True)


def _visibility(document: dict, number: int, before: dict):
    """Which questions of the page show for the answers being typed (the page's form posted
    on every change): an empty answer whose HX-Trigger names them."""
    page = document["pages"][number]
    answers = _answers_with_page(page, before, request.form)
    shown = [question["id"] for question in logic.visible_questions(page, answers)]
    reply = make_response("", 204)
    reply.headers["HX-Trigger"] = json.dumps({"surveyVisibility": {"shown": shown}})
    return reply


def _answers_with_page(page: dict, before: dict, form) -> dict:
    """The answers before the page with the valid ones typed on it (what its conditions read)."""
    on_page = {question["id"] for question in page["questions"]}
    earlier = {key: value for key, value in before.items() if key not in on_page}
    values, _errors = logic.check_page(page, form, earlier)
    return {**earlier, **values}


def _page(survey, document, number, respondent, action, errors=None, preview=False):
    """Page `number` with what was typed (after an error) or saved, and its messages."""
    page = document["pages"][number]
    answers = respondent.answers if respondent else {}
    if errors is None:
        typed = {q["id"]: shown_value(q, answers.get(q["id"])) for q in page["questions"]}
        visible = logic.visible_questions(page, answers)
        current = answers
    else:
        typed = {q["id"]: typed_value(q, request.form) for q in page["questions"]}
        current = _answers_with_page(page, answers, request.form)
        visible = logic.visible_questions(page, current)
    response = respondent.response if respondent else None
    resume_url = None
    if response is not None and respondent.invitation is None:
        resume_url = url_for("survey_links.resume", token=_resume_token(respondent), _external=True)
    return render(
        "surveys/respond.html",
        status=422 if errors else 200,
        survey=survey,
        page=page,
        number=number,
        completion=response.completion if response else 0,
        typed=typed,
        shown={question["id"] for question in visible},
        last_page=logic.next_page(document, number, current) is None,
        errors=errors or {},
        action=action,
        opened=request.form.get("opened") or int(dt.datetime.now(dt.UTC).timestamp()),
        resume_url=resume_url,
        preview=preview,
    )


def shown_value(question: dict, value):
    """A saved answer in the form's shape: a string, a list of ids, {row: [columns]} (matrix)
    or {option: place} (ranking)."""
    if value is None:
        return None
    kind = question["type"]
    if kind == "ranking":
        return {option: str(place) for place, option in enumerate(value, start=1)}
    if kind == "matrix":
        return {row: cells if isinstance(cells, list) else [cells] for row, cells in value.items()}
    if kind in ("multiple", "file"):
        return value
    return str(value)


def typed_value(question: dict, form):
    """What the respondent typed for `question`, in the form's shape, to show it again."""
    if question["type"] == "file":
        return None
    raw = logic.read_form(question, form)
    if question["type"] == "matrix":
        return {row: cells if isinstance(cells, list) else [cells] for row, cells in raw.items()}
    return raw


# --- the builder's preview -----------------------------------------------------------------


@bp.route("/surveys/<int:survey_id>/preview/respond", methods=["GET", "POST"])
@requires("manage surveys")
def preview(survey_id: int):
    """The draft answered as a respondent would, through the same steps as a submission; the
    answers live in the signed-in session and nothing is stored."""
    survey = services.get_survey(survey_id)
    document = survey.definition
    key = f"survey_preview_{survey.id}"
    state = session.get(key) or {"page": 0, "answers": {}, "done": False}
    if request.args.get("restart") or state["page"] >= len(document["pages"]):
        state = {"page": 0, "answers": {}, "done": False}
    action = url_for("survey_links.preview", survey_id=survey.id)
    if wanted_fragment("visibility"):
        return _visibility(document, state["page"], state["answers"])
    if state["done"]:
        reply = render("surveys/respond.html", survey=survey, done=True, preview=True)
        session[key] = state
        return _framable(reply)
    errors = None
    if request.method == "POST" and _page_number() == state["page"]:
        result = responses.step(
            document,
            state["page"],
            state["answers"],
            request.form,
            request.files,
            lambda _question, upload: ({"name": upload.filename, "size": 0}, None),
        )
        if result.errors:
            errors = result.errors
        else:
            state = {
                "page": state["page"] if result.following is None else result.following,
                "answers": result.answers,
                "done": result.following is None,
            }
            session[key] = state
            return redirect_to(action)
    session[key] = state
    reply = _page(survey, document, state["page"], _Preview(state), action, errors, preview=True)
    return _framable(reply)


class _Preview:
    """The preview's answers so far, shaped as a respondent's for the page template."""

    invitation = None
    response = None

    def __init__(self, state: dict):
        self.answers = state["answers"]


def _framable(reply):
    reply.headers["Content-Security-Policy"] = PREVIEW_CONTENT_SECURITY_POLICY
    return reply
