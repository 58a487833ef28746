"""The public web form: embeddable, no session, honeypot, rate limit per address; it captures,
assigns and scores."""

import pytest
from sqlalchemy import func, select

from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.leads import assignment, services
from crm_web.leads.models import Lead

VISITOR = {
    "first_name": "Vera",
    "last_name": "Visitor",
    "email": "vera@visitor.example",
    "company": "Visitor Ltd",
    "title": "Head of Sales",
    "company_size": "51-200",
    "timeline": "1-3 months",
    "need": "We need a CRM for 40 people.",
}


@pytest.fixture
def form_org(make_org, make_user):
    organization, admin = make_org(name="Formy")
    rep = make_user(organization, role="sales", name="Rae Rep")
    set_tenant(organization.id, admin.id)
    services.update_settings(
        web_form_enabled=True, web_form_thank_you="Thanks, Formy will call you.", auto_assign=True
    )
    assignment.create_rule(
        name="Web leads",
        priority=1,
        user_id=rep.id,
        team_id=None,
        method="round_robin",
        sources="web_form",
    )
    clear_tenant()
    return {"org": organization, "slug": organization.slug, "rep": rep}


def leads_of(organization) -> list[Lead]:
    set_tenant(organization.id)
    rows = list(db.session.scalars(select(Lead).order_by(Lead.id)))
    clear_tenant()
    return rows


def post(client, slug, data, ip="203.0.113.7"):
    return client.post(f"/f/{slug}/lead", data=data, environ_base={"REMOTE_ADDR": ip})


def test_form_is_public_embeddable_and_sets_no_cookie(client, form_org):
    response = client.get(f"/f/{form_org['slug']}/lead")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="fax_number"' in html and 'tabindex="-1"' in html
    assert "csrf_token" not in html
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers
    assert "Set-Cookie" not in response.headers
    # Every other page still refuses framing.
    assert client.get("/login").headers["X-Frame-Options"] == "DENY"


def test_disabled_or_unknown_forms_are_404(client, form_org, make_org):
    other, _admin = make_org(name="Quiet")  # its form was never switched on
    assert client.get(f"/f/{other.slug}/lead").status_code == 404
    assert client.post(f"/f/{other.slug}/lead", data=VISITOR).status_code == 404
    assert client.get("/f/no-such-org/lead").status_code == 404


def test_submission_creates_assigns_and_scores(client, form_org):
    response = post(client, form_org["slug"], VISITOR)
    assert response.status_code == 200
    assert "Thanks, Formy will call you." in response.get_data(as_text=True)
    [lead] = leads_of(form_org["org"])
    assert (lead.source, lead.captured_via, lead.status) == ("web_form", "web_form", "new")
    assert lead.assigned_to_id == form_org["rep"].id
    assert lead.form_submissions == 1 and lead.need == VISITOR["need"]
    # Senior title 15, mid-size 8, buying soon 10, need 5, web form 10.
    assert lead.lead_score == 48
    assert lead.created_by_id is None


def test_a_returning_visitor_updates_the_open_lead(client, form_org):
    post(client, form_org["slug"], VISITOR)
    again = post(client, form_org["slug"], {**VISITOR, "need": "Any news?"})
    assert again.status_code == 200
    [lead] = leads_of(form_org["org"])
    assert lead.form_submissions == 2 and "Any news?" in lead.notes
    assert lead.lead_score == 48 + 5  # "Came back to the web form"


def test_honeypot_is_thanked_and_dropped(client, form_org):
    response = post(client, form_org["slug"], {**VISITOR, "fax_number": "555-0100"})
    assert response.status_code == 200
    assert "Thanks, Formy will call you." in response.get_data(as_text=True)
    assert leads_of(form_org["org"]) == []


def test_invalid_input_shows_field_errors(client, form_org):
    response = post(client, form_org["slug"], {**VISITOR, "email": "", "last_name": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="email-error"' in html and 'id="last_name-error"' in html
    assert 'value="Vera"' in html
    assert leads_of(form_org["org"]) == []


def test_rate_limit_per_address(app, client, form_org, monkeypatch):
    monkeypatch.setitem(app.config, "LEAD_FORM_MAX_PER_IP", 3)
    for i in range(3):
        assert (
            post(client, form_org["slug"], {**VISITOR, "email": f"v{i}@x.example"}).status_code
            == 200
        )
    # Bots and typos count too: the limit is on attempts.
    blocked = post(client, form_org["slug"], {**VISITOR, "email": "v9@x.example"})
    assert blocked.status_code == 429
    assert "Too many submissions" in blocked.get_data(as_text=True)
    assert post(client, form_org["slug"], {**VISITOR, "fax_number": "x"}).status_code == 429
    assert len(leads_of(form_org["org"])) == 3
    # Another address is not affected.
    assert post(client, form_org["slug"], VISITOR, ip="198.51.100.9").status_code == 200
    assert len(leads_of(form_org["org"])) == 4


def test_the_form_works_with_csrf_protection_on(app, client, form_org, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert post(client, form_org["slug"], VISITOR).status_code == 200
    assert len(leads_of(form_org["org"])) == 1
    set_tenant(form_org["org"].id)
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 1
