"""Forms for activities: create and edit, and complete with an optional follow-up."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from crm_web import labels
from crm_web.activities.services import MAX_DURATION_MINUTES
from crm_web.limits import LIST_MAX

TYPE_CHOICES = [SelectChoice(*choice) for choice in labels.choices(labels.ACTIVITY_TYPE)]
PRIORITY_CHOICES = [SelectChoice(*choice) for choice in labels.choices(labels.PRIORITY)]
STATUS_CHOICES = [
    SelectChoice(status, labels.ACTIVITY_STATUS[status]) for status in ("planned", "in_progress")
]
REMINDER_CHOICES = [
    SelectChoice(value, label)
    for value, label in (
        ("", _l("No reminder")),
        ("0", _l("At the due time")),
        ("15", _l("15 minutes before")),
        ("30", _l("30 minutes before")),
        ("60", _l("1 hour before")),
        ("120", _l("2 hours before")),
        ("1440", _l("1 day before")),
    )
]
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


class ActivityForm(FlaskForm):
    activity_type = SelectField(_l("Type"), choices=TYPE_CHOICES, default="call")
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=200)])
    customer_code = StringField(_l("Customer number"), validators=[Length(max=20)])
    lead_number = StringField(_l("Lead number"), validators=[Length(max=20)])
    opportunity_number = StringField(_l("Opportunity number"), validators=[Length(max=20)])
    due_at = DateTimeLocalField(_l("Due"), format=LOCAL_FORMAT, validators=[DataRequired()])
    duration_minutes = IntegerField(
        _l("Duration (minutes)"), validators=[Optional(), NumberRange(0, MAX_DURATION_MINUTES)]
    )
    priority = SelectField(_l("Priority"), choices=PRIORITY_CHOICES, default="normal")
    status = SelectField(_l("Status"), choices=STATUS_CHOICES, default="planned")
    assigned_to_id = SelectField(_l("Assigned to"), coerce=int)
    location = StringField(_l("Location"), validators=[Length(max=200)])
    attendee_user_ids = SelectMultipleField(_l("Attendees from the team"), coerce=int)
    attendee_customer_codes = StringField(
        _l("Contacts attending (customer numbers, comma separated)"),
        validators=[Length(max=LIST_MAX)],
    )
    reminder_minutes_before = SelectField(_l("Reminder"), choices=REMINDER_CHOICES, default="")
    description = TextAreaField(_l("Description"), validators=[Length(max=10_000)])
    next_action = StringField(_l("Next action"), validators=[Length(max=2_000)])

    def __init__(self, *args, users=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [SelectChoice(user.id, user.name) for user in users]
        self.assigned_to_id.choices = choices
        self.attendee_user_ids.choices = choices

    def values(self) -> dict:
        """The fields as the activities service takes them."""
        return {
            name: getattr(self, name).data
            for name in (
                "activity_type",
                "subject",
                "customer_code",
                "lead_number",
                "opportunity_number",
                "due_at",
                "duration_minutes",
                "priority",
                "status",
                "assigned_to_id",
                "location",
                "attendee_user_ids",
                "attendee_customer_codes",
                "reminder_minutes_before",
                "description",
                "next_action",
            )
        }


class CompleteForm(FlaskForm):
    outcome = TextAreaField(_l("Outcome"), validators=[DataRequired(), Length(max=10_000)])
    next_action = StringField(_l("Next action"), validators=[Length(max=2_000)])
    follow_up = BooleanField(_l("Plan a follow-up"))
    follow_up_activity_type = SelectField(
        _l("Follow-up type"), choices=TYPE_CHOICES, default="follow_up"
    )
    follow_up_subject = StringField(_l("Follow-up subject"), validators=[Length(max=200)])
    follow_up_due_at = DateTimeLocalField(
        _l("Follow-up due"), format=LOCAL_FORMAT, validators=[Optional()]
    )

    def follow_up_values(self) -> dict | None:
        """The follow-up's fields for complete_activity, or None when none is wanted."""
        if not self.follow_up.data:
            return None
        return {
            "activity_type": self.follow_up_activity_type.data,
            "subject": self.follow_up_subject.data,
            # Left empty it stays empty, so the service says it is needed.
            "due_at": self.follow_up_due_at.data or "",
        }


def form_data(activity, zone) -> dict:
    """An existing activity's values for ActivityForm (links by their numbers, time in `zone`)."""
    return {
        "activity_type": activity.activity_type,
        "subject": activity.subject,
        "customer_code": activity.customer.customer_code if activity.customer else "",
        "lead_number": activity.lead.lead_number if activity.lead else "",
        "opportunity_number": (
            activity.opportunity.opportunity_number if activity.opportunity else ""
        ),
        "due_at": activity.due_at.astimezone(zone).replace(tzinfo=None),
        "duration_minutes": activity.duration_minutes,
        "priority": activity.priority,
        "status": activity.status,
        "assigned_to_id": activity.assigned_to_id,
        "location": activity.location,
        "attendee_user_ids": [a.user_id for a in activity.attendees if a.user_id],
        "attendee_customer_codes": ", ".join(
            a.customer.customer_code for a in activity.attendees if a.customer_id
        ),
        "reminder_minutes_before": (
            ""
            if activity.reminder_minutes_before is None
            else str(activity.reminder_minutes_before)
        ),
        "description": activity.description,
        "next_action": activity.next_action,
    }
