"""Form helpers shared by the domains."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from flask_wtf import FlaskForm
from wtforms import Field, FieldList, FormField

from crm_web.errors import ServiceError, Throttled

T = TypeVar("T")


def fields_by_name(form) -> dict[str, Field]:
    """Every field of the form by its posted name, those of its lists of lines (FieldList of
    FormField: "items-0-quantity") included."""
    found: dict[str, Field] = {}
    pending = list(form)
    while pending:
        field = pending.pop()
        found[field.name] = field
        if isinstance(field, FieldList | FormField):
            pending.extend(field)
    return found


def show_service_error(form: FlaskForm, exc: ServiceError) -> None:
    """Put a service's field errors on the form's fields (a line's field by its posted name,
    "items-0-quantity"); the rest becomes a form-level error. An error on a line's field also
    gives the service's message above the form: a form's errors are counted from its own
    fields, and a long table of lines is easy to scroll past."""
    unplaced, on_lines = [], False
    fields = fields_by_name(form)
    for name, message in exc.fields.items():
        field = fields.get(name)
        if field is None or isinstance(field, FieldList | FormField):
            unplaced.append(message)
            continue
        field.errors = [*field.errors, message] if isinstance(field.errors, list) else [message]
        on_lines = on_lines or name not in form
    form.form_errors.extend(unplaced or ([exc.message] if on_lines or not exc.fields else []))


def form_status(form: FlaskForm) -> int:
    """422 for a form shown again with errors, so HTMX and API clients can tell."""
    return 422 if form.errors or form.form_errors else 200


@dataclass(frozen=True)
class Accepted(Generic[T]):
    """What a service returned for a form it accepted (a wrapper, so that None counts too)."""

    value: T


def submit(
    form: FlaskForm,
    action: Callable[[], T],
    *,
    shown: type[ServiceError] = ServiceError,
) -> Accepted[T] | None:
    """Validate the posted form and run the service call `action`.

    None when there is nothing to do yet (a GET) or the form is refused, by its own checks or
    by the service, whose errors (of the kind `shown`; others go on to the error pages) then sit
    on the form's fields for the page shown again. Throttled always goes on to the view:
    "come back later" is no field's fault, and it answers 429.
    """
    if not form.validate_on_submit():
        return None
    try:
        return Accepted(action())
    except Throttled:
        raise
    except shown as exc:
        show_service_error(form, exc)
        return None
