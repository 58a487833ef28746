"""What surveys send through the outbox: the invitation an automation's "send survey" step
writes, by email or SMS. A message names its invitation; at send time the kind checks again
that the customer agrees to the channel, that the survey still takes responses and that the
invitation has not been answered, and cancels the message otherwise."""

import functools

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, text

from crm_web.campaigns import content, library
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.outbox.kinds import Cancel, MessageKind, Pending, register
from crm_web.surveys import invitations, links, services
from crm_web.surveys.models import Survey

_INVITATIONS = """
SELECT i.id, i.survey_id, c.first_name, c.last_name, c.company_name,
       c.is_active AND c.email_opt_in AND NOT c.do_not_contact AS email_ok,
       c.is_active AND c.sms_opt_in AND NOT c.do_not_contact AS sms_ok,
       EXISTS (SELECT 1 FROM survey_responses r WHERE r.organization_id = i.organization_id
                  AND r.invitation_id = i.id AND r.state = 'completed') AS answered
  FROM survey_invitations i
  JOIN customers c ON c.organization_id = i.organization_id AND c.id = i.customer_id
 WHERE i.organization_id = :org AND i.id = ANY(:ids)
"""


def _load(messages: list[Pending], consent: str) -> dict:
    organization_id = current_organization_id()
    rows = {
        row.id: row
        for row in db.session.execute(
            text(_INVITATIONS),
            {"org": organization_id, "ids": sorted({m.source_id for m in messages} - {None})},
        )
    }
    surveys = {
        survey.id: survey
        for survey in db.session.scalars(
            select(Survey).where(
                Survey.organization_id == organization_id,
                Survey.id.in_({row.survey_id for row in rows.values()}),
            )
        )
    }
    organization_name = library.organization_name()
    sign = content.signer()
    contexts: dict = {}
    for message in messages:
        row = rows.get(message.source_id)
        if row is None:
            contexts[message.id] = Cancel(_("The invitation or its customer was deleted."))
        elif not getattr(row, consent):
            contexts[message.id] = Cancel(_("The customer no longer agrees to this message."))
        elif row.answered:
            contexts[message.id] = Cancel(_("The customer has already answered the survey."))
        elif services.accepting_reason(surveys[row.survey_id]) is not None:
            contexts[message.id] = Cancel(_("The survey takes no responses now."))
        else:
            contexts[message.id] = _context(
                row.first_name or message.to_name,
                surveys[row.survey_id].name,
                links.invitation_url(organization_id, row.id, sign),
                organization_name,
            )
    return contexts


def _context(first_name: str, survey_name: str, url: str, organization_name: str) -> dict:
    return {
        "first_name": first_name,
        "survey_name": survey_name,
        invitations.MERGE_FIELD: url,
        "organization_name": organization_name,
    }


def _sample() -> dict:
    return _context("Ayşe", "Memnuniyet anketi", "https://crm.example/s/i/sample-token", "Demo")


for _kind, _channel, _title, _consent in (
    (invitations.EMAIL_KIND, "email", _l("Survey invitation"), "email_ok"),
    (invitations.SMS_KIND, "sms", _l("Survey invitation by SMS"), "sms_ok"),
):
    register(
        MessageKind(
            name=_kind,
            title=_title,
            channel=_channel,
            template="surveys/invitation",
            description=_l("A personal link to a survey, sent by an automation's step."),
            load=functools.partial(_load, consent=_consent),
            sample=_sample,
        )
    )
