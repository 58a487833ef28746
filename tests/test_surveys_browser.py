"""A marketer in headless Chromium, under the CSP, builds a three-question survey by dragging
from the palette, gives one question a display condition, sees a drag the logic forbids put
back with the reason, previews and launches it; then (with the respondent's and the analytics
pages) answers it through the public link and finds the response in the analytics."""

import re

import pytest

from crm_web.accounts.services import create_user
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.surveys.models import Survey, SurveyResponse
from tests import test_browser

pytestmark = [pytest.mark.browser, pytest.mark.committed]

browser = test_browser.browser
live_app = test_browser.live_app
live_server = test_browser.live_server
organization = test_browser.organization
page = test_browser.page
_sign_in = test_browser._sign_in


@pytest.fixture
def marketer(live_app, organization):
    with live_app.app_context():
        set_tenant(organization["id"])
        email = create_user(
            email=f"surveys-{organization['slug']}@example.com",
            name="Marketer",
            role="marketing",
            password=test_browser.PASSWORD,
        ).email
        db.session.commit()
        clear_tenant()
    return email


def _canvas_response(response) -> bool:
    return response.request.method == "POST" and re.search(r"/surveys/\d+/", response.url)


def _quiet(page) -> None:
    """Wait until htmx has swapped and settled and the new canvas's lists take drags (locators,
    not a script: the CSP forbids evaluating strings)."""
    from playwright.sync_api import expect

    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)
    expect(page.locator("#canvas.sortable-ready")).to_have_count(1)


def _drag(page, source, target_box) -> None:
    """Press on `source`, move in small steps to the middle of `target_box`, rest, release.
    SortableJS (mouse events, forceFallback) reads the pointer on a throttled move handler: a
    last small move and a pause before releasing let it see where the drop is on a busy machine."""
    box = source.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    x, y = target_box["x"] + target_box["width"] / 2, target_box["y"] + target_box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2 + 5, box["y"] + box["height"] / 2 + 5, steps=3)
    page.mouse.move(x, y, steps=25)
    page.wait_for_timeout(150)
    page.mouse.move(x + 1, y + 1)
    page.wait_for_timeout(150)
    page.mouse.up()


def _drop_below(page, source, target) -> None:
    """Drag `source` onto the lower part of `target` (a question, or a page's drop hint)."""
    _quiet(page)
    box = target.bounding_box()
    _drag(page, source, {**box, "y": box["y"] + box["height"] * 0.7, "height": box["height"] * 0.3})


def _stored(live_app, organization_id: int, name: str) -> Survey:
    with live_app.app_context():
        set_tenant(organization_id)
        survey = db.session.query(Survey).filter_by(name=name).one()
        db.session.expunge(survey)
        db.session.rollback()
        clear_tenant()
    return survey


def _build_survey(page, live_server, live_app, organization, marketer) -> Survey:
    """The builder part: three questions dragged from the palette, one display condition."""
    from playwright.sync_api import expect

    _sign_in(page, live_server, marketer)
    page.get_by_role("navigation").get_by_role("link", name="Surveys").click()
    page.get_by_role("link", name="New survey").click()
    page.get_by_label("Name", exact=True).fill("Customer pulse")
    page.get_by_role("button", name="Create and build").click()
    page.wait_for_url(re.compile(r".*/surveys/\d+$"))
    assert page.evaluate("typeof window.Sortable") == "function"

    canvas = page.locator("#canvas")
    palette = page.locator("#palette-types")
    with page.expect_response(_canvas_response) as answer:
        _drop_below(page, palette.locator("[data-kind=nps]"), canvas.locator(".drop-hint"))
    assert answer.value.status == 200
    expect(canvas.locator(".question")).to_have_count(1)
    with page.expect_response(_canvas_response):
        _drop_below(page, palette.locator("[data-kind=long_text]"), canvas.locator(".question"))
    expect(canvas.locator(".question")).to_have_count(2)
    # Dropped onto the upper part of the first question: it goes first.
    _quiet(page)
    with page.expect_response(_canvas_response):
        first = canvas.locator(".question").first.bounding_box()
        _drag(
            page, palette.locator("[data-kind=single]"), {**first, "height": first["height"] * 0.3}
        )
    expect(canvas.locator(".question")).to_have_count(3)
    kinds = canvas.locator(".question").evaluate_all("items => items.map(i => i.dataset.type)")
    assert kinds == ["single", "nps", "long_text"], kinds

    # The long text shows only to detractors: NPS at most 6.
    why = canvas.locator(".question[data-type=long_text]")
    _quiet(page)
    why.locator(".question-title").click()
    editor = why.locator("form.question-editor")
    editor.get_by_label("Question", exact=True).fill("What went wrong?")
    _quiet(page)
    nps_id = canvas.locator(".question[data-type=nps]").get_attribute("data-id")
    editor.get_by_label("Question the new condition reads").select_option(nps_id)
    with page.expect_response(_canvas_response):
        editor.get_by_role("button", name="Add condition").click()
    why = canvas.locator(".question[data-type=long_text]")
    _quiet(page)
    with page.expect_response(_canvas_response):  # the value input follows the comparison
        why.get_by_label("Comparison").select_option(label="is at most")
    _quiet(page)
    why.get_by_label("Value", exact=True).select_option("6")
    _quiet(page)
    with page.expect_response(_canvas_response) as answer:
        why.get_by_role("button", name="Save question").click()
    assert answer.value.status == 200
    expect(why.locator(".badge.logic")).to_contain_text("is at most 6")

    # Dragging the NPS below the question reading it is refused, and the order stays.
    nps = canvas.locator(".question[data-type=nps]")
    with page.expect_response(_canvas_response) as answer:
        _drop_below(page, nps.locator(".drag-handle"), why)
    assert answer.value.status == 422
    expect(canvas.locator(".question.has-error")).to_contain_text(
        "A condition can only use a question that comes before it."
    )
    kinds = canvas.locator(".question").evaluate_all("items => items.map(i => i.dataset.type)")
    assert kinds == ["single", "nps", "long_text"], kinds

    survey = _stored(live_app, organization["id"], "Customer pulse")
    questions = survey.definition["pages"][0]["questions"]
    assert [q["type"] for q in questions] == ["single", "nps", "long_text"]
    assert questions[2]["title"] == "What went wrong?"
    assert questions[2]["display"]["conditions"] == [
        {"question": questions[1]["id"], "op": "lte", "value": 6.0}
    ]
    return survey


def test_build_a_survey_by_dragging_and_launch_it(
    page, live_server, live_app, organization, marketer
):
    from playwright.sync_api import expect

    _build_survey(page, live_server, live_app, organization, marketer)
    # Undo takes back the last saved change (the condition), one step only.
    _quiet(page)
    with page.expect_response(_canvas_response):
        page.locator("#undo").click()
    expect(page.locator("#canvas .badge.logic")).to_have_count(0)
    expect(page.locator("#undo")).to_be_disabled()

    page.get_by_role("link", name="Preview").click()
    expect(page.get_by_role("link", name="Phone")).to_be_visible()
    page.get_by_role("link", name="Phone").click()
    if "survey_links.preview" in live_app.view_functions:
        expect(page.locator("iframe.survey-frame.phone")).to_be_visible()
    page.get_by_role("button", name="Launch").click()
    expect(page.locator(".survey-head .badge.status-active")).to_have_text("Active")
    page.watch.assert_clean()


def test_answer_through_the_public_link_and_see_it_in_analytics(
    page, live_server, live_app, organization, marketer
):
    """The whole way: build by dragging, launch, answer through the public link as a visitor,
    and find the response in the survey's analytics."""
    from playwright.sync_api import expect

    from crm_web.surveys import links

    survey = _build_survey(page, live_server, live_app, organization, marketer)
    page.locator("#launch-survey").click()
    expect(page.locator(".survey-head .badge.status-active")).to_have_text("Active")
    with live_app.test_request_context(base_url=live_server):
        public = links.public_url(organization["id"], survey.id)
    nps_id = survey.definition["pages"][0]["questions"][1]["id"]
    why_id = survey.definition["pages"][0]["questions"][2]["id"]

    visitor = page.context.browser.new_context()
    respondent = visitor.new_page()
    respondent.goto(public)
    respondent.locator(f"input[name=q_{nps_id}][value='3']").check()
    # The server says which questions show: the detractor's question appears.
    expect(respondent.locator(f"[name=q_{why_id}]")).to_be_visible()
    respondent.locator(f"[name=q_{why_id}]").fill("Too slow")
    respondent.locator("form button[type=submit]").last.click()
    expect(respondent.locator("body")).to_contain_text("Thank")
    visitor.close()
    with live_app.app_context():
        set_tenant(organization["id"])
        response = db.session.query(SurveyResponse).filter_by(survey_id=survey.id).one()
        assert response.state == "completed" and response.nps == 3
        db.session.rollback()
        clear_tenant()

    page.goto(f"{live_server}/surveys/{survey.id}/analytics")
    expect(page.locator("main")).to_contain_text("Customer pulse")
    expect(page.locator("main")).to_contain_text("1")
    page.watch.assert_clean()
