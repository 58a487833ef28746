"""Answering a survey through its links: each question type's checks through the page, saving
page by page, resuming, personal links answered once, anonymity, limits, the honeypot and rate
limit, the live visibility answer, the preview walking the submission's path."""

import io
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from crm_web.accounts.services import create_user
from crm_web.campaigns import content
from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.surveys import public as survey_public
from crm_web.surveys import responses, services, tallies
from crm_web.surveys.models import SurveyInvitation, SurveyResponse
from tests import factories


def _choice(qid, kind, **extra):
    return {
        "id": qid,
        "type": kind,
        "title": f"Question {qid}",
        "options": [{"id": "a", "label": "Alpha"}, {"id": "b", "label": "Beta"}],
        **extra,
    }


def _document() -> dict:
    """Page 1: NPS (required) and a reason shown to detractors; detractors skip page 2.
    Page 2: every other type. Page 3: a comment."""
    low = {"match": "all", "conditions": [{"question": "nps", "op": "lte", "value": 6}]}
    return {
        "pages": [
            {
                "id": "p1",
                "questions": [
                    {"id": "nps", "type": "nps", "title": "Recommend us?", "required": True},
                    {"id": "why", "type": "long_text", "title": "Why?", "display": low},
                ],
                "rules": [{"when": low, "goto": "p3"}],
            },
            {
                "id": "p2",
                "questions": [
                    _choice("single", "single"),
                    _choice("multi", "multiple", max_choices=1),
                    _choice("drop", "dropdown"),
                    _choice("rank", "ranking"),
                    {"id": "rate", "type": "rating", "title": "Rate", "scale": 5},
                    {"id": "num", "type": "number", "title": "How many?", "min": 1, "max": 9},
                    {"id": "mail", "type": "email", "title": "Email"},
                    {"id": "day", "type": "date", "title": "When?"},
                    {"id": "code", "type": "short_text", "title": "Code", "pattern": r"\d{3}"},
                    {
                        "id": "grid",
                        "type": "matrix",
                        "title": "Grid",
                        "required": True,
                        "rows": [{"id": "r1", "label": "Speed"}, {"id": "r2", "label": "Price"}],
                        "columns": [{"id": "c1", "label": "Good"}, {"id": "c2", "label": "Bad"}],
                    },
                    {
                        "id": "doc",
                        "type": "file",
                        "title": "A file",
                        "file_types": ["txt"],
                        "max_kb": 1,
                    },
                ],
            },
            {"id": "p3", "questions": [{"id": "c", "type": "short_text", "title": "Else?"}]},
        ]
    }


@pytest.fixture
def org(make_org):
    organization, admin = make_org("Respond")
    set_tenant(organization.id, admin.id)
    return organization


@pytest.fixture
def survey(org, tmp_path, app):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    made = services.create_survey({"name": "Feedback"}, _document())
    services.update_settings(made.id, {"thank_you": "Thanks a lot!"})
    services.launch(made.id)
    return made


def _public(survey) -> str:
    return "/s/" + content.sign("survey", survey.organization_id, survey.id)


def _invitation(survey, customer) -> tuple[SurveyInvitation, str]:
    invitation = SurveyInvitation(
        organization_id=survey.organization_id,
        survey_id=survey.id,
        customer_id=customer.id,
        channel="email",
    )
    db.session.add(invitation)
    db.session.flush()
    token = content.sign("survey_invitation", survey.organization_id, invitation.id)
    return invitation, "/s/i/" + token


def _responses(survey) -> list[SurveyResponse]:
    set_tenant(survey.organization_id)
    db.session.expire_all()
    return db.session.query(SurveyResponse).filter_by(survey_id=survey.id).all()


def _post(client, url, page, data, **kwargs):
    return client.post(url, data={"page": str(page), **data}, **kwargs)


GOOD_PAGE_2 = {
    "q_single": "a",
    "q_multi": "b",
    "q_drop": "b",
    "q_rank_a": "2",
    "q_rank_b": "1",
    "q_rate": "4",
    "q_num": "3",
    "q_mail": "x@example.com",
    "q_day": "2026-03-01",
    "q_code": "123",
    "q_grid_r1": "c1",
    "q_grid_r2": "c2",
}


def test_a_public_respondent_answers_page_by_page_and_is_thanked(client, survey):
    page = client.get(_public(survey))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Recommend us?" in html and "<legend" in html
    assert re.search(r'data-question="why"[^>]*hidden', html)  # shown only to detractors
    saved = _post(client, _public(survey), 0, {"q_nps": "9"})
    assert saved.status_code == 303
    resume = saved.headers["Location"]
    assert "/s/r/" in resume
    assert f"survey_{survey.id}=" in saved.headers["Set-Cookie"]
    assert (
        "HttpOnly" in saved.headers["Set-Cookie"] and "SameSite=Lax" in saved.headers["Set-Cookie"]
    )
    second = client.get(resume).get_data(as_text=True)
    assert "Question single" in second and "33% done" in second
    assert _post(client, resume, 1, {**GOOD_PAGE_2, "q_doc": (io.BytesIO(b"hi"), "a.txt")},
                 content_type="multipart/form-data").status_code == 303  # fmt: skip
    assert _post(client, resume, 2, {"q_c": "fine"}).status_code == 303
    assert "Thanks a lot!" in client.get(resume).get_data(as_text=True)
    [response] = _responses(survey)
    assert response.state == "completed" and response.completion == 100
    assert response.pages_seen == [0, 1, 2]
    assert response.answers["rank"] == ["b", "a"]
    assert response.answers["grid"] == {"r1": "c1", "r2": "c2"}
    assert response.answers["doc"]["name"] == "a.txt" and response.answers["doc"]["size"] == 2
    assert response.nps == 9 and response.duration_seconds is not None
    assert response.ip is not None and response.customer_id is None
    db.session.refresh(survey)
    assert survey.completed_count == 1
    counted = tallies.read(survey.id, survey.organization_id)
    assert counted["nps"] == {"": 1, "9": 1} and counted["grid"]["r2:c2"] == 1


@pytest.mark.parametrize(
    ("field", "raw", "message"),
    [
        ("q_single", "zz", "Choose one of the options."),
        ("q_multi", ["a", "b"], "Choose at most 1."),
        ("q_drop", "zz", "Choose one of the options."),
        ("q_rank_a", "1", "Give every option its own place."),  # b is 1 too
        ("q_rate", "6", "Choose from 1 to 5."),
        ("q_num", "12", "Give at most 9."),
        ("q_mail", "nope", "Give an email address like name@example.com."),
        ("q_day", "2026-02-30", "Give a date like 2026-05-31."),
        ("q_code", "12a", "This answer is not in the expected form."),
        ("q_grid_r2", "", "Answer every row."),
        ("q_grid_r1", "c9", "Choose among the columns."),
    ],
)
def test_each_type_is_checked_through_the_page_and_what_was_typed_stays(
    client, survey, field, raw, message
):
    resume = _post(client, _public(survey), 0, {"q_nps": "10"}).headers["Location"]
    data = MultiDict(GOOD_PAGE_2)
    data.setlist(field, raw if isinstance(raw, list) else [raw])
    refused = client.post(resume, data=MultiDict([("page", "1"), *data.items(multi=True)]))
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    qid = field[2:].split("_")[0]
    assert message in html
    assert f'id="q_{qid}-error"' in html
    assert re.search(rf'aria-describedby="[^"]*q_{qid}-error', html)
    assert 'value="x@example.com"' in html or field == "q_mail"  # the rest kept as typed
    [response] = _responses(survey)
    assert response.page == 1 and "single" not in response.answers  # nothing of the page kept


def test_a_file_of_the_wrong_type_or_too_large_is_refused_at_its_field(client, survey):
    resume = _post(client, _public(survey), 0, {"q_nps": "10"}).headers["Location"]
    for upload, message in (
        ((io.BytesIO(b"x"), "a.exe"), "Upload a file of type: txt."),
        ((io.BytesIO(b"x" * 2000), "a.txt"), "Files can be at most 1 KB."),
    ):
        refused = _post(client, resume, 1, {**GOOD_PAGE_2, "q_doc": upload},
                        content_type="multipart/form-data")  # fmt: skip
        assert refused.status_code == 422
        assert message in refused.get_data(as_text=True)


def test_a_required_question_left_empty_is_refused(client, survey):
    refused = _post(client, _public(survey), 0, {"q_nps": ""})
    assert refused.status_code == 422
    assert "This question needs an answer." in refused.get_data(as_text=True)
    assert _responses(survey) == []


def test_a_respondent_who_leaves_comes_back_where_they_were(client, survey, app):
    resume = _post(client, _public(survey), 0, {"q_nps": "3", "q_why": "slow"}).headers["Location"]
    # The cookie brings the public link back to the response...
    assert client.get(_public(survey)).headers["Location"].endswith(resume.split("/s/r/")[1])
    # ...and so does the link, from a browser that has no cookie.
    fresh = app.test_client()
    html = fresh.get(resume).get_data(as_text=True)
    assert "Else?" in html  # the detractor's skip to page 3
    assert "To finish later" in html
    assert _post(fresh, resume, 2, {"q_c": "ok"}).status_code == 303
    [response] = _responses(survey)
    assert response.state == "completed" and response.answers == {
        "nps": 3,
        "why": "slow",
        "c": "ok",
    }


def test_a_stale_form_saves_nothing_and_shows_where_the_respondent_is(client, survey):
    resume = _post(client, _public(survey), 0, {"q_nps": "9"}).headers["Location"]
    assert _post(client, resume, 0, {"q_nps": "2"}).status_code == 303
    [response] = _responses(survey)
    assert response.answers == {"nps": 9} and response.page == 1


def test_a_personal_link_is_answered_once_and_names_the_customer(client, survey):
    customer = factories.customer(first_name="Ada")
    invitation, url = _invitation(survey, customer)
    assert _post(client, url, 0, {"q_nps": "1"}).headers["Location"].endswith(url)
    assert _post(client, url, 2, {"q_c": "bye"}).status_code == 303
    again = client.get(url).get_data(as_text=True)
    assert "Thanks a lot!" in again and "<form" not in again
    assert _post(client, url, 0, {"q_nps": "10"}).status_code == 200  # the thank-you again
    [response] = _responses(survey)
    assert response.invitation_id == invitation.id and response.customer_id == customer.id
    assert response.channel == "email" and response.answers["nps"] == 1


def test_an_anonymous_survey_keeps_no_customer_and_no_address(client, org, app, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    survey = services.create_survey({"name": "Anon"}, _document())
    services.update_settings(survey.id, {"anonymous": "on"})
    services.launch(survey.id)
    _invitation_row, url = _invitation(survey, factories.customer())
    _post(client, url, 0, {"q_nps": "2"})
    _post(client, _public(survey), 0, {"q_nps": "2"})
    found = _responses(survey)
    assert len(found) == 2
    assert all(r.customer_id is None and r.ip is None for r in found)


def test_a_tampered_token_is_a_404_and_a_closed_survey_says_so(client, survey):
    assert client.get(_public(survey)[:-3] + "abc").status_code == 404
    assert client.get("/s/r/nonsense").status_code == 404
    assert client.post("/s/i/nonsense", data={"page": "0"}).status_code == 404
    set_tenant(survey.organization_id)
    services.close(survey.id)
    closed = client.get(_public(survey))
    assert closed.status_code == 200
    assert "This survey is closed" in closed.get_data(as_text=True)
    assert "This survey is closed" in _post(client, _public(survey), 0, {"q_nps": "5"}).get_data(
        as_text=True
    )


def test_the_last_place_goes_to_one_respondent(client, survey, app):
    set_tenant(survey.organization_id)
    services.update_settings(survey.id, {"max_responses": "1"})
    first, second = app.test_client(), app.test_client()
    one = _post(first, _public(survey), 0, {"q_nps": "1"}).headers["Location"]
    two = _post(second, _public(survey), 0, {"q_nps": "1"}).headers["Location"]
    assert _post(first, one, 2, {"q_c": "a"}).status_code == 303
    full = _post(second, two, 2, {"q_c": "b"})
    assert "all the responses it needs" in full.get_data(as_text=True)
    assert sorted(r.state for r in _responses(survey)) == ["completed", "in_progress"]


def test_the_honeypot_stores_nothing_and_starts_are_rate_limited(client, survey, monkeypatch):
    caught = _post(client, _public(survey), 0, {"q_nps": "9", "website": "http://spam"})
    assert "Thanks a lot!" in caught.get_data(as_text=True)
    assert _responses(survey) == []
    monkeypatch.setattr(survey_public, "START_LIMIT", 2)
    for _n in range(2):
        assert _post(survey_client := client, _public(survey), 0, {"q_nps": "9"}).status_code == 303
        survey_client.delete_cookie(f"survey_{survey.id}", path="/s/")
    throttled = _post(client, _public(survey), 0, {"q_nps": "9"})
    assert throttled.status_code == 429
    assert len(_responses(survey)) == 2


def test_the_page_asks_the_server_which_questions_show(client, survey):
    asked = client.post(
        _public(survey) + "?fragment=visibility",
        data={"page": "0", "q_nps": "4"},
        headers={"HX-Request": "true"},
    )
    assert asked.status_code == 204
    assert json.loads(asked.headers["HX-Trigger"]) == {
        "surveyVisibility": {"shown": ["nps", "why"]}
    }
    asked = client.post(
        _public(survey) + "?fragment=visibility",
        data={"page": "0", "q_nps": "9"},
        headers={"HX-Request": "true"},
    )
    assert json.loads(asked.headers["HX-Trigger"])["surveyVisibility"]["shown"] == ["nps"]
    assert _responses(survey) == []


def test_the_preview_runs_the_draft_and_stores_nothing(client, survey, login_as, org):
    admin = create_user(
        email=f"m-{org.id}@example.com", name="M", role="marketing", password="correct-horse"
    )
    login_as(admin)
    url = f"/surveys/{survey.id}/preview/respond"
    page = client.get(url)
    assert page.status_code == 200
    assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]
    assert "Preview: answers are not saved." in page.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))[1]
    assert _post(client, url, 0, {"q_nps": "2", "csrf_token": token}).status_code == 303
    assert "Else?" in client.get(url).get_data(as_text=True)
    assert _responses(survey) == []


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    nps=st.integers(0, 10),
    why=st.sampled_from(["", "slow"]),
    single=st.sampled_from(["", "a", "b"]),
    comment=st.sampled_from(["", "ok"]),
)
def test_the_preview_walks_the_path_a_submission_walks(survey, nps, why, single, comment):
    """Over random answers, the preview's steps (no database) and a saved response's pages
    (each page saved in its transaction) visit the same pages and keep the same answers."""
    set_tenant(survey.organization_id)
    document = responses.version_document(survey)
    form = MultiDict(
        {
            "q_nps": str(nps),
            "q_why": why,
            "q_single": single,
            "q_c": comment,
            "q_grid_r1": "c1",
            "q_grid_r2": "c1",
        }  # fmt: skip
    )
    walked, answers, number = [], {}, 0
    while number is not None:
        walked.append(number)
        result = responses.step(document, number, answers, form)
        answers, number = result.answers, result.following
    respondent = responses.Respondent(survey, document)
    saved = None
    for page in walked:
        saved = responses.save_page(respondent, page, form, ip="127.0.0.1")
    assert saved.state == "completed"
    assert saved.pages_seen == walked
    assert saved.answers == answers


def test_completion_runs_its_listeners_in_the_same_transaction(survey, monkeypatch):
    """The "survey_completed" hook: a listener sees the response as it completes, not before."""
    monkeypatch.setattr(responses, "_COMPLETION_LISTENERS", [])
    seen = []
    responses.listen_for_completion(lambda response: seen.append((response.state, response.nps)))
    set_tenant(survey.organization_id)
    respondent = responses.Respondent(survey, responses.version_document(survey))
    responses.save_page(respondent, 0, MultiDict({"q_nps": "2"}))
    assert seen == []
    responses.save_page(respondent, 2, MultiDict({"q_c": "ok"}))
    assert seen == [("completed", 2)]
