"""Ticket forms: create and edit, reply, the public web form, CSAT and settings."""

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    IntegerField,
    MultipleFileField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from crm_web.limits import LIST_MAX, NAME_MAX
from crm_web.tickets.fields import BY_NAME
from crm_web.tickets.models import CATEGORIES, CHANNELS


def _choices(values: tuple[str, ...]) -> list[SelectChoice]:
    return [SelectChoice(value, value.replace("_", " ").capitalize()) for value in values]


def _select(name: str) -> SelectField:
    field = BY_NAME[name]
    return SelectField(
        field.label,
        choices=[SelectChoice(*choice) for choice in field.choices],
        default=field.default,
    )


def _fits(name: str) -> Length:
    """The detail's own length limit."""
    return Length(max=BY_NAME[name].max_length)


class TicketDetailsForm(FlaskForm):
    subject = StringField("Subject", validators=[DataRequired(), _fits("subject")])
    description = TextAreaField("Description", validators=[_fits("description")])
    category = _select("category")
    ticket_type = _select("ticket_type")
    priority = _select("priority")
    department = StringField("Team", validators=[_fits("department")])
    tags = StringField("Tags (comma separated)", validators=[Length(max=LIST_MAX)])


class TicketForm(TicketDetailsForm):
    customer_id = IntegerField("Customer id", validators=[Optional()])
    customer_email = EmailField(
        "…or customer email", validators=[Optional(), Email(), Length(max=254)]
    )
    channel = SelectField("Channel", choices=_choices(CHANNELS), default="phone")
    assignee_id = SelectField("Assignee", coerce=int, default=0)
    attachments = MultipleFileField("Attachments")


class MessageForm(FlaskForm):
    kind = RadioField(
        "Type",
        choices=[SelectChoice("reply", "Reply to customer"), SelectChoice("note", "Internal note")],
        default="reply",
    )
    body = TextAreaField("Message", validators=[DataRequired(), Length(max=50_000)])
    attachments = MultipleFileField("Attachments")


class PublicTicketForm(FlaskForm):
    """The public form: no session, so no CSRF token (see the view)."""

    class Meta:
        csrf = False

    name = StringField("Your name", validators=[DataRequired(), Length(max=100)])
    email = EmailField("Your email", validators=[DataRequired(), Email(), Length(max=254)])
    category = SelectField("Topic", choices=_choices(CATEGORIES), default="general")
    subject = StringField("Subject", validators=[DataRequired(), _fits("subject")])
    description = TextAreaField(
        "How can we help?", validators=[DataRequired(), _fits("description")]
    )
    attachments = MultipleFileField("Attachments (optional)")
    # A field people never see: bots fill it in.
    website = StringField("Leave this empty", validators=[Length(max=NAME_MAX)])


class CsatForm(FlaskForm):
    rating = RadioField(
        "How satisfied are you with our support?",
        choices=[
            SelectChoice(str(n), label)
            for n, label in ((5, "5 · Great"), (4, "4"), (3, "3"), (2, "2"), (1, "1 · Poor"))
        ],
        validators=[DataRequired()],
    )
    comment = TextAreaField("Anything to add?", validators=[Length(max=2000)])


class SettingsForm(FlaskForm):
    agent_ticket_cap = IntegerField(
        "Most active tickets routing gives one agent",
        validators=[DataRequired(), NumberRange(min=1, max=1000)],
    )
