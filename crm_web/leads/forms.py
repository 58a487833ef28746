"""Lead forms: capture and edit, status moves, reassignment, conversion, and the settings pages."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    EmailField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from crm_web.customers.models import COMPANY_SIZES
from crm_web.leads.models import (
    ASSIGNMENT_METHODS,
    AUTHORITIES,
    LEAD_SOURCES,
    SCORING_FACTORS,
    TIMELINES,
)
from crm_web.leads.scoring import FIELDS, OPERATORS
from crm_web.limits import LIST_MAX, NAME_MAX


def _label(value: str) -> str:
    return value.replace("_", " ").capitalize() if value else "—"


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as select options."""
    return [SelectChoice(value, label) for value, label in pairs]


SOURCE_CHOICES = choices((s, _label(s)) for s in LEAD_SOURCES)
AUTHORITY_CHOICES = choices((a, _label(a)) for a in AUTHORITIES)
TIMELINE_CHOICES = choices((t, t.capitalize() if t else "—") for t in TIMELINES)
COMPANY_SIZE_CHOICES = choices((c, c or "—") for c in COMPANY_SIZES)


class LeadForm(FlaskForm):
    first_name = StringField("First name", validators=[DataRequired(), Length(max=50)])
    last_name = StringField("Last name", validators=[DataRequired(), Length(max=50)])
    company = StringField("Company", validators=[Length(max=100)])
    title = StringField("Job title", validators=[Length(max=100)])
    email = EmailField("Email", validators=[Length(max=254)])
    phone = StringField("Phone", validators=[Length(max=40)])
    website = StringField("Website", validators=[Length(max=200)])
    industry = StringField("Industry", validators=[Length(max=50)])
    company_size = SelectField("Company size", choices=COMPANY_SIZE_CHOICES, default="")
    country = StringField("Country (2 letters)", validators=[Length(max=2)])
    city = StringField("City", validators=[Length(max=100)])
    source = SelectField("Source", choices=SOURCE_CHOICES, default="other")
    budget = DecimalField("Budget", places=2, validators=[Optional(), NumberRange(min=0)])
    authority = SelectField("Authority", choices=AUTHORITY_CHOICES, default="unknown")
    need = TextAreaField("Need", validators=[Length(max=10_000)])
    timeline = SelectField("Timeline", choices=TIMELINE_CHOICES, default="")
    notes = TextAreaField("Notes", validators=[Length(max=10_000)])
    # Only on the capture form: "" lets the assignment rules decide.
    assigned_to_id = SelectField("Assign to", default="")

    def values(self) -> dict:
        """The lead fields as the service takes them."""
        from crm_web.leads.services import LEAD_FIELDS

        return {name: getattr(self, name).data for name in LEAD_FIELDS}


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
    opportunity_amount = DecimalField("Amount", places=2, validators=[Optional()])
    opportunity_expected_close_date = DateField("Expected close", validators=[Optional()])


class WebFormSubmission(FlaskForm):
    """The public form: no session, so no CSRF token (see the view)."""

    class Meta:
        csrf = False

    first_name = StringField("First name", validators=[DataRequired(), Length(max=50)])
    last_name = StringField("Last name", validators=[DataRequired(), Length(max=50)])
    email = EmailField("Work email", validators=[DataRequired(), Length(max=254)])
    phone = StringField("Phone", validators=[Length(max=40)])
    company = StringField("Company", validators=[Length(max=100)])
    title = StringField("Job title", validators=[Length(max=100)])
    company_size = SelectField("Company size", choices=COMPANY_SIZE_CHOICES, default="")
    timeline = SelectField("When do you plan to buy?", choices=TIMELINE_CHOICES, default="")
    need = TextAreaField("How can we help?", validators=[Length(max=10_000)])
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
