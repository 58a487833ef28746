"""Ticket pages: the queue and its live fragment, bulk actions, the ticket page and its thread,
attachments, settings, the public web form and the CSAT page, with their role checks."""

import re

import pytest
from sqlalchemy import func, select, update

from crm_web.customers.models import Customer
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.tickets import services
from crm_web.tickets.models import Ticket
from tests import factories

HTMX = {"HX-Request": "true"}


@pytest.fixture
def desk(make_org, make_user):
    """An organization with an admin, a manager, two support agents and a customer."""
    organization, admin = make_org("Desk")
    manager = make_user(organization, role="manager", name="Max Manager", department="Support")
    agent = make_user(organization, role="support", name="Ana Agent", department="Support")
    other_agent = make_user(organization, role="support", name="Olu Other", department="Billing")
    customer = factories.customer(organization, first_name="Cara", last_name="Client")
    clear_tenant()
    return {
        "org": organization,
        "admin": admin,
        "manager": manager,
        "agent": agent,
        "other_agent": other_agent,
        "customer_id": customer.id,
    }


def _ticket(desk, **kwargs):
    set_tenant(desk["org"].id, desk["admin"].id)
    ticket = services.create_ticket(customer_id=desk["customer_id"], **kwargs)
    clear_tenant()
    return ticket


# -- roles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("support", True), ("manager", True), ("admin", True), ("sales", False), ("marketing", False)],
)
def test_ticket_pages_are_for_support_managers_and_admins(
    client, desk, make_user, login_as, role, allowed
):
    ticket = _ticket(desk, subject="Roles")
    user = make_user(desk["org"], role=role)
    login_as(user)
    for url in ("/tickets", f"/tickets/{ticket.id}", "/tickets/new"):
        assert client.get(url).status_code == (200 if allowed else 403), url
    fragment = client.get("/tickets?fragment=rows", headers=HTMX)
    assert fragment.status_code == (200 if allowed else 403)
    response = client.post(f"/tickets/{ticket.id}/status", data={"status": "open"}, headers=HTMX)
    assert response.status_code == (200 if allowed else 403)
    nav = client.get("/").get_data(as_text=True)
    assert ('href="/tickets"' in nav) is allowed


def test_settings_are_for_admins_and_managers(client, desk, login_as):
    login_as(desk["agent"])
    assert client.get("/tickets/settings").status_code == 403
    client.post("/logout")
    login_as(desk["manager"])
    page = client.get("/tickets/settings").get_data(as_text=True)
    assert "Ana Agent" in page and "Olu Other" in page
    response = client.post("/tickets/settings", data={"agent_ticket_cap": "3"})
    assert response.status_code == 303
    set_tenant(desk["org"].id)
    assert services.get_settings().agent_ticket_cap == 3
    bad = client.post("/tickets/settings", data={"agent_ticket_cap": "0"}, headers=HTMX)
    assert bad.status_code == 422


def test_anonymous_visitors_are_sent_to_sign_in(client, desk):
    response = client.get("/tickets")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# -- the queue --------------------------------------------------------------------------------


def test_queue_views_and_counts(client, desk, login_as):
    mine = _ticket(desk, subject="Routed to Ana", department="Support")
    assert mine.assignee_id == desk["agent"].id
    billing = _ticket(desk, subject="Billing thing", category="billing")
    assert billing.assignee_id == desk["other_agent"].id
    loose = _ticket(desk, subject="Nobody's yet", assignee_id=desk["manager"].id)
    set_tenant(desk["org"].id, desk["admin"].id)
    services.assign(loose.id, None)
    clear_tenant()
    login_as(desk["agent"])

    page = client.get("/tickets").get_data(as_text=True)
    assert "Routed to Ana" in page and "Billing thing" not in page
    assert re.search(r'id="count-mine">1<', page)
    assert re.search(r'id="count-unassigned">1<', page)
    assert re.search(r'id="count-all">3<', page)
    assert "tickets.js" in page

    team = client.get("/tickets?view=team").get_data(as_text=True)
    assert "Routed to Ana" in team and "Billing thing" not in team
    unassigned = client.get("/tickets?view=unassigned").get_data(as_text=True)
    assert "Nobody&#39;s yet" in unassigned and "Routed to Ana" not in unassigned
    everything = client.get("/tickets?view=all&priority=high").get_data(as_text=True)
    assert "Billing thing" not in everything  # normal priority
    found = client.get(f"/tickets?view=all&q=T-{billing.number}").get_data(as_text=True)
    assert "Billing thing" in found and "Routed to Ana" not in found
    by_subject = client.get("/tickets?view=all&q=billing").get_data(as_text=True)
    assert "Billing thing" in by_subject and "Routed to Ana" not in by_subject


def test_queue_search_matches_inside_subjects_of_its_own_active_tickets(
    client, desk, login_as, make_org
):
    refund = _ticket(desk, subject="Where is my REFUND?", tags=["money"])
    _ticket(desk, subject="100% off_code fails", tags=["money", "promo"])
    closed = _ticket(desk, subject="Refund sent", tags=["money"])
    set_tenant(desk["org"].id, desk["admin"].id)
    services.change_status(closed.id, "resolved")
    other, other_admin = make_org("Elsewhere")
    set_tenant(other.id, other_admin.id)
    services.create_ticket(
        subject="Refund for someone else",
        customer_id=factories.customer(other, first_name="Oz", last_name="").id,
    )
    clear_tenant()
    login_as(desk["agent"])

    def subjects(query: str) -> list[str]:
        page = client.get(f"/tickets?view=all&{query}").get_data(as_text=True)
        return re.findall(r"</strong> ([^<]+)</a>", page)

    # Any case, inside the subject; not resolved tickets, not another organization's.
    assert subjects("q=refund") == ["Where is my REFUND?"]
    # % and _ are the characters typed, not patterns.
    assert subjects("q=0%25 off_") == ["100% off_code fails"]
    assert subjects("q=0_") == []
    assert subjects(f"q=t-{refund.number}") == ["Where is my REFUND?"]
    assert sorted(subjects("tag=money")) == ["100% off_code fails", "Where is my REFUND?"]
    assert subjects("tag=promo&q=code") == ["100% off_code fails"]


def test_queue_fragments_keep_the_filters(client, desk, login_as):
    tickets = [
        _ticket(desk, subject=f"Bulk {n:02d}", assignee_id=desk["agent"].id, tags=["load"])
        for n in range(55)
    ]
    login_as(desk["agent"])

    results = client.get("/tickets?view=mine&sort=newest&tag=load", headers=HTMX)
    html = results.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="queue-results">')
    assert "HX-Request" in results.headers["Vary"]
    assert html.count('data-ticket="') == 50
    # The live refresh keeps the filters in its URL, and the more-rows link its cursor.
    refresh = re.search(r'<tbody id="queue-rows" hx-get="([^"]+)"', html).group(1)
    refresh = refresh.replace("&amp;", "&")
    assert "sort=newest" in refresh and "tag=load" in refresh and "v=" in refresh
    more = re.search(r'hx-get="(/tickets\?cursor=[^"]+)"', html).group(1).replace("&amp;", "&")
    assert "tag=load" in more and "sort=newest" in more
    rest = client.get(more, headers=HTMX).get_data(as_text=True)
    assert rest.count('data-ticket="') == 5
    assert "<tbody" not in rest

    # The poll asks for as many rows as are shown; it gets the rows and the counters (oob).
    poll = client.get("/tickets?sort=newest&tag=load&rows=55&fragment=rows", headers=HTMX).get_data(
        as_text=True
    )
    assert poll.lstrip().startswith('<tbody id="queue-rows"')
    assert poll.count('data-ticket="') == 55
    assert 'id="queue-tabs" aria-label="Queues" hx-swap-oob="true"' in poll
    assert "Bulk 54" in poll.split("Bulk 53")[0]  # newest first

    # Polled again with the version it was given: nothing changed, nothing to swap.
    unchanged = client.get(refresh, headers=HTMX)
    assert unchanged.status_code == 204 and unchanged.data == b""
    set_tenant(desk["org"].id, desk["admin"].id)
    services.change_status(tickets[0].id, "in_progress")
    # This test runs in one transaction, whose now() never moves: stamp the change as a
    # later transaction would.
    db.session.execute(
        update(Ticket).where(Ticket.id == tickets[0].id).values(updated_at=func.clock_timestamp())
    )
    clear_tenant()
    changed = client.get(refresh, headers=HTMX)
    assert changed.status_code == 200
    assert 'data-ticket="' in changed.get_data(as_text=True)


def test_bulk_assign_and_status_from_the_queue(client, desk, login_as):
    tickets = [_ticket(desk, subject=f"B{n}", assignee_id=desk["manager"].id) for n in range(3)]
    login_as(desk["agent"])
    ids = [str(t.id) for t in tickets[:2]]
    response = client.post(
        "/tickets/bulk?view=all",
        data={"ticket_ids": ids, "action": "assign", "bulk_assignee_id": "me"},
        headers=HTMX,
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "2 tickets assigned." in html
    assert 'aria-current="page">All open' in html  # the filters survived
    response = client.post(
        "/tickets/bulk", data={"ticket_ids": ids, "action": "status", "status": "in_progress"}
    )
    assert response.status_code == 303
    set_tenant(desk["org"].id)
    rows = db.session.execute(select(Ticket.id, Ticket.assignee_id, Ticket.status)).all()
    state = {row.id: (row.assignee_id, row.status) for row in rows}
    assert state[tickets[0].id] == (desk["agent"].id, "in_progress")
    assert state[tickets[2].id] == (desk["manager"].id, "new")
    refused = client.post(
        "/tickets/bulk", data={"ticket_ids": ids, "action": "status", "status": "new"}, headers=HTMX
    )
    assert refused.status_code == 422


def test_take_a_ticket_from_its_row(client, desk, login_as):
    ticket = _ticket(desk, subject="Take me", assignee_id=desk["manager"].id)
    login_as(desk["agent"])
    response = client.post(
        f"/tickets/{ticket.id}/assign",
        data={"assignee_id": "me", "fragment": "row"},
        headers=HTMX,
    )
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith(f'<tr id="ticket-row-{ticket.id}"')
    assert "row-changed" in html and "Ana Agent" in html
    assert 'data-action="assign-me"' not in html  # already mine


# -- one ticket -------------------------------------------------------------------------------


def test_reply_and_note_swap_the_thread(client, desk, login_as):
    ticket = _ticket(desk, subject="Thread", description="It broke")
    login_as(desk["agent"])
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "It broke" in page and "Ticket opened via web." in page

    response = client.post(
        f"/tickets/{ticket.id}/messages",
        data={"kind": "reply", "body": "Looking now"},
        headers=HTMX,
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<form class="card composer"')
    assert 'id="ticket-thread"' in html and 'hx-swap-oob="true"' in html
    assert "Looking now" in html and "email queued" in html
    assert "Status: New → Open." in html

    note = client.post(
        f"/tickets/{ticket.id}/messages", data={"kind": "note", "body": "Internal"}, headers=HTMX
    ).get_data(as_text=True)
    assert "Internal note" in note

    empty = client.post(f"/tickets/{ticket.id}/messages", data={"kind": "note", "body": ""})
    assert empty.status_code == 422

    thread = client.get(f"/tickets/{ticket.id}?fragment=thread", headers=HTMX)
    assert (
        thread.get_data(as_text=True)
        .lstrip()
        .startswith('<section class="thread" id="ticket-thread"')
    )


def test_status_and_assignment_from_the_ticket_page(client, desk, login_as):
    ticket = _ticket(desk, subject="Header", assignee_id=desk["manager"].id)
    login_as(desk["agent"])
    html = client.post(
        f"/tickets/{ticket.id}/status", data={"status": "in_progress"}, headers=HTMX
    ).get_data(as_text=True)
    assert html.lstrip().startswith('<section class="card ticket-header" id="ticket-header"')
    assert "Status: New → In progress." in html  # the thread, out of band
    html = client.post(
        f"/tickets/{ticket.id}/assign", data={"assignee_id": "me"}, headers=HTMX
    ).get_data(as_text=True)
    assert "Assigned to Ana Agent." in html
    bad = client.post(f"/tickets/{ticket.id}/status", data={"status": "new"}, headers=HTMX)
    assert bad.status_code == 422
    assert bad.headers["HX-Retarget"] == "#messages"


def test_create_and_edit_by_hand(client, desk, login_as):
    login_as(desk["agent"])
    response = client.post(
        "/tickets/new",
        data={
            "customer_email": "caller@example.com",
            "subject": "Phoned in",
            "description": "Printer on fire",
            "channel": "phone",
            "category": "technical",
            "ticket_type": "incident",
            "priority": "high",
            "assignee_id": "0",
            "tags": "printer, Fire",
        },
    )
    assert response.status_code == 303
    set_tenant(desk["org"].id)
    ticket = db.session.scalar(select(Ticket).where(Ticket.subject == "Phoned in"))
    assert ticket.channel == "phone" and ticket.tags == ["fire", "printer"]
    assert response.headers["Location"] == f"/tickets/{ticket.id}"
    customer = db.session.get(Customer, ticket.customer_id)
    assert customer.primary_email == "caller@example.com"

    invalid = client.post("/tickets/new", data={"subject": "", "assignee_id": "0"}, headers=HTMX)
    assert invalid.status_code == 422
    assert '<small class="error" id="subject-error">' in invalid.get_data(as_text=True)
    no_customer = client.post(
        "/tickets/new",
        data={"subject": "Who?", "assignee_id": "0", "channel": "phone"},
        headers=HTMX,
    )
    assert no_customer.status_code == 422
    assert "Choose an existing customer." in no_customer.get_data(as_text=True)

    edited = client.post(
        f"/tickets/{ticket.id}/edit",
        data={
            "subject": "Phoned in again",
            "description": "",
            "category": "technical",
            "ticket_type": "incident",
            "priority": "urgent",
            "department": "Support",
            "tags": "",
        },
    )
    assert edited.status_code == 303
    set_tenant(desk["org"].id)
    db.session.expire_all()
    assert services.get_ticket(ticket.id).priority == "urgent"
    assert "Priority: high → urgent." in [m.body for m in services.thread(ticket.id)]


def test_attachment_upload_and_tenant_checked_download(
    client, desk, make_org, login_as, attachments_dir
):
    import io

    ticket = _ticket(desk, subject="Files")
    login_as(desk["agent"])
    response = client.post(
        f"/tickets/{ticket.id}/messages",
        data={
            "kind": "note",
            "body": "Log attached",
            "attachments": [(io.BytesIO(b"ERROR 42\n"), "server.log")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    set_tenant(desk["org"].id)
    note = [m for m in services.thread(ticket.id) if m.kind == "note"][0]
    [attachment] = note.attachments
    clear_tenant()
    download = client.get(f"/tickets/attachments/{attachment.id}")
    assert download.status_code == 200
    assert download.data == b"ERROR 42\n"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"

    refused = client.post(
        f"/tickets/{ticket.id}/messages",
        data={"kind": "note", "body": "x", "attachments": [(io.BytesIO(b"MZ"), "tool.exe")]},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert "tool.exe: allowed are png, jpg" in refused.get_data(as_text=True)

    client.post("/logout")
    _other, other_admin = make_org("Elsewhere")
    login_as(other_admin)
    assert client.get(f"/tickets/attachments/{attachment.id}").status_code == 404
    assert client.get(f"/tickets/{ticket.id}").status_code == 404


# -- public pages -----------------------------------------------------------------------------


def _form(**overrides):
    return {
        "name": "Pat Public",
        "email": "pat@example.com",
        "category": "general",
        "subject": "Where is my order?",
        "description": "Ordered last week.",
        "website": "",
        **overrides,
    }


def test_public_form_creates_the_customer_and_the_ticket(client, desk, attachments_dir):
    import io

    slug = desk["org"].slug
    page = client.get(f"/support/{slug}")
    assert page.status_code == 200
    assert "Contact Desk support" in page.get_data(as_text=True)
    response = client.post(
        f"/support/{slug}",
        data={**_form(), "attachments": [(io.BytesIO(b"%PDF-1.4"), "receipt.pdf")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert "Thank you, we have your request (T-" in response.get_data(as_text=True)
    again = client.post(f"/support/{slug}", data=_form(email="PAT@example.com", subject="Also"))
    assert again.status_code == 200

    set_tenant(desk["org"].id)
    tickets = db.session.scalars(select(Ticket).where(Ticket.channel == "web")).all()
    assert {t.subject for t in tickets} == {"Where is my order?", "Also"}
    assert len({t.customer_id for t in tickets}) == 1  # matched by email, case-insensitively
    customer = db.session.get(Customer, tickets[0].customer_id)
    assert (customer.first_name, customer.last_name) == ("Pat", "Public")
    created = [m for m in services.thread(tickets[0].id) if m.data.get("event") == "created"]
    assert [a.filename for m in created for a in m.attachments] == ["receipt.pdf"]


def test_public_form_errors_honeypot_rate_limit_and_unknown_slug(client, desk):
    slug = desk["org"].slug
    invalid = client.post(f"/support/{slug}", data=_form(email="not-an-email"), headers=HTMX)
    assert invalid.status_code == 422
    assert invalid.get_data(as_text=True).lstrip().startswith('<div id="support-form">')

    bot = client.post(f"/support/{slug}", data=_form(website="http://spam.example"))
    assert bot.status_code == 200 and "Thank you" in bot.get_data(as_text=True)
    set_tenant(desk["org"].id)
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 0
    clear_tenant()

    statuses = [
        client.post(f"/support/{slug}", data=_form(subject=f"S{n}")).status_code for n in range(6)
    ]
    assert statuses == [200] * 5 + [429]
    assert client.get("/support/no-such-org").status_code == 404


def test_csat_page(client, desk):
    ticket = _ticket(desk, subject="Rate me")
    set_tenant(desk["org"].id, desk["admin"].id)
    services.change_status(ticket.id, "resolved")
    token = services.csat_token(ticket)
    clear_tenant()
    page = client.get(f"/support/csat/{token}?rating=5").get_data(as_text=True)
    assert "Rate me" in page
    assert re.search(
        r'<input checked id="rating-\d" name="rating" required type="radio" value="5">', page
    )
    response = client.post(f"/support/csat/{token}", data={"rating": "5", "comment": "Great"})
    assert response.status_code == 200
    assert "Thank you for your feedback (5/5)" in response.get_data(as_text=True)
    assert client.get("/support/csat/garbage").status_code == 404
    set_tenant(desk["org"].id)
    db.session.expire_all()
    assert services.get_ticket(ticket.id).csat_rating == 5


def test_csrf_is_enforced_on_ticket_actions(app, client, desk, login_as):
    ticket = _ticket(desk, subject="CSRF")
    login_as(desk["agent"])
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
        token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
        refused = client.post(f"/tickets/{ticket.id}/messages", data={"kind": "note", "body": "x"})
        assert refused.status_code == 400
        accepted = client.post(
            f"/tickets/{ticket.id}/messages",
            data={"kind": "note", "body": "x"},
            headers={**HTMX, "X-CSRFToken": token},
        )
        assert accepted.status_code == 200
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_uploads_helper_ignores_empty_file_inputs(client, desk, login_as, attachments_dir):
    import io

    ticket = _ticket(desk, subject="Empty input")
    login_as(desk["agent"])
    response = client.post(
        f"/tickets/{ticket.id}/messages",
        data={"kind": "note", "body": "no file", "attachments": [(io.BytesIO(b""), "")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    set_tenant(desk["org"].id)
    [note] = [m for m in services.thread(ticket.id) if m.kind == "note"]
    assert note.body == "no file" and note.attachments == []


def test_view_counts_are_capped(client, desk, login_as, monkeypatch):
    from crm_web.tickets import queue

    monkeypatch.setattr(queue, "COUNT_CAP", 2)
    for n in range(4):
        _ticket(desk, subject=f"Cap {n}", assignee_id=desk["agent"].id)
    login_as(desk["agent"])
    page = client.get("/tickets").get_data(as_text=True)
    assert 'id="count-mine">2+<' in page
    assert 'id="count-unassigned">0<' in page


def test_breaching_soon_and_breached_views_sorted_by_sla_due(client, desk, login_as):
    urgent = _ticket(desk, subject="Urgent one", priority="urgent")  # first response in 15 min
    calm = _ticket(desk, subject="Calm one", priority="low")
    late = _ticket(desk, subject="Late one")
    # Its deadline passed (as if it had been opened long ago).
    set_tenant(desk["org"].id)
    db.session.execute(
        update(Ticket)
        .where(Ticket.id == late.id)
        .values(sla_due_at=func.now() - func.make_interval(0, 0, 0, 0, 2))
    )
    clear_tenant()
    login_as(desk["agent"])
    breaching = client.get("/tickets?view=breaching").get_data(as_text=True)
    assert "Urgent one" in breaching and "Calm one" not in breaching
    assert "Late one" not in breaching
    breached = client.get("/tickets?view=breached").get_data(as_text=True)
    assert "Late one" in breached and "Urgent one" not in breached
    assert re.search(r'class="due breached"><time[^>]*>overdue 2 h', breached)
    everything = client.get("/tickets?view=all").get_data(as_text=True)
    order = [everything.index(s) for s in ("Late one", "Urgent one", "Calm one")]
    assert order == sorted(order)  # by SLA due: overdue first, then soonest
    assert calm.sla_due_at > urgent.sla_due_at
