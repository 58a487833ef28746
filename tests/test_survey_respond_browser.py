"""A respondent in headless Chromium at a phone's width, under the CSP: a question shows and
hides as the server answers about the typed answers, a page saved moves to the resume link
(with its cookie), a field error keeps the answer and takes the focus, the thank-you at the end."""

import re

import pytest

from crm_web.db import clear_tenant, set_tenant
from tests import test_browser

pytestmark = [pytest.mark.browser, pytest.mark.committed]

browser = test_browser.browser
live_app = test_browser.live_app
live_server = test_browser.live_server
organization = test_browser.organization
page = test_browser.page


def test_a_respondent_answers_on_a_phone(page, live_app, live_server, organization):
    from playwright.sync_api import expect

    from crm_web.campaigns import content
    from crm_web.surveys import services

    low = {"match": "all", "conditions": [{"question": "nps", "op": "lte", "value": 6}]}
    document = {
        "pages": [
            {
                "id": "p1",
                "questions": [
                    {"id": "nps", "type": "nps", "title": "Would you recommend us?"},
                    {"id": "why", "type": "long_text", "title": "What went wrong?", "display": low},
                ],
            },
            {
                "id": "p2",
                "questions": [{"id": "mail", "type": "email", "title": "Your email"}],
            },
        ]
    }
    with live_app.app_context():
        set_tenant(organization["id"])
        survey = services.create_survey({"name": "After your visit"}, document)
        services.update_settings(survey.id, {"thank_you": "Thank you, see you soon."})
        services.launch(survey.id)
        token = content.sign("survey", organization["id"], survey.id)
        clear_tenant()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/s/{token}")
    reason = page.get_by_label("What went wrong?")
    expect(reason).to_be_hidden()
    page.locator("input[name=q_nps][value='3']").check()
    expect(reason).to_be_visible()
    page.locator("input[name=q_nps][value='9']").check()
    expect(reason).to_be_hidden()
    page.get_by_role("button", name="Next").click()
    expect(page).to_have_url(re.compile(r"/s/r/"))
    assert any(cookie["name"] == f"survey_{survey.id}" for cookie in page.context.cookies())
    expect(page.locator("#survey-progress")).to_have_attribute("value", "50")
    email = page.get_by_label("Your email")
    email.fill("not an address")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#survey-errors")).to_be_focused()
    expect(email).to_have_value("not an address")
    expect(email).to_have_attribute("aria-invalid", "true")
    email.fill("ada@example.com")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".survey-thanks")).to_have_text("Thank you, see you soon.")
    page.watch.assert_clean()
