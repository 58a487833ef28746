"""Segment criteria: the JSON a marketer builds, checked, and compiled to one SQL statement.

    {"match": "all", "rules": [
        {"field": "city", "op": "eq", "value": "Ankara"},
        {"field": "tags", "op": "contains", "value": "vip"},
        {"match": "any", "rules": [...]}]}

`parse` checks the JSON against the field registry and returns typed `Group`/`Rule` nodes, or
raises a ValidationError whose fields are the paths of the faulty rules ("rules[1].value").
`compile_where` turns a checked group into a WHERE clause over the customer row `c` with every
value a bound parameter. Each condition is two-valued (coalesce(..., false)): a customer
without a city is "not Ankara", and NOT never meets a NULL.

Text compares folded as the customer search folds it (Turkish letters to ASCII, then lower
case), so "istanbul" finds "İstanbul"; choice values compare exactly.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _

from crm_web.errors import ValidationError
from crm_web.segments import registry
from crm_web.segments.registry import NO_VALUE, TWO_VALUES, SegmentField

MAX_DEPTH = 4
MAX_RULES = 40
MAX_IN_VALUES = 200
MAX_TEXT = 200
MAX_DAYS = 36_500


@dataclass(frozen=True)
class Rule:
    field: SegmentField
    op: str
    # str | Decimal | date | int | bool, a tuple of two for between, a tuple of str for in.
    value: Any = None


@dataclass(frozen=True)
class Group:
    match: str  # all | any
    rules: tuple["Rule | Group", ...] = ()


EVERYONE = {"match": "all", "rules": []}


def path_name(path: tuple[int, ...], leaf: str = "") -> str:
    """A rule's place in the JSON, as error messages name it: `rules[0].rules[2].value`."""
    name = ".".join(f"rules[{index}]" for index in path)
    return f"{name}.{leaf}" if name and leaf else name or leaf


# -- checking -------------------------------------------------------------------------------------


def parse(criteria: object) -> Group:
    """The criteria as typed nodes; a ValidationError naming each faulty rule's path."""
    errors: dict[str, str] = {}
    counter = [0]
    group = _group(criteria, (), errors, counter)
    if counter[0] > MAX_RULES:
        errors.setdefault("rules", _("At most %(count)s conditions.", count=MAX_RULES))
    if errors:
        raise ValidationError(_("Please correct the highlighted conditions."), errors)
    return group


def _group(raw: object, path: tuple[int, ...], errors: dict, counter: list[int]) -> Group:
    if not isinstance(raw, dict):
        errors[path_name(path) or "criteria"] = _("Send an object with match and rules.")
        return Group("all")
    match = raw.get("match", "all")
    if match not in ("all", "any"):
        errors[path_name(path, "match")] = _("Choose all or any.")
    rules = raw.get("rules", [])
    if not isinstance(rules, list):
        errors[path_name(path, "rules")] = _("Send a list of conditions.")
        rules = []
    if len(path) >= MAX_DEPTH and any(isinstance(r, dict) and "rules" in r for r in rules):
        errors[path_name(path, "rules")] = _("Groups nest at most %(depth)s deep.", depth=MAX_DEPTH)
        rules = []
    nodes = []
    for index, item in enumerate(rules):
        here = (*path, index)
        counter[0] += 1
        if isinstance(item, dict) and "rules" in item:
            nodes.append(_group(item, here, errors, counter))
        else:
            rule = _rule(item, here, errors)
            if rule is not None:
                nodes.append(rule)
    return Group(match if match in ("all", "any") else "all", tuple(nodes))


def _rule(raw: object, path: tuple[int, ...], errors: dict) -> Rule | None:
    if not isinstance(raw, dict):
        errors[path_name(path)] = _("Send an object with field, op and value.")
        return None
    field = registry.get(raw.get("field")) if isinstance(raw.get("field"), str) else None
    if field is None:
        errors[path_name(path, "field")] = _("Choose a field.")
        return None
    op = raw.get("op")
    if op not in field.operators:
        errors[path_name(path, "op")] = _("Choose how to compare.")
        return None
    try:
        value = _value(field, op, raw.get("value"))
    except ValueError as exc:
        errors[path_name(path, "value")] = str(exc)
        return None
    return Rule(field, op, value)


def _value(field: SegmentField, op: str, raw: object) -> Any:
    """The rule's value typed for its field and operator; a ValueError saying what is wrong."""
    if op in NO_VALUE:
        return None
    if op == "within_last_days":
        return _whole_days(raw)
    if op in TWO_VALUES:
        if not isinstance(raw, list | tuple) or len(raw) != 2:
            raise ValueError(_("Give two values: from and to."))
        low, high = (_one(field, item) for item in raw)
        if low > high:
            raise ValueError(_("The first value must not be above the second."))
        return (low, high)
    if op == "in":
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple):
            raise ValueError(_("Give a list of values."))
        values = tuple(dict.fromkeys(_one(field, item) for item in items if _present(item)))
        if not values:
            raise ValueError(_("Give at least one value."))
        if len(values) > MAX_IN_VALUES:
            raise ValueError(_("At most %(count)s values.", count=MAX_IN_VALUES))
        return values
    return _one(field, raw)


def _present(item: object) -> bool:
    return not (isinstance(item, str) and not item.strip())


def _whole_days(raw: object) -> int:
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_DAYS:
        raise ValueError(_("Give a number of days from 1 to %(most)s.", most=MAX_DAYS))
    return raw


def _one(field: SegmentField, raw: object) -> Any:
    kind = field.type
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if raw in ("true", "false"):
            return raw == "true"
        raise ValueError(_("Choose yes or no."))
    if kind == "number":
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(_("Give a number."))
        try:
            number = Decimal(str(raw).strip().replace(",", "."))
        except InvalidOperation:
            raise ValueError(_("Give a number.")) from None
        if not number.is_finite() or abs(number) >= Decimal("1e15"):
            raise ValueError(_("Give a number."))
        return number
    if kind == "date":
        if not isinstance(raw, str):
            raise ValueError(_("Use a date like 2026-03-31."))
        try:
            return dt.date.fromisoformat(raw.strip())
        except ValueError:
            raise ValueError(_("Use a date like 2026-03-31.")) from None
    if isinstance(raw, int | float) and not isinstance(raw, bool) and kind in ("choice", "set"):
        raw = str(raw)
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(_("Give a value."))
    text = raw.strip()
    if len(text) > MAX_TEXT:
        raise ValueError(_("At most %(count)s characters.", count=MAX_TEXT))
    if kind in ("choice", "set") and field.choices is not None:
        if text not in {value for value, _label in field.choices()}:
            raise ValueError(_("Choose one of the listed values."))
    return text


def to_json(group: Group) -> dict:
    """The checked criteria as stored: canonical JSON (dates ISO, numbers as JSON numbers)."""

    def plain(value):
        if isinstance(value, tuple):
            return [plain(item) for item in value]
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        return value

    def node(item):
        if isinstance(item, Group):
            return {"match": item.match, "rules": [node(rule) for rule in item.rules]}
        stored = {"field": item.field.name, "op": item.op}
        if item.value is not None:
            stored["value"] = plain(item.value)
        return stored

    return node(group)


# -- compiling --------------------------------------------------------------------------------------


def fold_sql(expression: str) -> str:
    """SQL folding text as the customer search does: crm_fold() (migration 0026) turns the
    Turkish letters to ASCII and lowers the case."""
    return f"crm_fold({expression})"


class Parameters:
    """The bound values of a statement being compiled, named p0, p1, ..."""

    def __init__(self, initial: dict | None = None):
        self.values: dict[str, Any] = dict(initial or {})

    def bind(self, value: Any, sql_type: str) -> str:
        name = f"p{len(self.values)}"
        while name in self.values:
            name += "_"
        self.values[name] = value
        return f"CAST(:{name} AS {sql_type})"


_COMPARE = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "before": "<", "after": ">"}


def compile_where(group: Group, params: Parameters, timezone: str) -> str:
    """The group as a SQL condition over the customer row `c`; values go into `params`.
    `timezone` is the organization's, the day a timestamp falls on."""
    if not group.rules:
        return "true" if group.match == "all" else "false"
    joiner = " AND " if group.match == "all" else " OR "
    parts = [
        compile_where(rule, params, timezone)
        if isinstance(rule, Group)
        else _condition(rule, params, timezone)
        for rule in group.rules
    ]
    return "(" + joiner.join(parts) + ")"


def _condition(rule: Rule, params: Parameters, timezone: str) -> str:
    field, op, value = rule.field, rule.op, rule.value
    sql = f"({field.sql})"

    def sure(condition: str) -> str:
        """The condition, false where it is NULL. A column that is never NULL (and values are
        never NULL) gives no NULL to take care of: left bare, the condition can use the
        column's index (coalesce() hides it from the planner: a scan of every customer)."""
        return f"({condition})" if not field.nullable else f"coalesce({condition}, false)"

    if op in ("is_set", "is_not_set"):
        if field.type == "tags":
            present = f"coalesce(cardinality({sql}), 0) > 0"
        elif field.nullable and field.type not in ("text", "choice"):
            present = f"{sql} IS NOT NULL"
        else:
            present = f"coalesce(CAST({sql} AS text), '') <> ''"
        return present if op == "is_set" else f"NOT ({present})"
    if field.type in ("tags", "set"):
        element = (
            params.bind(int(value), "bigint")
            if field.numeric_choice
            else params.bind(value, "text")
        )
        contains = sure(f"{sql} @> ARRAY[{element}]")
        return contains if op == "contains" else f"NOT {contains}"
    if field.type == "text":
        folded = fold_sql(sql)
        if op in ("contains", "not_contains"):
            found = sure(f"strpos({folded}, {fold_sql(params.bind(value, 'text'))}) > 0")
            return found if op == "contains" else f"NOT {found}"
        if op == "in":
            values = params.bind(list(value), "text[]")
            return sure(f"{folded} = ANY(ARRAY(SELECT {fold_sql('v')} FROM unnest({values}) AS v))")
        equal = sure(f"{folded} = {fold_sql(params.bind(value, 'text'))}")
        return equal if op == "eq" else f"NOT {equal}"
    if field.type == "date" and op == "within_last_days":
        moment = sql if field.timestamp else f"CAST({sql} AS timestamptz)"
        days = params.bind(value, "integer")
        return sure(f"{moment} >= now() - make_interval(days => {days})")
    if field.type == "date" and field.timestamp:
        sql = f"CAST(({sql} AT TIME ZONE {params.bind(timezone, 'text')}) AS date)"
    sql_type = {
        "number": "numeric",
        "date": "date",
        "boolean": "boolean",
        "choice": "bigint" if field.numeric_choice else "text",
    }[field.type]
    if field.type == "choice" and not field.numeric_choice:
        sql = f"CAST({sql} AS text)"
    if op == "between":
        low, high = (params.bind(_bound(item, field), sql_type) for item in value)
        return sure(f"{sql} BETWEEN {low} AND {high}")
    if op == "in":
        values = params.bind([_bound(item, field) for item in value], f"{sql_type}[]")
        return sure(f"{sql} = ANY({values})")
    if op == "neq":
        return f"({sql} IS DISTINCT FROM {params.bind(_bound(value, field), sql_type)})"
    bound = params.bind(_bound(value, field), sql_type)
    return sure(f"{sql} {_COMPARE[op]} {bound}")


def _bound(value: Any, field: SegmentField) -> Any:
    if field.type == "choice" and field.numeric_choice:
        return int(value)
    return value


@dataclass(frozen=True)
class Compiled:
    """A segment's condition as SQL text over `customers c` with its parameters."""

    where: str
    params: dict[str, Any]


def compile_criteria(group: Group, organization_id: int, timezone: str) -> Compiled:
    """The SQL condition that selects the organization's active customers the group matches
    (`:org` is the organization)."""
    params = Parameters({"org": organization_id})
    condition = compile_where(group, params, timezone or "UTC")
    where = f"c.organization_id = :org AND c.is_active AND {condition}"
    return Compiled(where, params.values)
