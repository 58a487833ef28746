"""Lead capture, the qualification workflow, and conversion (one transaction, refused twice)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from crm_web.accounts.models import User
from crm_web.customers.models import ConsentEvent, Customer
from crm_web.customers.services import create_customer, find_duplicates
from crm_web.db import set_tenant
from crm_web.errors import Conflict, ValidationError
from crm_web.extensions import db
from crm_web.leads import services
from crm_web.leads.models import Lead
from crm_web.pipeline.models import Opportunity
from crm_web.privacy.models import AuditEntry


@pytest.fixture
def org(make_org):
    organization, admin = make_org()
    set_tenant(organization.id, admin.id)
    return organization


def lead(**values) -> Lead:
    fields = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.example"}
    return services.create_lead(**{**fields, **values})


def qualified(**values) -> Lead:
    created = lead(**values)
    return services.change_status(created.id, "qualified")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_capture_numbers_normalises_and_validates(org):
    first = lead(
        email=" Grace@Navy.Example ", phone="0532 123 45 67", country="tr", budget="1,500.50"
    )
    second = lead(email="", phone="+44 20 7946 0958", website="navy.example")
    assert first.lead_number == "LEAD-000001" and second.lead_number == "LEAD-000002"
    assert first.email == "grace@navy.example"
    assert first.phone == "+905321234567" and first.country == "TR"
    assert first.budget == Decimal("1500.50")
    assert second.website == "https://navy.example"
    assert first.status == "new" and first.captured_via == "manual"

    with pytest.raises(ValidationError) as error:
        services.create_lead(
            first_name="",
            last_name="X",
            email="not-an-email",
            phone="12",
            country="XX",
            budget="-5",
            authority="boss",
            timeline="someday",
        )
    assert set(error.value.fields) >= {
        "first_name",
        "email",
        "phone",
        "country",
        "budget",
        "authority",
        "timeline",
    }
    with pytest.raises(ValidationError) as error:
        services.create_lead(first_name="A", last_name="B")
    assert "email" in error.value.fields  # an email or a phone is needed
    with pytest.raises(ValidationError) as error:
        services.create_lead(first_name="A", last_name="B", email="a@b.example", salary="1")
    assert error.value.fields == {"salary": "Unknown field."}


def test_workflow_moves_forward_and_refuses_invalid_transitions_clearly(org):
    created = lead()
    assert services.change_status(created.id, "contacted").status == "contacted"
    with pytest.raises(Conflict) as error:
        services.change_status(created.id, "new")
    assert (
        error.value.message
        == "A contacted lead cannot become new. It can become qualified or disqualified."
    )
    with pytest.raises(Conflict) as error:
        services.change_status(created.id, "converted")
    assert "Convert" in error.value.message
    assert services.change_status(created.id, "qualified").status == "qualified"
    with pytest.raises(ValidationError) as error:
        services.change_status(created.id, "disqualified")
    assert "reason" in error.value.fields
    done = services.change_status(created.id, "disqualified", reason="No budget this year")
    assert done.status == "disqualified" and done.disqualified_reason == "No budget this year"
    reopened = services.change_status(created.id, "new")
    assert reopened.status == "new" and reopened.disqualified_reason == ""
    with pytest.raises(ValidationError):
        services.change_status(created.id, "won")


def test_qualify_records_bant_and_rescores(org):
    created = lead()
    before = created.lead_score
    result = services.qualify_lead(
        created.id, budget="50000", authority="decision_maker", need="CRM", timeline="immediate"
    )
    assert result.status == "qualified"
    assert result.budget == Decimal("50000") and result.authority == "decision_maker"
    # Decision maker +15, budget >= 10,000 +8, buying soon +10, need described +5.
    assert result.lead_score == before + 38
    with pytest.raises(ValidationError):
        services.qualify_lead(lead(email="x@y.example").id, status="contacted")


def test_conversion_creates_customer_and_opportunity_and_links_both(org):
    source = qualified(company="Navy", phone="+1 202 555 0143", budget="12000", industry="Defense")
    converted = services.convert_lead(
        source.id,
        opportunity={
            "name": "Navy CRM",
            "amount": Decimal("12000"),
            "expected_close_date": date.today() + timedelta(days=30),
        },
    )
    assert converted.status == "converted" and converted.converted_at is not None
    customer = db.session.get(Customer, converted.converted_customer_id)
    deal = db.session.get(Opportunity, converted.converted_opportunity_id)
    assert customer.company_name == "Navy" and customer.primary_email == "grace@navy.example"
    assert customer.primary_phone == "+12025550143" and customer.customer_type == "company"
    assert customer.lifecycle_stage == "opportunity" and customer.lead_source == "other"
    assert deal.customer_id == customer.id and deal.lead_id == converted.id
    assert deal.amount == Decimal("12000") and deal.name == "Navy CRM"
    with pytest.raises(Conflict, match="already been converted"):
        services.convert_lead(source.id)
    with pytest.raises(Conflict):
        services.update_lead(source.id, need="more")


def customer(**values) -> Customer:
    """A customer made the customers module's way (normalised email and phone)."""
    return create_customer({"first_name": "Known", "last_name": "Customer", **values})


def test_conversion_links_an_existing_customer_by_email_then_phone(org):
    by_email = qualified(email="known@example.com", phone="+44 20 7946 0000")
    phone_owner = customer(primary_phone="+44 20 7946 0000")
    existing = customer(primary_email="Known@Example.com")
    # The email wins over the phone, whichever customer is older.
    assert services.matching_customer(by_email) == services.CustomerMatch(existing, "email")
    assert services.convert_lead(by_email.id).converted_customer_id == existing.id

    by_phone = qualified(email="other@example.com", phone="020 7946 0000", country="GB")
    assert not services.matching_customer(by_phone).strong
    before = count(Customer)
    assert services.convert_lead(by_phone.id).converted_customer_id == phone_owner.id
    assert count(Customer) == before

    # Asked for a new customer anyway: made, although another has the email.
    forced = qualified(email="known@example.com")
    made = services.convert_lead(forced.id, create_new_customer=True).converted_customer_id
    assert made not in (existing.id, phone_owner.id)
    assert db.session.get(Customer, made).primary_email == "known@example.com"


def test_a_new_customer_from_a_lead_is_made_like_any_other(org, make_user):
    rep = make_user(org, role="sales")
    set_tenant(org.id)
    source = qualified(
        first_name="Ada",
        last_name="Lovelace",
        email="ada@engines.example",
        website="engines.example",
        country="GB",
        city="London",
        company_size="11-50",
        source="referral",
        assigned_to_id=rep.id,
    )
    converted = services.convert_lead(source.id)
    made = db.session.get(Customer, converted.converted_customer_id)
    # Numbered by the customers' counter, owned by the lead's assignee, audited as a customer.
    assert made.customer_code == "CUS-000001"
    assert (made.customer_type, made.first_name, made.lifecycle_stage) == (
        "person",
        "Ada",
        "customer",
    )
    assert (made.website, made.country, made.company_size, made.lead_source) == (
        "https://engines.example",
        "GB",
        "11-50",
        "referral",
    )
    assert made.owner_id == rep.id and made.email_opt_in is False
    assert find_duplicates(["ada@engines.example"], []) == [made]
    created = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.table_name == "customers",
            AuditEntry.action == "create",
            AuditEntry.row_id == str(made.id),
        )
    ).one()
    assert created.new_values["customer_code"] == "CUS-000001"
    # A lead asks for no consent: no consent history.
    assert count(ConsentEvent) == 0


def test_a_lead_the_customer_rules_refuse_is_not_converted(org, make_user):
    """The customers module checks the new customer as it checks any other: a web address
    a lead may hold but a customer may not stops the conversion, and nothing is written."""
    leaver = make_user(org, role="sales")
    set_tenant(org.id)
    source = qualified(website="intranet", assigned_to_id=leaver.id)
    customers, deals = count(Customer), count(Opportunity)
    with pytest.raises(ValidationError) as error:
        services.convert_lead(
            source.id,
            opportunity={"name": "Deal", "amount": "10", "expected_close_date": date.today()},
        )
    assert set(error.value.fields) == {"customer_website"}
    assert error.value.fields["customer_website"].startswith("Website: Enter a web address")
    db.session.expire_all()
    assert (count(Customer), count(Opportunity)) == (customers, deals)
    assert services.get_lead(source.id).status == "qualified"

    # An assignee who has left since does not own what the lead becomes.
    services.update_lead(source.id, website="")
    leaver.is_active = False
    db.session.flush()
    converted = services.convert_lead(source.id)
    assert db.session.get(Customer, converted.converted_customer_id).owner_id is None


def test_only_qualified_leads_convert_and_customer_ids_stay_in_the_organization(org, make_org):
    org_id = org.id
    fresh = lead()
    with pytest.raises(Conflict, match="qualified"):
        services.convert_lead(fresh.id)
    other, other_admin = make_org(name="Other")
    set_tenant(other.id, other_admin.id)
    foreign = customer(primary_email="grace@navy.example")
    set_tenant(org_id)
    ready = services.change_status(fresh.id, "qualified")
    with pytest.raises(ValidationError) as error:
        services.convert_lead(ready.id, customer_id=foreign.id)
    assert error.value.fields == {"customer_id": "No such customer."}
    # Nor does the other organization's customer with the same email match.
    assert services.matching_customer(ready) is None


def test_a_failure_mid_conversion_leaves_nothing_behind(org, monkeypatch):
    """The customer is written, then the opportunity step fails: all of it rolls back."""
    source = qualified(email="atomic@example.com")
    customers, deals = count(Customer), count(Opportunity)

    # A real validation failure from the opportunity step (after the customer insert).
    with pytest.raises(ValidationError) as error:
        services.convert_lead(
            source.id,
            opportunity={"name": "Deal", "amount": "-1", "expected_close_date": date.today()},
        )
    assert "opportunity_amount" in error.value.fields
    # And an unexpected crash in the same place.
    import crm_web.pipeline.opportunities as pipeline

    def crash(**kwargs):
        db.session.flush()
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(pipeline, "create_opportunity", crash)
    with pytest.raises(RuntimeError):
        services.convert_lead(
            source.id,
            opportunity={"name": "Deal", "amount": "10", "expected_close_date": date.today()},
        )
    db.session.expire_all()
    assert (count(Customer), count(Opportunity)) == (customers, deals)
    reloaded = services.get_lead(source.id)
    assert reloaded.status == "qualified"
    assert reloaded.converted_customer_id is None and reloaded.converted_opportunity_id is None


def test_activities_change_the_score_and_mark_a_new_lead_contacted(org):
    """The activities domain reports a lead's activities; its figures and score follow."""
    from crm_web.activities import services as activities

    created = lead()
    before = created.lead_score
    user = db.session.get(User, created.created_by_id)
    activity = activities.create_activity(
        activity_type="call",
        subject="Intro call",
        lead_id=created.id,
        assigned_to_id=user.id,
        due_at=datetime.now(UTC),
    )
    planned = services.get_lead(created.id)
    assert planned.activity_count == 1 and planned.status == "new"
    activities.complete_activity(activity.id, acting_user=user, outcome="Interested")
    refreshed = services.get_lead(created.id)
    assert refreshed.activity_count == 1 and refreshed.last_activity_at is not None
    assert refreshed.status == "contacted"
    # "Activity in the last 7 days" (+10) and "in the last 30 days" (+5).
    assert refreshed.lead_score == before + 15
    assert {m["label"] for m in refreshed.score_breakdown["matched"]} >= {
        "Activity in the last 7 days"
    }
