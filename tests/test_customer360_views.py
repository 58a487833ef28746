"""The customer 360 page and its HTMX fragments: notes inline, communication log, preferences,
documents, event registration, timeline filters and paging; role checks and other tenants."""

# The shared fixtures are imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

import io
import re

import pytest
from sqlalchemy import select

from crm_web.communications.models import Communication
from crm_web.communications.services import log_communication
from crm_web.customer360 import services
from crm_web.customer360.models import CustomerNote
from crm_web.db import set_tenant
from crm_web.events.services import create_event
from crm_web.extensions import db
from tests import factories
from tests.fixtures_customer360 import (  # noqa: F401
    NOW,
    ago,
    customer,
    open_work,
    org,
    upload_dir,
)

HTMX = {"HX-Request": "true"}
PDF = b"%PDF-1.4\nhello\n%%EOF\n"


@pytest.fixture
def staff(org, make_user):
    organization, admin = org
    users = {
        role: make_user(organization, role=role, name=f"{role.capitalize()} Person")
        for role in ("manager", "sales", "support", "marketing")
    }
    set_tenant(organization.id, admin.id)
    return {"admin": admin, **users}


def page_of(client, customer_id: int, **params) -> str:
    response = client.get(f"/customers/{customer_id}", query_string=params)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def retenant(staff) -> None:
    # A request ends by clearing the tenant; the test continues as the organization's admin.
    set_tenant(staff["admin"].organization_id, staff["admin"].id)


def section(body: str, section_id: str) -> str:
    """The HTML of the page's <section id=...>."""
    return body.split(f'id="{section_id}"', 1)[1].split("</section>", 1)[0]


def row_ids(html: str, kind: str) -> list[int]:
    """The ids of the <tr id="<kind>-<id>"> rows, in order."""
    return [int(i) for i in re.findall(rf'<tr id="{kind}-(\d+)"', html)]


def card(body: str, card_id: str) -> str:
    return body.split(f'id="{card_id}"', 1)[1].split("</div>", 1)[0]


def test_the_page_shows_profile_kpis_timeline_and_what_is_open(
    client, login_as, staff, customer, open_work
):
    log_communication(
        customer.id, communication_type="call", direction="outbound", subject="Kick-off call"
    )
    services.add_note(customer.id, "Prefers mornings.")
    login_as(staff["sales"])
    body = page_of(client, customer.id)
    assert customer.display_name in body and customer.customer_code in body
    assert "ayse@example.com" in body
    for name in ("Lifetime value", "Open tickets", "Engagement", "Health", "No orders yet"):
        assert name in body, name
    assert 'id="engagement-score"' in body and 'id="health-score"' in body
    assert "Kick-off call" in body and "Prefers mornings." in body
    assert "None yet." not in body and "no tickets module" not in body

    # Open deals, soonest close first, with stage, amount and close date; the won one is not.
    sooner, later = open_work.deals
    deals = section(body, "opportunities")
    assert row_ids(deals, "deal") == [sooner.id, later.id]
    assert f'href="/pipeline/opportunities/{sooner.id}"' in deals
    assert "Pilot" in deals and "Proposal" in deals and "1,000.50" in deals
    assert sooner.expected_close_date.isoformat() in deals and "Won before" not in deals
    # Tickets being worked, nearest deadline (the urgent one) first, with status and SLA due.
    urgent, normal = open_work.tickets
    tickets = section(body, "open-tickets")
    assert row_ids(tickets, "ticket") == [urgent.id, normal.id]
    assert "Invoice is wrong" in tickets and "Solved" not in tickets
    assert "New" in tickets and re.search(r'class="due[^"]*"><time datetime="[^"]+"', tickets)
    assert f'href="/tickets/{urgent.id}"' not in tickets  # sales cannot open tickets
    # Open activities by due time; the overdue call is marked.
    overdue, meeting = open_work.activities
    activities = section(body, "upcoming-activities")
    assert row_ids(activities, "activity") == [overdue.id, meeting.id]
    assert "overdue" in activities and "Intro call" not in activities

    # The cards count them, and the health score's support part reads the two open tickets.
    assert '<p class="figure">2</p>' in card(body, "open-deals-card")
    assert "3,500.50 USD" in card(body, "open-deals-card")
    assert '<p class="figure">2</p>' in card(body, "open-tickets-card")
    assert '<p class="figure">2</p>' in card(body, "activities-card")
    assert "<td>Support</td><td>2 open tickets</td><td>0%</td>" in body


def test_a_customer_with_nothing_open_says_so(client, login_as, staff, customer):
    login_as(staff["support"])
    body = page_of(client, customer.id)
    assert "No open opportunities." in section(body, "opportunities")
    assert "No open tickets." in section(body, "open-tickets")
    assert "Nothing planned." in section(body, "upcoming-activities")
    assert "<td>Support</td><td>0 open tickets</td><td>100%</td>" in body
    # Every timeline type has its filter.
    for label in ("Notes", "Calls", "Meetings", "Emails", "SMS", "Events", "Documents", "Consent"):
        assert f"> {label}</label>" in body, label


def test_every_role_sees_the_page_with_the_parts_it_may_use(client, login_as, staff, customer):
    expectations = {
        # role: (log communications, documents section, upload documents, register for events)
        "admin": (True, True, True, True),
        "manager": (True, True, True, True),
        "sales": (True, True, True, True),
        "support": (True, True, False, False),
        "marketing": (False, False, False, True),
    }
    create_event(name="Launch", starts_at=NOW.replace(year=NOW.year + 1))
    for role, (communications, documents, upload, events) in expectations.items():
        login_as(staff[role])
        body = page_of(client, customer.id)
        assert ('id="communication-form"' in body) == communications, role
        assert ('id="documents"' in body) == documents, role
        assert ('enctype="multipart/form-data"' in body) == upload, role
        assert (f'action="/customers/{customer.id}/events"' in body) == events, role
        client.post("/logout")
        retenant(staff)


def test_add_a_note_inline_then_edit_it(client, login_as, staff, customer):
    login_as(staff["sales"])
    empty = client.post(f"/customers/{customer.id}/notes", data={"body": ""}, headers=HTMX)
    assert empty.status_code == 422
    assert 'id="body-error"' in empty.get_data(as_text=True)

    added = client.post(
        f"/customers/{customer.id}/notes", data={"body": "Wants a demo."}, headers=HTMX
    )
    body = added.get_data(as_text=True)
    assert added.status_code == 200
    assert body.lstrip().startswith('<section class="card" id="notes">')
    assert "Wants a demo." in body
    # The page's timeline and KPIs reload on this event.
    assert added.headers["HX-Trigger"] == "customer-changed"
    retenant(staff)
    note = db.session.scalar(select(CustomerNote).where(CustomerNote.customer_id == customer.id))
    assert note.author_id == staff["sales"].id

    form = client.get(f"/customers/{customer.id}/notes/{note.id}/edit", headers=HTMX)
    assert form.status_code == 200
    assert f'<li id="note-{note.id}" class="note editing">' in form.get_data(as_text=True)
    saved = client.post(
        f"/customers/{customer.id}/notes/{note.id}",
        data={"body": "Wants a demo on Friday."},
        headers=HTMX,
    )
    assert saved.status_code == 200
    assert (
        saved.get_data(as_text=True).lstrip().startswith(f'<li id="note-{note.id}" class="note">')
    )
    assert "Wants a demo on Friday." in saved.get_data(as_text=True)
    assert saved.headers["HX-Trigger"] == "customer-changed"
    cancel = client.get(f"/customers/{customer.id}/notes/{note.id}", headers=HTMX)
    assert "Wants a demo on Friday." in cancel.get_data(as_text=True)
    assert "HX-Trigger" not in cancel.headers

    # Without htmx the edit is part of the page's state.
    assert 'class="note editing"' in page_of(client, customer.id, edit_note=note.id)

    # Another seller may read it but not change it; a manager may.
    client.post("/logout")
    login_as(staff["support"])
    assert client.get(f"/customers/{customer.id}/notes/{note.id}/edit").status_code == 403
    denied = client.post(f"/customers/{customer.id}/notes/{note.id}", data={"body": "Mine now"})
    assert denied.status_code == 403
    client.post("/logout")
    login_as(staff["manager"])
    removed = client.post(f"/customers/{customer.id}/notes/{note.id}/delete", headers=HTMX)
    assert removed.status_code == 200
    assert "No notes yet." in removed.get_data(as_text=True)


def test_without_htmx_forms_post_redirect_get(client, login_as, staff, customer):
    login_as(staff["admin"])
    saved = client.post(f"/customers/{customer.id}/notes", data={"body": "No JS here."})
    assert saved.status_code == 303
    assert saved.headers["Location"].endswith(f"/customers/{customer.id}")
    assert "No JS here." in page_of(client, customer.id)
    refused = client.post(f"/customers/{customer.id}/notes", data={"body": ""})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "<!doctype html>" in body and 'id="body-error"' in body and 'id="timeline"' in body


def test_log_a_communication_without_javascript(client, login_as, staff, customer):
    """The plain form (no HTMX) saves, then goes back to the 360 page: its own blueprint's."""
    login_as(staff["support"])
    saved = client.post(
        f"/customers/{customer.id}/communications",
        data={"communication_type": "call", "direction": "outbound", "subject": "No JS call"},
    )
    assert saved.status_code == 303
    assert saved.headers["Location"].endswith(f"/customers/{customer.id}")
    assert "No JS call" in page_of(client, customer.id)


def test_log_a_communication_by_hand(client, login_as, staff, customer):
    login_as(staff["support"])
    bad = client.post(
        f"/customers/{customer.id}/communications",
        data={"communication_type": "call", "direction": "outbound", "duration_minutes": "-5"},
        headers=HTMX,
    )
    assert bad.status_code == 422
    assert 'id="duration_minutes-error"' in bad.get_data(as_text=True)
    empty = client.post(
        f"/customers/{customer.id}/communications",
        data={"communication_type": "call", "direction": "outbound"},
        headers=HTMX,
    )
    assert empty.status_code == 422
    assert "Write a subject or some content." in empty.get_data(as_text=True)

    logged = client.post(
        f"/customers/{customer.id}/communications",
        data={
            "communication_type": "meeting",
            "direction": "inbound",
            "subject": "Visited our office",
            "content": "Discussed pricing.",
            "outcome": "Sends PO next week",
            "duration_minutes": "45",
        },
        headers=HTMX,
    )
    assert logged.status_code == 200
    assert "Logged: Visited our office." in logged.get_data(as_text=True)
    assert logged.headers["HX-Trigger"] == "customer-changed"
    retenant(staff)
    entry = db.session.scalar(select(Communication).where(Communication.customer_id == customer.id))
    assert (entry.communication_type, entry.direction, entry.duration_seconds) == (
        "meeting",
        "inbound",
        45 * 60,
    )
    assert (entry.outcome, entry.created_by_id) == ("Sends PO next week", staff["support"].id)

    client.post("/logout")
    login_as(staff["marketing"])
    denied = client.post(
        f"/customers/{customer.id}/communications",
        data={"communication_type": "call", "direction": "outbound", "subject": "x"},
    )
    assert denied.status_code == 403


def test_timeline_fragment_filters_and_loads_more(client, login_as, staff, customer):
    for index in range(30):
        log_communication(
            customer.id, communication_type="email", direction="outbound", subject=f"Mail {index}"
        )
    services.add_note(customer.id, "The only note.")
    login_as(staff["sales"])
    first = client.get(f"/customers/{customer.id}/timeline", headers=HTMX)
    body = first.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="timeline"')
    assert body.count('class="entry"') == 25
    assert 'class="load-more"' in body
    more_url = body.split('class="load-more" hx-get="')[1].split('"')[0].replace("&amp;", "&")
    more = client.get(more_url, headers=HTMX)
    rest = more.get_data(as_text=True)
    assert rest.lstrip().startswith('<tr class="entry"')
    assert rest.count('class="entry"') == 6
    assert 'class="load-more"' not in rest

    notes_only = client.get(f"/customers/{customer.id}/timeline?types=note", headers=HTMX).get_data(
        as_text=True
    )
    assert notes_only.count('class="entry"') == 1 and "The only note." in notes_only
    both = client.get(
        f"/customers/{customer.id}/timeline?types=note&types=email", headers=HTMX
    ).get_data(as_text=True)
    assert both.count('class="entry"') == 25
    # The full page keeps the filter in its checkboxes.
    page = page_of(client, customer.id, types="note")
    assert 'value="note" checked' in page and 'value="email" checked' not in page

    assert (
        client.get(f"/customers/{customer.id}/timeline?types=bogus", headers=HTMX).status_code
        == 422
    )
    assert (
        client.get(f"/customers/{customer.id}/timeline?cursor=zzz", headers=HTMX).status_code == 422
    )
    plain = client.get(f"/customers/{customer.id}/timeline?types=note")
    assert plain.status_code == 303
    assert plain.headers["Location"].endswith(f"/customers/{customer.id}?types=note")


def test_kpis_fragment_reflects_new_activity(client, login_as, staff, customer):
    login_as(staff["sales"])
    before = client.get(f"/customers/{customer.id}/kpis", headers=HTMX).get_data(as_text=True)
    assert before.lstrip().startswith('<div id="kpis"')
    assert ">Never<" in before
    retenant(staff)
    log_communication(customer.id, communication_type="call", direction="inbound", subject="Hi")
    after = client.get(f"/customers/{customer.id}/kpis", headers=HTMX).get_data(as_text=True)
    assert ">Never<" not in after
    # A call today: activity 5 + recency 20 + inbound 10.
    assert 'id="engagement-score">35<' in after


def test_preferences_are_saved(client, login_as, staff, customer):
    login_as(staff["marketing"])
    saved = client.post(
        f"/customers/{customer.id}/preferences",
        data={"campaign_types": ["discounts", "events"]},
        headers=HTMX,
    )
    body = saved.get_data(as_text=True)
    assert saved.status_code == 200
    assert re.search(r'<input checked [^>]*value="discounts"', body)
    assert re.search(r'<input (?!checked)[^>]*value="newsletter"', body)
    assert "Saved." in body
    retenant(staff)
    assert services.campaign_preferences(customer.id) == {"discounts", "events"}
    bad = client.post(
        f"/customers/{customer.id}/preferences", data={"campaign_types": ["spam"]}, headers=HTMX
    )
    assert bad.status_code == 422


def test_documents_upload_download_and_role_checks(client, login_as, staff, customer, upload_dir):
    login_as(staff["sales"])
    uploaded = client.post(
        f"/customers/{customer.id}/documents",
        data={"category": "contract", "file": (io.BytesIO(PDF), "Sözleşme.pdf")},
        content_type="multipart/form-data",
        headers=HTMX,
    )
    assert uploaded.status_code == 200, uploaded.get_data(as_text=True)
    assert "Sözleşme.pdf" in uploaded.get_data(as_text=True)
    refused = client.post(
        f"/customers/{customer.id}/documents",
        data={"category": "contract", "file": (io.BytesIO(b"MZ"), "tool.exe")},
        content_type="multipart/form-data",
        headers=HTMX,
    )
    assert refused.status_code == 422
    assert "Upload one of" in refused.get_data(as_text=True)
    retenant(staff)
    document = services.list_documents(customer.id)[0]

    download = client.get(f"/customers/{customer.id}/documents/{document.id}")
    assert download.status_code == 200
    assert download.data == PDF
    assert download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''S%C3%B6zle%C5%9Fme.pdf" in download.headers["Content-Disposition"]
    assert download.headers["Cache-Control"] == "private, no-store"
    # The document is reached only through its own customer.
    other = customer.id + 100000
    assert client.get(f"/customers/{other}/documents/{document.id}").status_code == 404

    client.post("/logout")
    login_as(staff["support"])
    assert client.get(f"/customers/{customer.id}/documents/{document.id}").status_code == 200
    assert (
        client.post(f"/customers/{customer.id}/documents/{document.id}/delete").status_code == 403
    )
    client.post("/logout")
    login_as(staff["marketing"])
    assert client.get(f"/customers/{customer.id}/documents/{document.id}").status_code == 403
    client.post("/logout")
    login_as(staff["manager"])
    removed = client.post(f"/customers/{customer.id}/documents/{document.id}/delete", headers=HTMX)
    assert removed.status_code == 200
    assert "No documents yet." in removed.get_data(as_text=True)
    assert list(upload_dir.rglob("*")) == [p for p in upload_dir.rglob("*") if p.is_dir()]


def test_register_the_customer_for_an_event_from_the_page(client, login_as, staff, customer):
    event = create_event(name="Autumn fair", starts_at=NOW.replace(year=NOW.year + 1))
    login_as(staff["marketing"])
    response = client.post(
        f"/customers/{customer.id}/events", data={"event_id": str(event.id)}, headers=HTMX
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Autumn fair" in body and "registered" in body
    assert "No upcoming events to register for." in body
    assert response.headers["HX-Trigger"] == "customer-changed"
    timeline = client.get(f"/customers/{customer.id}/timeline", headers=HTMX)
    assert "Registered for Autumn fair" in timeline.get_data(as_text=True)
    again = client.post(
        f"/customers/{customer.id}/events", data={"event_id": str(event.id)}, headers=HTMX
    )
    assert again.status_code == 422


def test_other_organizations_get_404_everywhere(client, login_as, customer, make_org, upload_dir):
    note = services.add_note(customer.id, "Secret")
    document = services.upload_document(
        customer.id, category="quote", filename="q.pdf", stream=io.BytesIO(PDF)
    )
    customer_id, note_id, document_id = customer.id, note.id, document.id
    other, admin = make_org(name="Other")
    login_as(admin)
    base = f"/customers/{customer_id}"
    for method, url in (
        ("GET", base),
        ("GET", f"{base}/timeline"),
        ("GET", f"{base}/kpis"),
        ("POST", f"{base}/notes"),
        ("GET", f"{base}/notes/{note_id}"),
        ("POST", f"{base}/notes/{note_id}"),
        ("GET", f"{base}/notes/{note_id}/edit"),
        ("POST", f"{base}/notes/{note_id}/delete"),
        ("POST", f"{base}/communications"),
        ("POST", f"{base}/preferences"),
        ("POST", f"{base}/documents"),
        ("GET", f"{base}/documents/{document_id}"),
        ("POST", f"{base}/documents/{document_id}/delete"),
        ("POST", f"{base}/events"),
    ):
        response = client.open(url, method=method, data={"body": "x", "subject": "x"}, headers=HTMX)
        assert response.status_code == 404, (method, url, response.status_code)
        assert "Secret" not in response.get_data(as_text=True)


def test_the_page_reads_each_section_in_one_query_however_much_is_open(
    client, login_as, staff, customer, statements
):
    login_as(staff["sales"])

    def page_statements() -> int:
        statements.clear()
        page_of(client, customer.id)
        retenant(staff)
        return len(statements)

    def add(count: int) -> None:
        for index in range(count):
            factories.deal(customer.id, name=f"Deal {index}")
            factories.ticket(
                staff["admin"].organization, user=staff["admin"], customer_id=customer.id
            )
            factories.activity(customer_id=customer.id, subject=f"Call {index}")

    retenant(staff)
    add(1)
    one = page_statements()
    add(10)
    assert page_statements() == one
    body = page_of(client, customer.id)
    assert len(row_ids(body, "deal")) == 10
    assert "The 10 closing soonest of 11." in body
    assert "All 11 open activities" in body
