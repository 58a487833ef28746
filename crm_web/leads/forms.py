"""Lead forms: capture and edit, status moves, reassignment, conversion, and the settings pages."""

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
from crm_web.leads.fields import BY_NAME, NAMES
from crm_web.leads.models import ASSIGNMENT_METHODS, SCORING_FACTORS
from crm_web.leads.scoring import FIELDS, OPERATORS
from crm_web.limits import LIST_MAX, NAME_MAX


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as select options."""
    return [SelectChoice(value, label) for value, label in pairs]


SOURCE_CHOICES = choices(BY_NAME["source"].choices)
AUTHORITY_CHOICES = choices(BY_NAME["authority"].choices)
TIMELINE_CHOICES = choices(BY_NAME["timeline"].choices)
COMPANY_SIZE_CHOICES = choices(BY_NAME["company_size"].choices)


def _fits(name: str) -> Length:
    """The lead field's own length limit."""
    return Length(max=BY_NAME[name].max_length)


class LeadForm(FlaskForm):
    first_name = StringField("First name", validators=[DataRequired(), _fits("first_name")])
    last_name = StringField("Last name", validators=[DataRequired(), _fits("last_name")])
    company = StringField("Company", validators=[_fits("company")])
    title = StringField("Job title", validators=[_fits("title")])
    email = EmailField("Email", validators=[_fits("email")])
    phone = StringField("Phone", validators=[Length(max=40)])
    website = StringField("Website", validators=[_fits("website")])
    industry = StringField("Industry", validators=[_fits("industry")])
    company_size = SelectField("Company size", choices=COMPANY_SIZE_CHOICES, default="")
    country = StringField("Country (2 letters)", validators=[_fits("country")])
    city = StringField("City", validators=[_fits("city")])
    source = SelectField("Source", choices=SOURCE_CHOICES, default="other")
    budget = AmountField("Budget", validators=[Optional(), NumberRange(min=0)], places=2)
    authority = SelectField("Authority", choices=AUTHORITY_CHOICES, default="unknown")
    need = TextAreaField("Need", validators=[_fits("need")])
    timeline = SelectField("Timeline", choices=TIMELINE_CHOICES, default="")
    notes = TextAreaField("Notes", validators=[_fits("notes")])
    # Only on the capture form: "" lets the assignment rules decide.
    assigned_to_id = SelectField("Assign to", default="")

    def values(self) -> dict:
        """The lead fields as the service takes them."""
        return {name: getattr(self, name).data for name in NAMES}


class StatusForm(FlaskForm):
    status = SelectField("New status", choices=[])
    reason = TextAreaField("Reason (required to disqualify)", validators=[Length(max=2000)])


class AssignForm(FlaskForm):
    assigned_to_id = SelectField("Assign to", choices=[])
    note = StringField("Note", validators=[Length(max=200)])


class ConvertForm(FlaskForm):
    customer_choice = SelectField(
        "Customer",
        choices=choices(
            (("match", "Link to the matching customer"), ("new", "Create a new customer"))
        ),
        default="match",
    )
    create_opportunity = BooleanField("Also open an opportunity", default=True)
    opportunity_name = StringField("Opportunity name", validators=[Length(max=200)])
    opportunity_amount = AmountField("Amount", validators=[Optional()], places=2)
    opportunity_expected_close_date = DateField("Expected close", validators=[Optional()])


class WebFormSubmission(FlaskForm):
    """The public form: no session, so no CSRF token (see the view)."""

    class Meta:
        csrf = False

    first_name = StringField("First name", validators=[DataRequired(), _fits("first_name")])
    last_name = StringField("Last name", validators=[DataRequired(), _fits("last_name")])
    email = EmailField("Work email", validators=[DataRequired(), _fits("email")])
    phone = StringField("Phone", validators=[Length(max=40)])
    company = StringField("Company", validators=[_fits("company")])
    title = StringField("Job title", validators=[_fits("title")])
    company_size = SelectField("Company size", choices=COMPANY_SIZE_CHOICES, default="")
    timeline = SelectField("When do you plan to buy?", choices=TIMELINE_CHOICES, default="")
    need = TextAreaField("How can we help?", validators=[_fits("need")])
    fax_number = StringField("Leave this field empty", validators=[Length(max=NAME_MAX)])


class LeadSettingsForm(FlaskForm):
    web_form_enabled = BooleanField("Public web form is on")
    web_form_thank_you = TextAreaField(
        "Thank-you message", validators=[DataRequired(), Length(max=1000)]
    )
    auto_assign = BooleanField("Assign new leads by the rules")


class TeamForm(FlaskForm):
    name = StringField("Team name", validators=[DataRequired(), Length(max=100)])
    member_ids = SelectMultipleField("Members", coerce=int, choices=[])


class AssignmentRuleForm(FlaskForm):
    name = StringField("Rule name", validators=[DataRequired(), Length(max=100)])
    priority = IntegerField("Priority (lower first)", default=100)
    target = SelectField("Route to", choices=[])
    method = SelectField(
        "Within a team",
        choices=choices(
            (m, {"round_robin": "Round robin", "least_loaded": "Fewest open leads"}[m])
            for m in ASSIGNMENT_METHODS
        ),
    )
    sources = StringField(
        "Sources (comma separated; empty = any)", validators=[Length(max=LIST_MAX)]
    )
    industries = StringField("Industries", validators=[Length(max=LIST_MAX)])
    countries = StringField("Countries (2-letter codes)", validators=[Length(max=LIST_MAX)])
    cities = StringField("Cities", validators=[Length(max=LIST_MAX)])
    required_skills = StringField("Required skills", validators=[Length(max=LIST_MAX)])
    max_open_leads = IntegerField("Cap: open leads per person", validators=[Optional()])
    is_active = BooleanField("Active", default=True)


class ScoringRuleForm(FlaskForm):
    factor = SelectField("Factor", choices=choices((f, f.capitalize()) for f in SCORING_FACTORS))
    label = StringField("Label", validators=[DataRequired(), Length(max=100)])
    field = SelectField(
        "Field", choices=choices((key, label) for key, (label, _kind) in FIELDS.items())
    )
    operator = SelectField("Condition", choices=choices(OPERATORS.items()))
    value = StringField("Value(s)", validators=[Length(max=500)])
    points = IntegerField("Points", default=10, validators=[NumberRange(min=-100, max=100)])
    is_active = BooleanField("Active", default=True)
