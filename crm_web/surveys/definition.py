"""What a survey is made of: pages of questions, each question's type and validation rules, and
the logic (display conditions, skip and end rules), stored as one JSON document.

    {"pages": [{"id": "p1", "title": "", "display": null, "rules": [...], "questions": [
        {"id": "q1", "type": "nps", "title": "...", "help": "", "required": true, "display": null,
         ...type-specific keys (options, rows, columns, scale, min, max, ...)}]}]}

A condition group is {"match": "all" | "any", "conditions": [{"question", "op", "value"}]};
a rule is {"when": <group or null for always>, "goto": <a later page id> | "end"}.

`clean_definition` checks a whole document the way the builder and the API send it: it answers
field-level messages keyed like `pages.1.questions.0.options` and refuses logic that could not run
(a jump backwards, a condition on a later question, a page no path reaches).
"""

import re
import uuid
from collections.abc import Hashable

from flask_babel import lazy_gettext as _l

# type -> label
QUESTION_TYPES = {
    "single": _l("Single choice"),
    "multiple": _l("Multiple choice"),
    "dropdown": _l("Dropdown"),
    "rating": _l("Rating"),
    "nps": _l("NPS (0–10)"),
    "short_text": _l("Short text"),
    "long_text": _l("Long text"),
    "number": _l("Numeric"),
    "date": _l("Date"),
    "email": _l("Email"),
    "matrix": _l("Matrix"),
    "ranking": _l("Ranking"),
    "file": _l("File upload"),
}
CHOICE_TYPES = ("single", "multiple", "dropdown", "ranking")
TEXT_TYPES = ("short_text", "long_text", "email")
# Answers that are one number: what lt/lte/gt/gte compare, what means and medians are made of.
NUMERIC_TYPES = ("rating", "nps", "number")

OPERATORS = {
    "eq": _l("is"),
    "neq": _l("is not"),
    "lt": _l("is less than"),
    "lte": _l("is at most"),
    "gt": _l("is more than"),
    "gte": _l("is at least"),
    "in": _l("is one of"),
    "contains": _l("includes"),
    "answered": _l("is answered"),
    "not_answered": _l("is not answered"),
}
# Which operators a condition may use on a question of each type.
TYPE_OPERATORS = {
    "single": ("eq", "neq", "in", "answered", "not_answered"),
    "dropdown": ("eq", "neq", "in", "answered", "not_answered"),
    "multiple": ("contains", "answered", "not_answered"),
    "rating": ("eq", "neq", "lt", "lte", "gt", "gte", "answered", "not_answered"),
    "nps": ("eq", "neq", "lt", "lte", "gt", "gte", "answered", "not_answered"),
    "number": ("eq", "neq", "lt", "lte", "gt", "gte", "answered", "not_answered"),
    "short_text": ("eq", "neq", "contains", "answered", "not_answered"),
    "long_text": ("contains", "answered", "not_answered"),
    "email": ("eq", "neq", "contains", "answered", "not_answered"),
    "date": ("eq", "neq", "lt", "lte", "gt", "gte", "answered", "not_answered"),
    "matrix": ("answered", "not_answered"),
    "ranking": ("answered", "not_answered"),
    "file": ("answered", "not_answered"),
}
FILE_TYPES = ("pdf", "png", "jpg", "jpeg", "gif", "txt", "csv", "doc", "docx", "xls", "xlsx")
MAX_FILE_KB = 10 * 1024
MAX_PAGES = 30
MAX_QUESTIONS = 200
MAX_OPTIONS = 50
END = "end"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:7]


def default_question(question_type: str) -> dict:
    """A new question of `question_type` with its defaults (a label to edit, two options...)."""
    question = {
        "id": new_id("q"),
        "type": question_type,
        "title": str(QUESTION_TYPES[question_type]),
        "help": "",
        "required": False,
        "display": None,
    }
    if question_type in CHOICE_TYPES:
        question["options"] = [
            {"id": new_id("o"), "label": str(_l("Option %(n)s", n=n))} for n in (1, 2)
        ]
    if question_type == "multiple":
        question.update(min_choices=None, max_choices=None)
    if question_type == "rating":
        question["scale"] = 5
    if question_type == "number":
        question.update(min=None, max=None)
    if question_type in TEXT_TYPES:
        question.update(min_length=None, max_length=None)
    if question_type == "short_text":
        question["pattern"] = ""
    if question_type == "matrix":
        question.update(
            rows=[{"id": new_id("r"), "label": str(_l("Row %(n)s", n=n))} for n in (1, 2)],
            columns=[{"id": new_id("c"), "label": str(_l("Column %(n)s", n=n))} for n in (1, 2)],
            multiple=False,
        )
    if question_type == "file":
        question.update(max_kb=2048, file_types=["pdf", "png", "jpg"])
    return question


def default_page() -> dict:
    return {"id": new_id("p"), "title": "", "display": None, "rules": [], "questions": []}


def empty_definition() -> dict:
    return {"pages": [default_page()]}


def questions(definition: dict) -> list[dict]:
    """Every question in order."""
    return [q for page in definition.get("pages", ()) for q in page.get("questions", ())]


def question_index(definition: dict) -> dict[str, tuple[int, int, dict]]:
    """question id -> (page number, place on the page, question)."""
    return {
        question["id"]: (page_number, place, question)
        for page_number, page in enumerate(definition.get("pages", ()))
        for place, question in enumerate(page.get("questions", ()))
    }


def find_question(definition: dict, question_id: str) -> dict | None:
    found = question_index(definition).get(question_id)
    return found[2] if found else None


def page_number(definition: dict, page_id: str) -> int | None:
    for number, page in enumerate(definition.get("pages", ())):
        if page.get("id") == page_id:
            return number
    return None


# --- checking a document ------------------------------------------------------------------


def _known(value, vocabulary) -> bool:
    return isinstance(value, Hashable) and value in vocabulary


def _text(raw, limit: int) -> str:
    return raw.strip()[:limit] if isinstance(raw, str) else ""


def _whole(raw, low: int, high: int) -> int | None:
    """A whole number within [low, high] from JSON or a form ("" and None mean unset)."""
    if isinstance(raw, bool):
        return None
    try:
        number = int(raw)
    except (TypeError, ValueError):
        return None
    return number if low <= number <= high and str(raw).strip().lstrip("-").isdigit() else None


def _number(raw) -> float | None:
    if isinstance(raw, bool) or raw in (None, ""):
        return None
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) < 1e15 else None  # no NaN or inf


def _optional_whole(raw, low, high, key, errors, message) -> int | None:
    if raw in (None, ""):
        return None
    number = _whole(raw, low, high)
    if number is None:
        errors[key] = str(message)
    return number


def _labelled(raw, prefix: str, key: str, errors: dict, what) -> list[dict]:
    """Options, rows or columns: each {"id", "label"}, labels given and ids unique."""
    if not isinstance(raw, list) or not raw:
        errors[key] = str(_l("Give at least one %(what)s.", what=what))
        return []
    items, seen = [], set()
    for index, item in enumerate(raw[:MAX_OPTIONS]):
        item = item if isinstance(item, dict) else {"label": item}
        item_id = item.get("id")
        if not (isinstance(item_id, str) and ID_PATTERN.match(item_id)) or item_id in seen:
            item_id = new_id(prefix)
        label = _text(item.get("label"), 300)
        if not label:
            errors[f"{key}.{index}"] = str(_l("Give this %(what)s a label.", what=what))
        seen.add(item_id)
        items.append({"id": item_id, "label": label})
    if len(raw) > MAX_OPTIONS:
        errors[key] = str(_l("At most %(n)s.", n=MAX_OPTIONS))
    return items


def _clean_question(raw, key: str, errors: dict, seen: set) -> dict | None:
    if not isinstance(raw, dict) or not _known(raw.get("type"), QUESTION_TYPES):
        errors[f"{key}.type"] = str(_l("Choose a kind of question."))
        return None
    kind = raw["type"]
    question = default_question(kind)
    if isinstance(raw.get("id"), str) and ID_PATTERN.match(raw["id"]) and raw["id"] not in seen:
        question["id"] = raw["id"]
    seen.add(question["id"])
    question["title"] = _text(raw.get("title"), 500)
    if not question["title"]:
        errors[f"{key}.title"] = str(_l("Write the question."))
    question["help"] = _text(raw.get("help"), 1000)
    question["required"] = raw.get("required") in (True, "true", "on", "1", 1)
    question["display"] = raw.get("display") or None  # checked with the logic, below
    if kind in CHOICE_TYPES:
        question["options"] = _labelled(raw.get("options"), "o", f"{key}.options", errors,
                                        _l("option"))  # fmt: skip
    if kind == "multiple":
        count = len(question["options"])
        for bound in ("min_choices", "max_choices"):
            question[bound] = _optional_whole(
                raw.get(bound), 0, max(count, 1), f"{key}.{bound}", errors,
                _l("Give a whole number from 0 to the number of options."),
            )  # fmt: skip
        low, high = question["min_choices"], question["max_choices"]
        if low is not None and high is not None and low > high:
            errors[f"{key}.max_choices"] = str(_l("The most must not be below the least."))
    if kind == "rating":
        scale = _whole(raw.get("scale", 5), 1, 10)
        if scale not in (5, 10):
            errors[f"{key}.scale"] = str(_l("Choose a scale of 1–5 or 1–10."))
        question["scale"] = scale if scale in (5, 10) else 5
    if kind == "number":
        for bound in ("min", "max"):
            value = raw.get(bound)
            question[bound] = _number(value)
            if value not in (None, "") and question[bound] is None:
                errors[f"{key}.{bound}"] = str(_l("Give a number."))
        if None not in (question["min"], question["max"]) and question["min"] > question["max"]:
            errors[f"{key}.max"] = str(_l("The most must not be below the least."))
    if kind in TEXT_TYPES:
        for bound in ("min_length", "max_length"):
            question[bound] = _optional_whole(
                raw.get(bound), 0, 10000, f"{key}.{bound}", errors,
                _l("Give a whole number of characters from 0 to 10000."),
            )  # fmt: skip
        low, high = question["min_length"], question["max_length"]
        if low is not None and high is not None and low > high:
            errors[f"{key}.max_length"] = str(_l("The most must not be below the least."))
    if kind == "short_text":
        question["pattern"] = _text(raw.get("pattern"), 200)
        if question["pattern"]:
            try:
                re.compile(question["pattern"])
            except re.error:
                errors[f"{key}.pattern"] = str(_l("This is not a valid pattern."))
    if kind == "matrix":
        question["rows"] = _labelled(raw.get("rows"), "r", f"{key}.rows", errors, _l("row"))
        question["columns"] = _labelled(raw.get("columns"), "c", f"{key}.columns", errors,
                                        _l("column"))  # fmt: skip
        question["multiple"] = raw.get("multiple") in (True, "true", "on", "1", 1)
    if kind == "file":
        size = _whole(raw.get("max_kb", 2048), 1, MAX_FILE_KB)
        if size is None:
            errors[f"{key}.max_kb"] = str(_l("Give a size from 1 to %(n)s KB.", n=MAX_FILE_KB))
        question["max_kb"] = size or 2048
        types = raw.get("file_types")
        if isinstance(types, str):
            types = [t.strip().lstrip(".").lower() for t in types.split(",") if t.strip()]
        types = [t for t in types if isinstance(t, str)] if isinstance(types, list) else []
        unknown = [t for t in types if t not in FILE_TYPES]
        if unknown or not types:
            errors[f"{key}.file_types"] = str(
                _l("Choose file types from: %(types)s.", types=", ".join(FILE_TYPES))
            )
        question["file_types"] = [t for t in types if t in FILE_TYPES]
    return question


def _clean_page(raw, key: str, errors: dict, seen_pages: set, seen_questions: set) -> dict:
    raw = raw if isinstance(raw, dict) else {}
    page = default_page()
    if isinstance(raw.get("id"), str) and ID_PATTERN.match(raw["id"]):
        if raw["id"] not in seen_pages:
            page["id"] = raw["id"]
    seen_pages.add(page["id"])
    page["title"] = _text(raw.get("title"), 300)
    page["display"] = raw.get("display") or None
    page["rules"] = raw.get("rules") if isinstance(raw.get("rules"), list) else []
    items = raw.get("questions") if isinstance(raw.get("questions"), list) else []
    for index, item in enumerate(items):
        question = _clean_question(item, f"{key}.questions.{index}", errors, seen_questions)
        if question is not None:
            page["questions"].append(question)
    return page


def clean_definition(raw, errors: dict[str, str]) -> dict:
    """The document as stored; what is wrong goes into `errors` by key. Logic is checked after
    the structure, against the questions as cleaned."""
    if not isinstance(raw, dict) or not isinstance(raw.get("pages"), list) or not raw["pages"]:
        errors["pages"] = str(_l("A survey needs at least one page."))
        return empty_definition()
    if len(raw["pages"]) > MAX_PAGES:
        errors["pages"] = str(_l("At most %(n)s pages.", n=MAX_PAGES))
    seen_pages: set = set()
    seen_questions: set = set()
    definition = {
        "pages": [
            _clean_page(page, f"pages.{index}", errors, seen_pages, seen_questions)
            for index, page in enumerate(raw["pages"][:MAX_PAGES])
        ]
    }
    if len(questions(definition)) > MAX_QUESTIONS:
        errors["pages"] = str(_l("At most %(n)s questions.", n=MAX_QUESTIONS))
    check_logic(definition, errors)
    return definition


# --- logic ---------------------------------------------------------------------------------


def _clean_group(raw, key: str, errors: dict, definition: dict, before: tuple[int, int]):
    """A condition group whose every question comes before `before` (page, place): a condition
    on a question not yet answered at that point could never hold the same way twice."""
    if raw in (None, {}, []):
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("conditions"), list):
        errors[key] = str(_l("Give the conditions as a list."))
        return None
    index = question_index(definition)
    group = {"match": "any" if raw.get("match") == "any" else "all", "conditions": []}
    for number, condition in enumerate(raw["conditions"]):
        ckey = f"{key}.conditions.{number}"
        condition = condition if isinstance(condition, dict) else {}
        found = index.get(condition.get("question")) if _known(condition.get("question"),
                                                              index) else None  # fmt: skip
        if found is None:
            errors[f"{ckey}.question"] = str(_l("Choose a question."))
            continue
        page, place, question = found
        if (page, place) >= before:
            errors[f"{ckey}.question"] = str(
                _l("A condition can only use a question that comes before it.")
            )
            continue
        op = condition.get("op")
        if not _known(op, TYPE_OPERATORS[question["type"]]):
            errors[f"{ckey}.op"] = str(_l("This comparison does not fit this question."))
            continue
        value = _condition_value(question, op, condition.get("value"))
        if value is _INVALID:
            errors[f"{ckey}.value"] = str(_l("Give a value this question can have."))
            continue
        group["conditions"].append({"question": question["id"], "op": op, "value": value})
    return group if group["conditions"] else None


_INVALID = object()


def _condition_value(question: dict, op: str, value):
    if op in ("answered", "not_answered"):
        return None
    kind = question["type"]
    option_ids = {o["id"] for o in question.get("options", ())}
    if op == "in":
        values = value if isinstance(value, list) else [value]
        values = [v for v in values if _known(v, option_ids)]
        return values or _INVALID
    if kind in CHOICE_TYPES:
        return value if _known(value, option_ids) else _INVALID
    if kind in NUMERIC_TYPES:
        number = _number(value)
        return _INVALID if number is None else number
    if kind == "date":
        text = value.strip() if isinstance(value, str) else ""
        return text if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else _INVALID
    text = value.strip() if isinstance(value, str) else ""
    return text or _INVALID


def check_logic(definition: dict, errors: dict[str, str]) -> None:
    """Clean each display condition and rule in place and refuse logic that could not run."""
    pages = definition["pages"]
    page_ids = [page["id"] for page in pages]
    for number, page in enumerate(pages):
        key = f"pages.{number}"
        page["display"] = _clean_group(page["display"], f"{key}.display", errors, definition,
                                       (number, 0))  # fmt: skip
        if number == 0 and page["display"]:
            errors[f"{key}.display"] = str(_l("The first page is always shown."))
            page["display"] = None
        for place, question in enumerate(page["questions"]):
            question["display"] = _clean_group(
                question["display"], f"{key}.questions.{place}.display", errors, definition,
                (number, place),
            )  # fmt: skip
        rules = []
        for index, rule in enumerate(page["rules"]):
            rkey = f"{key}.rules.{index}"
            rule = rule if isinstance(rule, dict) else {}
            target = rule.get("goto")
            if target != END:
                if not _known(target, page_ids):
                    errors[f"{rkey}.goto"] = str(_l("Choose a page to go to, or the end."))
                    continue
                if page_ids.index(target) <= number:
                    errors[f"{rkey}.goto"] = str(_l("A rule can only jump forwards."))
                    continue
            known_errors = len(errors)
            when = _clean_group(
                rule.get("when"), f"{rkey}.when", errors, definition,
                (number, len(page["questions"])),
            )  # fmt: skip
            if len(errors) > known_errors:
                continue  # a rule whose condition is wrong must not become "always"
            rules.append({"when": when, "goto": target})
        page["rules"] = rules
    for number in unreachable_pages(definition):
        errors.setdefault(
            f"pages.{number}",
            str(_l("No answer can lead to this page: check the rules before it.")),
        )


def unreachable_pages(definition: dict) -> list[int]:
    """Pages no path reaches: every path from an earlier page jumps over them or ends."""
    pages = definition["pages"]
    ids = [page["id"] for page in pages]
    reached = [False] * len(pages)
    if pages:
        reached[0] = True
    for number, page in enumerate(pages):
        if not reached[number]:
            continue
        if page["display"] is not None and number + 1 < len(pages):
            reached[number + 1] = True  # when this page is hidden, the next one comes instead
        falls_through = True
        for rule in page["rules"]:
            if rule["goto"] != END:
                reached[ids.index(rule["goto"])] = True
            if rule["when"] is None:  # an unconditional rule: nothing after it is ever read
                falls_through = False
                break
        if falls_through and number + 1 < len(pages):
            reached[number + 1] = True
    return [number for number, seen in enumerate(reached) if not seen]
