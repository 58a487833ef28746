"""Ticket forms: create and edit, reply, the public web form, CSAT and settings."""

from flask_babel import lazy_gettext as _l
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

from crm_web import labels
from crm_web.limits import LIST_MAX, NAME_MAX
from crm_web.tickets.fields import BY_NAME


def _choices(vocabulary) -> list[SelectChoice]:
    return [SelectChoice(*choice) for choice in labels.choices(vocabulary)]


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
    subject = StringField(_l("Subject"), validators=[DataRequired(), _fits("subject")])
    description = TextAreaField(_l("Description"), validators=[_fits("description")])
    category = _select("category")
    ticket_type = _select("ticket_type")
    priority = _select("priority")
    department = StringField(_l("Team"), validators=[_fits("department")])
    tags = StringField(_l("Tags (comma separated)"), validators=[Length(max=LIST_MAX)])


class TicketForm(TicketDetailsForm):
    customer_id = IntegerField(_l("Customer id"), validators=[Optional()])
    customer_email = EmailField(
        _l("…or customer email"), validators=[Optional(), Email(), Length(max=254)]
    )
    channel = SelectField(_l("Channel"), choices=_choices(labels.TICKET_CHANNEL), default="phone")
    assignee_id = SelectField(_l("Assignee"), coerce=int, default=0)
    attachments = MultipleFileField(_l("Attachments"))


class MessageForm(FlaskForm):
    kind = RadioField(
        _l("Type"),
        choices=[
            SelectChoice("reply", _l("Reply to customer")),
            SelectChoice("note", _l("Internal note")),
        ],
        default="reply",
    )
    body = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=50_000)])
    attachments = MultipleFileField(_l("Attachments"))


class PublicTicketForm(FlaskForm):
    """The public form: no session, so no CSRF token (see the view)."""

    class Meta:
        csrf = False

    name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=100)])
    email = EmailField(_l("Your email"), validators=[DataRequired(), Email(), Length(max=254)])
    category = SelectField(_l("Topic"), choices=_choices(labels.TICKET_CATEGORY), default="general")
    subject = StringField(_l("Subject"), validators=[DataRequired(), _fits("subject")])
    description = TextAreaField(
        _l("How can we help?"), validators=[DataRequired(), _fits("description")]
    )
    attachments = MultipleFileField(_l("Attachments (optional)"))
    # A field people never see: bots fill it in.
    website = StringField(_l("Leave this empty"), validators=[Length(max=NAME_MAX)])


class CsatForm(FlaskForm):
    rating = RadioField(
        _l("How satisfied are you with our support?"),
        choices=[
            SelectChoice(str(n), label)
            for n, label in (
                (5, _l("5 · Great")),
                (4, "4"),
                (3, "3"),
                (2, "2"),
                (1, _l("1 · Poor")),
            )
        ],
        validators=[DataRequired()],
    )
    comment = TextAreaField(_l("Anything to add?"), validators=[Length(max=2000)])


class SettingsForm(FlaskForm):
    agent_ticket_cap = IntegerField(
        _l("Most active tickets routing gives one agent"),
        validators=[DataRequired(), NumberRange(min=1, max=1000)],
    )
    # Its choices are the surveys taking responses now (the view fills them in).
    resolution_survey_id = SelectField(
        _l("Survey sent when a ticket is resolved"), choices=[], validate_choice=False
    )
