"""Surveys the distribution tests send: launched, with a customer's completed response written
the way a finished respondent leaves it."""

import re

from crm_web.campaigns import content
from crm_web.extensions import db
from crm_web.surveys import links, seeding, services
from crm_web.surveys.models import SurveyInvitation

LINK = re.compile(re.escape(links.INVITATION_PATH) + r"([A-Za-z0-9_-]+)")


def launched_nps(name: str = "NPS", **settings):
    """A launched one-page NPS survey."""
    survey = services.create_survey({"name": name, **settings}, seeding.nps_document())
    return services.launch(survey.id)


def invitation_in(text: str) -> SurveyInvitation:
    """The invitation the personal link in `text` names (its signature checked)."""
    match = LINK.search(text)
    assert match, text
    token = content.verify("survey_invitation", match.group(1))
    assert token is not None
    return db.session.get(SurveyInvitation, token.recipient_id)


def links_in(text: str) -> list[str]:
    return LINK.findall(text)
