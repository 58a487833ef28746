"""Completed survey responses on the customer's timeline: the survey, the NPS given, the
sentiment of the open answers and the time taken."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Text, cast, func, literal, select

from crm_web.customer360.timeline import Kind, TimelineSource, details_object, register_source
from crm_web.surveys.models import Survey, SurveyResponse


def _select():
    return (
        select(
            cast(Survey.name, Text).label("title"),
            literal("", Text).label("body"),
            details_object(
                survey_id=Survey.id,
                nps=SurveyResponse.nps,
                sentiment=func.nullif(SurveyResponse.sentiment_label, ""),
                duration_seconds=SurveyResponse.duration_seconds,
            ).label("details"),
        )
        .select_from(SurveyResponse)
        .join(
            Survey,
            (Survey.organization_id == SurveyResponse.organization_id)
            & (Survey.id == SurveyResponse.survey_id),
        )
    )


register_source(
    TimelineSource(
        name="surveys",
        kinds=(Kind("survey", _l("Survey response"), "survey", _l("Surveys")),),
        select=_select,
        title=lambda entry: _("Answered the survey “%(name)s”", name=entry.data),
        organization_id=SurveyResponse.organization_id,
        customer_id=SurveyResponse.customer_id,
        occurred_at=SurveyResponse.completed_at,
        row_id=SurveyResponse.id,
        where=(SurveyResponse.completed_at.isnot(None),),
    )
)
