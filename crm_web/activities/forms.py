"""Forms for activities: create and edit, and complete with an optional follow-up."""

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

from crm_web.activities.models import PRIORITIES, TYPE_LABELS
from crm_web.activities.services import MAX_DURATION_MINUTES
from crm_web.limits import LIST_MAX

TYPE_CHOICES = [SelectChoice(value, label) for value, label in TYPE_LABELS.items()]
PRIORITY_CHOICES = [SelectChoice(value, value.capitalize()) for value in PRIORITIES]
STATUS_CHOICES = [SelectChoice("planned", "Planned"), SelectChoice("in_progress", "In progress")]
REMINDER_CHOICES = [
    SelectChoice(value, label)
    for value, label in (
        ("", "No reminder"),
        ("0", "At the due time"),
        ("15", "15 minutes before"),
        ("30", "30 minutes before"),
        ("60", "1 hour before"),
        ("120", "2 hours before"),
        ("1440", "1 day before"),
    )
]
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


class ActivityForm(FlaskForm):
    activity_type = SelectField("Type", choices=TYPE_CHOICES, default="call")
    subject = StringField("Subject", validators=[DataRequired(), Length(max=200)])
    customer_code = StringField("Customer number", validators=[Length(max=20)])
    lead_number = StringField("Lead number", validators=[Length(max=20)])
    opportunity_number = StringField("Opportunity number", validators=[Length(max=20)])
    due_at = DateTimeLocalField("Due", format=LOCAL_FORMAT, validators=[DataRequired()])
    duration_minutes = IntegerField(
        "Duration (minutes)", validators=[Optional(), NumberRange(0, MAX_DURATION_MINUTES)]
    )
    priority = SelectField("Priority", choices=PRIORITY_CHOICES, default="normal")
    status = SelectField("Status", choices=STATUS_CHOICES, default="planned")
    assigned_to_id = SelectField("Assigned to", coerce=int)
    location = StringField("Location", validators=[Length(max=200)])
    attendee_user_ids = SelectMultipleField("Attendees from the team", coerce=int)
    attendee_customer_codes = StringField(
        "Contacts attending (customer numbers, comma separated)",
        validators=[Length(max=LIST_MAX)],
    )
    reminder_minutes_before = SelectField("Reminder", choices=REMINDER_CHOICES, default="")
    description = TextAreaField("Description", validators=[Length(max=10_000)])
    next_action = StringField("Next action", validators=[Length(max=2_000)])

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
    outcome = TextAreaField("Outcome", validators=[DataRequired(), Length(max=10_000)])
    next_action = StringField("Next action", validators=[Length(max=2_000)])
    follow_up = BooleanField("Plan a follow-up")
    follow_up_activity_type = SelectField(
        "Follow-up type", choices=TYPE_CHOICES, default="follow_up"
    )
    follow_up_subject = StringField("Follow-up subject", validators=[Length(max=200)])
    follow_up_due_at = DateTimeLocalField(
        "Follow-up due", format=LOCAL_FORMAT, validators=[Optional()]
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
