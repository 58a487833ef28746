"""What the rest of the CRM makes of a completed survey response: automation triggers ("survey
completed", "NPS detractor" → a task for the owner), segment fields (latest NPS, NPS group,
latest sentiment, surveys answered), the customer's timeline, and the demo surveys.

Automations learn of events the way they learn of a resolved ticket or a won deal: their
triggers read the rows those write (here: survey_responses completed since the journey was
activated). The responses are written as the respond helper's pages leave them: answers on
the logic's path, NPS scored, tallies moved (crm_web.surveys.seeding.record_completed)."""

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from crm_web.activities.models import Activity
from crm_web.automations import runner
from crm_web.automations import services as automations
from crm_web.automations.models import Enrollment
from crm_web.customer360 import timeline
from crm_web.db import set_tenant
from crm_web.errors import ValidationError
from crm_web.extensions import db
from crm_web.segments import criteria
from crm_web.segments import services as segments
from crm_web.surveys import seeding, services, tallies
from crm_web.surveys.models import SurveyResponse
from tests import factories
from tests.survey_distribution_helpers import launched_nps

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def org(make_org):
    organization, admin = make_org("Dinleyici")
    set_tenant(organization.id, admin.id)
    return organization, admin


def _customer(organization, name: str, **fields):
    customer = factories.customer(organization, first_name=name, **fields)
    set_tenant(organization.id)
    return customer


def _respond(survey, customer, answers: dict, minutes_ago: int = 5, **extra) -> SurveyResponse:
    return seeding.record_completed(
        survey,
        services.get_version(survey),
        answers,
        customer_id=customer.id if customer else None,
        completed_at=NOW - dt.timedelta(minutes=minutes_ago),
        **extra,
    )


def _journey(trigger: str, steps: list, **config) -> object:
    automation = automations.create_automation(
        {"name": trigger, "trigger_kind": trigger, "trigger_config": config, "steps": steps}
    )
    automations.activate(automation.id)
    automation.activated_at = NOW - dt.timedelta(hours=1)
    db.session.flush()
    return automation


def _enrolled(automation) -> set[int]:
    return set(
        db.session.scalars(
            select(Enrollment.customer_id).where(Enrollment.automation_id == automation.id)
        )
    )


def test_a_detractor_gets_a_task_for_their_owner_and_each_response_enrolls_once(org):
    organization, admin = org
    survey, other = launched_nps(), launched_nps("Another")
    sad = _customer(organization, "Sad", owner_id=admin.id)
    happy = _customer(organization, "Happy", owner_id=admin.id)
    anonymous = launched_nps("Anonymous", anonymous=True)
    _respond(survey, sad, {"nps": 3, "why": "Slow"})
    _respond(survey, happy, {"nps": 10})
    _respond(other, happy, {"nps": 2})  # another survey: not this journey's
    _respond(anonymous, sad, {"nps": 0})  # no customer kept: no one to enroll
    detractors = _journey(
        "nps_detractor",
        [{"type": "task", "subject": "Call the detractor back", "due_days": 1}],
        survey_id=survey.id,
    )
    completed = _journey("survey_completed", [{"type": "tag", "action": "add", "tag": "voice"}])

    runner.run(NOW)
    runner.run(NOW + dt.timedelta(minutes=1))  # a second run enrolls no one again
    assert _enrolled(detractors) == {sad.id}
    assert _enrolled(completed) == {sad.id, happy.id}
    assert db.session.scalar(select(func.count()).select_from(Enrollment)) == 4  # happy twice
    [task] = db.session.scalars(select(Activity).where(Activity.customer_id == sad.id))
    assert (task.subject, task.assigned_to_id) == ("Call the detractor back", admin.id)
    db.session.refresh(happy)
    assert "voice" in happy.tags


def test_a_survey_trigger_names_one_of_the_organizations_surveys(org):
    with pytest.raises(ValidationError) as refused:
        automations.create_automation(
            {
                "name": "Bad",
                "trigger_kind": "survey_completed",
                "trigger_config": {"survey_id": 10**12},
                "steps": [],
            }
        )
    assert refused.value.fields == {"trigger_config.survey_id": "Choose a survey."}


def _matching(rule: dict) -> set[int]:
    where = segments.compiled(criteria.parse({"match": "all", "rules": [rule]}))
    return set(
        db.session.scalars(text(f"SELECT c.id FROM customers c WHERE {where.where}"), where.params)
    )


def test_segment_fields_read_the_latest_response(org):
    organization, _admin = org
    survey, product = launched_nps(), launched_nps("Product")
    turned = _customer(organization, "Turned")
    steady = _customer(organization, "Steady")
    silent = _customer(organization, "Silent")
    _respond(survey, turned, {"nps": 10}, minutes_ago=60)
    _respond(survey, turned, {"nps": 4}, minutes_ago=5)  # the latest counts
    _respond(product, steady, {"nps": 8})
    db.session.execute(
        text("UPDATE survey_responses SET sentiment_label = 'negative' WHERE customer_id = :c"),
        {"c": turned.id},
    )

    assert _matching({"field": "latest_nps", "op": "lte", "value": 6}) == {turned.id}
    assert _matching({"field": "nps_group", "op": "eq", "value": "detractor"}) == {turned.id}
    assert _matching({"field": "nps_group", "op": "eq", "value": "passive"}) == {steady.id}
    assert _matching({"field": "nps_group", "op": "is_not_set"}) == {silent.id}
    assert _matching({"field": "latest_sentiment", "op": "eq", "value": "negative"}) == {turned.id}
    answered = {"field": "answered_survey", "op": "contains", "value": str(product.id)}
    assert _matching(answered) == {steady.id}
    assert _matching({**answered, "op": "not_contains"}) == {turned.id, silent.id}


def test_a_completed_response_shows_on_the_customers_timeline(org):
    organization, _admin = org
    survey = launched_nps("Memnuniyet")
    customer = _customer(organization, "Ece")
    response = _respond(survey, customer, {"nps": 9}, duration_seconds=120)
    [entry] = [e for e in timeline.timeline_page(customer.id).entries if e.kind == "survey"]
    assert entry.id == response.id
    assert entry.title == "Answered the survey “Memnuniyet”"
    assert entry.details == {"survey_id": survey.id, "nps": 9, "duration_seconds": 120}
    only = timeline.timeline_page(customer.id, types=["survey"]).entries
    assert [e.id for e in only] == [response.id]


def test_demo_surveys_have_consistent_responses_and_tallies(org):
    organization, _admin = org
    for index in range(40):
        _customer(organization, f"Demo{index}")
    made = seeding.seed_surveys(30, seed=7, now=NOW)
    assert made == {"Customer loyalty (NPS)": 30, "Product feedback": 10}
    nps = next(s for s in services.list_surveys().items if s.name == "Customer loyalty (NPS)")
    assert nps.status == "active" and nps.completed_count == 30
    responses = db.session.scalars(
        select(SurveyResponse).where(SurveyResponse.survey_id == nps.id)
    ).all()
    counted = tallies.read(nps.id, organization.id)
    assert counted["nps"][""] == 30
    for score in range(11):
        assert counted["nps"].get(str(score), 0) == sum(1 for r in responses if r.nps == score)
    # The reason is on the path of detractors only, and every detractor gave one.
    assert counted["why"][""] == sum(1 for r in responses if "why" in r.answers)
    assert all("why" in r.answers for r in responses if r.nps <= 6)
    product = next(s for s in services.list_surveys().items if s.name == "Product feedback")
    for response in db.session.scalars(
        select(SurveyResponse).where(SurveyResponse.survey_id == product.id)
    ):
        unhappy = response.answers["rate"] <= 2
        assert ("wrong" in response.answers) == unhappy
        assert ("next" in response.answers) == (not unhappy)
        assert response.pages_seen == ([0, 2] if unhappy else [0, 1])
