"""What segment rules can ask of a customer's survey responses (crm_web.segments.registry): the
latest NPS and its group, the latest open-text sentiment, the surveys answered. Each reads the
customer's completed responses through their index (organization, customer, completed_at)."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm_web import labels
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.segments.registry import SegmentField, register
from crm_web.surveys.models import Survey

GROUP = _l("Surveys")
NPS_GROUPS = {
    "promoter": _l("Promoter (9–10)"),
    "passive": _l("Passive (7–8)"),
    "detractor": _l("Detractor (0–6)"),
}


def _latest(column: str, present: str) -> str:
    """The customer's latest completed response's `column` among those where `present` holds."""
    return (
        f"(SELECT r.{column} FROM survey_responses r WHERE r.organization_id = c.organization_id "
        f"AND r.customer_id = c.id AND r.completed_at IS NOT NULL AND {present} "
        "ORDER BY r.completed_at DESC, r.id DESC LIMIT 1)"
    )


_LATEST_NPS = _latest("nps", "r.nps IS NOT NULL")


def _surveys() -> list[tuple[str, str]]:
    return [
        (str(survey_id), name)
        for survey_id, name in db.session.execute(
            select(Survey.id, Survey.name)
            .where(Survey.organization_id == current_organization_id(), Survey.status != "draft")
            .order_by(Survey.id.desc())
        )
    ]


for field in (
    SegmentField("latest_nps", _l("Latest NPS score"), GROUP, "number", _LATEST_NPS),
    SegmentField(
        "nps_group",
        _l("NPS group (latest score)"),
        GROUP,
        "choice",
        f"(CASE WHEN {_LATEST_NPS} >= 9 THEN 'promoter' WHEN {_LATEST_NPS} >= 7 THEN 'passive' "
        f"WHEN {_LATEST_NPS} >= 0 THEN 'detractor' END)",
        lambda: list(NPS_GROUPS.items()),
    ),
    SegmentField(
        "latest_sentiment",
        _l("Sentiment of the latest open answer"),
        GROUP,
        "choice",
        _latest("sentiment_label", "r.sentiment_label <> ''"),
        lambda: list(labels.SENTIMENT.items()),
    ),
    SegmentField(
        "answered_survey",
        _l("Surveys answered"),
        GROUP,
        "set",
        "ARRAY(SELECT r.survey_id FROM survey_responses r WHERE r.organization_id = "
        "c.organization_id AND r.customer_id = c.id AND r.completed_at IS NOT NULL)",
        _surveys,
        numeric_choice=True,
        nullable=False,
    ),
):
    register(field)
