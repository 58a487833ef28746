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
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from crm_web.forms import AmountField
from crm_web.limits import LIST_MAX, TEXT_MAX

QUOTE_BLANK_LINES = 3


class DealForm(FlaskForm):
    """A deal's terms (editing); OpportunityForm adds what is fixed at creation."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    amount = AmountField(_l("Amount"), validators=[InputRequired()], places=2)
    expected_close_date = DateField(_l("Expected close date"), validators=[DataRequired()])
    owner_id = SelectField(_l("Owner"), coerce=int)
    probability = AmountField(_l("Probability % (empty: the stage's)"))
    source = StringField(_l("Source"), validators=[Length(max=50)])
    competitor = StringField(_l("Competitor"), validators=[Length(max=100)])
    next_step = TextAreaField(_l("Next step"), validators=[Length(max=LIST_MAX)])
    description = TextAreaField(_l("Description"), validators=[Length(max=TEXT_MAX)])


class OpportunityForm(DealForm):
    customer = StringField(_l("Customer (code or id)"), validators=[DataRequired(), Length(max=20)])
    stage_id = SelectField(_l("Stage"), coerce=int)


class MoveForm(FlaskForm):
    stage_id = SelectField(_l("Stage"), coerce=int)
    reason = TextAreaField(_l("Reason (for won or lost)"), validators=[Length(max=2000)])


class TargetRow(Form):
    month = HiddenField()
    amount = AmountField(_l("Target"), places=2)


class TargetsForm(FlaskForm):
    months = FieldList(FormField(TargetRow))


class QuoteLine(Form):
    description = StringField(_l("Product or service"), validators=[Length(max=300)])
    quantity = AmountField(_l("Qty"))
    unit_price = AmountField(_l("Unit price"), places=2)
    discount_percent = AmountField(_l("Discount %"))


class QuoteForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    valid_until = DateField(_l("Valid until"), validators=[Optional()])
    discount_percent = AmountField(_l("Quote discount %"), default="0")
    tax_rate = AmountField(_l("Tax %"))
    notes = TextAreaField(_l("Notes"), validators=[Length(max=TEXT_MAX)])
    items = FieldList(FormField(QuoteLine))


class ReviewForm(FlaskForm):
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)])


class SettingsForm(FlaskForm):
    quote_approval_threshold = AmountField(
        _l("Quotes above this total need a manager's approval"),
        validators=[InputRequired()],
        places=2,
    )
    default_tax_rate = AmountField(_l("Default tax %"), validators=[InputRequired()])
    quote_validity_days = StringField(
        _l("Quotes are valid for (days)"), validators=[DataRequired(), Length(max=20)]
    )
    quote_terms = TextAreaField(_l("Terms"), validators=[Length(max=TEXT_MAX)])


class StageForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=60)])
    probability = AmountField(_l("Probability %"), validators=[InputRequired()])
    position = IntegerField(_l("Position"), validators=[Optional()])
