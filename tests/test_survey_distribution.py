"""Sending surveys: a campaign that carries a survey gives each recipient a personal link (email
and SMS, through the outbox), a resolved ticket's email adds a link tied to the ticket when the
support settings name a survey, and an automation's "send survey" step invites by email or SMS."""

import datetime as dt
import re

import pytest
from flask import url_for
from sms_gateway import gateway_fixture  # noqa: F401 (the `gateway` fixture)
from sqlalchemy import select

from crm_web.automations import runner
from crm_web.automations import services as automations
from crm_web.automations.models import StepRun
from crm_web.campaigns import library
from crm_web.campaigns import services as campaigns
from crm_web.db import clear_tenant, set_tenant
from crm_web.errors import ValidationError
from crm_web.extensions import db
from crm_web.outbox import delivery
from crm_web.outbox.models import OutboxMessage
from crm_web.outbox.services import messages_for
from crm_web.segments.services import create_segment
from crm_web.surveys import invitations, links, seeding
from crm_web.surveys import services as surveys
from crm_web.surveys.models import SurveyInvitation, SurveyResponse
from crm_web.tickets import services as tickets
from tests import factories
from tests.survey_distribution_helpers import invitation_in, launched_nps, links_in


@pytest.fixture
def org(make_org):
    organization, admin = make_org("Anketci", timezone="Europe/Istanbul")
    set_tenant(organization.id, admin.id)
    return organization


def _customer(org, name: str, **fields):
    values = {
        "first_name": name,
        "primary_email": f"{name.lower()}-{org.id}@example.com",
        "email_opt_in": True,
        "sms_opt_in": True,
        "primary_phone": "+90532" + str(abs(hash(name)) % 10_000_000).zfill(7),
        **fields,
    }
    customer = factories.customer(org, **values)
    set_tenant(org.id)
    return customer


def _template(html: str):
    return library.create_template({"name": "Survey mail", "subject": "Hi", "html": html})


def _activate(automation):
    """Active since an hour ago: the test's rows, stamped with its transaction's start, are
    events since."""
    automations.activate(automation.id)
    automation.activated_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    db.session.flush()


def _invitations(**where) -> list[SurveyInvitation]:
    stmt = select(SurveyInvitation).order_by(SurveyInvitation.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(SurveyInvitation, key) == value)
    return list(db.session.scalars(stmt))


def test_a_campaign_with_a_survey_sends_each_recipient_a_link_of_their_own(org, smtp_to_sink):
    survey = launched_nps()
    ayse, mehmet = _customer(org, "Ayse"), _customer(org, "Mehmet")
    _customer(org, "Nope", email_opt_in=False)
    segment = create_segment({"segment_name": "Everyone"})
    template = _template(
        '<p>Hello {{ customer.first_name }}</p><a href="{{ survey_url }}">Answer</a>'
    )
    campaign = campaigns.create_campaign(
        {
            "name": "NPS wave",
            "include_segment_ids": [segment.id],
            "variants": [{"template_id": template.id}],
            "survey_id": survey.id,
        }
    )
    assert campaign.survey_id == survey.id
    campaigns.schedule_campaign(campaign.id)

    invited = _invitations(campaign_id=campaign.id)
    assert {(i.customer_id, i.channel, i.survey_id) for i in invited} == {
        (ayse.id, "email", survey.id),
        (mehmet.id, "email", survey.id),
    }
    assert delivery.deliver("email") == {"sent": 2}
    by_address = {mail.rcpt_tos[0]: mail for mail in smtp_to_sink.mails}
    for customer in (ayse, mehmet):
        html = by_address[customer.primary_email].message.get_body(("html",)).get_content()
        # The link is not wrapped by click tracking: it carries merge fields, so it is personal.
        assert invitation_in(html).customer_id == customer.id
    assert links_in(by_address[ayse.primary_email].body) != links_in(
        by_address[mehmet.primary_email].body
    )
    # Ayşe answers through her link: the campaign counts her in.
    invitation = invitation_in(by_address[ayse.primary_email].body)
    seeding.record_completed(
        survey,
        surveys.get_version(survey),
        {"nps": 9},
        customer_id=ayse.id,
        completed_at=dt.datetime.now(dt.UTC),
        invitation_id=invitation.id,
    )
    assert invitations.campaign_answers(campaign.id) == (2, 1)


def test_a_campaign_survey_must_be_launched_and_its_link_in_the_message(org):
    draft = surveys.create_survey({"name": "Not yet"})
    launched = launched_nps()
    segment = create_segment({"segment_name": "Everyone"})
    without_link = _template("<p>Hello</p>")
    base = {"name": "Wave", "include_segment_ids": [segment.id]}
    with pytest.raises(ValidationError) as refused:
        campaigns.create_campaign(
            {**base, "variants": [{"template_id": without_link.id}], "survey_id": draft.id}
        )
    assert refused.value.fields == {
        "survey_id": "Launch the survey first: it takes no responses now."
    }
    with pytest.raises(ValidationError) as refused:
        campaigns.create_campaign(
            {**base, "variants": [{"template_id": without_link.id}], "survey_id": launched.id}
        )
    assert "{{ survey_url }}" in refused.value.fields["survey_id"]
    with pytest.raises(ValidationError) as refused:
        campaigns.create_campaign(
            {**base, "variants": [{"template_id": without_link.id}], "survey_id": "x"}
        )
    assert refused.value.fields == {"survey_id": "Choose a survey."}


def test_an_sms_campaign_with_a_survey_texts_the_personal_link(org, gateway):
    survey = launched_nps()
    deniz = _customer(org, "Deniz")
    segment = create_segment({"segment_name": "Herkes"})
    campaign = campaigns.create_campaign(
        {
            "name": "Anket SMS",
            "channel": "sms",
            "include_segment_ids": [segment.id],
            "sms_body": "Merhaba {{ customer.first_name }}, görüşünüz: {{ survey_url }}",
            "survey_id": survey.id,
        }
    )
    campaigns.schedule_campaign(campaign.id)
    assert delivery.deliver("sms") == {"sent": 1}
    [received] = gateway.messages
    assert received.body.startswith("Merhaba Deniz, görüşünüz: http")
    invitation = invitation_in(received.body)
    assert (invitation.customer_id, invitation.channel) == (deniz.id, "sms")


def test_a_resolved_ticket_invites_to_the_organizations_survey(org, smtp_to_sink):
    survey = launched_nps()
    tickets.update_settings(agent_ticket_cap=10, resolution_survey_id=str(survey.id))
    # Saving the cap alone keeps the survey.
    tickets.update_settings(agent_ticket_cap=12)
    assert tickets.get_settings().resolution_survey_id == survey.id
    customer = _customer(org, "Selin")
    ticket = tickets.create_ticket(subject="Kargo", customer_id=customer.id)
    tickets.change_status(ticket.id, "resolved")

    [invitation] = _invitations(ticket_id=ticket.id)
    assert (invitation.customer_id, invitation.channel, invitation.survey_id) == (
        customer.id,
        "ticket",
        survey.id,
    )
    [row] = messages_for(("ticket_resolved",), [ticket.id])
    assert row.context["invitation"] == invitation.id
    assert delivery.deliver("email") == {"sent": 1}
    [mail] = smtp_to_sink.mails
    assert "/support/csat/" in mail.body  # the one-click rating stays
    assert "Tell us more in a short survey" in mail.body
    assert invitation_in(mail.body).id == invitation.id


def test_the_resolution_survey_setting_takes_only_a_survey_taking_responses(org):
    survey = launched_nps()
    surveys.close(survey.id)
    with pytest.raises(ValidationError) as refused:
        tickets.update_settings(agent_ticket_cap=10, resolution_survey_id=survey.id)
    assert refused.value.fields == {
        "resolution_survey_id": "Launch the survey first: it takes no responses now."
    }
    # A survey closed after it was chosen: the resolution email goes without a survey link.
    surveys.launch(survey.id)
    tickets.update_settings(agent_ticket_cap=10, resolution_survey_id=survey.id)
    surveys.close(survey.id)
    ticket = tickets.create_ticket(subject="Late", customer_id=_customer(org, "Can").id)
    tickets.change_status(ticket.id, "resolved")
    assert _invitations(ticket_id=ticket.id) == []
    [row] = messages_for(("ticket_resolved",), [ticket.id])
    assert "invitation" not in row.context


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_an_automation_step_sends_a_survey_invitation(org, channel, smtp_to_sink, gateway):
    survey = launched_nps("Hoş geldin anketi")
    automation = automations.create_automation(
        {
            "name": "Welcome survey",
            "trigger_kind": "customer_created",
            "steps": [{"type": "survey", "survey_id": survey.id, "channel": channel}],
        }
    )
    _activate(automation)
    customer = _customer(org, "Zeynep")
    _customer(org, "Quiet", email_opt_in=False, sms_opt_in=False)
    runner.run(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))

    runs = {run.outcome for run in db.session.scalars(select(StepRun))}
    assert runs == {"sent", "skipped"}
    [invitation] = _invitations(survey_id=survey.id)
    assert (invitation.customer_id, invitation.channel) == (customer.id, "automation")
    [message] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind.like("survey%")))
    assert message.kind == ("survey_invitation" if channel == "email" else "survey_invitation_sms")
    assert message.source_id == invitation.id
    assert delivery.deliver(channel) == {"sent": 1}
    if channel == "email":
        [mail] = smtp_to_sink.mails
        assert "Hoş geldin anketi" in mail.message["Subject"]
        assert invitation_in(mail.body).id == invitation.id
    else:
        [received] = gateway.messages
        assert invitation_in(received.body).id == invitation.id


def test_an_invitation_to_a_survey_closed_before_it_goes_is_cancelled(org, smtp_to_sink):
    survey = launched_nps()
    automation = automations.create_automation(
        {
            "name": "Survey",
            "trigger_kind": "customer_created",
            "steps": [{"type": "survey", "survey_id": survey.id, "channel": "email"}],
        }
    )
    _activate(automation)
    _customer(org, "Late")
    runner.run(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    surveys.close(survey.id)
    assert delivery.deliver("email") == {"cancelled": 1}
    assert smtp_to_sink.mails == []


def test_a_survey_step_is_checked_field_by_field(org):
    draft = surveys.create_survey({"name": "Draft"})
    with pytest.raises(ValidationError) as refused:
        automations.create_automation(
            {
                "name": "Bad",
                "trigger_kind": "customer_created",
                "steps": [{"type": "survey", "survey_id": draft.id, "channel": "fax"}],
            }
        )
    assert refused.value.fields == {
        "steps.0.survey_id": "Choose a survey that takes responses.",
        "steps.0.channel": "Choose email or SMS.",
    }


def test_a_campaign_link_is_answered_once_through_the_survey_page(org, client, smtp_to_sink, app):
    survey = launched_nps()
    ali = _customer(org, "Ali")
    segment = create_segment({"segment_name": "Everyone"})
    template = _template('<a href="{{ survey_url }}">Answer</a>')
    campaign = campaigns.create_campaign(
        {
            "name": "Wave",
            "include_segment_ids": [segment.id],
            "variants": [{"template_id": template.id}],
            "survey_id": survey.id,
        }
    )
    campaigns.schedule_campaign(campaign.id)
    delivery.deliver("email")
    [mail] = smtp_to_sink.mails
    [token] = links_in(mail.body)
    with app.test_request_context():
        path = url_for("survey_links.invitation", token=token)
    assert path == links.INVITATION_PATH + token  # the link is the respond page's own
    clear_tenant()
    page = client.get(path).get_data(as_text=True)
    opened = re.search(r'name="opened" value="(\d+)"', page).group(1)
    answered = client.post(
        path, data={"page": "0", "opened": opened, "q_nps": "3", "q_why": "Slow delivery"}
    )
    assert answered.status_code in (200, 303)
    set_tenant(org.id)
    db.session.expire_all()
    [response] = db.session.scalars(select(SurveyResponse))
    assert (response.state, response.customer_id, response.channel, response.nps) == (
        "completed",
        ali.id,
        "email",
        3,
    )
    assert invitations.campaign_answers(campaign.id) == (1, 1)
