"""Lead pages: list fragments and keyset paging, forms with field errors, workflow, roles."""

import functools
import re

import pytest

from crm_web.customers.models import Customer
from crm_web.customers.services import create_customer
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.leads import assignment, services
from crm_web.leads.models import Lead, LeadScoringRule

HTMX = {"HX-Request": "true"}


@pytest.fixture
def org(make_org):
    organization, admin = make_org()
    clear_tenant()
    return organization, admin


def add_leads(org, count, **values):
    set_tenant(org.id)
    leads = [
        services.create_lead(
            first_name="Lin", last_name=f"Number {i}", email=f"lin{i}@example.com", **values
        )
        for i in range(count)
    ]
    clear_tenant()
    return leads


def qualified_leads(org, count, **values):
    """`count` leads, qualified (ready to convert)."""
    leads = add_leads(org, count, **values)
    set_tenant(org.id)
    for lead in leads:
        services.change_status(lead.id, "qualified")
    clear_tenant()
    return leads


def test_list_pages_by_keyset_and_filters_as_fragments(client, org, login_as, make_user):
    organization, admin = org
    add_leads(organization, 3, company="Acme Widgets")
    add_leads(organization, 2, company="Globex", source="referral")
    login_as(make_user(organization, role="sales"))

    page = client.get("/leads/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Leads</h1>" in html and len(rows(html)) == 5

    fragment = client.get("/leads/?q=acme", headers=HTMX).get_data(as_text=True)
    assert fragment.strip().startswith('<table class="table" id="lead-results">')
    assert "<h1>" not in fragment and len(rows(fragment)) == 3

    add_leads(organization, 1, company="100% Juice")
    assert len(rows(client.get("/leads/?q=0%25 j", headers=HTMX).get_data(as_text=True))) == 1
    # LIKE wildcards typed in the search box are literal.
    assert len(rows(client.get("/leads/?q=%25", headers=HTMX).get_data(as_text=True))) == 1
    assert len(rows(client.get("/leads/?q=_", headers=HTMX).get_data(as_text=True))) == 0
    referrals = client.get("/leads/?source=referral", headers=HTMX).get_data(as_text=True)
    assert len(rows(referrals)) == 2 and "Globex" in referrals

    number = re.search(r"LEAD-\d+", referrals).group(0)
    assert len(rows(client.get(f"/leads/?q={number.lower()}").get_data(as_text=True))) == 1


def rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="lead-(\d+)"', html)]


def test_load_more_follows_the_keyset_cursor(client, org, login_as, make_user, monkeypatch):
    organization, admin = org
    created = add_leads(organization, 5)
    login_as(make_user(organization, role="sales"))
    # Pages of two, so five leads take three pages.
    monkeypatch.setattr(services, "search_leads", functools.partial(services.search_leads, limit=2))
    html = client.get("/leads/?status=new", headers=HTMX).get_data(as_text=True)
    seen = rows(html)
    while match := re.search(r'hx-get="([^"]+cursor=[^"]+)"', html):
        html = client.get(match.group(1).replace("&amp;", "&"), headers=HTMX).get_data(as_text=True)
        assert "<table" not in html and html.strip().startswith("<tr")
        seen += rows(html)
    assert seen == sorted((lead.id for lead in created), reverse=True)


def test_create_form_shows_field_errors_then_saves_and_assigns(client, org, login_as, make_user):
    organization, admin = org
    rep = make_user(organization, role="sales", name="Rita Rep")
    login_as(make_user(organization, role="marketing"))
    bad = client.post(
        "/leads/new",
        data={"first_name": "Ann", "last_name": "Lee", "email": "ann@", "phone": "12345"},
        headers=HTMX,
    )
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert (
        body.strip().startswith("<form")
        and 'id="email-error"' in body
        and 'id="phone-error"' in body
    )
    assert 'value="Ann"' in body

    good = client.post(
        "/leads/new",
        data={
            "first_name": "Ann",
            "last_name": "Lee",
            "email": "ann@lee.example",
            "phone": "+44 20 7946 0958",
            "source": "referral",
            "authority": "decision_maker",
            "company_size": "",
            "timeline": "",
            "assigned_to_id": str(rep.id),
        },
        headers=HTMX,
    )
    assert good.status_code == 200 and good.headers["HX-Redirect"].startswith("/leads/")
    set_tenant(organization.id)
    lead = db.session.scalar(db.select(Lead).where(Lead.email == "ann@lee.example"))
    assert lead.assigned_to_id == rep.id and lead.lead_score > 0
    detail = client.get(good.headers["HX-Redirect"]).get_data(as_text=True)
    assert "Rita Rep" in detail and "Decision maker" in detail and lead.lead_number in detail


def test_status_changes_swap_the_workflow_panel_and_refuse_bad_moves(
    client, org, login_as, make_user
):
    organization, admin = org
    [lead] = add_leads(organization, 1)
    login_as(make_user(organization, role="sales"))
    url = f"/leads/{lead.id}/status"
    refused = client.post(url, data={"status": "converted"}, headers=HTMX)
    assert refused.status_code == 422
    assert "Convert a qualified lead with Convert." in refused.get_data(as_text=True)
    missing_reason = client.post(url, data={"status": "disqualified"}, headers=HTMX)
    assert missing_reason.status_code == 422
    assert "Give the reason for disqualifying." in missing_reason.get_data(as_text=True)
    moved = client.post(url, data={"status": "contacted"}, headers=HTMX)
    assert moved.status_code == 200
    panel = moved.get_data(as_text=True)
    assert (
        panel.strip().startswith('<section class="card" id="lead-workflow">')
        and "Contacted" in panel
    )
    # The page's actions come along out of band: Convert appears once the lead is qualified.
    actions = panel.split('<div class="actions" id="lead-actions" hx-swap-oob="true">', 1)[1]
    assert f'href="/leads/{lead.id}/convert"' not in actions
    qualified = client.post(url, data={"status": "qualified"}, headers=HTMX).get_data(as_text=True)
    actions = qualified.split('<div class="actions" id="lead-actions" hx-swap-oob="true">', 1)[1]
    assert f'href="/leads/{lead.id}/convert"' in actions.split("</div>", 1)[0]


def test_roles(client, org, login_as, make_user):
    organization, admin = org
    [lead] = add_leads(organization, 1)
    for role, allowed in (
        ("support", set()),
        ("marketing", {"list", "analysis"}),
        ("sales", {"list", "status"}),
        ("manager", {"list", "status", "assign", "settings", "scoring", "analysis"}),
    ):
        client.post("/logout")
        login_as(make_user(organization, role=role))
        checks = {
            "list": client.get("/leads/").status_code,
            "status": client.post(
                f"/leads/{lead.id}/status", data={"status": "new"}, headers=HTMX
            ).status_code,
            "assign": client.post(
                f"/leads/{lead.id}/assign", data={"assigned_to_id": ""}, headers=HTMX
            ).status_code,
            "settings": client.get("/leads/settings").status_code,
            "scoring": client.get("/leads/scoring").status_code,
            "analysis": client.get("/leads/scoring/analysis").status_code,
        }
        assert {name for name, status in checks.items() if status != 403} == allowed, (role, checks)


def test_manager_sets_up_teams_rules_and_scoring(client, org, login_as, make_user):
    organization, admin = org
    reps = [make_user(organization, role="sales", name=f"Rep {i}") for i in range(2)]
    login_as(make_user(organization, role="manager"))
    assert (
        client.post(
            "/leads/teams", data={"name": "Inside sales", "member_ids": [r.id for r in reps]}
        ).status_code
        == 303
    )
    set_tenant(organization.id)
    [team] = assignment.list_teams()
    clear_tenant()
    bad = client.post("/leads/assignment-rules", data={"name": "", "target": ""}, headers=HTMX)
    assert bad.status_code == 422 and 'id="name-error"' in bad.get_data(as_text=True)
    assert (
        client.post(
            "/leads/assignment-rules",
            data={
                "name": "Everything",
                "priority": "1",
                "target": f"team:{team.id}",
                "method": "least_loaded",
                "countries": "tr, gb",
                "is_active": "y",
            },
        ).status_code
        == 303
    )
    page = client.get("/leads/settings").get_data(as_text=True)
    assert "Everything" in page and "country: gb, tr" in page and "fewest open leads" in page

    added = client.post(
        "/leads/scoring/rules",
        data={
            "factor": "firmographic",
            "label": "Retail",
            "field": "industry",
            "operator": "equals",
            "value": "Retail",
            "points": "12",
            "is_active": "y",
        },
    )
    assert added.status_code == 303
    set_tenant(organization.id)
    rule = db.session.scalar(db.select(LeadScoringRule).where(LeadScoringRule.label == "Retail"))
    assert rule.match_values == ["retail"]
    clear_tenant()
    wrong = client.post(
        f"/leads/scoring/rules/{rule.id}",
        data={
            "factor": "firmographic",
            "label": "Retail",
            "field": "industry",
            "operator": "at_least",
            "value": "x",
            "points": "12",
        },
        headers=HTMX,
    )
    assert wrong.status_code == 422 and 'id="operator-error"' in wrong.get_data(as_text=True)
    assert client.get("/leads/scoring").status_code == 200


def test_analysis_page_draws_the_distribution(client, org, login_as, make_user):
    organization, admin = org
    add_leads(organization, 3, authority="decision_maker")
    login_as(make_user(organization, role="marketing"))
    html = client.get("/leads/scoring/analysis").get_data(as_text=True)
    assert html.count("<rect") == 10 and "3 leads" in html
    assert 'id="score-bands"' in html and "80-100" in html


def test_convert_page_converts_once(client, org, login_as, make_user):
    organization, admin = org
    [lead] = qualified_leads(organization, 1, company="Initech", budget="5000")
    login_as(make_user(organization, role="sales"))
    form = client.get(f"/leads/{lead.id}/convert").get_data(as_text=True)
    assert 'value="Initech"' in form and "a new customer will be created" in form
    bad = client.post(
        f"/leads/{lead.id}/convert",
        data={
            "customer_choice": "new",
            "create_opportunity": "y",
            "opportunity_name": "",
            "opportunity_amount": "5000",
            "opportunity_expected_close_date": "2030-01-31",
        },
        headers=HTMX,
    )
    assert bad.status_code == 422 and "opportunity_name-error" in bad.get_data(as_text=True)
    done = client.post(
        f"/leads/{lead.id}/convert",
        data={
            "customer_choice": "new",
            "create_opportunity": "y",
            "opportunity_name": "Initech deal",
            "opportunity_amount": "5000",
            "opportunity_expected_close_date": "2030-01-31",
        },
        headers=HTMX,
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    set_tenant(organization.id)
    db.session.expire_all()
    converted = services.get_lead(lead.id)
    clear_tenant()
    # On to the new deal.
    deal_url = f"/pipeline/opportunities/{converted.converted_opportunity_id}"
    assert done.headers["HX-Redirect"] == deal_url
    deal_page = client.get(deal_url).get_data(as_text=True)
    assert f"{lead.lead_number} is converted: here is its deal." in deal_page
    page = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "converted" in page.lower() and deal_url in page
    again = client.post(f"/leads/{lead.id}/convert", data={"customer_choice": "new"}, headers=HTMX)
    assert again.status_code == 422 and "already been converted" in again.get_data(as_text=True)


def test_converting_without_a_deal_lands_on_the_customer_who_shows_the_contact_person(
    client, org, login_as, make_user
):
    organization, admin = org
    [lead] = qualified_leads(organization, 1, company="Initech", title="Head of IT")
    login_as(make_user(organization, role="sales"))
    done = client.post(f"/leads/{lead.id}/convert", data={"customer_choice": "new"})
    assert done.status_code == 303
    set_tenant(organization.id)
    db.session.expire_all()
    customer = db.session.get(Customer, services.get_lead(lead.id).converted_customer_id)
    clear_tenant()
    assert done.headers["Location"] == f"/customers/{customer.id}"
    assert (customer.customer_type, customer.job_title) == ("company", "Head of IT")
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert f"{lead.lead_number} is converted into this customer." in page
    contact = page.split('id="contact-person"', 1)[1].split("</div>", 1)[0]
    assert "Contact person" in contact
    assert f"{lead.first_name} {lead.last_name}, Head of IT" in contact


def test_only_a_match_by_email_is_preselected(client, org, login_as, make_user):
    organization, admin = org
    by_phone, by_email = qualified_leads(organization, 2, phone="+44 20 7946 0000")
    set_tenant(organization.id)
    same_phone = create_customer({"first_name": "Pat", "primary_phone": "+44 20 7946 0000"})
    same_email = create_customer({"first_name": "Sam", "primary_email": by_email.email})
    clear_tenant()
    login_as(make_user(organization, role="sales"))

    def choice(lead) -> tuple[str, str]:
        form = client.get(f"/leads/{lead.id}/convert").get_data(as_text=True)
        selected = re.search(
            r'<option selected value="(\w+)">|<option value="(\w+)" selected', form
        )
        return form, next(group for group in selected.groups() if group)

    form, selected = choice(by_phone)
    assert selected == "new" and "phone number" in form and same_phone.customer_code in form
    assert "Only the phone number is the same" in form
    form, selected = choice(by_email)
    assert selected == "match" and same_email.customer_code in form
    assert "Only the phone number is the same" not in form
    # Linking to the customer with the same phone is still one choice away.
    client.post(f"/leads/{by_phone.id}/convert", data={"customer_choice": "match"})
    set_tenant(organization.id)
    db.session.expire_all()
    assert services.get_lead(by_phone.id).converted_customer_id == same_phone.id


def test_csrf_is_enforced_on_lead_pages(app, client, org, login_as, make_user, monkeypatch):
    organization, admin = org
    login_as(make_user(organization, role="sales"))
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    response = client.post("/leads/new", data={"first_name": "No", "last_name": "Token"})
    assert response.status_code == 400
