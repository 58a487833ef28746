"""The navigation (crm_web/navigation.py, links declared in crm_web/domains.py): per role only
what it may open, in groups, the current page marked; the approvals inbox and its count; the
settings page with the public forms."""

import re
from decimal import Decimal

import pytest
from flask_login import login_user
from sqlalchemy.exc import OperationalError

from crm_web import create_app
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.navigation import NavEntry, Navigation, badge_count
from crm_web.permissions import ROLES
from crm_web.pipeline import quotes
from crm_web.pipeline import stages as pipeline_stages
from tests import factories
from tests.conftest import make_config

HTMX = {"HX-Request": "true"}

# What each role's navigation holds: group -> labels, in order (None: above the groups).
EXPECTED = {
    "admin": {
        None: ["Dashboard"],
        "Sales": ["Customers", "Leads", "Pipeline", "Approvals", "Tasks", "Calendar"],
        "Service": ["Tickets", "SLA", "Escalations"],
        "Marketing": [
            "Segments",
            "Campaigns",
            "Email templates",
            "Automations",
            "Surveys",
            "Events",
        ],
        "Commerce": ["Products", "Orders", "Loyalty", "Sales analytics"],
        "Insights": ["Reports", "Forecast", "Lead scoring"],
        "Admin": ["Users", "Settings", "Audit log", "System", "Message templates"],
    },
    "manager": {
        None: ["Dashboard"],
        "Sales": ["Customers", "Leads", "Pipeline", "Approvals", "Tasks", "Calendar"],
        "Service": ["Tickets", "SLA", "Escalations"],
        "Marketing": [
            "Segments",
            "Campaigns",
            "Email templates",
            "Automations",
            "Surveys",
            "Events",
        ],
        "Commerce": ["Products", "Orders", "Loyalty", "Sales analytics"],
        "Insights": ["Reports", "Forecast", "Lead scoring"],
        "Admin": ["Settings"],
    },
    "sales": {
        None: ["Dashboard"],
        "Sales": ["Customers", "Leads", "Pipeline", "Tasks", "Calendar"],
        "Marketing": ["Events"],
        "Commerce": ["Products", "Orders", "Loyalty", "Sales analytics"],
        "Insights": ["Reports", "Forecast"],
    },
    "support": {
        None: ["Dashboard"],
        "Sales": ["Customers"],
        "Service": ["Tickets"],
        "Marketing": ["Surveys", "Events"],
        "Commerce": ["Products", "Orders", "Loyalty"],
    },
    "marketing": {
        None: ["Dashboard"],
        "Sales": ["Customers", "Leads"],
        "Marketing": [
            "Segments",
            "Campaigns",
            "Email templates",
            "Automations",
            "Surveys",
            "Events",
        ],
        "Commerce": ["Products", "Orders", "Loyalty", "Sales analytics"],
        "Insights": ["Reports", "Lead scoring"],
    },
}


def _nav(html: str) -> str:
    return html.split('<nav class="sidebar"', 1)[1].split("</nav>", 1)[0]


def _groups(html: str) -> dict:
    """The navigation's groups and their links' labels, in order."""
    groups = {}
    for block in _nav(html).split('<div class="nav-group">')[1:]:
        heading = re.search(r'class="nav-heading"[^>]*>([^<]+)<', block)
        groups[heading.group(1) if heading else None] = re.findall(r">([^<>]+)</a>", block)
    return groups


def _links(html: str) -> dict[str, str]:
    """label -> href of the navigation's links."""
    return {
        label: href for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', _nav(html))
    }


def _current(html: str) -> list[str]:
    return re.findall(r'aria-current="page">([^<]+)</a>', _nav(html))


@pytest.fixture
def company(make_org, make_user):
    """An organization with one user of each role."""
    organization, admin = make_org("Navigation")
    users = {"admin": admin}
    for role in ROLES[1:]:
        users[role] = make_user(organization, role=role)
    return organization, users


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_its_groups_and_every_link_opens(role, client, company, login_as):
    _organization, users = company
    login_as(users[role])
    html = client.get("/").get_data(as_text=True)
    assert _groups(html) == EXPECTED[role]
    # Following every link: no page of the navigation refuses the role that sees it.
    for label, href in _links(html).items():
        response = client.get(href)
        assert response.status_code == 200, (label, href, response.status_code)
        assert _current(response.get_data(as_text=True)) == [label], (label, href)


@pytest.mark.parametrize(
    ("path", "current"),
    [
        ("/pipeline/list", "Pipeline"),
        ("/forecast", "Forecast"),
        ("/sla/escalations", "Escalations"),
        ("/sla/settings", "Settings"),
        ("/leads/settings", "Settings"),
        ("/leads/scoring/analysis", "Lead scoring"),
        ("/leads/new", "Leads"),
        ("/customers/new", "Customers"),
        ("/admin/messages", "Message templates"),
    ],
)
def test_the_page_marks_the_link_it_belongs_to(path, current, client, make_org, login_as):
    _organization, admin = make_org("Current")
    login_as(admin)
    response = client.get(path)
    assert response.status_code == 200
    assert _current(response.get_data(as_text=True)) == [current]


def test_a_customer_page_marks_customers(client, make_org, login_as):
    organization, admin = make_org("Current")
    customer = factories.customer(organization)
    clear_tenant()
    login_as(admin)
    html = client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert _current(html) == ["Customers"]


def test_dev_pages_are_linked_for_those_who_may_open_them(database_url, redis_url, tmp_path):
    """Registered only with their folders configured, and shown only to the roles their
    views admit (the dev mailbox and dev SMS once answered 403 to four roles)."""
    dev_app = create_app(
        make_config(
            database_url, redis_url, DEV_MAILBOX_DIR=str(tmp_path), DEV_SMS_DIR=str(tmp_path)
        )
    )
    navigation = dev_app.jinja_env.globals["navigation"].__self__
    with dev_app.test_request_context("/dev/mail"):
        for role in ROLES:
            labels = [str(entry.label) for entry, _url in navigation._visible(role)]
            dev = [label for label in labels if label.startswith("Dev ")]
            assert dev == (["Dev mail", "Dev SMS"] if role == "admin" else []), role
    with dev_app.app_context():
        db.engine.dispose()


def test_a_link_to_an_unknown_group_fails_when_the_app_starts(app):
    with pytest.raises(ValueError, match="Unknown navigation group 'sals'"):
        Navigation(app, (NavEntry("sals", "Deals", "pipeline.board"),))


def test_an_empty_group_is_hidden_and_the_closest_link_is_current(app, make_org):
    """A group whose links the role may not open is not shown; a page claimed by a blueprint
    prefix and by an exact endpoint marks the exact one."""
    _organization, admin = make_org("Groups")
    navigation = Navigation(
        app,
        (
            NavEntry("commerce", "Orders", "system.index"),
            NavEntry("sales", "Pipeline", "pipeline.board", also=("pipeline.",)),
            NavEntry("insights", "Forecast", "pipeline.forecast"),
        ),
    )
    with app.test_request_context("/forecast"):
        set_tenant(admin.organization_id, admin.id)
        login_user(factories.user(admin.organization, role="sales", password=None))
        groups = navigation.for_request()
    assert [(group.label, [link.label for link in group.links]) for group in groups] == [
        ("Sales", ["Pipeline"]),
        ("Insights", ["Forecast"]),
    ]
    assert [link.label for group in groups for link in group.links if link.current] == ["Forecast"]


def test_a_count_that_fails_leaves_the_page_standing(caplog):
    """The error page of a failed database call shows the navigation too."""

    def broken() -> int:
        raise OperationalError("SELECT count(*)", {}, Exception("server closed the connection"))

    assert badge_count(NavEntry("sales", "Approvals", "approvals.inbox", badge=broken)) is None
    assert "navigation badge of approvals.inbox not counted" in caplog.text
    assert badge_count(NavEntry("sales", "Approvals", "approvals.inbox", badge=lambda: 3)) == 3


def _pending_quote(organization, seller, amount: str):
    set_tenant(organization.id, seller.id)
    customer = factories.customer_rows(organization.id, 1, name="Approvals Customer")[0]
    stage = next(s for s in pipeline_stages.list_stages() if s.name == "Proposal")
    deal = factories.deal(customer.id, amount, name=f"Fleet {amount}", stage_id=stage.id)
    quote = quotes.create_quote(
        deal.id,
        title="Fleet",
        lines=[{"description": "Vans", "quantity": "1", "unit_price": amount}],
        tax_rate="0",
    )
    quotes.submit_quote(quote.id)
    clear_tenant()
    return quote


def test_approvals_inbox_counts_approves_and_sends_back(client, company, login_as):
    organization, users = company
    first = _pending_quote(organization, users["sales"], "20000")
    second = _pending_quote(organization, users["sales"], "30000")
    # Below the threshold: approved on submit, never in the inbox.
    small = _pending_quote(organization, users["sales"], "500")
    login_as(users["manager"])

    page = client.get("/approvals").get_data(as_text=True)
    badge = re.search(r'id="nav-badge-approvals-inbox"[^>]*>(.*?)</span></span>', page, re.S)
    assert re.sub(r"<[^>]+>", "", badge.group(1)).split() == ["(2", "waiting)"]
    assert f'id="approval-{first.id}"' in page and f'id="approval-{second.id}"' in page
    assert f'id="approval-{small.id}"' not in page
    assert page.index(f"approval-{first.id}") < page.index(f"approval-{second.id}")
    assert "20,000.00" in page and "Approvals Customer" in page and "Sales" in page

    # Sending back needs a note: the row comes back with the error, nothing changed.
    refused = client.post(f"/approvals/{first.id}/send-back", data={}, headers=HTMX)
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert f'<tr id="approval-{first.id}"' in body and "Explain why it is sent back." in body
    assert 'hx-swap-oob="true"' in body and ">2<" in body

    sent_back = client.post(
        f"/approvals/{first.id}/send-back",
        data={f"quote-{first.id}-note": "Discount too deep"},
        headers=HTMX,
    )
    assert sent_back.status_code == 200
    body = sent_back.get_data(as_text=True)
    assert "Sent back to draft" in body and "<form" not in body
    assert re.search(r'id="nav-badge-approvals-inbox" hx-swap-oob="true">.*>1<', body)

    approved = client.post(f"/approvals/{second.id}/approve", data={}, headers=HTMX)
    assert approved.status_code == 200
    body = approved.get_data(as_text=True)
    assert "Approved" in body
    # None left: the badge is hidden.
    assert re.search(r'id="nav-badge-approvals-inbox" hx-swap-oob="true" hidden>', body)

    set_tenant(organization.id)
    db.session.expire_all()
    assert quotes.get_quote(first.id).status == "draft"
    assert quotes.get_quote(first.id).approval_note == "Discount too deep"
    assert quotes.get_quote(second.id).status == "approved"
    assert quotes.get_quote(second.id).approved_by_id == users["manager"].id
    clear_tenant()

    # Deciding again: the quote is no longer waiting, the row says so.
    again = client.post(f"/approvals/{second.id}/approve", data={}, headers=HTMX)
    assert again.status_code == 422
    assert "approved" in again.get_data(as_text=True)
    assert "No quotes are waiting" in client.get("/approvals").get_data(as_text=True)


def test_approvals_are_the_managers(client, company, login_as, make_org):
    organization, users = company
    quote = _pending_quote(organization, users["sales"], "20000")
    login_as(users["sales"])
    assert client.get("/approvals").status_code == 403
    assert client.post(f"/approvals/{quote.id}/approve", headers=HTMX).status_code == 403
    assert "nav-badge" not in client.get("/").get_data(as_text=True)
    # Another organization's manager cannot reach it.
    other, _admin = make_org("Elsewhere")
    client.post("/logout")
    login_as(factories.user(other, role="manager"))
    assert client.post(f"/approvals/{quote.id}/approve", headers=HTMX).status_code == 404
    set_tenant(organization.id)
    assert quotes.get_quote(quote.id).status == "pending_approval"
    assert db.session.get(type(quote), quote.id).total == Decimal("20000.00")


def test_settings_links_the_public_forms_with_copy_buttons_and_embed_code(
    client, company, login_as
):
    organization, users = company
    login_as(users["manager"])
    page = client.get("/settings").get_data(as_text=True)
    lead_url = f"http://localhost/f/{organization.slug}/lead"
    support_url = f"http://localhost/support/{organization.slug}"
    for key, url in (("lead", lead_url), ("support", support_url)):
        assert f'id="{key}-form-url" value="{url}" readonly' in page
        assert f'data-copy="{key}-form-url"' in page and f'data-copy="{key}-form-embed"' in page
        assert f'&lt;iframe src="{url}"' in page
    # The lead form is off until switched on: the page says so and where.
    assert 'href="/leads/settings">its settings</a>' in page
    # The settings pages the manager may open, and not the admin's.
    assert 'href="/sla/settings"' in page and 'href="/tickets/settings"' in page
    assert 'href="/pipeline/settings"' not in page
    client.post("/logout")
    login_as(users["sales"])
    assert client.get("/settings").status_code == 403


def test_the_public_support_form_can_be_embedded(app, client, company):
    """Framed on the organization's own site: no cookie, no CSRF token, any frame ancestor."""
    organization, _users = company
    page = client.get(f"/support/{organization.slug}")
    assert "frame-ancestors *" in page.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in page.headers
    assert "Set-Cookie" not in page.headers
    assert 'class="topbar"' not in page.get_data(as_text=True)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        sent = client.post(
            f"/support/{organization.slug}",
            data={
                "name": "Pat",
                "email": "pat@example.com",
                "category": "general",
                "subject": "Embedded",
                "description": "From an iframe.",
            },
        )
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert sent.status_code == 200
    assert "Thank you, we have your request" in sent.get_data(as_text=True)
    assert "Set-Cookie" not in sent.headers
