"""Survey pages: the list and its status filter, a new survey (blank or from a template), the
builder's fragments (add from the palette or a template at a place, move, edit, duplicate,
delete, page breaks, page logic, undo) with the checker's refusals shown at the field, the
settings, launching and closing, and who may do what."""

import re

import pytest

from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.surveys import question_templates, services
from crm_web.surveys.models import Survey

HTMX = {"HX-Request": "true"}


@pytest.fixture
def team(make_org, make_user):
    organization, admin = make_org("Anket")
    return {
        "organization": organization,
        "marketing": make_user(organization, role="marketing"),
        "support": make_user(organization, role="support"),
        "sales": make_user(organization, role="sales"),
    }


def _survey(survey_id: int, organization_id: int) -> Survey:
    """The survey as the requests left it (not as this test's session last read it)."""
    db.session.expire_all()
    set_tenant(organization_id)
    try:
        return services.get_survey(survey_id)
    finally:
        clear_tenant()


def _document(survey_id: int, organization_id: int) -> dict:
    return _survey(survey_id, organization_id).definition


def _question_ids(html: str) -> list[str]:
    return re.findall(r'<li class="question[^"]*" id="question-([A-Za-z0-9_-]+)"', html)


def _new(client, **fields) -> tuple[str, int]:
    created = client.post("/surveys/new", data={"name": "Feedback", "language": "en", **fields})
    assert created.status_code == 303, created.get_data(as_text=True)[:400]
    url = created.headers["Location"]
    return url, int(url.rsplit("/", 1)[1])


def test_build_a_survey_from_the_palette_with_a_display_condition(client, login_as, team):
    org = team["organization"]
    login_as(team["marketing"])
    url, survey_id = _new(client)
    assert client.get(url).status_code == 200
    page_id = _document(survey_id, org.id)["pages"][0]["id"]

    for kind in ("nps", "long_text", "single"):
        added = client.post(
            f"{url}/questions", data={"kind": kind, "page_id": page_id}, headers=HTMX
        )
        assert added.status_code == 200
    nps, why, choice = _question_ids(added.get_data(as_text=True))
    # The palette's drop names its place: a rating dropped first on the page.
    client.post(
        f"{url}/questions", data={"kind": "rating", "page_id": page_id, "index": "0"}, headers=HTMX
    )
    document = _document(survey_id, org.id)
    assert [q["type"] for q in document["pages"][0]["questions"]] == [
        "rating",
        "nps",
        "long_text",
        "single",
    ]
    rating = document["pages"][0]["questions"][0]["id"]

    # Adding a condition redraws the editor unsaved; then "save" saves the question.
    redrawn = client.post(
        f"{url}/questions/{why}",
        data={"title": "Why?", "action": "add:display", "display-new": nps},
        headers=HTMX,
    )
    assert 'name="display-0-question"' in redrawn.get_data(as_text=True)
    assert _document(survey_id, org.id)["pages"][0]["questions"][2]["display"] is None
    saved = client.post(
        f"{url}/questions/{why}",
        data={
            "action": "save",
            "title": "Why?",
            "required": "on",
            "max_length": "500",
            "display-match": "all",
            "display-0-question": nps,
            "display-0-op": "lte",
            "display-0-value": "6",
        },
        headers=HTMX,
    )
    assert saved.status_code == 200
    html = saved.get_data(as_text=True)
    assert "Shown when" in html and 'hx-swap-oob="true"' in html  # the toolbar's undo
    question = _document(survey_id, org.id)["pages"][0]["questions"][2]
    assert question["title"] == "Why?" and question["required"] and question["max_length"] == 500
    assert question["display"]["conditions"] == [{"question": nps, "op": "lte", "value": 6.0}]

    # Dragging the rating below the question whose condition reads... the NPS stays earlier:
    # allowed. Dragging the NPS below "why" is refused, with the message at "why".
    moved = client.post(
        f"{url}/questions/{rating}/move", data={"page_id": page_id, "index": "3"}, headers=HTMX
    )
    assert moved.status_code == 200
    refused = client.post(
        f"{url}/questions/{nps}/move", data={"page_id": page_id, "index": "2"}, headers=HTMX
    )
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert "A condition can only use a question that comes before it." in body
    assert _question_ids(body) == [nps, why, choice, rating]  # shown as it still is
    assert [q["id"] for q in _document(survey_id, org.id)["pages"][0]["questions"]] == [
        nps,
        why,
        choice,
        rating,
    ]

    # Deleting the NPS would leave "why" reading nothing: refused, saying who reads it.
    refused = client.post(f"{url}/questions/{nps}/delete", headers=HTMX)
    assert refused.status_code == 422
    assert "reads this question" in refused.get_data(as_text=True)


def test_edits_are_checked_at_the_field_and_kept_in_the_form(client, login_as, team):
    org = team["organization"]
    login_as(team["marketing"])
    url, survey_id = _new(client)
    page_id = _document(survey_id, org.id)["pages"][0]["id"]
    client.post(f"{url}/questions", data={"kind": "multiple", "page_id": page_id}, headers=HTMX)
    question = _document(survey_id, org.id)["pages"][0]["questions"][0]
    options = question["options"]
    form = {
        "action": "save",
        "title": "",
        "option_id": [o["id"] for o in options],
        "option_label": ["Speed", ""],
        "min_choices": "2",
        "max_choices": "1",
    }
    refused = client.post(f"{url}/questions/{question['id']}", data=form, headers=HTMX)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    for key in ("title", "options.1", "max_choices"):
        assert f'data-error="{key}"' in html
    assert 'value="Speed"' in html  # what was typed stays
    assert _document(survey_id, org.id)["pages"][0]["questions"][0]["title"] == "Multiple choice"

    # Adding an option redraws with a third; the form's own edits never save.
    more = client.post(
        f"{url}/questions/{question['id']}", data={**form, "action": "add:options"}, headers=HTMX
    )
    assert more.get_data(as_text=True).count('name="option_label"') == 3
    ok = client.post(
        f"{url}/questions/{question['id']}",
        data={
            **form,
            "title": "What do you like?",
            "option_label": ["Speed", "Price"],
            "min_choices": "1",
            "max_choices": "2",
        },
        headers=HTMX,
    )
    assert ok.status_code == 200
    saved = _document(survey_id, org.id)["pages"][0]["questions"][0]
    assert [o["label"] for o in saved["options"]] == ["Speed", "Price"]
    assert (saved["min_choices"], saved["max_choices"]) == (1, 2)


def test_page_breaks_rules_and_undo(client, login_as, team):
    org = team["organization"]
    login_as(team["marketing"])
    url, survey_id = _new(client, template="product")
    document = _document(survey_id, org.id)
    assert len(document["pages"]) == 3 and document["pages"][0]["rules"]
    first, second, third = (page["id"] for page in document["pages"])
    rating = document["pages"][0]["questions"][1]["id"]

    # Joining the last page would leave page 1's rule jumping nowhere: refused, saying so.
    refused = client.post(f"{url}/pages/{third}/join", headers=HTMX)
    assert refused.status_code == 422
    assert "A rule of page 1 goes to this page" in refused.get_data(as_text=True)

    # A rule jumping backwards is refused at its field.
    backwards = client.post(
        f"{url}/pages/{second}",
        data={"action": "save", "title": "More", "rule-0-goto": first},
        headers=HTMX,
    )
    assert backwards.status_code == 422
    assert 'data-error="rules.0.goto"' in backwards.get_data(as_text=True)
    # An end rule for low ratings on page 2, and a title.
    saved = client.post(
        f"{url}/pages/{second}",
        data={
            "action": "save",
            "title": "More",
            "rule-0-goto": "end",
            "rule-0-when-match": "all",
            "rule-0-when-0-question": rating,
            "rule-0-when-0-op": "eq",
            "rule-0-when-0-value": "3",
        },
        headers=HTMX,
    )
    assert saved.status_code == 200
    page = _document(survey_id, org.id)["pages"][1]
    assert page["title"] == "More" and page["rules"][0]["goto"] == "end"

    # A break after the first question would put the rating page 1's rule reads on a later
    # page: refused. After the rating, it makes an empty second page; undo puts it back.
    question = _document(survey_id, org.id)["pages"][0]["questions"][0]["id"]
    refused = client.post(f"{url}/questions/{question}/break", headers=HTMX)
    assert refused.status_code == 422
    assert "comes before it" in refused.get_data(as_text=True)
    client.post(f"{url}/questions/{rating}/break", headers=HTMX)
    assert len(_document(survey_id, org.id)["pages"]) == 4
    undone = client.post(f"{url}/undo", headers=HTMX)
    assert undone.status_code == 200
    assert len(_document(survey_id, org.id)["pages"]) == 3
    # One step only: a second undo has nothing to put back.
    assert client.post(f"{url}/undo", headers=HTMX).status_code == 409

    duplicated = client.post(f"{url}/questions/{question}/duplicate", headers=HTMX)
    assert duplicated.status_code == 200
    titles = [q["title"] for q in _document(survey_id, org.id)["pages"][0]["questions"]]
    assert titles[0] == titles[1]


def test_a_template_drops_its_questions_where_asked(client, login_as, team):
    org = team["organization"]
    login_as(team["marketing"])
    url, survey_id = _new(client, template="contact")
    page_id = _document(survey_id, org.id)["pages"][0]["id"]
    client.post(
        f"{url}/questions", data={"template": "nps", "page_id": page_id, "index": "1"}, headers=HTMX
    )
    kinds = [q["type"] for q in _document(survey_id, org.id)["pages"][0]["questions"]]
    assert kinds == [
        "short_text",
        "nps",
        "long_text",
        "single",
        "email",
        "short_text",
        "short_text",
    ]
    unknown = client.post(f"{url}/questions", data={"template": "nope"}, headers=HTMX)
    assert unknown.status_code == 422


def test_every_template_is_a_sound_document_in_both_languages(app):
    from flask_babel import force_locale

    from crm_web.surveys import definition as doc

    with app.test_request_context():
        for key in question_templates.TEMPLATES:
            for language in ("en", "tr"):
                with force_locale(language):
                    raw = question_templates.document(key)
                errors: dict = {}
                doc.clean_definition(raw, errors)
                assert errors == {}, (key, errors)
        with force_locale("tr"):
            assert question_templates.document("nps")["pages"][0]["questions"][0]["title"] != (
                "How likely are you to recommend us to a friend or colleague?"
            )


def test_new_survey_settings_launch_and_close(client, login_as, team):
    org = team["organization"]
    login_as(team["marketing"])
    missing = client.post("/surveys/new", data={"name": " ", "language": "en"}, headers=HTMX)
    assert missing.status_code == 422 and 'id="survey-name-error"' in missing.get_data(as_text=True)
    url, survey_id = _new(client)
    # An empty survey is not launched: the builder says why.
    empty = client.post(f"{url}/launch")
    assert empty.status_code == 422
    assert "Add at least one question before launching." in empty.get_data(as_text=True)

    bad = client.post(
        f"{url}/settings",
        data={
            "name": "Feedback",
            "language": "en",
            "starts_at": "2026-05-02T10:00",
            "ends_at": "2026-05-01T10:00",
            "max_responses": "0",
        },
        headers=HTMX,
    )
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'id="settings-ends_at-error"' in html and 'id="settings-max_responses-error"' in html
    good = client.post(
        f"{url}/settings",
        data={
            "name": "Feedback 2026",
            "language": "tr",
            "max_responses": "100",
            "anonymous": "on",
            "public_link": "on",
            "thank_you": "Teşekkürler",
        },
    )
    assert good.status_code == 303
    client.post(f"{url}/questions", data={"kind": "nps"}, headers=HTMX)
    assert client.post(f"{url}/launch").status_code == 303
    survey = _survey(survey_id, org.id)
    assert (survey.status, survey.name, survey.anonymous, survey.max_responses) == (
        "active",
        "Feedback 2026",
        True,
        100,
    )
    assert "Changes not launched yet" not in client.get(url).get_data(as_text=True)
    client.post(f"{url}/questions", data={"kind": "email"}, headers=HTMX)
    assert "Changes not launched yet" in client.get(url).get_data(as_text=True)

    listed = client.get("/surveys?status=active").get_data(as_text=True)
    assert "Feedback 2026" in listed
    assert "Feedback 2026" not in client.get("/surveys?status=draft").get_data(as_text=True)
    assert (
        client.post(f"{url}/close", headers=HTMX).headers["HX-Redirect"] == f"/surveys/{survey_id}"
    )
    assert _survey(survey_id, org.id).status == "closed"


def test_who_may_see_and_change_surveys(client, login_as, team, make_org):
    org = team["organization"]
    login_as(team["marketing"])
    url, survey_id = _new(client)
    client.post(f"{url}/questions", data={"kind": "nps"}, headers=HTMX)
    question = _document(survey_id, org.id)["pages"][0]["questions"][0]["id"]
    client.post("/logout")

    login_as(team["support"])  # reads surveys (the ones sent after tickets), changes nothing
    page = client.get(url)
    assert page.status_code == 200 and 'class="palette' not in page.get_data(as_text=True)
    assert client.get(f"{url}/questions/{question}", headers=HTMX).status_code == 200
    assert (
        client.post(
            f"{url}/questions/{question}", data={"action": "save", "title": "x"}, headers=HTMX
        ).status_code
        == 403
    )
    assert client.post(f"{url}/questions", data={"kind": "nps"}, headers=HTMX).status_code == 403
    assert client.get(f"{url}/preview").status_code == 403
    client.post("/logout")

    login_as(team["sales"])
    assert client.get("/surveys").status_code == 403
    assert client.get(url).status_code == 403
    client.post("/logout")

    # Another organization's survey is not found.
    other_org, other_admin = make_org("Other")
    login_as(other_admin)
    assert client.get(url).status_code == 404
    assert client.post(f"{url}/questions", data={"kind": "nps"}, headers=HTMX).status_code == 404
    assert len(_document(survey_id, org.id)["pages"][0]["questions"]) == 1


def test_new_questions_speak_the_survey_language_and_plain_posts_redirect(client, login_as, team):
    org = team["organization"]
    login_as(team["marketing"])
    url, survey_id = _new(client, language="tr")
    # Without HTMX (no script), a change answers with the builder's address.
    added = client.post(f"{url}/questions", data={"kind": "single"})
    assert added.status_code == 303 and added.headers["Location"] == url
    question = _document(survey_id, org.id)["pages"][0]["questions"][0]
    assert question["title"] == "Tek seçim"
    assert [o["label"] for o in question["options"]] == ["Seçenek 1", "Seçenek 2"]
    # The builder itself stays in the user's language.
    assert "Add a question" in client.get(url).get_data(as_text=True)


def test_hand_made_posts_get_messages_not_errors(client, login_as, team):
    login_as(team["marketing"])
    url, survey_id = _new(client)
    assert client.get("/surveys?cursor=not-a-cursor&status=nope").status_code < 500
    odd = client.post(f"{url}/questions", data={"kind": "nps", "index": "-3x", "page_id": ""})
    assert odd.status_code == 303  # at the end of the last page
    unknown = client.post(f"{url}/questions", data={"kind": "nps", "page_id": "nope"}, headers=HTMX)
    assert unknown.status_code == 422
    assert "no longer in the survey" in unknown.get_data(as_text=True)
    assert client.post(f"{url}/questions", data={"kind": "poll"}, headers=HTMX).status_code == 422
    gone = client.post(f"{url}/questions/qnope/move", data={"page_id": "x"}, headers=HTMX)
    assert gone.status_code == 422
    assert client.get(f"{url}/pages/pnope", headers=HTMX).status_code == 422
    assert client.get("/surveys/999999999").status_code == 404
