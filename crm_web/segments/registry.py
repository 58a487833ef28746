"""What a segment rule can ask of a customer: fields declared by each domain.

A domain declares its fields in a module listed in FIELD_MODULES with
`register(SegmentField(...))`. A field's `sql` is an expression over the customer row, which
the compiled statement names `c` (`c.city`, or a correlated subquery on another table that
reads `c.id` and `c.organization_id`). It is the project's own text, never a user's: values
always travel as bound parameters (crm_web.segments.criteria).
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

FIELD_MODULES = (
    "crm_web.customers.segment_fields",
    "crm_web.customer360.segment_fields",
    "crm_web.tickets.segment_fields",
    "crm_web.pipeline.segment_fields",
    "crm_web.campaigns.segment_fields",
    "crm_web.catalog.segment_fields",
    "crm_web.surveys.segment_fields",
)

# Each type of field and the operators it takes, in the order the builder offers them.
OPERATORS = {
    "text": ("eq", "neq", "in", "contains", "not_contains", "is_set", "is_not_set"),
    "choice": ("eq", "neq", "in", "is_set", "is_not_set"),
    "number": ("eq", "neq", "gt", "gte", "lt", "lte", "between", "is_set", "is_not_set"),
    "date": ("eq", "before", "after", "between", "within_last_days", "is_set", "is_not_set"),
    "tags": ("contains", "not_contains", "is_set", "is_not_set"),
    # Several of a list of choices (the campaigns a customer received).
    "set": ("contains", "not_contains"),
    "boolean": ("eq",),
}
OPERATOR_LABELS = {
    "eq": _l("is"),
    "neq": _l("is not"),
    "in": _l("is one of"),
    "contains": _l("contains"),
    "not_contains": _l("does not contain"),
    "gt": _l("is more than"),
    "gte": _l("is at least"),
    "lt": _l("is less than"),
    "lte": _l("is at most"),
    "between": _l("is between"),
    "is_set": _l("is set"),
    "is_not_set": _l("is not set"),
    "within_last_days": _l("is within the last (days)"),
    "before": _l("is before"),
    "after": _l("is after"),
}
# Operators that take no value, and those that take two.
NO_VALUE = frozenset({"is_set", "is_not_set"})
TWO_VALUES = frozenset({"between"})


@dataclass(frozen=True)
class SegmentField:
    """One thing a rule can test: its name in the criteria JSON, its label and group on screen,
    its type (a key of OPERATORS) and its SQL over the customer row `c`."""

    name: str
    label: object
    group: object
    type: str
    sql: str
    # For a choice field: the (value, label) pairs, read when a rule is checked or shown (a
    # list of users or campaigns comes from the database of the current organization).
    choices: Callable[[], list[tuple[str, str]]] | None = None
    # A choice field whose values are ids compares as a number.
    numeric_choice: bool = False
    # A date field whose SQL is a timestamp: compared as the day it falls on in the
    # organization's timezone.
    timestamp: bool = False
    # Whether the SQL can be NULL ("is set" then means NOT NULL, else a non-empty value).
    nullable: bool = True

    @property
    def operators(self) -> tuple[str, ...]:
        return OPERATORS[self.type]


_fields: dict[str, SegmentField] = {}
_loaded = False


def register(field: SegmentField) -> SegmentField:
    """Declare a field (called at import by a module in FIELD_MODULES)."""
    if field.type not in OPERATORS:
        raise ValueError(f"Unknown segment field type {field.type!r}")
    _fields[field.name] = field
    return field


def _load_all() -> None:
    global _loaded
    if not _loaded:
        for module in FIELD_MODULES:
            importlib.import_module(module)
        _loaded = True


def get(name: str) -> SegmentField | None:
    """The field named `name`, or None."""
    _load_all()
    return _fields.get(name)


def all_fields() -> list[SegmentField]:
    """Every declared field, in declaration order (grouped by domain)."""
    _load_all()
    return list(_fields.values())
