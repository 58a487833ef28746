"""The links we hand out to respondents: the public link (names the survey) and a personal link
(names one invitation, answered once). Each is a signed token (crm_web/campaigns/content.py); a
tampered one names nothing. The resume link is made where a response is saved
(`responses.resume_token`)."""

from flask import current_app, url_for

from crm_web.campaigns import content

INVITATION_PATH = "/s/i/"


def public_url(organization_id: int, survey_id: int) -> str:
    token = content.sign("survey", organization_id, survey_id)
    return url_for("survey_links.public", token=token, _external=True)


def invitation_url(organization_id: int, invitation_id: int, sign=content.sign) -> str:
    """`sign` may be a batch's `content.signer()` when thousands of links are made at once.
    Built on BASE_URL, not url_for: the outbox's worker renders it outside any request (as
    campaign links are); the path is the `survey_links.invitation` endpoint's."""
    token = sign("survey_invitation", organization_id, invitation_id)
    return f"{current_app.config['BASE_URL']}{INVITATION_PATH}{token}"
