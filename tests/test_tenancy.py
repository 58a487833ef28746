"""Tenant isolation: org B never reaches org A's rows, through any route or a raw query."""

import re

import pytest
from sqlalchemy import text

from crm_web.customers.seeding import seed_customers
from crm_web.db import atomic, clear_tenant, set_tenant
from crm_web.extensions import db
from tests import factories

MARKER = "Zanzibarquux"


@pytest.fixture
def two_orgs(make_org, make_user):
    org_a, admin_a = make_org(name=f"{MARKER} Org", admin_email=f"{MARKER.lower()}@a.example")
    user_a = make_user(org_a, role="sales", name=f"{MARKER} Seller")
    set_tenant(org_a.id, admin_a.id)
    atomic(seed_customers)(5, seed=7)
    clear_tenant()
    org_b, admin_b = make_org(name="Other Org")
    return {
        "org_a": org_a,
        "admin_a": admin_a,
        "user_a": user_a,
        "org_b": org_b,
        "admin_b": admin_b,
    }


def _url_for_rule(rule, ids: dict[str, int]) -> str:
    url = rule.rule
    for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule.rule):
        value = (
            ids.get(name, ids["any_id"])
            if converter in ("int", "") and name.endswith("id")
            else "not-a-real-token"
        )
        url = re.sub(rf"<(?:\w+:)?{name}>", str(value), url)
    return url


def test_every_route_refuses_other_tenants_ids(app, client, two_orgs, login_as):
    """Walk app.url_map as org B's admin with org A's ids: 403/404, never org A's data."""
    login_as(two_orgs["admin_b"])
    ids = {
        "user_id": two_orgs["user_a"].id,
        "organization_id": two_orgs["org_a"].id,
        "any_id": two_orgs["user_a"].id,
    }
    checked = 0
    for rule in app.url_map.iter_rules():
        # Static files hold no tenant data; signing out would end the walk early.
        if rule.endpoint in ("static", "accounts.logout"):
            continue
        url = _url_for_rule(rule, ids)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(
                url, method=method, data={"name": "Hijack", "role": "admin", "is_active": "y"}
            )
            body = response.get_data(as_text=True)
            assert MARKER not in body, f"{method} {url} leaked org A's data"
            assert response.status_code < 500, f"{method} {url} -> {response.status_code}"
            if rule.arguments:
                assert response.status_code in (401, 403, 404), (
                    f"{method} {url} -> {response.status_code}"
                )
            checked += 1
    assert checked >= 10
    # Nothing of org A changed.
    set_tenant(two_orgs["org_a"].id)
    assert db.session.execute(
        text("SELECT name, role FROM users WHERE id = :id"), {"id": two_orgs["user_a"].id}
    ).one() == (
        f"{MARKER} Seller",
        "sales",
    )


def test_api_refuses_other_tenants(client, two_orgs):
    from crm_web.accounts.services import create_api_token

    set_tenant(two_orgs["org_b"].id, two_orgs["admin_b"].id)
    _token, raw = create_api_token(two_orgs["admin_b"])
    clear_tenant()
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    assert response.json["organization"]["id"] == two_orgs["org_b"].id
    assert MARKER not in response.get_data(as_text=True)


def test_rls_hides_other_tenants_rows_from_an_unfiltered_select(two_orgs):
    """A raw SELECT with no WHERE, as the app role inside org B's transaction, sees no org A row."""
    set_tenant(two_orgs["org_b"].id)
    connection = db.session.connection()
    assert connection.execute(text("SELECT current_user")).scalar() == "crm_app"
    superuser, bypass = connection.execute(
        text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
    ).one()
    assert not superuser and not bypass
    for table in (
        "organizations",
        "users",
        "customers",
        "audit_log",
        "organization_counters",
        "api_tokens",
    ):
        column = "id" if table == "organizations" else "organization_id"
        orgs = set(connection.execute(text(f"SELECT DISTINCT {column} FROM {table}")).scalars())
        assert two_orgs["org_a"].id not in orgs, table
    assert connection.execute(text("SELECT count(*) FROM customers")).scalar() == 0
    set_tenant(two_orgs["org_a"].id)
    assert db.session.execute(text("SELECT count(*) FROM customers")).scalar() == 5


def test_rls_rejects_writes_into_another_tenant(two_orgs):
    set_tenant(two_orgs["org_b"].id)
    with pytest.raises(Exception, match="row-level security"):
        with db.session.begin_nested():
            db.session.execute(
                text(
                    "INSERT INTO customers (organization_id, customer_code, customer_type, title, first_name, last_name,"
                    " company_name, tax_number, tax_office, identity_number, gender, primary_email, secondary_email,"
                    " primary_phone, secondary_phone, website, industry, company_size, lead_source, is_active,"
                    " lifecycle_stage, tags, city, country, timezone, email_opt_in, sms_opt_in, do_not_contact)"
                    " VALUES (:org, 'X-1', 'person', '', 'Eve', '', '', '', '', '', '', '', '', '', '', '', '', '', '',"
                    " true, 'lead', '{}', '', '', '', false, false, false)"
                ),
                {"org": two_orgs["org_a"].id},
            )


def test_no_tenant_sees_nothing(two_orgs):
    clear_tenant()
    db.session.rollback()
    assert db.session.execute(text("SELECT count(*) FROM users")).scalar() == 0
    assert db.session.execute(text("SELECT count(*) FROM organizations")).scalar() == 0


CUSTOMER_PAGE = (
    "customer_search_page(NULL, NULL, NULL, NULL, false, NULL, NULL, NULL, '-created', "
    "NULL, NULL, NULL, 50)"
)
TICKET_PAGE = (
    "ticket_search_page('all', NULL, NULL, interval '1 hour', NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, 'newest', NULL, NULL, 50)"
)


@pytest.mark.parametrize(
    "query",
    [
        # The search functions' own rows: a caller's condition runs on what they returned.
        f"SELECT id FROM {CUSTOMER_PAGE} WHERE sort_name::int > 0",
        # Joined back to the tables, whose row-level security runs before any such condition.
        f"SELECT c.id FROM {CUSTOMER_PAGE} p JOIN customers c ON c.id = p.id "
        "WHERE c.search_text::int > 0",
        f"SELECT t.id FROM {TICKET_PAGE} p JOIN tickets t ON t.id = p.id WHERE t.subject::int > 0",
        "SELECT id FROM customers WHERE search_text::int > 0",
        "SELECT id FROM tickets WHERE subject::int > 0",
    ],
)
def test_a_failing_condition_never_quotes_another_organization(make_org, query):
    """As an injected query would: a cast that fails on a row's text quotes that row in its
    error, so it must only ever run on the tenant's own rows. The searches take values, not
    conditions (the tenant views they replaced let a condition run before their predicate)."""
    from sqlalchemy.exc import DBAPIError

    from crm_web.tickets.services import create_ticket

    org_a, _admin_a = make_org("Search A")
    org_b, _admin_b = make_org("Search B")
    # B's rows first: a sequential scan meets them before A's.
    for organization, word in ((org_b, "Secretofb"), (org_a, "Ownrowofa")):
        customer = factories.customer(organization, first_name=word, last_name=word)
        create_ticket(subject=f"{word} printer", customer_id=customer.id)
    db.session.flush()
    set_tenant(org_a.id)
    assert db.session.execute(text("SELECT current_user")).scalar() == "crm_app"

    with pytest.raises(DBAPIError) as failed, db.session.begin_nested():
        # Whatever plan the planner would pick, it gets none that reads B's rows first.
        db.session.execute(text("SET LOCAL enable_indexscan = off"))
        db.session.execute(text("SET LOCAL enable_bitmapscan = off"))
        db.session.execute(text(query))

    message = str(failed.value.orig).lower()
    assert "invalid input syntax for type integer" in message
    assert "secretofb" not in message and "ownrowofa" in message


def test_the_app_role_reads_no_tenant_view(app):
    """The views the searches replaced let a caller's condition see every tenant's rows."""
    views = db.session.execute(
        text("SELECT to_regclass('customer_search'), to_regclass('ticket_search')")
    ).one()
    assert tuple(views) == (None, None)
    role = app.config["DB_APP_ROLE"]
    for function in ("customer_search_page", "ticket_search_page"):
        granted = db.session.execute(
            text(
                "SELECT has_function_privilege(:role, p.oid, 'EXECUTE'), "
                "has_function_privilege('public', p.oid, 'EXECUTE'), p.prosecdef "
                "FROM pg_proc p WHERE p.proname = :name"
            ),
            {"role": role, "name": function},
        ).one()
        assert tuple(granted) == (True, False, True), function
