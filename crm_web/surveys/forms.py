"""Reading the builder's forms: a question's settings and display condition, a page's title,
display condition and rules. The checks are the definition's; this only gives the posted values
their shape, and applies the form's own edits (add or remove an option, a row, a column, a
condition or a rule) that redraw the form before anything is saved."""

import re

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from crm_web.surveys import definition as doc

# question type -> the plain settings its form posts
SETTINGS = {
    "multiple": ("min_choices", "max_choices"),
    "rating": ("scale",),
    "number": ("min", "max"),
    "short_text": ("min_length", "max_length", "pattern"),
    "long_text": ("min_length", "max_length"),
    "email": ("min_length", "max_length"),
    "file": ("max_kb",),
}
# a list of labelled items -> (its form name, the id prefix of a new one)
LISTS = {"options": ("option", "o"), "rows": ("row", "r"), "columns": ("column", "c")}


def action(form: MultiDict) -> tuple[str, str]:
    """The form's own edit, as (verb, what): ("add", "options"), ("remove", "display-1")..."""
    verb, _sep, target = form.get("action", "").partition(":")
    return verb, target


def _labelled(form: MultiDict, name: str, prefix: str, verb: str, target: str) -> list[dict]:
    ids, labels = form.getlist(f"{name}_id"), form.getlist(f"{name}_label")
    items = [{"id": i, "label": label} for i, label in zip(ids, labels, strict=False)]
    if verb == "remove":
        items = [item for item in items if item["id"] != target]
    return items


def question_from_form(question: dict, form: MultiDict, document: dict) -> dict:
    """The question with the posted settings, and the form's own edit applied."""
    verb, target = action(form)
    changed = {
        "title": form.get("title", ""),
        "help": form.get("help", ""),
        "required": form.get("required") == "on",
    }
    for key in SETTINGS.get(question["type"], ()):
        changed[key] = form.get(key, "")
    if question["type"] == "matrix":
        changed["multiple"] = form.get("multiple") == "on"
    if question["type"] == "file":
        changed["file_types"] = form.getlist("file_types")
    for key, (name, prefix) in LISTS.items():
        if key in question:
            changed[key] = _labelled(form, name, prefix, verb, target)
            if verb == "add" and target == key:
                number = len(changed[key]) + 1
                changed[key].append({"id": doc.new_id(prefix), "label": _new_label(key, number)})
    changed["display"] = group_from_form(form, "display", document, verb, target)
    return changed


def _new_label(key: str, number: int) -> str:
    labels = {
        "options": _("Option %(n)s", n=number),
        "rows": _("Row %(n)s", n=number),
        "columns": _("Column %(n)s", n=number),
    }
    return labels[key]


def _indices(form: MultiDict, pattern: str) -> list[int]:
    found = (re.match(pattern, key) for key in form.keys())
    return sorted({int(match.group(1)) for match in found if match})


def group_from_form(
    form: MultiDict, prefix: str, document: dict, verb="", target=""
) -> dict | None:
    """A condition group posted as `<prefix>-match` and `<prefix>-<n>-question/op/value`; an
    operator that does not fit a newly chosen question becomes the first one that does."""
    kinds = {q["id"]: q["type"] for q in doc.questions(document)}
    conditions = []
    for index in _indices(form, rf"^{re.escape(prefix)}-(\d+)-question$"):
        name = f"{prefix}-{index}"
        if verb == "remove" and target == name:
            continue
        question, op = form.get(f"{name}-question", ""), form.get(f"{name}-op", "")
        allowed = doc.TYPE_OPERATORS.get(kinds.get(question, ""), ())
        if allowed and op not in allowed:
            op = allowed[0]
        values = [value for value in form.getlist(f"{name}-value") if value != ""]
        value = values if op == "in" else (values[0] if values else "")
        conditions.append({"question": question, "op": op, "value": value})
    if verb == "add" and target == prefix:
        conditions.append({"question": form.get(f"{prefix}-new", ""), "op": "", "value": ""})
        kind = kinds.get(conditions[-1]["question"])
        conditions[-1]["op"] = doc.TYPE_OPERATORS[kind][0] if kind else ""
    if not conditions:
        return None
    return {
        "match": "any" if form.get(f"{prefix}-match") == "any" else "all",
        "conditions": conditions,
    }


def page_from_form(form: MultiDict, document: dict) -> dict:
    """The page's title, display condition and rules (a rule without conditions always holds)."""
    verb, target = action(form)
    rules = []
    for index in _indices(form, r"^rule-(\d+)-goto$"):
        name = f"rule-{index}"
        if verb == "remove" and target == name:
            continue
        when = group_from_form(form, f"{name}-when", document, verb, target)
        rules.append({"when": when, "goto": form.get(f"{name}-goto", "")})
    if verb == "add" and target == "rule":
        rules.append({"when": None, "goto": ""})
    return {
        "title": form.get("title", ""),
        "display": group_from_form(form, "display", document, verb, target),
        "rules": rules,
    }
