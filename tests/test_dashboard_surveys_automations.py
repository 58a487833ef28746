"""The survey NPS and automations cards against hand-computed figures, with responses and
enrollments on both sides of the month boundaries in the organization's time zone."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from crm_web.automations.cards import automations
from crm_web.automations.models import Enrollment
from crm_web.automations.services import create_automation
from crm_web.dashboard import registry
from crm_web.dashboard.figures import months
from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.surveys.cards import survey_nps
from tests import factories
from tests.survey_distribution_helpers import launched_nps
from tests.survey_helpers import respond

MINUTE = timedelta(minutes=1)


@pytest.fixture
def marketer(app, make_org, make_user):
    """A marketer in an organization in Istanbul (UTC+3): its month starts at 21:00 UTC the
    day before, so a UTC month would misplace the boundary cases below."""
    organization, _admin = make_org(name="Cards Co")
    organization.timezone = "Europe/Istanbul"
    user = make_user(organization, role="marketing", name="Mo Marketer")
    set_tenant(organization.id, user.id)
    db.session.flush()
    return user


def test_the_cards_are_on_their_dashboards(marketer):
    keys = {role: [c.key for c in registry.cards_for([role])] for role in ("marketing", "support")}
    assert {"survey_nps", "automations"} <= set(keys["marketing"])
    assert "survey_nps" in keys["support"] and "automations" not in keys["support"]


def test_survey_nps_this_month_against_last(app, make_org, marketer):
    other, other_admin = make_org(name="Other Co")
    set_tenant(other.id, other_admin.id)
    respond(launched_nps("Theirs"), {"nps": 0})  # another organization's: not counted
    set_tenant(marketer.organization_id, marketer.id)
    period = months()
    assert period.this_start.hour == 21  # midnight in Istanbul
    first, second = launched_nps("NPS"), launched_nps("NPS again")

    def completed(survey, score, at):
        # `respond` completes a response 90 seconds after it starts.
        respond(survey, {"nps": score}, started_at=at - timedelta(seconds=90))

    # This month: promoters 10 and 9 (the 9 half an hour into the month in Istanbul, still
    # last month in UTC), a passive 7, a detractor 3: 100 * (2 - 1) / 4 = 25.
    completed(first, 10, period.this_start + timedelta(hours=2))
    completed(second, 9, period.this_start + 30 * MINUTE)
    completed(first, 7, period.this_start + timedelta(hours=1))
    completed(second, 3, period.this_start + timedelta(hours=3))
    # Last month: 10 a minute before this month began, 10, and 4 just after last month began:
    # 100 * (2 - 1) / 3 = 33.3.
    completed(first, 10, period.this_start - MINUTE)
    completed(second, 10, period.last_start + timedelta(days=3))
    completed(first, 4, period.last_start + MINUTE)
    # Not counted: completed the month before last, and a response still in progress.
    completed(first, 0, period.last_start - MINUTE)
    respond(first, {"nps": 10}, pages=0, started_at=period.this_start + MINUTE)

    with app.test_request_context():
        set_tenant(marketer.organization_id, marketer.id)
        figure = survey_nps(marketer)
    assert figure.value == 25.0
    assert figure.previous == 33.3
    assert figure.change == Decimal("-24.9")
    assert [(row.label, row.value) for row in figure.rows] == [
        ("Promoters", 2),
        ("Passives", 1),
        ("Detractors", 1),
    ]
    assert "4 responses" in figure.caption and "3 last month" in figure.caption
    assert figure.drill_url == "/surveys"


def test_survey_nps_without_responses(app, marketer):
    with app.test_request_context():
        set_tenant(marketer.organization_id, marketer.id)
        figure = survey_nps(marketer)
    assert figure.value is None and figure.previous is None and figure.change is None
    assert [row.value for row in figure.rows] == [0, 0, 0]


def test_automations_this_month_against_last(app, marketer):
    period = months()
    journeys = [
        create_automation({"name": name, "trigger_kind": "customer_created"})
        for name in ("Welcome", "Win back", "Birthday")
    ]
    db.session.execute(
        text("UPDATE automations SET status = 'active' WHERE id = ANY(:ids)"),
        {"ids": [journeys[0].id, journeys[1].id]},
    )
    customers = factories.customer_rows(marketer.organization_id, 8)

    def enroll(customer, enrolled_at, state="active", finished_at=None, goal=False):
        db.session.add(
            Enrollment(
                organization_id=marketer.organization_id,
                automation_id=journeys[0].id,
                customer_id=customer.id,
                occurrence="once",
                enrolled_at=enrolled_at,
                state=state,
                exited_reason="goal" if goal else "",
                goal_reached=goal,
                finished_at=finished_at,
            )
        )

    # This month: 3 enrolled (one half an hour into the month in Istanbul); one completed,
    # one reached the goal (an exit), both this month.
    enroll(customers[0], period.this_start + 30 * MINUTE)
    enroll(customers[1], period.this_start + MINUTE, "completed", period.this_start + 2 * MINUTE)
    enroll(customers[2], period.this_start + MINUTE, "exited", period.this_start + 3 * MINUTE, True)
    # Last month: 2 enrolled (one a minute before this month), one completed last month.
    enroll(customers[3], period.this_start - MINUTE)
    enroll(customers[4], period.last_start + MINUTE, "completed", period.this_start - MINUTE)
    # The month before last: not enrolled in either month, but one finished this month on
    # reaching the goal and one completed this month.
    enroll(customers[5], period.last_start - MINUTE, "exited", period.this_start + MINUTE, True)
    enroll(customers[6], period.last_start - MINUTE, "completed", period.this_start + MINUTE)
    enroll(customers[7], period.last_start - MINUTE, "exited", period.last_start + MINUTE, True)
    db.session.flush()

    with app.test_request_context():
        set_tenant(marketer.organization_id, marketer.id)
        figure = automations(marketer)
    assert (figure.value, figure.previous, figure.change) == (3, 2, Decimal("50.0"))
    assert [(row.label, row.value) for row in figure.rows] == [
        ("Enrolled last month", 2),
        ("Completed this month", 2),
        ("Goal reached this month", 2),
        ("Active journeys", 2),
    ]
    assert figure.drill_url == "/automations"


def test_card_fragments(client, login_as, make_user, marketer):
    """The fragments draw, the NPS card with no responses too (no score to show)."""
    agent = make_user(marketer.organization, role="support", name="Sue Support")
    login_as(marketer)
    for key in ("survey_nps", "automations"):
        fragment = client.get(f"/dashboard/cards/{key}", headers={"HX-Request": "true"})
        assert fragment.status_code == 200, key
        assert "<html" not in fragment.get_data(as_text=True)
    login_as(agent)
    headers = {"HX-Request": "true"}
    assert client.get("/dashboard/cards/survey_nps", headers=headers).status_code == 200
    assert client.get("/dashboard/cards/automations", headers=headers).status_code == 404
