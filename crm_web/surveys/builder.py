"""The builder's operations on a survey's document: add a question (from the palette or a
template) where it was dropped, move it, edit it, duplicate or delete it, break a page or join
it to the one before, and edit a page's logic.

Each operation changes a copy of the draft and hands it to `services.save_definition`, which
checks the whole document: what it refuses comes back as an `Outcome` whose messages are keyed
by the question or page they belong to (not by position, which the refused change moved), so
the builder shows each one where the marketer will look for it.
"""

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from flask_babel import force_locale
from flask_babel import gettext as _

from crm_web.errors import ValidationError, invalid
from crm_web.surveys import definition as doc
from crm_web.surveys import question_templates, services
from crm_web.surveys.models import Survey

_POSITION = re.compile(r"^pages\.(\d+)(?:\.questions\.(\d+))?(?:\.(.+))?$")


@dataclass
class Outcome:
    """What a change left: the survey (saved or as it was), the document to show (the refused
    one when its form must keep what was typed), messages by item id (`"general"` for the
    survey's own) and, when saved, the id of the item to open."""

    survey: Survey
    document: dict
    errors: dict[str, dict[str, str]] = field(default_factory=dict)
    opened: str | None = None

    @property
    def refused(self) -> bool:
        return bool(self.errors)


def gone(survey: Survey) -> Outcome:
    """The draft as it is, saying the item asked for is not in it (another tab deleted it)."""
    message = _("That question or page is no longer in the survey.")
    return Outcome(survey, survey.definition, {"general": {"": message}})


def errors_by_item(document: dict, errors: dict[str, str]) -> dict[str, dict[str, str]]:
    """`pages.1.questions.0.title` -> {question id: {"title": message}}; a page's own
    (`pages.1.rules.0.goto`) under the page's id; anything else under "general"."""
    pages = document.get("pages") or []
    mapped: dict[str, dict[str, str]] = {}
    for key, message in errors.items():
        match = _POSITION.match(key)
        owner, rest = "general", key
        if match:
            page_number, place, rest = match.group(1), match.group(2), match.group(3) or ""
            page = pages[int(page_number)] if int(page_number) < len(pages) else {}
            owner = page.get("id", "general")
            if place is not None:
                items = page.get("questions") or []
                owner = items[int(place)].get("id", owner) if int(place) < len(items) else owner
        mapped.setdefault(owner, {})[rest] = message
    return mapped


def _locate(document: dict, question_id: str) -> tuple[list, int]:
    """The list holding the question and its place there (NotFound-like LookupError)."""
    for page in document["pages"]:
        for place, question in enumerate(page["questions"]):
            if question["id"] == question_id:
                return page["questions"], place
    raise LookupError(question_id)


def _page(document: dict, page_id: str | None) -> dict:
    """The page named, or the last one when none is named."""
    if not page_id:
        return document["pages"][-1]
    for page in document["pages"]:
        if page["id"] == page_id:
            return page
    raise LookupError(page_id)


def _insert(document: dict, page_id: str | None, index, questions: list[dict]) -> None:
    page = _page(document, page_id)
    # A place that is not a number (a hand-made post) means the end, like no place at all.
    place = int(index) if str(index).isdigit() else len(page["questions"])
    place = min(place, len(page["questions"]))
    page["questions"][place:place] = questions


def _users_of(document: dict, question_id: str) -> list[str]:
    """The titles of the questions and pages whose logic reads `question_id`."""

    def reads(group) -> bool:
        return bool(group) and any(c["question"] == question_id for c in group["conditions"])

    users = []
    for number, page in enumerate(document["pages"], start=1):
        if reads(page.get("display")) or any(reads(r.get("when")) for r in page.get("rules", ())):
            users.append(_("page %(n)s", n=number))
        users.extend(q["title"] for q in page["questions"] if reads(q.get("display")))
    return users


def _change(survey_id: int, operation: Callable[[dict], str | None], *, keep_refused=False):
    """Apply `operation` to a copy of the draft and save it. `keep_refused`: show the refused
    document (a form keeps what was typed) rather than the one saved before."""
    survey = services.get_survey(survey_id)
    proposed = services.editable_copy(survey)
    try:
        # New questions get their default words in the survey's language, not the builder's.
        with force_locale(survey.language):
            opened = operation(proposed)
    except LookupError:
        return gone(survey)
    except ValidationError as exc:
        # The operation refused before changing anything its keys name: read them in the draft.
        return Outcome(survey, survey.definition, errors_by_item(survey.definition, exc.fields))
    try:
        survey = services.save_definition(survey_id, proposed)
    except ValidationError as exc:
        survey = services.get_survey(survey_id)
        shown = proposed if keep_refused else survey.definition
        return Outcome(survey, shown, errors_by_item(proposed, exc.fields), opened)
    return Outcome(survey, survey.definition, opened=opened)


def add_question(survey_id: int, kind: str, page_id: str | None, index=None) -> Outcome:
    """A new question of `kind` (a palette entry) at `index` on the page."""

    def operation(document: dict) -> str:
        if kind not in doc.QUESTION_TYPES:
            raise invalid({"": _("Choose a kind of question.")})
        question = doc.default_question(kind)
        _insert(document, page_id, index, [question])
        return question["id"]

    return _change(survey_id, operation)


def add_template(survey_id: int, key: str, page_id: str | None, index=None) -> Outcome:
    """A question template's questions, in order, at `index` on the page."""

    def operation(document: dict) -> str:
        if key not in question_templates.TEMPLATES:
            raise invalid({"": _("Choose a question template.")})
        questions = question_templates.template_questions(key)
        _insert(document, page_id, index, questions)
        return questions[0]["id"]

    return _change(survey_id, operation)


def move_question(survey_id: int, question_id: str, page_id: str, index) -> Outcome:
    """Where a drag dropped the question: `index` on page `page_id` (the list without it)."""

    def operation(document: dict) -> None:
        siblings, place = _locate(document, question_id)
        question = siblings.pop(place)
        _insert(document, page_id, index, [question])

    return _change(survey_id, operation)


def update_question(survey_id: int, question_id: str, changes: dict) -> Outcome:
    """The question with the edited settings (its id and type stay)."""

    def operation(document: dict) -> str:
        siblings, place = _locate(document, question_id)
        siblings[place] = {
            **siblings[place],
            **changes,
            "id": question_id,
            "type": siblings[place]["type"],
        }
        return question_id

    return _change(survey_id, operation, keep_refused=True)


def duplicate_question(survey_id: int, question_id: str) -> Outcome:
    """A copy right below the original (its conditions read the same earlier questions)."""

    def operation(document: dict) -> str:
        siblings, place = _locate(document, question_id)
        twin = copy.deepcopy(siblings[place])
        twin["id"] = doc.new_id("q")
        siblings.insert(place + 1, twin)
        return twin["id"]

    return _change(survey_id, operation)


def delete_question(survey_id: int, question_id: str) -> Outcome:
    """Remove the question, unless other logic reads its answer (say where)."""

    def operation(document: dict) -> None:
        key = _key(document, question_id) + ".delete"
        siblings, place = _locate(document, question_id)
        del siblings[place]
        users = _users_of(document, question_id)
        if users:
            message = _(
                "The logic of %(users)s reads this question: change it first.",
                users=", ".join(users),
            )
            raise invalid({key: message})

    return _change(survey_id, operation)


def _key(document: dict, question_id: str) -> str:
    """The error key naming the question where it stands now."""
    for number, page in enumerate(document["pages"]):
        for place, question in enumerate(page["questions"]):
            if question["id"] == question_id:
                return f"pages.{number}.questions.{place}"
    raise LookupError(question_id)


def break_page(survey_id: int, question_id: str) -> Outcome:
    """A page break after the question: the questions below it start a new page."""

    def operation(document: dict) -> None:
        siblings, place = _locate(document, question_id)
        number = next(n for n, p in enumerate(document["pages"]) if p["questions"] is siblings)
        page = doc.default_page()
        page["questions"] = siblings[place + 1 :]
        del siblings[place + 1 :]
        document["pages"].insert(number + 1, page)

    return _change(survey_id, operation)


def add_page(survey_id: int) -> Outcome:
    """An empty page at the end."""
    return _change(survey_id, lambda document: document["pages"].append(doc.default_page()))


def join_page(survey_id: int, page_id: str) -> Outcome:
    """Remove the break before the page: its questions join the page before; its logic goes
    with it, unless a rule jumps to it (say which)."""

    def operation(document: dict) -> None:
        number = doc.page_number(document, page_id)
        if number is None:
            raise LookupError(page_id)
        if number == 0:
            raise invalid({f"pages.{number}.join": _("The first page has no page before it.")})
        jumping = [
            str(n + 1)
            for n, page in enumerate(document["pages"])
            if any(rule["goto"] == page_id for rule in page.get("rules", ()))
        ]
        if jumping:
            raise invalid(
                {
                    f"pages.{number}.join": _(
                        "A rule of page %(pages)s goes to this page: change it first.",
                        pages=", ".join(jumping),
                    )
                }
            )
        page = document["pages"].pop(number)
        document["pages"][number - 1]["questions"].extend(page["questions"])

    return _change(survey_id, operation)


def update_page(survey_id: int, page_id: str, changes: dict) -> Outcome:
    """The page's title, display condition and skip/end rules."""

    def operation(document: dict) -> str:
        page = _page(document, page_id)
        page.update({key: changes[key] for key in ("title", "display", "rules") if key in changes})
        return page_id

    return _change(survey_id, operation, keep_refused=True)


def earlier_questions(document: dict) -> dict[str, list[dict]]:
    """What logic may read, by the item it belongs to: a question's condition the questions
    before it; a page's display condition those of the pages before (key `<page id>`); its
    rules those up to its end (key `<page id>:rules`)."""
    earlier: dict[str, list[dict]] = {}
    seen: list[dict] = []
    for page in document["pages"]:
        earlier[page["id"]] = list(seen)
        for question in page["questions"]:
            earlier[question["id"]] = list(seen)
            seen.append(question)
        earlier[page["id"] + ":rules"] = list(seen)
    return earlier
