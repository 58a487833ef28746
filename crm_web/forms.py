"""Form helpers shared by the domains."""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Generic, TypeVar

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import Field, FieldList, FormField, StringField

from crm_web.errors import ServiceError, Throttled
from crm_web.formatting import example_amount, number, parse_decimal

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


class AmountField(StringField):
    """A number a person types (money, a quantity, a percentage), in their language's format
    (`1.234,50` in Turkish, `1,234.50` in English) or plain (`1234.50`). Its data is a Decimal
    (None when left empty), which services take as they take the API's numbers; it is shown
    again in the reader's format. Use InputRequired, not DataRequired: zero is an answer."""

    MAX_LENGTH = 40

    def __init__(self, label=None, validators=None, places: int | None = None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.places = places

    def process_formdata(self, valuelist):
        text = (valuelist[0] if valuelist else "").strip()
        self.data = None
        if not text:
            return
        if len(text) > self.MAX_LENGTH:
            raise ValueError(_("Use at most %(count)s characters.", count=number(self.MAX_LENGTH)))
        try:
            self.data = parse_decimal(text)
        except ValueError:
            raise ValueError(
                _("Enter a number such as %(example)s.", example=example_amount())
            ) from None

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]  # what was typed, shown again with its error
        value = self.data
        if isinstance(value, str):  # a view's prefill, written plainly
            try:
                value = Decimal(value)
            except InvalidOperation:
                return value
        if value is None or value == "":
            return ""
        return number(value, self.places) if self.places is not None else number(value)


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
