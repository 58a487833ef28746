"""In headless Chromium: create a customer, find it by typing part of its name, add a note and
see it on the timeline; run an event and mark attendance. Served like tests/test_browser.py."""

# The browser fixtures are imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

import datetime as dt
import re
import uuid

import pytest

from tests.test_browser import _sign_in as sign_in
from tests.test_browser import (  # noqa: F401
    browser,
    live_app,
    live_server,
    organization,
    page,
)

pytestmark = [pytest.mark.browser, pytest.mark.committed]


@pytest.fixture(scope="module", autouse=True)
def upload_dir(tmp_path_factory):
    """Uploads of the live app go to a folder of this module (set before the app is made)."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("uploads")
        patch.setenv("UPLOAD_DIR", str(folder))
        yield folder


def _create_customer(page, base_url: str, first: str, last: str, email: str) -> None:
    from playwright.sync_api import expect

    page.get_by_role("navigation").get_by_role("link", name="Customers").click()
    page.wait_for_url(f"{base_url}/customers")
    page.get_by_role("link", name="New customer").click()
    page.wait_for_url(f"{base_url}/customers/new")
    form = page.locator("#customer-form")
    form.get_by_label("First name").fill(first)
    form.get_by_label("Last name").fill(last)
    form.get_by_label("Email", exact=True).fill(email)
    form.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(rf"{re.escape(base_url)}/customers/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{first} {last}")


def test_create_find_by_typing_add_note_see_it_on_the_timeline(
    page, live_server, organization, upload_dir
):
    from playwright.sync_api import expect

    sign_in(page, live_server, organization["email"])
    marker = uuid.uuid4().hex[:6]
    last = f"Kaya{marker}"
    _create_customer(page, live_server, "Zeynep", last, f"zeynep.{marker}@example.com")

    # Find it on the list by typing part of the name: the results swap in as we type.
    page.get_by_role("navigation").get_by_role("link", name="Customers").click()
    page.wait_for_url(f"{live_server}/customers")
    page.get_by_label("Search").press_sequentially(f"kaya{marker[:4]}", delay=40)
    rows = page.locator("#customer-rows tr", has_text=last)
    expect(rows).to_have_count(1)
    expect(page.locator("#customer-rows tr")).to_have_count(1)
    rows.get_by_role("link", name=f"Zeynep {last}").click()
    page.wait_for_url(re.compile(rf"{re.escape(live_server)}/customers/\d+$"))
    expect(page.locator("#timeline")).to_contain_text("Nothing on the timeline yet.")

    # Add a note: the notes section swaps in place, the timeline reloads itself.
    page.evaluate("window.__sameDocument = 'yes'")
    notes = page.locator("#notes")
    notes.get_by_label("Note").fill("Met at the fair; wants a quote for 40 licences.")
    notes.get_by_role("button", name="Add note").click()
    expect(page.locator("#notes li.note")).to_have_count(1)
    expect(page.locator("#notes li.note")).to_contain_text("wants a quote for 40 licences")
    entry = page.locator("#timeline tr.entry[data-kind='note']")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("Met at the fair; wants a quote for 40 licences.")
    expect(page.locator("#timeline")).not_to_contain_text("Nothing on the timeline yet.")
    assert page.evaluate("window.__sameDocument") == "yes"

    # Edit it inline; the timeline follows.
    page.locator("#notes li.note").get_by_role("link", name="Edit").click()
    editor = page.locator("#notes li.note.editing textarea")
    editor.fill("Met at the fair; wants a quote for 50 licences.")
    page.locator("#notes").get_by_role("button", name="Save note").click()
    expect(page.locator("#notes li.note")).to_contain_text("50 licences")
    expect(entry).to_contain_text("50 licences")

    # Log a call; the type filter narrows the timeline to calls.
    log = page.locator("#communication-form")
    log.get_by_label("Subject").fill("Quote follow-up")
    log.get_by_label("Duration (minutes)").fill("12")
    log.get_by_role("button", name="Log it").click()
    expect(page.locator("#communication-form")).to_contain_text("Logged: Quote follow-up.")
    expect(page.locator("#timeline tr.entry")).to_have_count(2)
    page.locator("#timeline-filters").get_by_label("Notes").uncheck()
    expect(page.locator("#timeline tr.entry")).to_have_count(1)
    expect(page.locator("#timeline tr.entry")).to_contain_text("Quote follow-up")
    assert page.evaluate("window.__sameDocument") == "yes"

    # Upload a quote (multipart through htmx, CSRF on) and download it again.
    documents = page.locator("#documents")
    documents.get_by_label("Kind").select_option("quote")
    documents.get_by_label("File").set_input_files(
        {"name": "teklif.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}
    )
    documents.get_by_role("button", name="Upload").click()
    expect(page.locator("#documents")).to_contain_text("teklif.pdf")
    with page.expect_download() as download:
        page.locator("#documents").get_by_role("link", name="teklif.pdf").click()
    assert download.value.suggested_filename == "teklif.pdf"
    assert [p.name for p in upload_dir.rglob("*") if p.is_file()] != []

    page.watch.assert_clean()


def test_run_an_event_and_mark_attendance(page, live_server, organization):
    from playwright.sync_api import expect

    sign_in(page, live_server, organization["email"])
    marker = uuid.uuid4().hex[:6]
    _create_customer(page, live_server, "Emre", f"Demir{marker}", f"emre.{marker}@example.com")
    code = page.locator("h1 small").inner_text()

    page.get_by_role("navigation").get_by_role("link", name="Events").click()
    page.wait_for_url(f"{live_server}/events")
    form = page.locator("form[hx-post='/events']")
    form.get_by_label("Name").fill("Open day")
    # The organization keeps UTC, so the form is read as UTC.
    started = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    form.get_by_label("Starts").fill(started.strftime("%Y-%m-%dT%H:%M"))
    form.get_by_label("Location").fill("Bursa")
    form.get_by_role("button", name="Create event").click()
    page.wait_for_url(re.compile(rf"{re.escape(live_server)}/events/\d+$"))
    expect(page.locator("#messages")).to_contain_text("Open day is scheduled.")

    page.get_by_label("Customer code or email").fill(code)
    page.get_by_role("button", name="Register", exact=True).click()
    expect(page.locator("#attendee-list tbody tr")).to_have_count(1)
    expect(page.locator("#attendee-counts")).to_contain_text("1 registered")
    expect(page.locator("#attendee-counts")).to_contain_text("0 attended")

    page.get_by_role("button", name="Mark attended").click()
    row = page.locator("#attendee-list tbody tr")
    expect(row).to_contain_text("attended")
    expect(row.get_by_role("button", name="Undo attendance")).to_be_visible()
    # The counter was swapped out of band.
    expect(page.locator("#attendee-counts")).to_contain_text("1 attended")

    row.get_by_role("link").first.click()
    page.wait_for_url(re.compile(rf"{re.escape(live_server)}/customers/\d+$"))
    expect(page.locator("#timeline")).to_contain_text("Attended Open day")
    expect(page.locator("#timeline")).to_contain_text("Registered for Open day")
    expect(page.locator("#customer-events")).to_contain_text("Open day")

    page.watch.assert_clean()
