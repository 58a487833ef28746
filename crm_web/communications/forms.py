"""Logging a call, meeting, email or SMS by hand."""

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Length, NumberRange, Optional

from crm_web.limits import TEXT_MAX

TYPE_CHOICES = [
    SelectChoice("call", "Call"),
    SelectChoice("meeting", "Meeting"),
    SelectChoice("email", "Email"),
    SelectChoice("sms", "SMS"),
]
DIRECTION_CHOICES = [
    SelectChoice("outbound", "Outbound (we contacted them)"),
    SelectChoice("inbound", "Inbound (they contacted us)"),
]


class CommunicationForm(FlaskForm):
    communication_type = SelectField("Type", choices=TYPE_CHOICES, default="call")
    direction = SelectField("Direction", choices=DIRECTION_CHOICES, default="outbound")
    subject = StringField("Subject", validators=[Length(max=200)])
    content = TextAreaField("What was said", validators=[Length(max=TEXT_MAX)])
    outcome = StringField("Outcome", validators=[Length(max=200)])
    duration_minutes = IntegerField(
        "Duration (minutes)", validators=[Optional(), NumberRange(min=0, max=24 * 60)]
    )
