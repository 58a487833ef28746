"""Lead forms: capture and edit, status moves, reassignment, conversion, and the settings pages."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from crm_web.forms import AmountField
from crm_web.labels import LEAD_AUTHORITY, LEAD_SOURCE, LEAD_TIMELINE, SCORING_FACTOR
from crm_web.leads.fields import BY_NAME, NAMES
from crm_web.leads.models import ASSIGNMENT_METHODS, SCORING_FACTORS
from crm_web.leads.scoring import FIELDS, OPERATORS
from crm_web.limits import LIST_MAX, NAME_MAX


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as select options."""
    return [SelectChoice(value, label) for value, label in pairs]


# Shown in the reader's language (crm_web.labels); the values stay the stored codes.
SOURCE_CHOICES = choices((code, LEAD_SOURCE[code]) for code in BY_NAME["source"].values)
AUTHORITY_CHOICES = choices((code, LEAD_AUTHORITY[code]) for code in BY_NAME["authority"].values)
TIMELINE_CHOICES = choices(
    (code, LEAD_TIMELINE[code] if code else "—") for code in BY_NAME["timeline"].values
)
COMPANY_SIZE_CHOICES = choices(BY_NAME["company_size"].choices)


def _fits(name: str) -> Length:
    """The lead field's own length limit."""
    return Length(max=BY_NAME[name].max_length)


class LeadForm(FlaskForm):
    first_name = StringField(_l("First name"), validators=[DataRequired(), _fits("first_name")])
    last_name = StringField(_l("Last name"), validators=[DataRequired(), _fits("last_name")])
    company = StringField(_l("Company"), validators=[_fits("company")])
    title = StringField(_l("Job title"), validators=[_fits("title")])
    email = EmailField(_l("Email"), validators=[_fits("email")])
    phone = StringField(_l("Phone"), validators=[Length(max=40)])
    website = StringField(_l("Website"), validators=[_fits("website")])
    industry = StringField(_l("Industry"), validators=[_fits("industry")])
    company_size = SelectField(_l("Company size"), choices=COMPANY_SIZE_CHOICES, default="")
    country = StringField(_l("Country (2 letters)"), validators=[_fits("country")])
    city = StringField(_l("City"), validators=[_fits("city")])
    source = SelectField(_l("Source"), choices=SOURCE_CHOICES, default="other")
    budget = AmountField(_l("Budget"), validators=[Optional(), NumberRange(min=0)], places=2)
    authority = SelectField(_l("Authority"), choices=AUTHORITY_CHOICES, default="unknown")
    need = TextAreaField(_l("Need"), validators=[_fits("need")])
    timeline = SelectField(_l("Timeline"), choices=TIMELINE_CHOICES, default="")
    notes = TextAreaField(_l("Notes"), validators=[_fits("notes")])
    # Only on the capture form: "" lets the assignment rules decide.
    assigned_to_id = SelectField(_l("Assign to"), default="")

    def values(self) -> dict:
        """The lead fields as the service takes them."""
        return {name: getattr(self, name).data for name in NAMES}


class StatusForm(FlaskForm):
    status = SelectField(_l("New status"), choices=[])
    reason = TextAreaField(_l("Reason (required to disqualify)"), validators=[Length(max=2000)])


class AssignForm(FlaskForm):
    assigned_to_id = SelectField(_l("Assign to"), choices=[])
    note = StringField(_l("Note"), validators=[Length(max=200)])


class ConvertForm(FlaskForm):
    customer_choice = SelectField(
        _l("Customer"),
        choices=choices(
            (("match", _l("Link to the matching customer")), ("new", _l("Create a new customer")))
        ),
        default="match",
    )
    create_opportunity = BooleanField(_l("Also open an opportunity"), default=True)
    opportunity_name = StringField(_l("Opportunity name"), validators=[Length(max=200)])
    opportunity_amount = AmountField(_l("Amount"), validators=[Optional()], places=2)
    opportunity_expected_close_date = DateField(_l("Expected close"), validators=[Optional()])


class WebFormSubmission(FlaskForm):
    """The public form: no session, so no CSRF token (see the view)."""

    class Meta:
        csrf = False

    first_name = StringField(_l("First name"), validators=[DataRequired(), _fits("first_name")])
    last_name = StringField(_l("Last name"), validators=[DataRequired(), _fits("last_name")])
    email = EmailField(_l("Work email"), validators=[DataRequired(), _fits("email")])
    phone = StringField(_l("Phone"), validators=[Length(max=40)])
    company = StringField(_l("Company"), validators=[_fits("company")])
    title = StringField(_l("Job title"), validators=[_fits("title")])
    company_size = SelectField(_l("Company size"), choices=COMPANY_SIZE_CHOICES, default="")
    timeline = SelectField(_l("When do you plan to buy?"), choices=TIMELINE_CHOICES, default="")
    need = TextAreaField(_l("How can we help?"), validators=[_fits("need")])
    fax_number = StringField(_l("Leave this field empty"), validators=[Length(max=NAME_MAX)])


class LeadSettingsForm(FlaskForm):
    web_form_enabled = BooleanField(_l("Public web form is on"))
    web_form_thank_you = TextAreaField(
        _l("Thank-you message"), validators=[DataRequired(), Length(max=1000)]
    )
    auto_assign = BooleanField(_l("Assign new leads by the rules"))


class TeamForm(FlaskForm):
    name = StringField(_l("Team name"), validators=[DataRequired(), Length(max=100)])
    member_ids = SelectMultipleField(_l("Members"), coerce=int, choices=[])


class AssignmentRuleForm(FlaskForm):
    name = StringField(_l("Rule name"), validators=[DataRequired(), Length(max=100)])
    priority = IntegerField(_l("Priority (lower first)"), default=100)
    target = SelectField(_l("Route to"), choices=[])
    method = SelectField(
        _l("Within a team"),
        choices=choices(
            (m, {"round_robin": _l("Round robin"), "least_loaded": _l("Fewest open leads")}[m])
            for m in ASSIGNMENT_METHODS
        ),
    )
    sources = StringField(
        _l("Sources (comma separated; empty = any)"), validators=[Length(max=LIST_MAX)]
    )
    industries = StringField(_l("Industries"), validators=[Length(max=LIST_MAX)])
    countries = StringField(_l("Countries (2-letter codes)"), validators=[Length(max=LIST_MAX)])
    cities = StringField(_l("Cities"), validators=[Length(max=LIST_MAX)])
    required_skills = StringField(_l("Required skills"), validators=[Length(max=LIST_MAX)])
    max_open_leads = IntegerField(_l("Cap: open leads per person"), validators=[Optional()])
    is_active = BooleanField(_l("Active"), default=True)


class ScoringRuleForm(FlaskForm):
    factor = SelectField(
        _l("Factor"), choices=choices((f, SCORING_FACTOR[f]) for f in SCORING_FACTORS)
    )
    label = StringField(_l("Label"), validators=[DataRequired(), Length(max=100)])
    field = SelectField(
        _l("Field"), choices=choices((key, label) for key, (label, _kind) in FIELDS.items())
    )
    operator = SelectField(_l("Condition"), choices=choices(OPERATORS.items()))
    value = StringField(_l("Value(s)"), validators=[Length(max=500)])
    points = IntegerField(_l("Points"), default=10, validators=[NumberRange(min=-100, max=100)])
    is_active = BooleanField(_l("Active"), default=True)
