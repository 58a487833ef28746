"""Survey analytics against figures worked out by hand: NPS, the drop-off funnel, means and
medians from the tallies, completion rate, the weekly NPS trend and the open answers'
sentiment, for responses saved page by page as respondents save them."""

import datetime as dt
import json
import re

import pytest
from sqlalchemy import select

from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.segments.models import Segment, SegmentMember
from crm_web.surveys import analytics, comparisons, services, tallies
from crm_web.surveys.models import SurveyResponse
from tests import factories
from tests.survey_helpers import respond

MONDAY = dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
NEXT_MONDAY = MONDAY + dt.timedelta(days=7)


def _document() -> dict:
    """Page 1: NPS, and why for detractors. Page 2: a channel and stars. Page 3: a matrix,
    a ranking and an age."""
    option = lambda key: {"id": key, "label": key.upper()}  # noqa: E731
    return {
        "pages": [
            {
                "id": "p1",
                "questions": [
                    {"id": "nps", "type": "nps", "title": "Recommend us?", "required": True},
                    {
                        "id": "why",
                        "type": "long_text",
                        "title": "Why?",
                        "display": {
                            "match": "all",
                            "conditions": [{"question": "nps", "op": "lte", "value": 6}],
                        },
                    },
                ],
            },
            {
                "id": "p2",
                "questions": [
                    {
                        "id": "channel",
                        "type": "single",
                        "title": "Where did you hear of us?",
                        "options": [option("a"), option("b"), option("c")],
                    },
                    {"id": "stars", "type": "rating", "title": "Stars", "scale": 5},
                ],
            },
            {
                "id": "p3",
                "questions": [
                    {
                        "id": "mx",
                        "type": "matrix",
                        "title": "Rate each",
                        "rows": [option("r1"), option("r2")],
                        "columns": [option("c1"), option("c2")],
                        "multiple": False,
                    },
                    {
                        "id": "rank",
                        "type": "ranking",
                        "title": "Order these",
                        "options": [option("x"), option("y"), option("z")],
                    },
                    {"id": "age", "type": "number", "title": "Age"},
                ],
            },
        ]
    }


@pytest.fixture
def owner(make_org):
    """The organization and its admin, signed in as the tenant."""
    organization, admin = make_org("Survey analytics")
    set_tenant(organization.id, admin.id)
    return organization, admin


@pytest.fixture
def survey(owner):
    survey = services.create_survey({"name": "Customer NPS"}, _document())
    services.launch(survey.id)
    return survey


@pytest.fixture
def answered(survey):
    """Six respondents: three finish, one stops after page 2, two detractors after page 1."""
    full = {"mx": {"r1": "c1", "r2": "c1"}, "rank": ["x", "y", "z"], "age": 30}
    customer = factories.customer(customer_type="company", company_name="Acme")
    respond(
        survey,
        {"nps": 10, "channel": "a", "stars": 5, **full},
        started_at=MONDAY,
        customer_id=customer.id,
        channel="email",
    )
    respond(
        survey,
        {"nps": 10, "channel": "a", "stars": 5, "mx": {"r1": "c1", "r2": "c2"}},
        started_at=MONDAY,
    )
    survey_answers = {"mx": {"r1": "c2"}, "rank": ["x", "z", "y"]}
    respond(survey, {"nps": 9, "channel": "b", "stars": 3, **survey_answers}, started_at=MONDAY)
    respond(survey, {"nps": 8, "channel": "c", "stars": 2}, pages=2, started_at=NEXT_MONDAY)
    respond(
        survey, {"nps": 6, "why": "The support was terrible and slow."}, pages=1,
        started_at=NEXT_MONDAY,
    )  # fmt: skip
    respond(survey, {"nps": 2, "why": "Great product, I love it!"}, pages=1, started_at=NEXT_MONDAY)
    return survey


def _question(summary: dict, question_id: str) -> dict:
    return next(q for q in summary["questions"] if q["id"] == question_id)


def test_counts_and_completion_rate(answered):
    summary = analytics.summary(answered)
    assert json.loads(json.dumps(summary)) == summary  # what the API answers as it is
    assert summary["responses"] == {
        "started": 6,
        "completed": 3,
        "in_progress": 3,
        "completion_rate": 50.0,
        "mean_seconds": 90,
    }


def test_nps_is_promoters_less_detractors_with_its_weekly_trend(answered):
    nps = analytics.summary(answered)["nps"]
    # 10, 10, 9 promote; 8 is passive; 6 and 2 detract: 3/6 - 2/6 = 16.7
    assert nps["question_id"] == "nps"
    assert (nps["responses"], nps["promoters"], nps["passives"], nps["detractors"]) == (6, 3, 1, 2)
    assert nps["score"] == 16.7
    assert nps["promoters_percent"] == 50.0 and nps["detractors_percent"] == 33.3
    assert nps["trend"] == [
        {"week": "2026-11-23", "responses": 3, "score": 100.0},
        {"week": "2026-11-30", "responses": 3, "score": -66.7},  # 8, 6, 2: 0/3 - 2/3
    ]


def test_responses_count_on_the_organizations_days(survey, owner):
    owner[0].timezone = "Europe/Istanbul"  # UTC+3
    late = dt.datetime(2026, 11, 23, 22, 30, tzinfo=dt.UTC)  # the 24th in Istanbul
    respond(survey, {"nps": 9}, pages=1, started_at=late)
    respond(survey, {"nps": 3}, started_at=late - dt.timedelta(hours=2))  # the 23rd
    over_time = analytics.summary(survey)["over_time"]
    assert over_time == {
        "bucket": "day",
        "points": [
            {"start": "2026-11-23", "started": 1, "completed": 1},
            {"start": "2026-11-24", "started": 1, "completed": 0},
        ],
    }


def test_the_funnel_drops_where_respondents_left(answered):
    steps = {step["id"]: step for step in analytics.summary(answered)["funnel"]}
    assert [(s["answered"], s["drop_off"]) for s in steps.values()] == [
        (6, 0),  # nps
        (2, None),  # why: shown to detractors only, no step of the funnel
        (4, 2),  # channel: two left after page 1
        (4, 0),  # stars
        (3, 1),  # matrix: one left after page 2
        (2, 1),  # ranking: one finished without ranking
        (1, 1),  # age
    ]
    assert steps["channel"]["percent"] == 66.7
    assert steps["why"]["conditional"] is True


def test_means_medians_and_distributions_come_from_the_tallies(answered):
    summary = analytics.summary(answered)
    stars = _question(summary, "stars")
    # 5, 5, 3, 2: mean 15/4, median between 3 and 5
    assert (stars["count"], stars["mean"], stars["median"]) == (4, 3.75, 4)
    assert stars["values"] == [
        {"value": 2, "count": 1},
        {"value": 3, "count": 1},
        {"value": 5, "count": 2},
    ]
    channel = _question(summary, "channel")
    assert [(o["id"], o["count"], o["percent"]) for o in channel["options"]] == [
        ("a", 2, 50.0),
        ("b", 1, 25.0),
        ("c", 1, 25.0),
    ]
    matrix = _question(summary, "mx")["matrix"]
    assert matrix["cells"] == [[2, 1], [1, 1]] and matrix["highest"] == 2
    ranking = _question(summary, "rank")["ranking"]
    # x took places 1 and 1: mean 1; y 2 and 3: 2.5; z 3 and 2: 2.5
    assert [(r["id"], r["mean_place"], r["places"]) for r in ranking] == [
        ("x", 1.0, [2, 0, 0]),
        ("y", 2.5, [0, 1, 1]),
        ("z", 2.5, [0, 1, 1]),
    ]
    assert _question(summary, "age")["median"] == 30


def test_numeric_stats_of_an_even_count_take_the_middle_two():
    stats = analytics.numeric_stats({"": 4, "1": 1, "2": 1, "10": 2})
    assert (stats["count"], stats["mean"], stats["median"]) == (4, 5.75, 6)
    assert (stats["min"], stats["max"]) == (1, 10)
    assert analytics.numeric_stats({"": 0})["mean"] is None


def test_open_answers_are_scored_and_counted_by_sentiment(answered):
    summary = analytics.summary(answered)
    split = summary["sentiment"]
    assert (split["responses"], split["positive"], split["neutral"], split["negative"]) == (
        2,
        1,
        0,
        1,
    )
    assert _question(summary, "why")["sentiment"]["negative"] == 1
    words = {entry["word"]: entry["count"] for entry in split["top_words"]}
    assert words["support"] == 1 and "the" not in words


def test_a_changed_answer_moves_its_sentiment_tally(survey):
    document = services.get_version(survey).definition
    common = {
        "organization_id": survey.organization_id,
        "survey_id": survey.id,
        "response_id": 7,
        "definition": document,
    }
    tallies.record(before={}, after={"nps": 3, "why": "Wonderful, thank you"}, **common)
    tallies.record(
        before={"nps": 3, "why": "Wonderful, thank you"},
        after={"nps": 3, "why": "Awful and broken"},
        **common,
    )
    assert tallies.read(survey.id, survey.organization_id)["why"] == {
        "": 1,
        "sentiment:negative": 1,
    }


def test_a_survey_without_responses_has_empty_figures(survey):
    summary = analytics.summary(survey)
    assert summary["responses"]["completion_rate"] == 0.0
    assert summary["nps"]["score"] is None and summary["nps"]["trend"] == []
    assert summary["over_time"] == {"bucket": "day", "points": []}
    assert _question(summary, "stars")["mean"] is None


# --- the pages --------------------------------------------------------------------------


def test_the_analytics_page_shows_the_figures(answered, owner, client, login_as):
    login_as(owner[1])
    page = client.get(f"/surveys/{answered.id}/analytics")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="stat-started">6<' in html and 'id="stat-completion">50.0%<' in html
    assert 'id="stat-nps">16.7<' in html
    assert "<svg" in html and "style=" not in html and "<script>" not in html
    assert 'class="num heat-5">2<' in html  # the matrix's busiest cell
    live = client.get(f"/surveys/{answered.id}/analytics", headers={"HX-Request": "true"})
    fragment = live.get_data(as_text=True)
    assert 'id="survey-live"' in fragment and "<html" not in fragment


def test_cross_tab_and_benchmark_cards(answered, owner, client, login_as):
    login_as(owner[1])
    url = f"/surveys/{answered.id}/analytics"
    htmx = {"HX-Request": "true"}
    card = client.get(
        url, query_string={"fragment": "crosstab", "question": "nps", "by": "channel"}, headers=htmx
    )
    html = card.get_data(as_text=True)
    assert card.status_code == 200 and "<html" not in html
    assert "Email" in html and "Public link" in html
    refused = client.get(
        url, query_string={"fragment": "crosstab", "question": "why", "by": "channel"}, headers=htmx
    )
    assert refused.status_code == 422
    assert "Choose a question with choices or numbers." in refused.get_data(as_text=True)
    bench = client.get(url, query_string={"fragment": "benchmark"}, headers=htmx)
    assert bench.status_code == 200 and "16.7" in bench.get_data(as_text=True)


def test_cross_tab_counts_by_customer_attribute(answered):
    table = comparisons.crosstab(answered, "channel", "customer_type")
    groups = {group["label"]: group for group in table["groups"]}
    assert groups["No customer"]["responses"] == 3
    company = next(g for name, g in groups.items() if name != "No customer")
    assert company["responses"] == 1 and company["cells"][0] == {"count": 1, "percent": 100.0}
    numbers = comparisons.crosstab(answered, "nps", "channel")
    by_channel = {group["label"]: group for group in numbers["groups"]}
    assert by_channel["Email"]["mean"] == 10.0
    assert by_channel["Public link"] == {
        "label": "Public link",
        "responses": 5,
        "mean": 7.0,
        "nps": 0.0,
    }


def test_cross_tab_by_segment_membership(answered, owner):
    acme = db.session.scalar(
        select(SurveyResponse.customer_id).where(SurveyResponse.customer_id.is_not(None))
    )
    segment = Segment(
        organization_id=owner[0].id,
        segment_name="Key accounts",
        segment_code="KEY",
        criteria={},
        is_dynamic=False,
    )
    db.session.add(segment)
    db.session.flush()
    db.session.add(
        SegmentMember(
            organization_id=owner[0].id,
            segment_id=segment.id,
            customer_id=acme,
            entered_at=dt.datetime.now(dt.UTC),
        )
    )
    db.session.flush()
    choices = comparisons.crosstab_choices(answered)
    assert (f"segment:{segment.id}", "Key accounts") in choices["attributes"]
    table = comparisons.crosstab(answered, "channel", f"segment:{segment.id}")
    assert table["by"] == "Key accounts"
    # channel answers: a (the member), then a, b, c from respondents without the segment
    assert [(g["label"], g["responses"], g["cells"][0]) for g in table["groups"]] == [
        ("Not in the segment", 3, {"count": 1, "percent": 33.3}),
        ("In the segment", 1, {"count": 1, "percent": 100.0}),
    ]


def test_the_responses_table_filters_and_exports(answered, owner, client, login_as):
    login_as(owner[1])
    url = f"/surveys/{answered.id}/responses"
    html = client.get(url, query_string={"nps": "detractor"}).get_data(as_text=True)
    assert len(re.findall(r'id="response-\d+"', html)) == 2
    bad = client.get(url, query_string={"since": "yesterday"})
    assert bad.status_code == 422 and "Use a date such as 2026-11-21." in bad.get_data(as_text=True)
    csv = client.get(
        f"{url.replace('responses', 'responses.csv')}", query_string={"state": "completed"}
    )
    lines = csv.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("response_id,started_at") and lines[0].endswith(
        "Rate each,Order these,Age"
    )
    assert len(lines) == 4
    # the first response: by email from a customer, 100% in 90 s, NPS 10, no open answer
    assert ",completed,email,CUS-" in lines[1]
    assert lines[1].endswith(",100,90,10,,,10,,A,5,R1: C1; R2: C1,X > Y > Z,30")


def test_a_response_shows_its_answers(answered, owner, client, login_as):
    login_as(owner[1])
    response_id = db.session.scalar(
        select(SurveyResponse.id).where(
            SurveyResponse.survey_id == answered.id, SurveyResponse.nps == 6
        )
    )
    html = client.get(f"/surveys/{answered.id}/responses/{response_id}").get_data(as_text=True)
    assert "The support was terrible and slow." in html and "Negative" in html
    assert client.get(f"/surveys/{answered.id}/responses/999999999").status_code == 404


def test_analytics_need_the_right_to_view_surveys(answered, owner, client, login_as, make_user):
    login_as(make_user(owner[0], role="sales"))
    assert client.get(f"/surveys/{answered.id}/analytics").status_code == 403
    assert client.get(f"/surveys/{answered.id}/responses.csv").status_code == 403
