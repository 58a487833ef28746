"""Form helpers shared by the domains."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from flask_wtf import FlaskForm

from crm_web.errors import ServiceError, Throttled

T = TypeVar("T")


def show_service_error(form: FlaskForm, exc: ServiceError) -> None:
    """Put a service's field errors on the form's fields; the rest becomes a form-level error."""
    unplaced = []
    for name, message in exc.fields.items():
        field = getattr(form, name, None)
        if field is None:
            unplaced.append(message)
        else:
            field.errors = [*field.errors, message] if isinstance(field.errors, list) else [message]
    form.form_errors.extend(unplaced or ([] if exc.fields else [exc.message]))


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
