"""Survey documents and their logic: what the checker refuses (a jump backwards, a condition on
a later question, a page no path reaches), how pages and questions show for given answers,
what each question type accepts, launching versions, and the running tallies."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from crm_web.db import set_tenant
from crm_web.errors import Conflict, ValidationError
from crm_web.extensions import db
from crm_web.surveys import definition as doc
from crm_web.surveys import logic, services, tallies
from crm_web.surveys.models import SurveyVersion


def _survey_document() -> dict:
    """Page 1: NPS and a reason shown to detractors; detractors jump to page 3.
    Page 2: a choice. Page 3: a comment."""
    return {
        "pages": [
            {
                "id": "p1",
                "questions": [
                    {"id": "nps", "type": "nps", "title": "Recommend us?", "required": True},
                    {
                        "id": "why",
                        "type": "long_text",
                        "title": "What went wrong?",
                        "display": {
                            "match": "all",
                            "conditions": [{"question": "nps", "op": "lte", "value": 6}],
                        },
                    },
                ],
                "rules": [
                    {
                        "when": {
                            "match": "all",
                            "conditions": [{"question": "nps", "op": "lte", "value": 6}],
                        },
                        "goto": "p3",
                    }
                ],
            },
            {
                "id": "p2",
                "questions": [
                    {
                        "id": "liked",
                        "type": "multiple",
                        "title": "What did you like?",
                        "options": [{"id": "o1", "label": "Speed"}, {"id": "o2", "label": "Price"}],
                        "max_choices": 1,
                    }
                ],
            },
            {
                "id": "p3",
                "questions": [{"id": "c", "type": "short_text", "title": "Anything else?"}],
            },
        ]
    }


def _clean(raw) -> tuple[dict, dict]:
    errors: dict = {}
    return doc.clean_definition(raw, errors), errors


def test_a_sound_document_is_kept_as_given():
    document, errors = _clean(_survey_document())
    assert errors == {}
    assert [page["id"] for page in document["pages"]] == ["p1", "p2", "p3"]
    assert document["pages"][0]["rules"][0]["goto"] == "p3"
    assert document["pages"][0]["questions"][1]["display"]["conditions"][0]["value"] == 6.0


def test_a_jump_backwards_is_refused():
    raw = _survey_document()
    raw["pages"][2]["rules"] = [{"when": None, "goto": "p1"}]
    _document, errors = _clean(raw)
    assert errors == {"pages.2.rules.0.goto": "A rule can only jump forwards."}


def test_a_condition_on_a_later_question_is_refused():
    raw = _survey_document()
    raw["pages"][1]["questions"][0]["display"] = {
        "match": "all",
        "conditions": [{"question": "c", "op": "answered"}],
    }
    _document, errors = _clean(raw)
    assert errors == {
        "pages.1.questions.0.display.conditions.0.question": (
            "A condition can only use a question that comes before it."
        )
    }


def test_a_page_no_path_reaches_is_refused():
    raw = _survey_document()
    raw["pages"][0]["rules"].append({"when": None, "goto": "p3"})  # everyone else jumps too
    _document, errors = _clean(raw)
    assert errors == {"pages.1": "No answer can lead to this page: check the rules before it."}


def test_a_hidden_page_lets_the_next_one_be_reached():
    raw = _survey_document()
    raw["pages"][0]["rules"] = [{"when": None, "goto": "p2"}]
    raw["pages"][1]["display"] = {
        "match": "all",
        "conditions": [{"question": "nps", "op": "gte", "value": 9}],
    }
    document, errors = _clean(raw)
    assert errors == {}
    assert logic.path(document, {"nps": 10}) == [0, 1, 2]
    assert logic.path(document, {"nps": 7}) == [0, 2]


def test_comparisons_must_fit_the_question():
    raw = _survey_document()
    raw["pages"][0]["rules"][0]["when"]["conditions"][0] = {
        "question": "nps",
        "op": "contains",
        "value": "x",
    }
    _document, errors = _clean(raw)
    assert errors == {
        "pages.0.rules.0.when.conditions.0.op": "This comparison does not fit this question."
    }


def test_structure_errors_are_keyed_by_field():
    raw = {
        "pages": [
            {
                "questions": [
                    {"type": "single", "title": "", "options": []},
                    {"type": "rating", "title": "Rate", "scale": 7},
                    {"type": "short_text", "title": "Code", "pattern": "("},
                    {"type": "teleport", "title": "?"},
                ]
            }
        ]
    }
    _document, errors = _clean(raw)
    assert errors == {
        "pages.0.questions.0.title": "Write the question.",
        "pages.0.questions.0.options": "Give at least one option.",
        "pages.0.questions.1.scale": "Choose a scale of 1–5 or 1–10.",
        "pages.0.questions.2.pattern": "This is not a valid pattern.",
        "pages.0.questions.3.type": "Choose a kind of question.",
    }


def test_paths_and_visibility_follow_the_answers():
    document, _ = _clean(_survey_document())
    assert logic.path(document, {"nps": 3}) == [0, 2]
    assert logic.path(document, {"nps": 9}) == [0, 1, 2]
    page = document["pages"][0]
    assert [q["id"] for q in logic.visible_questions(page, {"nps": 3})] == ["nps", "why"]
    assert [q["id"] for q in logic.visible_questions(page, {"nps": 9})] == ["nps"]
    assert logic.answers_on_path(document, {"nps": 9, "why": "late", "liked": ["o1"]}) == {
        "nps": 9,
        "liked": ["o1"],
    }


def test_a_page_is_checked_with_its_own_answers_feeding_its_conditions():
    document, _ = _clean(_survey_document())
    page = document["pages"][0]
    values, errors = logic.check_page(page, MultiDict({"nps": "", "q_why": "x"}), {})
    assert errors == {"nps": "This question needs an answer."}
    values, errors = logic.check_page(page, MultiDict({"q_nps": "4", "q_why": "slow"}), {})
    assert (values, errors) == ({"nps": 4, "why": "slow"}, {})
    values, errors = logic.check_page(page, MultiDict({"q_nps": "9", "q_why": "ignored"}), {})
    assert (values, errors) == ({"nps": 9}, {})


@pytest.mark.parametrize(
    ("question", "raw", "expected"),
    [
        ({"type": "nps"}, "11", (None, "Choose from 0 to 10.")),
        ({"type": "nps"}, "7", (7, None)),
        ({"type": "rating", "scale": 5}, "6", (None, "Choose from 1 to 5.")),
        ({"type": "rating", "scale": 10}, "10", (10, None)),
        ({"type": "number", "min": 1, "max": 5}, "7", (None, "Give at most 5.")),
        ({"type": "number", "min": 1, "max": 5}, "2,5", (2.5, None)),
        ({"type": "number"}, "abc", (None, "Give a number.")),
        (
            {"type": "email", "min_length": None, "max_length": None},
            "a@b",
            (None, "Give an email address like name@example.com."),
        ),  # fmt: skip
        ({"type": "date"}, "2026-02-30", (None, "Give a date like 2026-05-31.")),
        ({"type": "date"}, "2026-02-28", ("2026-02-28", None)),
        (
            {"type": "short_text", "min_length": 3, "max_length": 5, "pattern": ""},
            "ab",
            (None, "Write at least 3 characters."),
        ),  # fmt: skip
        (
            {"type": "short_text", "min_length": None, "max_length": None, "pattern": r"\d{5}"},
            "12a45",
            (None, "This answer is not in the expected form."),
        ),  # fmt: skip
        ({"type": "single", "options": [{"id": "a"}]}, "b", (None, "Choose one of the options.")),
        (
            {
                "type": "multiple",
                "options": [{"id": "a"}, {"id": "b"}],
                "min_choices": 2,
                "max_choices": None,
            },
            ["a"],
            (None, "Choose at least 2."),
        ),  # fmt: skip
        (
            {
                "type": "multiple",
                "options": [{"id": "a"}, {"id": "b"}],
                "min_choices": None,
                "max_choices": None,
            },
            ["b", "a", "a"],
            (["a", "b"], None),
        ),  # fmt: skip
        (
            {"type": "ranking", "options": [{"id": "a"}, {"id": "b"}]},
            {"a": "2", "b": "2"},
            (None, "Give every option its own place."),
        ),  # fmt: skip
        (
            {"type": "ranking", "options": [{"id": "a"}, {"id": "b"}]},
            {"a": "2", "b": "1"},
            (["b", "a"], None),
        ),  # fmt: skip
        (
            {
                "type": "matrix",
                "rows": [{"id": "r1"}, {"id": "r2"}],
                "columns": [{"id": "c1"}],
                "multiple": False,
                "required": True,
            },
            {"r1": ["c1"]},
            (None, "Answer every row."),
        ),  # fmt: skip
        (
            {
                "type": "matrix",
                "rows": [{"id": "r1"}],
                "columns": [{"id": "c1"}],
                "multiple": False,
            },
            {"r1": ["c9"]},
            (None, "Choose among the columns."),
        ),  # fmt: skip
    ],
)
def test_each_type_checks_its_answer(question, raw, expected):
    assert logic.check_answer({"id": "q", **question}, raw) == expected


@settings(max_examples=200, deadline=None)
@given(nps=st.integers(0, 10), liked=st.sampled_from([[], ["o1"], ["o2"]]))
def test_the_path_is_the_pages_walked_one_at_a_time(nps, liked):
    """The path a submission walks page by page (check, then next page) is `path`."""
    document, _ = _clean(_survey_document())
    form = MultiDict({"q_nps": str(nps), "q_why": "because", "q_liked": liked, "q_c": "ok"})
    answers: dict = {}
    walked, number = [], 0
    while number is not None:
        walked.append(number)
        values, errors = logic.check_page(document["pages"][number], form, answers)
        assert errors == {}
        answers.update(values)
        number = logic.next_page(document, number, answers)
    assert walked == logic.path(document, answers)
    assert ("why" in answers) == (nps <= 6)
    assert ("liked" in answers) == (nps > 6 and bool(liked))


@pytest.fixture
def org(make_org):
    organization, admin = make_org("Surveys")
    set_tenant(organization.id, admin.id)
    return organization


def test_launching_freezes_a_version_and_a_relaunch_after_changes_makes_the_next(org):
    survey = services.create_survey({"name": "NPS"}, _survey_document())
    with pytest.raises(ValidationError):
        services.save_definition(survey.id, {"pages": [{"rules": [{"goto": "nowhere"}]}]})
    services.launch(survey.id)
    first = survey.version_id
    services.launch(survey.id)
    assert survey.version_id == first  # nothing changed: same version
    changed = services.editable_copy(survey)
    changed["pages"][2]["questions"][0]["title"] = "Anything more?"
    services.save_definition(survey.id, changed)
    services.undo(survey.id)
    with pytest.raises(Conflict):
        services.undo(survey.id)
    services.save_definition(survey.id, changed)
    services.launch(survey.id)
    versions = db.session.query(SurveyVersion).filter_by(survey_id=survey.id).all()
    assert sorted(v.number for v in versions) == [1, 2]
    assert services.get_version(survey, first).definition["pages"][2]["questions"][0]["title"] == (
        "Anything else?"
    )


def test_an_empty_survey_cannot_launch(org):
    survey = services.create_survey({"name": "Empty"})
    with pytest.raises(ValidationError) as refused:
        services.launch(survey.id)
    assert refused.value.fields == {"pages": "Add at least one question before launching."}


def test_tallies_move_with_the_answers(org):
    survey = services.create_survey({"name": "NPS"}, _survey_document())
    document = survey.definition
    common = {"organization_id": org.id, "survey_id": survey.id, "definition": document}
    tallies.record(response_id=1, before={}, after={"nps": 4, "why": "slow"}, **common)
    tallies.record(response_id=2, before={}, after={"nps": 9, "liked": ["o1"]}, **common)
    tallies.record(response_id=1, before={"nps": 4, "why": "slow"}, after={"nps": 9}, **common)
    counted = tallies.read(survey.id, org.id)
    assert counted["nps"] == {"": 2, "9": 2}
    assert "why" not in counted
    assert counted["liked"] == {"": 1, "o1": 1}


def test_a_survey_is_created_with_its_settings(org):
    survey = services.create_survey(
        {
            "name": "Event feedback",
            "description": "After the fair",
            "thank_you": "Thanks!",
            "language": "tr",
            "anonymous": True,
            "public_link": False,
            "max_responses": "300",
        }
    )
    assert (survey.description, survey.thank_you, survey.language) == (
        "After the fair",
        "Thanks!",
        "tr",
    )
    assert (survey.anonymous, survey.public_link, survey.max_responses) == (True, False, 300)
