"""Event forms."""

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from crm_web.limits import TEXT_MAX


class EventForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    starts_at = DateTimeLocalField("Starts", format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    ends_at = DateTimeLocalField("Ends", format="%Y-%m-%dT%H:%M", validators=[Optional()])
    location = StringField("Location", validators=[Length(max=200)])
    capacity = IntegerField("Capacity", validators=[Optional(), NumberRange(min=1)])
    notes = TextAreaField("Notes", validators=[Length(max=TEXT_MAX)])


class RegisterForm(FlaskForm):
    reference = StringField("Customer code or email", validators=[DataRequired(), Length(max=254)])
