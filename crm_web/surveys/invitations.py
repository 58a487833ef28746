"""Personal survey links: an invitation per customer, answered once. They are made for a
campaign's recipients when it starts (its messages carry the `survey_url` merge field), when a
ticket is resolved (the resolution email carries the link beside the one-click rating), and by
an automation's "send survey" step (the invitation email or SMS of templates/). Whatever is sent
goes through the outbox like every other message."""

from flask_babel import gettext as _
from sqlalchemy import insert, select, text

from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.outbox import services as outbox
from crm_web.surveys import services
from crm_web.surveys.models import Survey, SurveyInvitation

MERGE_FIELD = "survey_url"
EMAIL_KIND = "survey_invitation"
SMS_KIND = "survey_invitation_sms"


def sendable_surveys() -> list[Survey]:
    """The surveys invitations may be sent to now: launched and taking responses."""
    return [
        survey
        for survey in db.session.scalars(
            select(Survey)
            .where(Survey.organization_id == current_organization_id(), Survey.status == "active")
            .order_by(Survey.name, Survey.id)
        )
        if services.accepting_reason(survey) is None
    ]


def chosen_survey(raw, key: str, errors: dict) -> int | None:
    """The survey a form or JSON body names under `key` (empty: none), checked to be one of
    this organization's that takes responses; what is wrong goes into `errors`."""
    if raw in (None, ""):
        return None
    try:
        survey_id = int(raw)
        if isinstance(raw, bool) or survey_id < 1:
            raise ValueError
    except (TypeError, ValueError):
        errors[key] = _("Choose a survey.")
        return None
    survey = db.session.scalar(
        select(Survey).where(
            Survey.id == survey_id, Survey.organization_id == current_organization_id()
        )
    )
    if survey is None:
        errors[key] = _("Choose a survey.")
    elif services.accepting_reason(survey) is not None:
        errors[key] = _("Launch the survey first: it takes no responses now.")
    return survey_id


def check_campaign_survey(survey_id: int | None, bodies: list[str], errors: dict) -> None:
    """A campaign that carries a survey must put its link in the message."""
    if survey_id is not None and "survey_id" not in errors:
        if not any(MERGE_FIELD in body for body in bodies):
            errors["survey_id"] = _(
                "Put {{ survey_url }} in the message: it is each recipient's personal link."
            )


def invite_campaign(organization_id: int, campaign_id: int, survey_id: int, channel: str) -> int:
    """An invitation for each of the campaign's recipients (the ledger just written), in one
    statement; a repeated start makes none twice."""
    return db.session.execute(
        text(
            "INSERT INTO survey_invitations "
            "(organization_id, survey_id, customer_id, channel, campaign_id) "
            "SELECT r.organization_id, :survey, r.customer_id, :channel, r.campaign_id "
            "FROM campaign_recipients r WHERE r.organization_id = :org AND r.campaign_id = :campaign "
            "ON CONFLICT (organization_id, campaign_id, customer_id) "
            "WHERE campaign_id IS NOT NULL DO NOTHING"
        ),
        {"org": organization_id, "campaign": campaign_id, "survey": survey_id, "channel": channel},
    ).rowcount


def open_survey(survey_id: int) -> Survey | None:
    """This organization's survey when it takes responses now (invitations may go out)."""
    survey = db.session.get(Survey, survey_id)
    if survey is None or survey.organization_id != current_organization_id():
        return None
    return survey if services.accepting_reason(survey) is None else None


def invite(
    survey_id: int, customer_id: int, channel: str, *, ticket_id: int | None = None
) -> SurveyInvitation | None:
    """A personal link for one customer, or None when the survey takes no responses now."""
    survey = open_survey(survey_id)
    if survey is None:
        return None
    invitation = SurveyInvitation(
        organization_id=survey.organization_id,
        survey_id=survey.id,
        customer_id=customer_id,
        channel=channel,
        ticket_id=ticket_id,
    )
    db.session.add(invitation)
    db.session.flush()
    return invitation


def send(survey_id: int, invitees: list[tuple[outbox.Recipient, str]], channel: str) -> int:
    """Invite each (recipient, dedupe key): customers who agree to `channel`, email or sms. The
    invitations are written with one statement and their messages with one outbox statement;
    how many were invited (none: the survey takes no responses now)."""
    survey = open_survey(survey_id)
    if not invitees or survey is None:
        return 0
    ids = db.session.scalars(
        insert(SurveyInvitation).returning(SurveyInvitation.id, sort_by_parameter_order=True),
        [
            {
                "organization_id": survey.organization_id,
                "survey_id": survey.id,
                "customer_id": recipient.customer_id,
                "channel": "automation",
            }
            for recipient, _key in invitees
        ],
    ).all()
    kind = EMAIL_KIND if channel == "email" else SMS_KIND
    outbox.queue_many(
        [
            outbox.Item(kind, recipient, invitation_id, dedupe_key=key)
            for (recipient, key), invitation_id in zip(invitees, ids, strict=True)
        ]
    )
    return len(ids)


def campaign_answers(campaign_id: int) -> tuple[int, int]:
    """How many of a campaign's recipients were invited, and how many have answered."""
    invited, answered = db.session.execute(
        text(
            "SELECT count(*), count(r.id) FROM survey_invitations i "
            "LEFT JOIN survey_responses r ON r.organization_id = i.organization_id "
            "AND r.invitation_id = i.id AND r.state = 'completed' "
            "WHERE i.organization_id = :org AND i.campaign_id = :campaign"
        ),
        {"org": current_organization_id(), "campaign": campaign_id},
    ).one()
    return invited, answered
