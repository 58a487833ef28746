"""Hostile input stopped at the edge, for every page and endpoint at once.

PostgreSQL refuses text with a NUL character, UTF-8 cannot carry a lone surrogate (JSON's
"\\ud800"), a bigint column refuses integers past 64 bits, and a JSON parser recurses once per
nesting level. Each of these used to surface as a 500 from deep inside a query; here they
become a 422 naming the field before any view runs: the query string, form fields and path
text by a request hook, JSON bodies by the request class, path ids by the int converter, and
the integers views read from the query string by `query_int`.
"""

import math
import re
from datetime import date

from flask import Flask, Request, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.routing import IntegerConverter

from crm_web.errors import ValidationError, invalid

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Deeper than any body the API takes; far below the parser's recursion limit.
MAX_JSON_DEPTH = 32
# ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
INTEGER = re.compile(r"[+-]?[0-9]+")
BAD_TEXT = re.compile(r"[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text (a NUL or a lone surrogate), or None."""
    found = BAD_TEXT.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return _("Remove the NUL character (\\u0000).")
    return _("Remove the invalid character (a lone UTF-16 surrogate).")


def whole_number(text: str) -> int | None:
    """`text` as a non-negative 64-bit integer (an id, a count), or None when it is not one."""
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= INT64_MAX else None


def as_id(text: str) -> int:
    """`text` as an id, for werkzeug's `type=`: a ValueError (so the value is left out) when it
    is not a 64-bit whole number."""
    value = whole_number(text)
    if value is None:
        raise ValueError(f"not an id: {text!r}")
    return value


def parse_int(
    value: object, field: str, *, minimum: int = INT64_MIN, maximum: int = INT64_MAX
) -> int:
    """`value` (text or a JSON number) as an integer from `minimum` to `maximum` (64-bit by
    default); a ValidationError naming `field` otherwise."""
    if isinstance(value, str) and INTEGER.fullmatch(value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid({field: _("Give a whole number.")})
    if not minimum <= value <= maximum:
        if (minimum, maximum) == (INT64_MIN, INT64_MAX):
            raise invalid({field: _("This number is too large.")})
        raise invalid(
            {
                field: _(
                    "Give a number from %(minimum)d to %(maximum)d.",
                    minimum=minimum,
                    maximum=maximum,
                )
            }
        )
    return value


def query_int(
    name: str, default: int | None = None, *, minimum: int = INT64_MIN, maximum: int = INT64_MAX
) -> int | None:
    """The query parameter `name` as an integer, `default` when it is absent or blank."""
    value = request.args.get(name, "").strip()
    if not value:
        return default
    return parse_int(value, name, minimum=minimum, maximum=maximum)


EXPECTED = {
    str: _l("Send text."),
    int: _l("Send a whole number."),
    list: _l("Send a list."),
    dict: _l("Send an object."),
    bool: _l("Send true or false."),
}


def json_field(body: dict, name: str, kind: type, default: object = None):
    """The JSON field `name` if it has the type `kind` (JSON true is no integer); `default` when
    it is absent, or null where the default is None (an optional id); else a ValidationError."""
    value = body.get(name, default)
    if value is None and default is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise invalid({name: str(EXPECTED[kind])})
    return value


def text_field(
    data: dict, name: str, errors: dict, limit: int, *, required: bool = False, strip: bool = True
) -> str:
    """The text `data[name]` ("" when absent or null), stripped unless `strip` is False; what is
    wrong with it (not text, missing when `required`, longer than `limit`) goes into `errors`."""
    value = data.get(name) or ""
    if not isinstance(value, str):
        errors[name] = _("Send text.")
        return ""
    value = value.strip() if strip else value
    if required and not value.strip():
        errors[name] = _("This field is required.")
    elif len(value) > limit:
        errors[name] = _("At most %(count)s characters.", count=limit)
    return value


def json_object() -> dict:
    """The request's JSON body, which must be an object (the API's every write takes one)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError(_("Send a JSON object."))
    return body


def iso_date(value: object, field: str) -> date | None:
    """`value` as a date when it is ISO 8601 text (2026-03-31), None when it is no text; a
    ValidationError naming `field` when the text is no such date."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid({field: _("Use a date like 2026-03-31.")}) from None


def check_json(value: object) -> None:
    """Refuse a parsed JSON body that nests too deep or holds a NUL, a lone surrogate, an
    integer past 64 bits or NaN/Infinity, naming the top-level field it sits in."""
    pending = [(value, "body", 0)]
    while pending:
        item, field, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise invalid({field: _("Nested more than %(levels)d levels.", levels=MAX_JSON_DEPTH)})
        if isinstance(item, str):
            if problem := text_problem(item):
                raise invalid({field: problem})
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            parse_int(item, field)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise invalid({field: _("Give a finite number.")})
        elif isinstance(item, list):
            pending.extend((element, field, depth + 1) for element in item)
        elif isinstance(item, dict):
            for key, element in item.items():
                name = key if depth == 0 else field
                if problem := text_problem(key):
                    raise invalid({"body": _("A field name: %(problem)s", problem=problem)})
                pending.append((element, name, depth + 1))


class CheckedRequest(Request):
    """A request whose JSON body is checked (`check_json`) before any view sees it."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        """The parsed body, as Flask's, refused with a ValidationError when `check_json` does."""
        try:
            value = super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            raise invalid(
                {"body": _("Nested more than %(levels)d levels.", levels=MAX_JSON_DEPTH)}
            ) from None
        check_json(value)
        return value

    def on_json_loading_failed(self, e: ValueError | None):
        raise ValidationError(_("The body is not valid JSON."), {"body": _("Send valid JSON.")})


class Int64Converter(IntegerConverter):
    """`<int:...>` in a route: an id past 64 bits matches no row, so it is a 404, not a query."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", INT64_MAX)
        super().__init__(map, *args, **kwargs)


def check_request_text() -> None:
    """Refuse a query string, form or path holding text PostgreSQL cannot store."""
    sources = (request.args, request.form) if request.method != "GET" else (request.args,)
    for source in sources:
        for name, values in source.lists():
            for value in (name, *values):
                if problem := text_problem(value):
                    raise invalid({_field_name(name): problem})
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and (problem := text_problem(value)):
            raise invalid({name: problem})


def _field_name(name: str) -> str:
    return "field name" if text_problem(name) else name


def init_app(app: Flask) -> None:
    """Install the checks: the request class, the int converter and the text hook."""
    app.request_class = CheckedRequest
    app.url_map.converters["int"] = Int64Converter
    app.before_request(check_request_text)
