"""Demo activity for seeded customers: set-based, deterministic, only for the new customers."""

# The shared fixtures are imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

from sqlalchemy import func, select

from crm_web.communications.models import Communication
from crm_web.customer360 import timeline
from crm_web.customer360.models import CampaignPreference, CustomerNote
from crm_web.customer360.seeding import seed_customers_with_activity
from crm_web.customers.models import Customer
from crm_web.db import set_tenant
from crm_web.events.models import Event, EventAttendee
from crm_web.extensions import db
from crm_web.privacy.models import AuditEntry
from tests import factories
from tests.fixtures_customer360 import org  # noqa: F401


def count(model, *conditions) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def test_seeded_customers_get_a_realistic_history(org):
    earlier = factories.customer()
    seeded, activity = seed_customers_with_activity(2000, seed=5)
    assert seeded == 2000
    assert activity == {
        "customer_notes": count(CustomerNote),
        "communications": count(Communication),
        "customer_campaign_preferences": count(CampaignPreference),
        "events": count(Event),
        "event_attendees": count(EventAttendee),
    }
    # Roughly the documented shares of 2,000 customers.
    assert 140 <= activity["customer_notes"] <= 260
    assert 500 <= activity["communications"] <= 1300
    assert 150 <= activity["customer_campaign_preferences"] <= 500
    assert activity["events"] == 8
    assert 30 <= activity["event_attendees"] <= 90
    # Only the new customers: the one made before has no history.
    assert count(CustomerNote, CustomerNote.customer_id == earlier.id) == 0
    assert count(Communication, Communication.customer_id == earlier.id) == 0
    channels = set(db.session.scalars(select(Communication.communication_type).distinct()))
    assert channels == {"email", "call", "sms", "meeting"}
    assert count(Communication, Communication.opened_date.isnot(None)) > 0
    assert count(Communication, Communication.direction == "inbound") > 0
    attended = count(EventAttendee, EventAttendee.attended_at.isnot(None))
    assert 0 < attended < activity["event_attendees"]
    assert count(Event, Event.starts_at > func.now()) == 2
    # One audit entry per table.
    tables = db.session.scalars(
        select(AuditEntry.table_name).where(AuditEntry.row_id == "seed 5")
    ).all()
    assert sorted(tables) == sorted(activity)

    # A seeded customer's timeline reads like a real one.
    busiest = db.session.scalar(
        select(Communication.customer_id)
        .group_by(Communication.customer_id)
        .order_by(func.count().desc(), Communication.customer_id)
        .limit(1)
    )
    page = timeline.timeline_page(busiest)
    assert len(page.entries) >= 3
    assert all(entry.title for entry in page.entries)


def history(organization_id: int) -> list[tuple]:
    set_tenant(organization_id)
    return db.session.execute(
        select(
            Customer.customer_code,
            Communication.communication_type,
            Communication.direction,
            Communication.subject,
            Communication.status,
            Communication.created_at,
        )
        .join(Customer, Customer.id == Communication.customer_id)
        .order_by(Customer.customer_code, Communication.created_at, Communication.subject)
    ).all()


def test_the_same_seed_gives_the_same_history(make_org):
    organizations = []
    for name in ("First", "Second", "Third"):
        organization, admin = make_org(name=name)
        set_tenant(organization.id, admin.id)
        seed_customers_with_activity(300, seed=9 if name != "Third" else 10)
        organizations.append(organization.id)
    first, second, third = (history(organization_id) for organization_id in organizations)
    assert first == second and len(first) > 50
    assert first != third
