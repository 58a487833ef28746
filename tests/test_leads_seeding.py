"""Demo leads: set-based, deterministic, scored, some converted, assignments recorded."""

from collections import Counter

from sqlalchemy import func, select

from crm_web.customers.seeding import seed_customers
from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.leads import scoring
from crm_web.leads.models import Lead, LeadAssignment
from crm_web.leads.seeding import TURKISH_TEXTS, seed_leads, set_up_demo_leads


def test_seeded_leads_are_scored_assigned_and_partly_converted(make_org, make_user):
    organization, admin = make_org()
    reps = [make_user(organization, role="sales") for _ in range(2)]
    set_tenant(organization.id, admin.id)
    seed_customers(100, seed=3)
    assert seed_leads(400, seed=3) == 400
    leads = list(db.session.scalars(select(Lead).order_by(Lead.id)))
    assert [lead.lead_number for lead in leads] == [f"LEAD-{n:06d}" for n in range(1, 401)]
    statuses = Counter(lead.status for lead in leads)
    assert set(statuses) == {"new", "contacted", "qualified", "converted", "disqualified"}
    assert all(
        lead.scored_at and lead.score_breakdown["total"] == lead.lead_score for lead in leads
    )
    assert len({lead.lead_score for lead in leads}) > 10
    converted = [lead for lead in leads if lead.status == "converted"]
    assert all(lead.converted_customer_id and lead.converted_at for lead in converted)
    assigned = {lead.assigned_to_id for lead in leads} - {None}
    assert assigned == {rep.id for rep in reps}
    assert db.session.scalar(select(func.count()).select_from(LeadAssignment)) == sum(
        1 for lead in leads if lead.assigned_to_id
    )
    # Better bands convert more often.
    bands = {band.name: band for band in scoring.analysis().bands}
    assert bands["0-29"].conversion_rate < max(
        bands[name].conversion_rate or 0 for name in ("30-59", "60-79", "80-100")
    )
    # Deterministic: the same seed gives the same people in another organization.
    other, other_admin = make_org(name="Twin")
    set_tenant(other.id, other_admin.id)
    seed_leads(400, seed=3)
    twin = list(db.session.scalars(select(Lead).order_by(Lead.id)))
    assert [(lead.first_name, lead.email) for lead in twin] == [
        (lead.first_name, lead.email) for lead in leads
    ]


def test_demo_setup_routes_new_leads(make_org, make_user):
    from crm_web.leads import services

    organization, admin = make_org(name="Demo-ish")
    turkish = make_user(organization, role="sales", skills="turkish, enterprise")
    make_user(organization, role="manager")
    set_tenant(organization.id, admin.id)
    set_up_demo_leads(30, seed=1)
    assert services.get_settings().web_form_enabled
    lead = services.create_lead(
        first_name="Ayşe", last_name="Yılmaz", email="ayse@example.com.tr", country="TR"
    )
    assert lead.assigned_to_id == turkish.id


def test_a_turkish_demo_gets_turkish_leads(make_org):
    organization, admin = make_org()
    set_tenant(organization.id, admin.id)
    assert seed_leads(30, seed=5, language="tr") == 30
    leads = db.session.scalars(select(Lead).where(Lead.organization_id == organization.id)).all()
    assert {lead.country for lead in leads} == {"TR"}
    assert all(lead.phone.startswith("+90") for lead in leads)
    assert {lead.need for lead in leads} <= set(TURKISH_TEXTS["needs"])
