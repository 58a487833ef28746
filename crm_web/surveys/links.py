"""The links a respondent follows: the public link (names the survey), a personal link (names
one invitation, answered once) and the resume link (names a response in progress). Each is a
signed token (crm_web/campaigns/content.py); a tampered one names nothing."""

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


def resume_url(organization_id: int, response_id: int) -> str:
    token = content.sign("survey_resume", organization_id, response_id)
    return url_for("survey_links.resume", token=token, _external=True)


def read(purpose: str, token: str) -> content.Token | None:
    """What a survey link's token names, or None when it is not ours or not for `purpose`."""
    return content.verify(purpose, token)
