"""Events: scheduling, registration within capacity, attendance; the pages and who may use them."""

# The shared fixtures are imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

import datetime as dt
import re

import pytest
from sqlalchemy import select

from crm_web.db import clear_tenant, set_tenant
from crm_web.errors import Conflict, NotFound, ValidationError
from crm_web.events import services
from crm_web.events.models import EventAttendee
from crm_web.extensions import db
from crm_web.privacy.models import AuditEntry
from tests import factories
from tests.fixtures_customer360 import ago, customer, org  # noqa: F401

SOON = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)


@pytest.fixture
def event(org):
    return services.create_event(
        name="Product launch", starts_at=SOON, location="Istanbul", notes="Bring samples"
    )


def test_create_and_update_validate_their_fields(org):
    with pytest.raises(ValidationError) as bad:
        services.create_event(name=" ", starts_at=None)
    assert set(bad.value.fields) == {"name", "starts_at"}
    with pytest.raises(ValidationError) as backwards:
        services.create_event(name="Fair", starts_at=SOON, ends_at=SOON - dt.timedelta(hours=1))
    assert "ends_at" in backwards.value.fields
    with pytest.raises(ValidationError) as naive:
        services.create_event(name="Fair", starts_at=SOON.replace(tzinfo=None))
    assert "starts_at" in naive.value.fields
    with pytest.raises(ValidationError):
        services.create_event(name="Fair", starts_at=SOON, capacity=0)

    event = services.create_event(name=" Fair ", starts_at=SOON, capacity=10)
    assert (event.name, event.capacity, event.created_by_id) == ("Fair", 10, org[1].id)
    services.update_event(event.id, name="Trade fair", starts_at=SOON, location="Izmir")
    assert (event.name, event.location, event.capacity) == ("Trade fair", "Izmir", None)
    assert db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.table_name == "events").order_by(AuditEntry.id)
    ).all() == ["create", "update"]


def test_registration_respects_capacity_and_duplicates(org):
    event = services.create_event(name="Workshop", starts_at=SOON, capacity=2)
    first, second, third = factories.customer(), factories.customer(), factories.customer()
    services.register_customer(event.id, first.id)
    with pytest.raises(Conflict):
        services.register_customer(event.id, first.id)
    services.register_customer(event.id, second.id)
    with pytest.raises(ValidationError) as full:
        services.register_customer(event.id, third.id)
    assert "full" in full.value.message
    assert services.attendee_counts([event.id])[event.id] == services.Counts(2, 0)
    with pytest.raises(ValidationError) as shrink:
        services.update_event(event.id, name="Workshop", starts_at=SOON, capacity=1)
    assert "2 customers" in shrink.value.fields["capacity"]

    page = services.list_attendees(event.id)
    assert [customer.id for _attendee, customer in page.items] == [first.id, second.id]
    services.unregister(event.id, page.items[0][0].id)
    services.register_customer(event.id, third.id)
    assert [c.id for _a, c in services.list_attendees(event.id).items] == [second.id, third.id]


def test_attendance_is_recorded_once_the_event_has_started(org, customer):
    future = services.create_event(name="Next month", starts_at=SOON + dt.timedelta(days=30))
    attendee = services.register_customer(future.id, customer.id)
    with pytest.raises(ValidationError):
        services.set_attendance(future.id, attendee.id, True)

    today = services.create_event(name="Today", starts_at=ago(hours=1))
    attendee = services.register_customer(today.id, customer.id)
    services.set_attendance(today.id, attendee.id, True)
    first_mark = attendee.attended_at
    assert first_mark is not None
    services.set_attendance(today.id, attendee.id, True)
    assert attendee.attended_at == first_mark
    assert services.attendee_counts([today.id])[today.id] == services.Counts(1, 1)
    services.set_attendance(today.id, attendee.id, False)
    assert attendee.attended_at is None
    # A registration is reached only through its own event.
    with pytest.raises(NotFound):
        services.set_attendance(future.id, attendee.id, True)


def test_upcoming_and_past_lists_page_by_keyset(org):
    for days in (1, 2, 3):
        services.create_event(name=f"In {days} days", starts_at=SOON + dt.timedelta(days=days))
        services.create_event(name=f"{days} days ago", starts_at=ago(days=days + 1))
    first = services.list_events("upcoming", limit=2)
    assert [event.name for event in first.items] == ["In 1 days", "In 2 days"]
    rest = services.list_events("upcoming", cursor=first.next_cursor, limit=2)
    assert [event.name for event in rest.items] == ["In 3 days"]
    assert rest.next_cursor is None
    assert [event.name for event in services.list_events("past").items] == [
        "1 days ago",
        "2 days ago",
        "3 days ago",
    ]
    with pytest.raises(ValidationError):
        services.list_events("someday")


def test_find_customer_by_code_or_email(org):
    customer = factories.customer(primary_email="Deniz@Example.com")
    assert services.find_customer(customer.customer_code.lower()).id == customer.id
    assert services.find_customer(" deniz@example.com ").id == customer.id
    with pytest.raises(ValidationError):
        services.find_customer("nobody@example.com")
    with pytest.raises(ValidationError):
        services.find_customer("")


def test_registrations_and_open_events_of_a_customer(org, customer):
    event = services.create_event(name="Webinar", starts_at=SOON)
    other = services.create_event(name="Dinner", starts_at=SOON + dt.timedelta(days=1))
    assert [e.id for e in services.open_events_for(customer.id)] == [event.id, other.id]
    services.register_customer(event.id, customer.id)
    assert [e.id for e in services.open_events_for(customer.id)] == [other.id]
    assert [(a.customer_id, e.id) for a, e in services.customer_registrations(customer.id)] == [
        (customer.id, event.id)
    ]


def test_other_organizations_cannot_reach_events(org, event, customer, make_org):
    event_id, customer_id = event.id, customer.id
    other, admin = make_org(name="Other")
    set_tenant(other.id, admin.id)
    with pytest.raises(NotFound):
        services.get_event(event_id)
    with pytest.raises(NotFound):
        services.register_customer(event_id, customer_id)
    assert services.list_events("upcoming").items == []
    clear_tenant()


# --- Pages --------------------------------------------------------------------------------------


@pytest.fixture
def staff(org, make_user):
    organization, admin = org
    users = {role: make_user(organization, role=role) for role in ("marketing", "sales", "support")}
    set_tenant(organization.id, admin.id)
    return {"admin": admin, **users}


def test_event_pages_for_every_role(client, login_as, staff, event):
    for role in ("sales", "support", "marketing"):
        login_as(staff[role])
        listing = client.get("/events")
        assert listing.status_code == 200
        assert "Product launch" in listing.get_data(as_text=True)
        page = client.get(f"/events/{event.id}")
        body = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "Bring samples" in body
        assert (f'action="/events/{event.id}/attendees"' in body) == (role != "support")
        assert ("New event" in listing.get_data(as_text=True)) == (role == "marketing")
        client.post("/logout")


def test_only_organizers_create_and_edit_events(client, login_as, staff, event):
    login_as(staff["sales"])
    form = {"name": "Sneaky", "starts_at": "2030-01-01T10:00"}
    assert client.post("/events", data=form).status_code == 403
    assert client.get(f"/events/{event.id}/edit").status_code == 403
    client.post("/logout")

    login_as(staff["marketing"])
    bad = client.post("/events", data={"name": "", "starts_at": ""}, headers={"HX-Request": "true"})
    assert bad.status_code == 422
    assert 'id="name-error"' in bad.get_data(as_text=True)
    created = client.post(
        "/events", data={"name": "Gala", "starts_at": "2030-05-01T19:30", "location": "Ankara"}
    )
    assert created.status_code == 303
    set_tenant(staff["admin"].organization_id)
    gala = services.list_events("upcoming").items[-1]
    assert gala.name == "Gala"
    # Typed in the organization's zone (Istanbul, UTC+3), stored in UTC.
    assert gala.starts_at == dt.datetime(2030, 5, 1, 16, 30, tzinfo=dt.UTC)
    assert created.headers["Location"].endswith(f"/events/{gala.id}")
    edit = client.get(f"/events/{gala.id}/edit")
    assert 'value="2030-05-01T19:30"' in edit.get_data(as_text=True)
    saved = client.post(
        f"/events/{gala.id}/edit",
        data={"name": "Gala dinner", "starts_at": "2030-05-01T20:00", "capacity": "50"},
    )
    assert saved.status_code == 303
    db.session.refresh(gala)
    assert (gala.name, gala.capacity) == ("Gala dinner", 50)


def test_register_and_mark_attendance_from_the_event_page(client, login_as, staff):
    started = services.create_event(name="Open day", starts_at=ago(hours=2))
    customer = factories.customer(primary_email="visitor@example.com")
    login_as(staff["sales"])
    htmx = {"HX-Request": "true"}
    unknown = client.post(
        f"/events/{started.id}/attendees", data={"reference": "nobody@example.com"}, headers=htmx
    )
    assert unknown.status_code == 422
    assert "No customer has the code or email" in unknown.get_data(as_text=True)
    registered = client.post(
        f"/events/{started.id}/attendees", data={"reference": "visitor@example.com"}, headers=htmx
    )
    body = registered.get_data(as_text=True)
    assert registered.status_code == 200
    assert 'id="attendees"' in body and f"{customer.display_name} is registered." in body
    again = client.post(
        f"/events/{started.id}/attendees", data={"reference": customer.customer_code}, headers=htmx
    )
    assert again.status_code == 422
    assert "Already registered." in again.get_data(as_text=True)

    set_tenant(staff["admin"].organization_id)
    attendee_id = db.session.scalar(
        select(EventAttendee.id).where(EventAttendee.event_id == started.id)
    )
    marked = client.post(
        f"/events/{started.id}/attendees/{attendee_id}/attendance",
        data={"attended": "1"},
        headers=htmx,
    )
    body = marked.get_data(as_text=True)
    assert marked.status_code == 200
    assert body.lstrip().startswith(f'<tr id="attendee-{attendee_id}"')
    assert "Undo attendance" in body
    # The counter is swapped out of band.
    assert re.search(r'id="attendee-counts" hx-swap-oob="true"', body)
    assert re.search(r"<strong>1</strong> attended", body)

    # Without htmx the page is shown again.
    undone = client.post(
        f"/events/{started.id}/attendees/{attendee_id}/attendance", data={"attended": "0"}
    )
    assert undone.status_code == 303
    assert undone.headers["Location"].endswith(f"/events/{started.id}")

    login_as(staff["support"])
    denied = client.post(
        f"/events/{started.id}/attendees/{attendee_id}/attendance", data={"attended": "0"}
    )
    assert denied.status_code == 403


def test_event_pages_of_another_organization_are_404(client, login_as, event, make_org):
    event_id = event.id
    other, admin = make_org(name="Other")
    login_as(admin)
    assert client.get(f"/events/{event_id}").status_code == 404
    assert client.post(f"/events/{event_id}/attendees", data={"reference": "x"}).status_code == 404
