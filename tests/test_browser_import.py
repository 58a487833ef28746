"""In headless Chromium: import customers, and leads, from a CSV file — upload, check the
guessed mapping, watch the dry run's progress, import, see the result — with a dramatiq Worker
running the actor. Served like tests/test_browser.py."""

# The browser fixtures are imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

import re

import pytest
from test_customer_import import csv_bytes
from test_lead_import import csv_bytes as lead_csv_bytes
from worker_fixtures import running_worker

from tests.test_browser import _sign_in as sign_in
from tests.test_browser import (  # noqa: F401
    browser,
    live_app,
    live_server,
    organization,
    page,
)

pytestmark = [pytest.mark.browser, pytest.mark.committed]


def upload_from_list(page, live_server, organization, section: str, path) -> None:
    """Sign in, open the section's list, follow its Import CSV button and upload the file."""
    sign_in(page, live_server, organization["email"])
    page.get_by_role("navigation").get_by_role("link", name=section).click()
    page.get_by_role("link", name="Import CSV").click()
    page.wait_for_url(f"{live_server}/imports/{section.lower()}/new")
    page.get_by_label("CSV file").set_input_files(str(path))
    page.get_by_role("button", name="Upload and map columns").click()
    page.wait_for_url(re.compile(rf"{re.escape(live_server)}/imports/\d+$"))


def test_upload_map_dry_run_and_import(page, live_server, organization, stub_broker, tmp_path):
    from playwright.sync_api import expect

    path = tmp_path / "kişiler.csv"
    path.write_bytes(
        csv_bytes(
            [
                ["Elif", "Şahin", "elif@example.com", "0532 444 55 66", "İzmir", "TR", "evet"],
                ["Can", "Öz", "can@example", "", "", "", ""],
            ],
            delimiter=";",
            encoding="cp1254",
        )
    )
    stub_broker.flush("imports")
    upload_from_list(page, live_server, organization, "Customers", path)

    # Read as Windows Turkish, said so, and the columns guessed from the Turkish headers.
    expect(page.locator("#encoding-note")).to_contain_text("Windows Turkish (cp1254)")
    expect(page.locator("#import-mapping")).to_contain_text("Şahin")
    expect(page.get_by_label("Soyad")).to_have_value("last_name")
    expect(page.get_by_label("E-posta", exact=True)).to_have_value("primary_email")

    with running_worker(stub_broker, {"imports"}):
        page.get_by_role("button", name="Check the file (dry run)").click()
        # The page polls the job until the worker has finished the dry run.
        expect(page.locator("#import-report")).to_contain_text(
            "Dry run: nothing has been imported yet", timeout=20_000
        )
        expect(page.locator("#import-report")).to_contain_text("1 would be created")
        expect(page.locator("#reject-table")).to_contain_text("Email:")
        expect(page.get_by_role("link", name="Download them as CSV")).to_be_visible()

        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Import now").click()
        expect(page.locator("#import-report h2")).to_have_text("Imported", timeout=20_000)
        expect(page.locator("#import-report")).to_contain_text("1 created")

    page.get_by_role("link", name="See the customers").click()
    expect(page.locator("#customer-rows")).to_contain_text("Elif Şahin")
    expect(page.locator("#customer-rows")).to_contain_text("+905324445566")
    expect(page.locator("#export-customers")).to_have_attribute("href", "/customers/export.csv")
    assert any("/imports/" in request for request in page.watch.htmx_requests)
    page.watch.assert_clean()


def test_import_leads_from_the_leads_list(page, live_server, organization, stub_broker, tmp_path):
    from playwright.sync_api import expect

    path = tmp_path / "fuar.csv"
    path.write_bytes(
        lead_csv_bytes(
            [
                ["Deniz", "Kaya", "Kuş A.Ş.", "deniz@kus.example", "", "TR", "Fuar", "50000", ""],
                ["Ece", "", "", "ece@example.com", "", "", "", "", ""],
            ],
            encoding="utf-8-sig",
        )
    )
    stub_broker.flush("imports")
    upload_from_list(page, live_server, organization, "Leads", path)
    expect(page.get_by_label("Şirket")).to_have_value("company")
    expect(page.get_by_label("Bütçe")).to_have_value("budget")

    with running_worker(stub_broker, {"imports"}):
        page.get_by_role("button", name="Check the file (dry run)").click()
        expect(page.locator("#import-report")).to_contain_text("1 would be created", timeout=20_000)
        expect(page.locator("#reject-table")).to_contain_text("Last name: This field is required.")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Import now").click()
        expect(page.locator("#import-report")).to_contain_text("1 created", timeout=20_000)

    page.get_by_role("link", name="See the leads").click()
    expect(page.locator("#lead-results")).to_contain_text("Kuş A.Ş.")
    expect(page.locator("#lead-results")).to_contain_text("Trade show")
    page.watch.assert_clean()
