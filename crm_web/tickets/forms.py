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

from crm_web.limits import LIST_MAX, NAME_MAX, TEXT_MAX
from crm_web.tickets.models import CATEGORIES, CHANNELS, PRIORITIES, TICKET_TYPES


def _choices(values: tuple[str, ...]) -> list[SelectChoice]:
    return [SelectChoice(value, value.replace("_", " ").capitalize()) for value in values]


class TicketDetailsForm(FlaskForm):
    subject = StringField("Subject", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[Length(max=TEXT_MAX)])
    category = SelectField("Category", choices=_choices(CATEGORIES), default="general")
    ticket_type = SelectField("Type", choices=_choices(TICKET_TYPES), default="question")
    priority = SelectField("Priority", choices=_choices(PRIORITIES), default="normal")
    department = StringField("Team", validators=[Length(max=100)])
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
    name = StringField("Your name", validators=[DataRequired(), Length(max=100)])
    email = EmailField("Your email", validators=[DataRequired(), Email(), Length(max=254)])
    category = SelectField("Topic", choices=_choices(CATEGORIES), default="general")
    subject = StringField("Subject", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(
        "How can we help?", validators=[DataRequired(), Length(max=TEXT_MAX)]
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
