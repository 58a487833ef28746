"""Logging a call, meeting, email or SMS by hand."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Length, NumberRange, Optional

from crm_web.limits import TEXT_MAX

TYPE_CHOICES = [
    SelectChoice("call", _l("Call")),
    SelectChoice("meeting", _l("Meeting")),
    SelectChoice("email", _l("Email")),
    SelectChoice("sms", _l("SMS")),
]
DIRECTION_CHOICES = [
    SelectChoice("outbound", _l("Outbound (we contacted them)")),
    SelectChoice("inbound", _l("Inbound (they contacted us)")),
]


class CommunicationForm(FlaskForm):
    communication_type = SelectField(_l("Type"), choices=TYPE_CHOICES, default="call")
    direction = SelectField(_l("Direction"), choices=DIRECTION_CHOICES, default="outbound")
    subject = StringField(_l("Subject"), validators=[Length(max=200)])
    content = TextAreaField(_l("What was said"), validators=[Length(max=TEXT_MAX)])
    outcome = StringField(_l("Outcome"), validators=[Length(max=200)])
    duration_minutes = IntegerField(
        _l("Duration (minutes)"), validators=[Optional(), NumberRange(min=0, max=24 * 60)]
    )
