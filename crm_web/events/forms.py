"""Event forms."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from crm_web.limits import TEXT_MAX


class EventForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    starts_at = DateTimeLocalField(
        _l("Starts"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )
    ends_at = DateTimeLocalField(_l("Ends"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    location = StringField(_l("Location"), validators=[Length(max=200)])
    capacity = IntegerField(_l("Capacity"), validators=[Optional(), NumberRange(min=1)])
    notes = TextAreaField(_l("Notes"), validators=[Length(max=TEXT_MAX)])


class RegisterForm(FlaskForm):
    reference = StringField(
        _l("Customer code or email"), validators=[DataRequired(), Length(max=254)]
    )
