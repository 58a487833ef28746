"""Running a survey's logic and checking its answers: which questions and pages show for the
answers so far, where a page leads, and what each question type accepts.

This is the only implementation: the respondent's page, the preview and every submission ask
it, so the preview behaves exactly as the survey will. Values are JSON:
single/dropdown an option id, multiple/ranking a list of option ids, rating/nps/number a
number, text/email/date a string (dates ISO), matrix {row id: column id or [column ids]},
file {"key", "name", "size"}.
"""

import datetime as dt
import re
from collections.abc import Mapping

from flask_babel import lazy_gettext as _l

from crm_web.surveys.definition import END

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TEXT_LIMIT = 10000


def is_answered(value) -> bool:
    return value not in (None, "", [], {})


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def condition_holds(condition: dict, answers: Mapping) -> bool:
    value = answers.get(condition["question"])
    op, expected = condition["op"], condition["value"]
    if op == "answered":
        return is_answered(value)
    if op == "not_answered":
        return not is_answered(value)
    if not is_answered(value):
        return False
    if op == "in":
        return value in expected
    if op == "contains":
        if isinstance(value, list):
            return expected in value
        return str(expected).casefold() in str(value).casefold()
    if isinstance(expected, float):
        actual = _number(value)
        if actual is None:
            return False
    elif isinstance(value, str):
        actual, expected = value.casefold(), str(expected).casefold()
    else:
        actual = value
    if op == "eq":
        return actual == expected
    if op == "neq":
        return actual != expected
    try:
        return {
            "lt": actual < expected,
            "lte": actual <= expected,
            "gt": actual > expected,
            "gte": actual >= expected,
        }[op]
    except TypeError:
        return False


def group_holds(group: dict | None, answers: Mapping) -> bool:
    """No group always holds; otherwise all (or any) of its conditions."""
    if not group:
        return True
    results = (condition_holds(condition, answers) for condition in group["conditions"])
    return any(results) if group["match"] == "any" else all(results)


def visible_questions(page: dict, answers: Mapping) -> list[dict]:
    return [q for q in page["questions"] if group_holds(q.get("display"), answers)]


def next_page(definition: dict, number: int, answers: Mapping) -> int | None:
    """The page after page `number` for these answers (None: the survey ends): the first rule
    that holds decides; otherwise the next page whose display condition holds."""
    pages = definition["pages"]
    following = number + 1
    for rule in pages[number]["rules"]:
        if group_holds(rule["when"], answers):
            if rule["goto"] == END:
                return None
            following = next(i for i, page in enumerate(pages) if page["id"] == rule["goto"])
            break
    while following < len(pages) and not group_holds(pages[following]["display"], answers):
        following += 1
    return following if following < len(pages) else None


def path(definition: dict, answers: Mapping) -> list[int]:
    """The pages a respondent with these answers sees, in order."""
    pages, number = [], 0
    while number is not None:
        pages.append(number)
        number = next_page(definition, number, answers)
    return pages


def answers_on_path(definition: dict, answers: Mapping) -> dict:
    """Only the answers to questions the respondent sees: an answer left on a page a changed
    answer now skips, or to a question now hidden, is not part of the response."""
    kept = {}
    for number in path(definition, answers):
        for question in visible_questions(definition["pages"][number], answers):
            if question["id"] in answers:
                kept[question["id"]] = answers[question["id"]]
    return kept


# --- reading and checking answers ---------------------------------------------------------


def read_form(question: dict, form, files=None):
    """The raw answer to `question` from a submitted form (inputs named `q_<id>`; a matrix row
    `q_<id>_<row id>`; a ranking place `q_<id>_<option id>`)."""
    name = f"q_{question['id']}"
    kind = question["type"]
    if kind == "multiple":
        return form.getlist(name)
    if kind == "matrix":
        cells = {}
        for row in question["rows"]:
            picked = form.getlist(f"{name}_{row['id']}")
            if picked:
                cells[row["id"]] = picked if question["multiple"] else picked[0]
        return cells
    if kind == "ranking":
        return {
            option["id"]: form.get(f"{name}_{option['id']}", "") for option in question["options"]
        }
    if kind == "file":
        upload = files.get(name) if files is not None else None
        return upload if upload is not None and upload.filename else None
    return form.get(name, "")


def check_answer(question: dict, raw):
    """(the value to store, the message for what is wrong or None)."""
    kind = question["type"]
    value, error = _CHECKS[kind](question, raw)
    if error is None and not is_answered(value) and question.get("required"):
        error = str(_l("This question needs an answer."))
    return (None if error else value), error


def check_page(page: dict, form, answers_so_far: Mapping, files=None):
    """The answers to the questions of `page` that show (their display conditions read the
    answers before the page and the ones on it) and the messages by question id."""
    answers = dict(answers_so_far)
    values, errors = {}, {}
    for question in page["questions"]:
        if not group_holds(question.get("display"), answers):
            answers.pop(question["id"], None)
            continue
        value, error = check_answer(question, read_form(question, form, files))
        if error:
            errors[question["id"]] = error
        elif is_answered(value):
            values[question["id"]] = value
            answers[question["id"]] = value
        else:
            answers.pop(question["id"], None)
    return values, errors


def _option_ids(question: dict) -> list[str]:
    return [option["id"] for option in question["options"]]


def _single(question, raw):
    if raw in (None, ""):
        return None, None
    if raw not in _option_ids(question):
        return None, str(_l("Choose one of the options."))
    return raw, None


def _multiple(question, raw):
    picked = raw if isinstance(raw, list) else [raw] if raw not in (None, "") else []
    known = _option_ids(question)
    if any(choice not in known for choice in picked):
        return None, str(_l("Choose among the options."))
    picked = [choice for choice in known if choice in picked]  # options' order, no repeats
    low, high = question.get("min_choices"), question.get("max_choices")
    if picked and low is not None and len(picked) < low:
        return None, str(_l("Choose at least %(n)s.", n=low))
    if high is not None and len(picked) > high:
        return None, str(_l("Choose at most %(n)s.", n=high))
    return picked, None


def _whole_in(raw, low: int, high: int, message):
    if raw in (None, ""):
        return None, None
    number = _number(raw)
    if number is None or number != int(number) or not low <= number <= high:
        return None, str(message)
    return int(number), None


def _rating(question, raw):
    scale = question.get("scale", 5)
    return _whole_in(raw, 1, scale, _l("Choose from 1 to %(n)s.", n=scale))


def _nps(question, raw):
    return _whole_in(raw, 0, 10, _l("Choose from 0 to 10."))


def _number_answer(question, raw):
    if raw in (None, "") or (isinstance(raw, str) and not raw.strip()):
        return None, None
    number = _number(raw.replace(",", ".") if isinstance(raw, str) else raw)
    if number is None or number != number or abs(number) >= 1e15:
        return None, str(_l("Give a number."))
    low, high = question.get("min"), question.get("max")
    if low is not None and number < low:
        return None, str(_l("Give at least %(n)s.", n=_plain(low)))
    if high is not None and number > high:
        return None, str(_l("Give at most %(n)s.", n=_plain(high)))
    return (int(number) if number == int(number) else number), None


def _plain(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


def _text(question, raw):
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        return None, None
    low, high = question.get("min_length"), question.get("max_length")
    if low is not None and len(text) < low:
        return None, str(_l("Write at least %(n)s characters.", n=low))
    if len(text) > (high if high is not None else TEXT_LIMIT):
        return None, str(_l("Write at most %(n)s characters.", n=high or TEXT_LIMIT))
    pattern = question.get("pattern")
    if pattern and not re.fullmatch(pattern, text):
        return None, str(_l("This answer is not in the expected form."))
    return text, None


def _email(question, raw):
    text, error = _text(question, raw)
    if text and not EMAIL_PATTERN.match(text):
        return None, str(_l("Give an email address like name@example.com."))
    return text, error


def _date(question, raw):
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        return None, None
    try:
        return dt.date.fromisoformat(text).isoformat(), None
    except ValueError:
        return None, str(_l("Give a date like 2026-05-31."))


def _matrix(question, raw):
    cells = raw if isinstance(raw, dict) else {}
    columns = {column["id"] for column in question["columns"]}
    clean = {}
    for row in question["rows"]:
        picked = cells.get(row["id"])
        if picked in (None, "", []):
            continue
        chosen = picked if isinstance(picked, list) else [picked]
        if any(not isinstance(c, str) or c not in columns for c in chosen):
            return None, str(_l("Choose among the columns."))
        clean[row["id"]] = chosen if question["multiple"] else chosen[0]
    if clean and question.get("required") and len(clean) < len(question["rows"]):
        return None, str(_l("Answer every row."))
    return clean, None


def _ranking(question, raw):
    """A ranking is given as option id -> place (1 = first); every option placed once."""
    places = raw if isinstance(raw, dict) else {}
    known = _option_ids(question)
    if isinstance(raw, list):  # the API's form: the ids in order
        places = {option: index + 1 for index, option in enumerate(raw)}
    given = {option: places.get(option) for option in known if places.get(option) not in (None, "")}
    if not given:
        return None, None
    try:
        numbers = {option: int(place) for option, place in given.items()}
    except (TypeError, ValueError):
        return None, str(_l("Give every option its own place."))
    if len(given) != len(known) or sorted(numbers.values()) != list(range(1, len(known) + 1)):
        return None, str(_l("Give every option its own place."))
    return sorted(known, key=numbers.__getitem__), None


def _file(question, raw):
    """An upload is checked for its type here; its size as it is stored (the service)."""
    if raw is None or raw == "":
        return None, None
    if isinstance(raw, dict):  # already stored (a page answered again without a new file)
        return raw, None
    name = getattr(raw, "filename", "") or ""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in question["file_types"]:
        return None, str(
            _l("Upload a file of type: %(types)s.", types=", ".join(question["file_types"]))
        )
    return raw, None


_CHECKS = {
    "single": _single,
    "dropdown": _single,
    "multiple": _multiple,
    "rating": _rating,
    "nps": _nps,
    "number": _number_answer,
    "short_text": _text,
    "long_text": _text,
    "email": _email,
    "date": _date,
    "matrix": _matrix,
    "ranking": _ranking,
    "file": _file,
}
