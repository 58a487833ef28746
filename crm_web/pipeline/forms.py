"""Forms of the pipeline pages: deals, moves, targets, quotes and sales settings."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from crm_web.limits import LIST_MAX, NAME_MAX, TEXT_MAX

QUOTE_BLANK_LINES = 3


class DealForm(FlaskForm):
    """A deal's terms (editing); OpportunityForm adds what is fixed at creation."""

    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    amount = StringField("Amount", validators=[DataRequired(), Length(max=NAME_MAX)])
    expected_close_date = DateField("Expected close date", validators=[DataRequired()])
    owner_id = SelectField("Owner", coerce=int)
    probability = StringField(
        "Probability % (empty: the stage's)", validators=[Length(max=NAME_MAX)]
    )
    source = StringField("Source", validators=[Length(max=50)])
    competitor = StringField("Competitor", validators=[Length(max=100)])
    next_step = TextAreaField("Next step", validators=[Length(max=LIST_MAX)])
    description = TextAreaField("Description", validators=[Length(max=TEXT_MAX)])


class OpportunityForm(DealForm):
    customer = StringField("Customer (code or id)", validators=[DataRequired(), Length(max=20)])
    stage_id = SelectField("Stage", coerce=int)


class MoveForm(FlaskForm):
    stage_id = SelectField("Stage", coerce=int)
    reason = TextAreaField("Reason (for won or lost)", validators=[Length(max=2000)])


class TargetRow(Form):
    month = HiddenField()
    amount = StringField("Target", validators=[Length(max=NAME_MAX)])


class TargetsForm(FlaskForm):
    months = FieldList(FormField(TargetRow))


class QuoteLine(Form):
    description = StringField("Product or service", validators=[Length(max=300)])
    quantity = StringField("Qty", validators=[Length(max=NAME_MAX)])
    unit_price = StringField("Unit price", validators=[Length(max=NAME_MAX)])
    discount_percent = StringField("Discount %", validators=[Length(max=NAME_MAX)])


class QuoteForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    valid_until = DateField("Valid until", validators=[Optional()])
    discount_percent = StringField(
        "Quote discount %", default="0", validators=[Length(max=NAME_MAX)]
    )
    tax_rate = StringField("Tax %", validators=[Length(max=NAME_MAX)])
    notes = TextAreaField("Notes", validators=[Length(max=TEXT_MAX)])
    items = FieldList(FormField(QuoteLine))


class ReviewForm(FlaskForm):
    note = TextAreaField("Note", validators=[Length(max=2000)])


class SettingsForm(FlaskForm):
    quote_approval_threshold = StringField(
        "Quotes above this total need a manager's approval", validators=[DataRequired()]
    )
    default_tax_rate = StringField(
        "Default tax %", validators=[DataRequired(), Length(max=NAME_MAX)]
    )
    quote_validity_days = StringField(
        _l("Quotes are valid for (days)"), validators=[DataRequired(), Length(max=NAME_MAX)]
    )
    quote_terms = TextAreaField(_l("Terms"), validators=[Length(max=TEXT_MAX)])


class StageForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=60)])
    probability = StringField("Probability %", validators=[DataRequired(), Length(max=NAME_MAX)])
    position = IntegerField("Position", validators=[Optional()])
