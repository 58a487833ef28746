"""Customer 360 services: notes, preferences, documents, the timeline across sources, the scores."""

# The shared fixtures are imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

import dataclasses
import hashlib
import io
import os
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from crm_web.catalog.orders import Purchases
from crm_web.communications.models import Communication
from crm_web.communications.services import log_communication
from crm_web.customer360 import scores, services, timeline
from crm_web.customer360.models import CampaignPreference, CustomerDocument, CustomerNote
from crm_web.customer360.open_work import customer_open_work
from crm_web.customers.models import ConsentEvent
from crm_web.customers.services import merge_customers, set_consent
from crm_web.db import atomic, set_tenant
from crm_web.errors import NotFound, PermissionDenied, ValidationError
from crm_web.events.models import EventAttendee
from crm_web.events.services import create_event, register_customer, set_attendance
from crm_web.extensions import db
from crm_web.privacy.models import AuditEntry
from crm_web.tickets.models import Ticket
from tests import factories
from tests.fixtures_customer360 import (  # noqa: F401
    NOW,
    ago,
    backdate,
    customer,
    org,
    upload_dir,
)

PDF = b"%PDF-1.7\n" + b"0" * 2000 + b"\n%%EOF\n"


def audit_rows(table: str, row_id) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.table_name == table, AuditEntry.row_id == str(row_id))
            .order_by(AuditEntry.id)
        )
    )


# --- Notes --------------------------------------------------------------------------------------


def test_notes_are_added_edited_and_removed_with_an_audit_trail(customer, org, make_user):
    _organization, admin = org
    note = services.add_note(customer.id, "  Called about the renewal.  ")
    assert note.body == "Called about the renewal."
    assert note.author_id == admin.id
    assert services.list_notes(customer.id) == [note]

    services.edit_note(customer.id, note.id, "Renewal agreed for March.", acting_user=admin)
    assert db.session.get(CustomerNote, note.id).body == "Renewal agreed for March."
    actions = [entry.action for entry in audit_rows("customer_notes", note.id)]
    assert actions == ["create", "update"]
    update = audit_rows("customer_notes", note.id)[1]
    assert update.old_values["body"] == "Called about the renewal."
    assert update.new_values["body"] == "Renewal agreed for March."

    services.delete_note(customer.id, note.id, acting_user=admin)
    assert services.list_notes(customer.id) == []
    assert audit_rows("customer_notes", note.id)[-1].action == "delete"


def test_note_validation_and_who_may_change_it(customer, org, make_user):
    organization, admin = org
    with pytest.raises(ValidationError) as empty:
        services.add_note(customer.id, "   ")
    assert "body" in empty.value.fields
    with pytest.raises(ValidationError):
        services.add_note(customer.id, "x" * (services.MAX_NOTE_LENGTH + 1))

    seller = make_user(organization, role="sales")
    other_seller = make_user(organization, role="sales")
    manager = make_user(organization, role="manager")
    set_tenant(organization.id, seller.id)
    note = services.add_note(customer.id, "Mine.")
    assert services.can_change_note(note, seller)
    assert not services.can_change_note(note, other_seller)
    with pytest.raises(PermissionDenied):
        services.edit_note(customer.id, note.id, "Hijacked", acting_user=other_seller)
    with pytest.raises(PermissionDenied):
        services.delete_note(customer.id, note.id, acting_user=other_seller)
    services.edit_note(customer.id, note.id, "Fixed by the manager.", acting_user=manager)
    assert db.session.get(CustomerNote, note.id).body == "Fixed by the manager."
    # A note is reached only through its own customer.
    with pytest.raises(NotFound):
        services.get_note(customer.id + 1, note.id)


def test_notes_of_another_organization_are_not_found(customer, org, make_org):
    customer_id, note_id = customer.id, services.add_note(customer.id, "Private.").id
    other, other_admin = make_org(name="Other")
    set_tenant(other.id, other_admin.id)
    with pytest.raises(NotFound):
        services.get_note(customer_id, note_id)
    with pytest.raises(NotFound):
        services.add_note(customer_id, "Sneaky")
    assert services.list_notes(customer_id) == []


# --- Preferences --------------------------------------------------------------------------------


def test_campaign_preferences_are_set_exactly_and_audited(customer):
    assert services.campaign_preferences(customer.id) == set()
    services.set_campaign_preferences(customer.id, ["discounts", "newsletter"])
    assert services.campaign_preferences(customer.id) == {"discounts", "newsletter"}
    services.set_campaign_preferences(customer.id, ["newsletter", "events"])
    assert services.campaign_preferences(customer.id) == {"newsletter", "events"}
    trail = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.table_name == "customer_campaign_preferences")
    ).all()
    assert sorted(trail) == ["create", "create", "create", "delete"]
    with pytest.raises(ValidationError) as unknown:
        services.set_campaign_preferences(customer.id, ["newsletter", "spam"])
    assert "spam" in unknown.value.fields["campaign_types"]
    assert services.campaign_preferences(customer.id) == {"newsletter", "events"}


# --- Documents ----------------------------------------------------------------------------------


def stored_files(upload_dir) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(root, name), upload_dir)
        for root, _dirs, names in os.walk(upload_dir)
        for name in names
    )


def test_document_upload_download_and_delete(customer, upload_dir):
    document = services.upload_document(
        customer.id,
        category="quote",
        filename="C:\\Users\\me\\Teklif 2026.pdf",
        stream=io.BytesIO(PDF),
    )
    assert document.filename == "Teklif 2026.pdf"
    assert document.content_type == "application/pdf"
    assert document.size_bytes == len(PDF)
    assert document.sha256 == hashlib.sha256(PDF).hexdigest()
    assert stored_files(upload_dir) == [document.storage_key]
    found, stream = services.open_document(customer.id, document.id)
    with stream:
        assert stream.read() == PDF
    assert found.id == document.id
    assert services.list_documents(customer.id) == [document]

    services.delete_document(customer.id, document.id)
    assert services.list_documents(customer.id) == []
    assert stored_files(upload_dir) == []


@pytest.mark.parametrize(
    ("filename", "content", "field_message"),
    [
        ("virus.exe", b"MZ\x90\x00", "Upload one of"),
        ("invoice.pdf", b"MZ\x90\x00 not a pdf", "not a .pdf file"),
        ("notes.txt", b"\x00\x01\x02binary", "not a .txt file"),
        ("empty.pdf", b"", "empty"),
        ("", b"%PDF-1.4", "Choose a file"),
    ],
)
def test_documents_of_the_wrong_type_are_refused(
    customer, upload_dir, filename, content, field_message
):
    with pytest.raises(ValidationError) as refused:
        services.upload_document(
            customer.id, category="invoice", filename=filename, stream=io.BytesIO(content)
        )
    assert field_message in refused.value.fields["file"]
    assert stored_files(upload_dir) == []
    assert services.list_documents(customer.id) == []


def test_text_and_office_documents_are_accepted(customer, upload_dir):
    text = services.upload_document(
        customer.id,
        category="other",
        filename="görüşme.txt",
        stream=io.BytesIO("Görüşme notları: fiyat onaylandı.".encode()),
    )
    assert text.content_type.startswith("text/plain")
    sheet = services.upload_document(
        customer.id,
        category="invoice",
        filename="fatura.XLSX",
        stream=io.BytesIO(b"PK\x03\x04rest"),
    )
    assert sheet.content_type.endswith("spreadsheetml.sheet")
    assert len(stored_files(upload_dir)) == 2


def test_documents_over_the_size_limit_leave_nothing_behind(customer, upload_dir):
    big = io.BytesIO(b"%PDF-" + b"0" * services.MAX_DOCUMENT_BYTES)
    with pytest.raises(ValidationError) as refused:
        services.upload_document(customer.id, category="contract", filename="big.pdf", stream=big)
    assert "at most 10 MB" in refused.value.fields["file"]
    assert stored_files(upload_dir) == []
    exactly = io.BytesIO(b"%PDF-" + b"0" * (services.MAX_DOCUMENT_BYTES - 5))
    document = services.upload_document(
        customer.id, category="contract", filename="max.pdf", stream=exactly
    )
    assert document.size_bytes == services.MAX_DOCUMENT_BYTES


def test_a_rolled_back_upload_removes_its_file_and_a_rolled_back_delete_keeps_it(
    customer, upload_dir
):
    @atomic
    def upload_then_fail():
        services.upload_document(
            customer.id, category="quote", filename="q.pdf", stream=io.BytesIO(PDF)
        )
        raise RuntimeError("something after the upload failed")

    with pytest.raises(RuntimeError):
        upload_then_fail()
    assert stored_files(upload_dir) == []

    document = services.upload_document(
        customer.id, category="quote", filename="q.pdf", stream=io.BytesIO(PDF)
    )

    @atomic
    def delete_then_fail():
        services.delete_document(customer.id, document.id)
        raise RuntimeError("the delete's transaction failed")

    with pytest.raises(RuntimeError):
        delete_then_fail()
    assert stored_files(upload_dir) == [document.storage_key]
    assert services.get_document(customer.id, document.id).id == document.id


def test_documents_are_tenant_checked(customer, org, make_org, upload_dir):
    document = services.upload_document(
        customer.id, category="contract", filename="c.pdf", stream=io.BytesIO(PDF)
    )
    customer_id, document_id, key = customer.id, document.id, document.storage_key
    other, other_admin = make_org(name="Other")
    set_tenant(other.id, other_admin.id)
    with pytest.raises(NotFound):
        services.open_document(customer_id, document_id)
    with pytest.raises(NotFound):
        services.delete_document(customer_id, document_id)
    assert stored_files(upload_dir) == [key]


# --- Timeline -----------------------------------------------------------------------------------


@pytest.fixture
def history(customer, org, upload_dir):
    """One entry of every kind, each at a known time, newest first in `expected`."""
    note = services.add_note(customer.id, "Asked for a quote.")
    backdate(CustomerNote, note.id, "created_at", ago(days=1))
    call = log_communication(
        customer.id,
        communication_type="call",
        direction="outbound",
        subject="Intro call",
        outcome="interested",
        duration_seconds=600,
    )
    backdate(Communication, call.id, "created_at", ago(days=2))
    email = log_communication(
        customer.id,
        communication_type="email",
        direction="outbound",
        subject="Our offer",
        status="sent",
    )
    backdate(Communication, email.id, "created_at", ago(days=3))
    backdate(Communication, email.id, "opened_date", ago(days=2, hours=12))
    event = create_event(name="Spring launch", starts_at=ago(days=4), location="Istanbul")
    attendee = register_customer(event.id, customer.id)
    backdate(EventAttendee, attendee.id, "registered_at", ago(days=10))
    set_attendance(event.id, attendee.id, True)
    backdate(EventAttendee, attendee.id, "attended_at", ago(days=4))
    set_consent(customer.id, source="form", email_opt_in=True, note="Ticked the box")
    consent = db.session.scalar(select(ConsentEvent).where(ConsentEvent.customer_id == customer.id))
    backdate(ConsentEvent, consent.id, "created_at", ago(days=5))
    document = services.upload_document(
        customer.id, category="quote", filename="offer.pdf", stream=io.BytesIO(PDF)
    )
    backdate(CustomerDocument, document.id, "created_at", ago(days=6))
    return [
        ("note", note.id),
        ("call", call.id),
        ("email", email.id),
        ("event_attendance", attendee.id),
        ("consent", consent.id),
        ("document", document.id),
        ("event_registration", attendee.id),
    ]


def keys(page) -> list[tuple[str, int]]:
    return [(entry.kind, entry.id) for entry in page.entries]


def test_timeline_merges_every_source_newest_first(app, customer, history):
    page = timeline.timeline_page(customer.id)
    assert keys(page) == history
    assert page.next_cursor is None
    by_kind = {entry.kind: entry for entry in page.entries}
    assert by_kind["call"].title == "Intro call"
    assert by_kind["call"].details["outcome"] == "interested"
    assert by_kind["call"].details["duration_seconds"] == 600
    assert by_kind["email"].details["opened_at"].date() == ago(days=2, hours=12).date()
    assert by_kind["event_attendance"].title == "Attended Spring launch"
    with app.test_request_context():
        event_id = by_kind["event_attendance"].details["event_id"]
        assert by_kind["event_attendance"].link == f"/events/{event_id}"
        assert by_kind["note"].link is None
    assert by_kind["event_registration"].title == "Registered for Spring launch"
    assert by_kind["consent"].title == "Email opt-in: yes"
    assert by_kind["consent"].body == "Ticked the box"
    assert by_kind["document"].title == "Quote uploaded: offer.pdf"
    assert by_kind["note"].body == "Asked for a quote."
    assert by_kind["note"].details["author"].endswith("Admin")


def test_timeline_titles_are_worded_in_the_readers_language(app, customer, history):
    """The statement is cached with no words in it: each reader gets titles in their language."""
    untitled = log_communication(
        customer.id, communication_type="call", direction="outbound", content="No answer."
    )
    with force_locale("tr"):
        entries = timeline.timeline_page(customer.id).entries
        turkish = {e.kind: e for e in entries if (e.kind, e.id) != ("call", untitled.id)}
        assert [e.title for e in entries if e.kind == "call" and e.id == untitled.id] == [
            "Giden arama"
        ]
        assert turkish["event_registration"].title == "Spring launch etkinliğine kayıt oldu"
        assert turkish["consent"].title == "E-posta izni: evet"
        assert turkish["document"].title == "Teklif yüklendi: offer.pdf"
        assert turkish["note"].title == "Not"
        details = dict((key, value) for key, _name, value in turkish["call"].shown_details)
        assert details["direction"] == "giden"
    with force_locale("en"):
        english = timeline.timeline_page(customer.id).entries
        assert [e.title for e in english if e.kind == "call" and e.id == untitled.id] == [
            "Outbound call"
        ]
        labels = [name for _key, name, _value in english[0].shown_details]
        assert "Direction" in labels


def test_timeline_filters_by_type_groups(customer, history):
    notes_and_events = timeline.timeline_page(customer.id, types=["note", "event"])
    assert keys(notes_and_events) == [
        key for key in history if key[0] in ("note", "event_attendance", "event_registration")
    ]
    assert keys(timeline.timeline_page(customer.id, types=["sms"])) == []
    assert timeline.parse_groups("note, email") == ["note", "email"]
    assert timeline.parse_groups("") is None
    with pytest.raises(ValidationError) as unknown:
        timeline.parse_groups("note,orders")
    assert "orders" in unknown.value.fields["types"]


def test_timeline_since_keeps_only_recent_entries(customer, history):
    recent = timeline.timeline_page(customer.id, since=ago(days=3, hours=1))
    assert keys(recent) == history[:3]


def test_timeline_pages_walk_everything_once_even_with_equal_timestamps(customer, org):
    """Rows of several sources share timestamps: the keyset (time, kind, id) must not skip or repeat."""
    moments = [ago(hours=hours) for hours in (1, 1, 1, 2, 2, 3)]
    expected = []
    for index, moment in enumerate(moments):
        note = services.add_note(customer.id, f"Note {index}")
        backdate(CustomerNote, note.id, "created_at", moment)
        for channel in ("call", "email"):
            entry = log_communication(
                customer.id,
                communication_type=channel,
                direction="inbound",
                subject=f"{channel} {index}",
            )
            backdate(Communication, entry.id, "created_at", moment)
    full = timeline.timeline_page(customer.id, limit=200)
    expected = keys(full)
    assert len(expected) == 18
    # Newest first; equal times by kind (descending) then id (descending).
    ordering = [(entry.occurred_at, entry.kind, entry.id) for entry in full.entries]
    assert ordering == sorted(ordering, reverse=True)

    for size in (1, 4, 7):
        walked, cursor, pages = [], None, 0
        while True:
            page = timeline.timeline_page(customer.id, cursor=cursor, limit=size)
            walked.extend(keys(page))
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert walked == expected, size
        assert pages == -(-18 // size)


def test_timeline_shows_only_this_customers_rows(customer, history):
    other = factories.customer(first_name="Can")
    services.add_note(other.id, "Someone else's note.")
    assert keys(timeline.timeline_page(customer.id)) == history
    assert [entry.body for entry in timeline.timeline_page(other.id).entries] == [
        "Someone else's note."
    ]


def test_timeline_refuses_bad_cursors_and_sizes(customer):
    for cursor in ("garbage", "WyJ4IiwxXQ", "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwibm90ZSIsMV0"):
        with pytest.raises(ValidationError):
            timeline.timeline_page(customer.id, cursor=cursor)
    with pytest.raises(ValidationError):
        timeline.timeline_page(customer.id, limit=0)


# --- Scores -------------------------------------------------------------------------------------


def test_engagement_score_formula():
    nothing = scores.engagement_score(scores.Activity(), NOW)
    assert nothing.value == 0
    assert [c.key for c in nothing.components] == [
        "activity",
        "recency",
        "opens",
        "clicks",
        "inbound",
        "events",
    ]
    assert sum(c.max_points for c in nothing.components) == 100
    busy = scores.Activity(
        last_contact_at=ago(days=1),
        last_interaction_at=ago(days=3),
        interactions_90d=11,
        emails_opened_90d=6,
        emails_clicked_90d=1,
        inbound_90d=2,
        events_attended_365d=2,
    )
    assert scores.engagement_score(busy, NOW).value == 100
    middling = scores.Activity(
        last_interaction_at=ago(days=20),
        interactions_90d=4,
        emails_opened_90d=1,
        events_attended_365d=1,
    )
    points = {c.key: c.points for c in scores.engagement_score(middling, NOW).components}
    assert points == {
        "activity": 10,
        "recency": 10,
        "opens": 8,
        "clicks": 0,
        "inbound": 0,
        "events": 10,
    }
    assert scores.engagement_score(middling, NOW).value == 38


NEVER_ORDERED = Purchases(Decimal("0"), 0, None)


def test_health_score_counts_open_tickets_ratings_and_orders(customer):
    activity = scores.Activity(last_contact_at=ago(days=10), last_interaction_at=ago(days=10))
    work = customer_open_work(customer.id)
    kpis = scores.customer_kpis(activity, work, NEVER_ORDERED)
    assert (kpis.lifetime_value, kpis.order_count, kpis.satisfaction) == (Decimal("0"), 0, None)
    assert (kpis.open_deals, kpis.open_tickets, kpis.upcoming_activities) == (0, 0, 0)
    engagement = scores.Score(40, [])
    customer.lifecycle_stage = "customer"
    health = scores.health_score(customer, activity, kpis, engagement, NOW)
    available = {c.key: c.points for c in health.components if c.available}
    assert available == {
        "engagement": 0.4,
        "purchasing": 0.0,
        "support": 1.0,
        "relationship": 0.8,
        "contact": 1.0,
    }
    assert {c.key for c in health.components if not c.available} == {"satisfaction"}
    details = {c.key: c.detail for c in health.components}
    assert details["satisfaction"] == "not available: no ticket rated in 365 days"
    # (25 x 0.4 + 30 x 0 + 20 x 1.0 + 20 x 0.8 + 20 x 1.0) / 115 = 0.574
    assert health.value == 57

    # One ticket being worked halves support; an average rating of 4 is 0.8 satisfaction.
    rated = dataclasses.replace(activity, satisfaction=4.0)
    kpis = dataclasses.replace(scores.customer_kpis(rated, work, NEVER_ORDERED), open_tickets=1)
    health = scores.health_score(customer, rated, kpis, engagement, NOW)
    details = {c.key: (c.points, c.detail) for c in health.components}
    assert details["support"] == (0.5, "1 open ticket")
    assert details["satisfaction"] == (0.8, "average rating 4.0 / 5")
    # (10 + 0 + 20 x 0.5 + 25 x 0.8 + 16 + 20) / 140 = 0.543
    assert health.value == 54

    customer.do_not_contact = True
    customer.lifecycle_stage = "churned"
    cold = scores.Activity(last_contact_at=ago(days=400))
    kpis = dataclasses.replace(scores.customer_kpis(cold, work, NEVER_ORDERED), open_tickets=3)
    assert scores.health_score(customer, cold, kpis, scores.Score(0, []), NOW).value == 0


def test_satisfaction_is_the_average_rating_of_the_last_year(org, customer):
    organization, admin = org
    ratings = ((5, ago(days=3)), (2, ago(days=200)), (1, ago(days=400)))
    for rating, when in ratings:
        ticket = factories.ticket(organization, user=admin, customer_id=customer.id)
        backdate(Ticket, ticket.id, "csat_rating", rating)
        backdate(Ticket, ticket.id, "csat_submitted_at", when)
    factories.ticket(organization, user=admin, subject="Another customer's")
    set_tenant(organization.id, admin.id)
    activity = scores.customer_activity(customer.id)
    assert activity.satisfaction == 3.5
    overview = scores.customer_overview(customer)
    assert overview.kpis.satisfaction == 3.5 and overview.kpis.open_tickets == 3


def test_purchasing_counts_a_recent_order_fully_and_an_old_one_by_half(customer):
    activity = scores.Activity()
    recent = Purchases(Decimal("120.00"), 2, ago(days=30))
    old = Purchases(Decimal("120.00"), 2, ago(days=400))
    work = customer_open_work(customer.id)
    for purchases, value in ((recent, 1.0), (old, 0.5)):
        kpis = scores.customer_kpis(activity, work, purchases)
        assert kpis.average_order == Decimal("60.00")
        health = scores.health_score(customer, activity, kpis, scores.Score(0, []), NOW)
        assert {c.key: c.points for c in health.components}["purchasing"] == value


def test_activity_is_counted_from_communications_and_attendances(customer, history):
    # A mass email nobody opened is contact, not interaction.
    ignored = log_communication(
        customer.id, communication_type="email", direction="outbound", subject="Newsletter"
    )
    clicked = log_communication(
        customer.id, communication_type="email", direction="outbound", subject="Sale"
    )
    backdate(Communication, clicked.id, "clicked_date", ago(hours=1))
    backdate(Communication, clicked.id, "opened_date", ago(hours=2))
    inbound = log_communication(
        customer.id, communication_type="sms", direction="inbound", content="Call me"
    )
    activity = scores.customer_activity(customer.id)
    # call, opened email, clicked email, inbound sms, attended event
    assert activity.interactions_90d == 5
    assert activity.emails_opened_90d == 2
    assert activity.emails_clicked_90d == 1
    assert activity.inbound_90d == 1
    assert activity.events_attended_365d == 1
    assert activity.last_contact_at == max(ignored.created_at, inbound.created_at)
    overview = scores.customer_overview(customer)
    assert overview.kpis.last_contact_at == activity.last_contact_at
    # 10 (3+ interactions) + 20 (today) + 8 (opens) + 15 (click) + 10 (inbound) + 10 (event)
    assert overview.engagement.value == 73
    assert 0 < overview.health.value <= 100


# --- Merge --------------------------------------------------------------------------------------


def test_merging_customers_moves_notes_documents_preferences_and_registrations(
    customer, upload_dir
):
    loser = factories.customer(first_name="Ayse", primary_email="ayse.other@example.com")
    event = create_event(name="Webinar", starts_at=ago(hours=1))
    other_event = create_event(name="Fair", starts_at=ago(hours=2))
    register_customer(event.id, customer.id)
    register_customer(event.id, loser.id)
    register_customer(other_event.id, loser.id)
    services.add_note(loser.id, "Loser's note")
    services.upload_document(
        loser.id, category="contract", filename="c.pdf", stream=io.BytesIO(PDF)
    )
    services.set_campaign_preferences(customer.id, ["discounts"])
    services.set_campaign_preferences(loser.id, ["discounts", "surveys"])

    merge_customers(customer.id, loser.id)

    assert [note.body for note in services.list_notes(customer.id)] == ["Loser's note"]
    assert [doc.filename for doc in services.list_documents(customer.id)] == ["c.pdf"]
    assert services.campaign_preferences(customer.id) == {"discounts", "surveys"}
    registrations = db.session.scalars(
        select(EventAttendee.event_id).where(EventAttendee.customer_id == customer.id)
    ).all()
    assert sorted(registrations) == sorted([event.id, other_event.id])
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(CampaignPreference)
            .where(CampaignPreference.customer_id == loser.id)
        )
        == 0
    )
