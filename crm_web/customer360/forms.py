"""Forms of the customer 360 page."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectChoice, SelectField, SelectMultipleField, TextAreaField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from crm_web.customer360.models import CAMPAIGN_TYPES, DOCUMENT_CATEGORIES
from crm_web.customer360.services import MAX_NOTE_LENGTH


class NoteForm(FlaskForm):
    body = TextAreaField(_l("Note"), validators=[DataRequired(), Length(max=MAX_NOTE_LENGTH)])


class PreferencesForm(FlaskForm):
    campaign_types = SelectMultipleField(
        _l("Campaigns the customer wants"),
        choices=[SelectChoice(key, label) for key, label in CAMPAIGN_TYPES.items()],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )


class DocumentForm(FlaskForm):
    category = SelectField(
        _l("Kind"),
        choices=[SelectChoice(key, label) for key, label in DOCUMENT_CATEGORIES.items()],
        default="contract",
    )
    file = FileField(_l("File"), validators=[FileRequired(_l("Choose a file to upload."))])


class EventRegistrationForm(FlaskForm):
    event_id = SelectField(
        _l("Event"), coerce=int, validators=[DataRequired(_l("Choose an event."))]
    )
