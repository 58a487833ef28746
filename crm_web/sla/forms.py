"""SLA forms: business hours and escalation rules, a policy, a holiday."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from crm_web import labels
from crm_web.limits import LIST_MAX, NAME_MAX
from crm_web.sla.business_hours import WEEKDAYS
from crm_web.sla.models import MAX_TARGET_MINUTES
from crm_web.tickets.models import PRIORITIES

HOURS_FIELDS = tuple(f"hours_{day.lower()}" for day in WEEKDAYS)


class SettingsForm(FlaskForm):
    timezone = StringField(_l("Time zone"), validators=[DataRequired(), Length(max=64)])
    hours_monday = StringField(_l("Monday"), validators=[Length(max=NAME_MAX)])
    hours_tuesday = StringField(_l("Tuesday"), validators=[Length(max=NAME_MAX)])
    hours_wednesday = StringField(_l("Wednesday"), validators=[Length(max=NAME_MAX)])
    hours_thursday = StringField(_l("Thursday"), validators=[Length(max=NAME_MAX)])
    hours_friday = StringField(_l("Friday"), validators=[Length(max=NAME_MAX)])
    hours_saturday = StringField(_l("Saturday"), validators=[Length(max=NAME_MAX)])
    hours_sunday = StringField(_l("Sunday"), validators=[Length(max=NAME_MAX)])
    warning_percents = StringField(
        _l("Warn the assignee at (percent of the target)"), validators=[Length(max=NAME_MAX)]
    )
    breach_raise_priority = BooleanField(_l("On a breach, raise the priority one step"))
    breach_reassign_to_id = SelectField(_l("On a breach, reassign to"), coerce=int, default=0)
    sms_numbers = TextAreaField(
        _l("On a breach, text these numbers (one per line)"), validators=[Length(max=LIST_MAX)]
    )

    def weekly_hours(self) -> list[str]:
        return [getattr(self, name).data or "" for name in HOURS_FIELDS]


class PolicyForm(FlaskForm):
    priority = SelectField(
        _l("Priority"),
        choices=[SelectChoice(p, labels.PRIORITY[p]) for p in reversed(PRIORITIES)],
    )
    customer_tag = StringField(_l("Only customers tagged"), validators=[Length(max=40)])
    first_response_minutes = IntegerField(
        _l("First response (minutes)"),
        validators=[DataRequired(), NumberRange(1, MAX_TARGET_MINUTES)],
    )
    resolution_minutes = IntegerField(
        _l("Resolution (minutes)"), validators=[DataRequired(), NumberRange(1, MAX_TARGET_MINUTES)]
    )
    business_hours = BooleanField(_l("Count business hours only"), default=True)


class HolidayForm(FlaskForm):
    day = DateField(_l("Day"), validators=[DataRequired()])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=100)])
