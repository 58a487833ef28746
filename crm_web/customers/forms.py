"""The customer form (create and edit) and the list's bulk action form."""

from zoneinfo import available_timezones

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import Length, Optional

from crm_web.customers.fields import BY_NAME, FIELDS, NAMES
from crm_web.customers.services import BULK_ACTIONS
from crm_web.fields import Field
from crm_web.forms import AmountField
from crm_web.limits import LIST_MAX, NAME_MAX


def _owner_choices(users) -> list[tuple[str, str]]:
    # Inactive users stay listed so a customer they own can be saved unchanged.
    return [("", "Nobody")] + [
        (str(user.id), user.name if user.is_active else f"{user.name} (inactive)") for user in users
    ]


def _form_field(field: Field):
    """The form's input for a field of the registry, by its kind."""
    label = field.label_on_form
    if field.choices:
        return SelectField(label, choices=[SelectChoice(*choice) for choice in field.choices])
    if field.kind in ("owner", "timezone"):
        return SelectField(label)  # choices set per form: the users, the time zones
    if field.kind == "bool":
        return BooleanField(label, default=field.default)
    if field.kind == "date":
        return DateField(label, validators=[Optional()])
    if field.kind == "amount":
        return AmountField(label, places=2)
    if field.kind == "email":
        return EmailField(label, validators=[Length(max=254)])
    if field.kind == "phone":
        return TelField(label, validators=[Length(max=NAME_MAX)])
    if field.kind == "multiline":
        return TextAreaField(label, validators=[Length(max=LIST_MAX)])
    return StringField(
        label, validators=[Length(max=LIST_MAX if field.kind == "tags" else NAME_MAX)]
    )


def _registry_fields(form_class: type[FlaskForm]) -> type[FlaskForm]:
    """The form class with an input for every field of customers.fields."""
    for field in FIELDS:
        setattr(form_class, field.name, _form_field(field))
    return form_class


@_registry_fields
class CustomerForm(FlaskForm):
    """Every field of customers.fields; the service validates and normalises (errors come back
    per field). The caps here only keep a request small: the service's messages say more."""

    def __init__(self, *args, users=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.owner_id.choices = _owner_choices(users)
        self.timezone.choices = [("", "—")] + sorted((name, name) for name in available_timezones())

    def load(self, values: dict) -> None:
        """Fill the fields from a customer's values (for the edit page)."""
        for name, value in values.items():
            kind = BY_NAME[name].kind
            if kind == "tags":
                value = ", ".join(value)
            elif kind in ("owner", "amount"):
                value = "" if value is None else str(value)
            getattr(self, name).data = value

    def values(self) -> dict:
        """What was submitted, as the service takes it."""
        values = {name: getattr(self, name).data for name in NAMES}
        values["owner_id"] = self.owner_id.data or None
        return values


class BulkForm(FlaskForm):
    action = SelectField(
        _l("Action"),
        choices=[SelectChoice(key, label) for key, (label, _roles) in BULK_ACTIONS.items()],
    )
    # Named apart from the list's filters (owner, tag), which ride in the same form.
    # The owner is checked by the service, and only for the action that uses it.
    bulk_owner = SelectField(_l("Owner"), validate_choice=False)
    bulk_tag = StringField(_l("Tag"), validators=[Length(max=NAME_MAX)])

    def __init__(self, *args, users=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.bulk_owner.choices = _owner_choices(users)


class MergeForm(FlaskForm):
    other = HiddenField()
    keep = RadioField(
        _l("Keep"),
        choices=[
            SelectChoice("this", _l("Keep this record")),
            SelectChoice("other", _l("Keep the other record")),
        ],
        default="this",
    )
