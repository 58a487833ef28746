"""The segment form: name, code, type and refresh; the criteria come from the rule builder's
own fields (crm_web.segments.builder)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from crm_web.segments.models import REFRESH_MINUTES, SEGMENT_TYPES

TYPE_LABELS = {
    "demographic": _l("Demographic"),
    "geographic": _l("Geographic"),
    "behavioral": _l("Behavioural"),
    "value": _l("Value"),
    "custom": _l("Custom"),
}
REFRESH_LABELS = {
    15: _l("Every 15 minutes"),
    60: _l("Every hour"),
    360: _l("Every 6 hours"),
    1440: _l("Every day"),
}


class SegmentForm(FlaskForm):
    segment_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    segment_code = StringField(_l("Code (empty: numbered)"), validators=[Length(max=20)])
    description = TextAreaField(_l("Description"), validators=[Length(max=2000)])
    segment_type = SelectField(
        _l("Type"),
        choices=[SelectChoice(t, TYPE_LABELS[t]) for t in SEGMENT_TYPES],
        default="custom",
    )
    is_dynamic = BooleanField(_l("Dynamic: follows its conditions on every refresh"), default=True)
    refresh_minutes = SelectField(
        _l("Refresh"),
        choices=[SelectChoice(str(m), REFRESH_LABELS[m]) for m in REFRESH_MINUTES],
        default="60",
    )

    def values(self) -> dict:
        """What the service takes from the form's own fields."""
        return {
            "segment_name": self.segment_name.data or "",
            "segment_code": self.segment_code.data or "",
            "description": self.description.data or "",
            "segment_type": self.segment_type.data,
            "is_dynamic": bool(self.is_dynamic.data),
            "refresh_minutes": int(self.refresh_minutes.data),
        }
