"""The customer form (create and edit) and the list's bulk action form."""

from zoneinfo import available_timezones

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

from crm_web.customers.models import COMPANY_SIZES, CUSTOMER_TYPES, GENDERS, LIFECYCLE_STAGES
from crm_web.customers.services import BULK_ACTIONS
from crm_web.customers.validation import EDITABLE_FIELDS
from crm_web.limits import LIST_MAX, NAME_MAX

GENDER_LABELS = {"": "—", "F": "Female", "M": "Male", "O": "Other"}


def _owner_choices(users) -> list[tuple[str, str]]:
    # Inactive users stay listed so a customer they own can be saved unchanged.
    return [("", "Nobody")] + [
        (str(user.id), user.name if user.is_active else f"{user.name} (inactive)") for user in users
    ]


class CustomerForm(FlaskForm):
    """Every editable field; the service validates and normalises (errors come back per field)."""

    customer_type = SelectField(
        "Type", choices=[SelectChoice(value, value.capitalize()) for value in CUSTOMER_TYPES]
    )
    title = StringField("Title", validators=[Length(max=NAME_MAX)])
    first_name = StringField("First name", validators=[Length(max=NAME_MAX)])
    last_name = StringField("Last name", validators=[Length(max=NAME_MAX)])
    company_name = StringField("Company", validators=[Length(max=NAME_MAX)])
    primary_email = EmailField("Email", validators=[Length(max=254)])
    secondary_email = EmailField("Second email", validators=[Length(max=254)])
    primary_phone = TelField("Phone", validators=[Length(max=NAME_MAX)])
    secondary_phone = TelField("Second phone", validators=[Length(max=NAME_MAX)])
    website = StringField("Website", validators=[Length(max=NAME_MAX)])
    owner_id = SelectField("Owner")
    lifecycle_stage = SelectField(
        "Lifecycle stage",
        choices=[SelectChoice(value, value.capitalize()) for value in LIFECYCLE_STAGES],
    )
    tags = StringField("Tags (comma separated)", validators=[Length(max=LIST_MAX)])
    address = TextAreaField("Address", validators=[Length(max=LIST_MAX)])
    city = StringField("City", validators=[Length(max=NAME_MAX)])
    country = StringField("Country code", validators=[Length(max=NAME_MAX)])
    timezone = SelectField("Time zone")
    birth_date = DateField("Birth date", validators=[Optional()])
    gender = SelectField(
        "Gender", choices=[SelectChoice(value, GENDER_LABELS[value]) for value in GENDERS]
    )
    tax_number = StringField("Tax number", validators=[Length(max=NAME_MAX)])
    tax_office = StringField("Tax office", validators=[Length(max=NAME_MAX)])
    identity_number = StringField("Identity number", validators=[Length(max=NAME_MAX)])
    industry = StringField("Industry", validators=[Length(max=NAME_MAX)])
    company_size = SelectField(
        "Company size", choices=[SelectChoice(value, value or "—") for value in COMPANY_SIZES]
    )
    annual_revenue = StringField("Annual revenue", validators=[Length(max=NAME_MAX)])
    lead_source = StringField("Lead source", validators=[Length(max=NAME_MAX)])
    customer_since = DateField("Customer since", validators=[Optional()])
    is_active = BooleanField("Active", default=True)
    email_opt_in = BooleanField("Agrees to email")
    sms_opt_in = BooleanField("Agrees to SMS")
    do_not_contact = BooleanField("Do not contact at all")

    def __init__(self, *args, users=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.owner_id.choices = _owner_choices(users)
        self.timezone.choices = [("", "—")] + sorted((name, name) for name in available_timezones())

    def load(self, values: dict) -> None:
        """Fill the fields from a customer's values (for the edit page)."""
        for name, value in values.items():
            if name == "tags":
                self.tags.data = ", ".join(value)
            elif name == "owner_id":
                self.owner_id.data = "" if value is None else str(value)
            elif name == "annual_revenue":
                self.annual_revenue.data = "" if value is None else str(value)
            else:
                getattr(self, name).data = value

    def values(self) -> dict:
        """What was submitted, as the service takes it."""
        values = {name: getattr(self, name).data for name in EDITABLE_FIELDS}
        values["owner_id"] = self.owner_id.data or None
        return values


class BulkForm(FlaskForm):
    action = SelectField(
        "Action",
        choices=[SelectChoice(key, label) for key, (label, _roles) in BULK_ACTIONS.items()],
    )
    # Named apart from the list's filters (owner, tag), which ride in the same form.
    # The owner is checked by the service, and only for the action that uses it.
    bulk_owner = SelectField("Owner", validate_choice=False)
    bulk_tag = StringField("Tag", validators=[Length(max=NAME_MAX)])

    def __init__(self, *args, users=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.bulk_owner.choices = _owner_choices(users)


class MergeForm(FlaskForm):
    other = HiddenField()
    keep = RadioField(
        "Keep",
        choices=[
            SelectChoice("this", "Keep this record"),
            SelectChoice("other", "Keep the other record"),
        ],
        default="this",
    )
