"""The `flask crm ...` commands, run through Flask's CLI runner against the real database.

The commands commit; inside the per-test transaction those commits are savepoints, so
everything here is still rolled back after each test.
"""

import uuid

import pytest
from sqlalchemy import func, select

from crm_web.accounts.models import Organization, User
from crm_web.customers.models import Customer
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.privacy.models import AuditEntry


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=["crm", *args])

    return invoke


def _slug(prefix: str = "cli") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _create_org(cli, slug: str, admin_email: str | None = None, name: str = "Cli Org"):
    admin_email = admin_email or f"admin@{slug}.example"
    result = cli(
        "create-org",
        "--name",
        name,
        "--slug",
        slug,
        "--admin-email",
        admin_email,
        "--admin-password",
        "secret-123",
    )
    assert result.exit_code == 0, result.output
    return result, admin_email


def _org(slug: str) -> Organization:
    from crm_web.accounts.services import organization_id_for_slug

    organization_id = organization_id_for_slug(slug)
    assert organization_id is not None
    set_tenant(organization_id)
    return db.session.get(Organization, organization_id)


# --- create-org ---------------------------------------------------------------------------


def test_create_org_creates_organization_and_admin(cli):
    slug = _slug()
    result, admin_email = _create_org(cli, slug, admin_email=f"Boss@{slug}.example")

    assert f"Created organization {slug}" in result.output
    organization = _org(slug)
    assert organization.name == "Cli Org"
    users = list(db.session.scalars(select(User).where(User.organization_id == organization.id)))
    assert [(user.email, user.role) for user in users] == [(admin_email.lower(), "admin")]
    assert users[0].password_hash and "secret-123" not in users[0].password_hash


def test_create_org_derives_slug_from_name(cli):
    name = f"Derived {uuid.uuid4().hex[:6]} Ltd."
    result = cli(
        "create-org",
        "--name",
        name,
        "--admin-email",
        f"{uuid.uuid4().hex[:8]}@derived.example",
        "--admin-password",
        "secret-123",
    )
    assert result.exit_code == 0, result.output
    expected = name.lower().replace(" ", "-").rstrip(".")
    assert f"Created organization {expected} " in result.output
    assert _org(expected).name == name


def test_create_org_taken_slug_is_a_clear_error(cli):
    slug = _slug()
    _create_org(cli, slug)
    result = cli(
        "create-org",
        "--name",
        "Again",
        "--slug",
        slug,
        "--admin-email",
        f"other@{slug}.example",
        "--admin-password",
        "secret-123",
    )
    assert result.exit_code == 1
    assert "Error:" in result.output and "slug: This address is taken" in result.output
    assert "Traceback" not in result.output


def test_create_org_short_password_is_refused(cli):
    slug = _slug()
    result = cli(
        "create-org",
        "--name",
        "Short",
        "--slug",
        slug,
        "--admin-email",
        f"a@{slug}.example",
        "--admin-password",
        "short",
    )
    assert result.exit_code == 1
    assert "admin_password: Use at least 8 characters." in result.output
    from crm_web.accounts.services import organization_id_for_slug

    assert organization_id_for_slug(slug) is None


# --- create-user --------------------------------------------------------------------------


def test_create_user_in_organization(cli):
    slug = _slug()
    _create_org(cli, slug)
    result = cli(
        "create-user",
        "--org",
        slug,
        "--email",
        f"Sales@{slug}.example",
        "--role",
        "sales",
        "--password",
        "secret-123",
        "--name",
        "Sam Sales",
        "--skills",
        "Turkish, B2B,turkish",
    )
    assert result.exit_code == 0, result.output
    assert f"Created sales sales@{slug}.example" in result.output

    organization = _org(slug)
    user = db.session.scalar(select(User).where(User.email == f"sales@{slug}.example"))
    assert user.organization_id == organization.id
    assert (user.name, user.role, user.skills) == ("Sam Sales", "sales", ["b2b", "turkish"])


def test_create_user_bad_role_is_rejected_by_the_option(cli):
    slug = _slug()
    _create_org(cli, slug)
    result = cli(
        "create-user",
        "--org",
        slug,
        "--email",
        f"x@{slug}.example",
        "--role",
        "overlord",
        "--password",
        "secret-123",
    )
    assert result.exit_code == 2
    assert "Invalid value for '--role'" in result.output
    assert "overlord" in result.output
    organization = _org(slug)
    assert (
        db.session.scalar(select(func.count()).where(User.organization_id == organization.id)) == 1
    )


def test_create_user_unknown_org(cli):
    result = cli(
        "create-user",
        "--org",
        "no-such-org-here",
        "--email",
        "x@nowhere.example",
        "--role",
        "sales",
        "--password",
        "secret-123",
    )
    assert result.exit_code == 1
    assert "Error: No organization with slug no-such-org-here." in result.output
    assert "Traceback" not in result.output


def test_create_user_duplicate_email_is_a_clear_error(cli):
    slug = _slug()
    _create_org(cli, slug)
    args = ("--org", slug, "--role", "support", "--password", "secret-123")
    assert cli("create-user", "--email", f"dup@{slug}.example", *args).exit_code == 0

    # The same address in another case is the same login.
    result = cli("create-user", "--email", f"DUP@{slug}.example", *args)
    assert result.exit_code == 1
    assert "This email already has an account." in result.output
    assert "Traceback" not in result.output and "IntegrityError" not in result.output

    # And across organizations: emails are unique system-wide.
    other = _slug()
    _create_org(cli, other)
    result = cli("create-user", "--email", f"dup@{slug}.example", *args[2:], "--org", other)
    assert result.exit_code == 1
    assert "This email already has an account." in result.output


def test_create_user_invalid_email(cli):
    slug = _slug()
    _create_org(cli, slug)
    result = cli(
        "create-user",
        "--org",
        slug,
        "--email",
        "not-an-email",
        "--role",
        "sales",
        "--password",
        "secret-123",
    )
    assert result.exit_code == 1
    assert "Error: Please correct the email address. (email:" in result.output


# --- create-token -------------------------------------------------------------------------


def test_create_token_authenticates_the_api(app, cli, client):
    slug = _slug()
    _result, admin_email = _create_org(cli, slug)
    clear_tenant()

    result = cli("create-token", "--email", admin_email.upper(), "--name", "CI")
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("crm_") and "\n" not in token and len(token) > 30
    clear_tenant()

    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert body["user"]["email"] == admin_email
    assert body["user"]["role"] == "admin"
    assert body["organization"]["slug"] == slug

    # A token that differs in one character does not. (Its own app context, as in production:
    # the test's shared one would keep Flask-Login's user of the previous request in `g`.)
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with app.app_context():
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.get_json()["error"]


def test_create_token_only_its_hash_is_stored(cli):
    from crm_web.accounts.models import ApiToken

    slug = _slug()
    _result, admin_email = _create_org(cli, slug)
    token = cli("create-token", "--email", admin_email).output.strip()
    organization = _org(slug)
    stored = db.session.scalars(
        select(ApiToken).where(ApiToken.organization_id == organization.id)
    ).one()
    assert stored.name == "CLI"
    assert stored.prefix == token[:12]
    assert token not in stored.token_hash


def test_create_token_unknown_email(cli):
    result = cli("create-token", "--email", "ghost@nowhere.example")
    assert result.exit_code == 1
    assert "Error: No user with email ghost@nowhere.example." in result.output


# --- seed ---------------------------------------------------------------------------------


def _customers(organization_id: int) -> list[Customer]:
    set_tenant(organization_id)
    return list(
        db.session.scalars(
            select(Customer)
            .where(Customer.organization_id == organization_id)
            .order_by(Customer.customer_code)
        )
    )


def _identity(customer: Customer) -> tuple:
    return (
        customer.customer_code,
        customer.customer_type,
        customer.first_name,
        customer.last_name,
        customer.company_name,
        customer.primary_email,
        customer.primary_phone,
        customer.city,
        customer.country,
        customer.lifecycle_stage,
        customer.birth_date,
        customer.annual_revenue,
    )


def test_seed_is_deterministic_numbered_and_audited(cli):
    first, second, third = _slug("seed-a"), _slug("seed-b"), _slug("seed-c")
    for slug in (first, second, third):
        _create_org(cli, slug)

    result = cli("seed", "--org", first, "--customers", "200")
    assert result.exit_code == 0, result.output
    assert f"Seeded 200 customers into {first}" in result.output
    assert cli("seed", "--org", second, "--customers", "200").exit_code == 0
    assert cli("seed", "--org", third, "--customers", "200", "--seed", "2").exit_code == 0

    org_a, org_b, org_c = (_org(slug) for slug in (first, second, third))
    customers_b, customers_c, customers_a = (_customers(org.id) for org in (org_b, org_c, org_a))

    # Numbered per organization, consecutively, from CUS-000001.
    assert [c.customer_code for c in customers_a] == [f"CUS-{n:06d}" for n in range(1, 201)]
    assert [c.customer_code for c in customers_b] == [f"CUS-{n:06d}" for n in range(1, 201)]
    # The rows are well formed and owned by the organization's own user.
    admin_a = db.session.scalar(select(User.id).where(User.organization_id == org_a.id))
    assert {c.owner_id for c in customers_a} == {admin_a}
    assert all(
        c.primary_email.endswith((".com", ".com.tr")) and "@" in c.primary_email
        for c in customers_a
    )
    assert {c.customer_type for c in customers_a} == {"person", "company"}

    # Same seed, same data (in another organization); another seed, other data.
    assert [_identity(c) for c in customers_a] == [_identity(c) for c in customers_b]
    assert [(c.first_name, c.last_name) for c in customers_a[:20]] != [
        (c.first_name, c.last_name) for c in customers_c[:20]
    ]

    # One audit entry for the bulk insert, in the seeded organization's trail only.
    entries = list(
        db.session.scalars(
            select(AuditEntry).where(
                AuditEntry.organization_id == org_a.id, AuditEntry.table_name == "customers"
            )
        )
    )
    assert len(entries) == 1
    assert entries[0].action == "create"
    assert entries[0].row_id == "CUS-000001..CUS-000200"
    assert entries[0].new_values == {"seeded": 200, "seed": 1}


def test_seed_again_continues_numbering(cli):
    slug = _slug("seed")
    _create_org(cli, slug)
    assert cli("seed", "--org", slug, "--customers", "5").exit_code == 0
    assert cli("seed", "--org", slug, "--customers", "3").exit_code == 0
    organization = _org(slug)
    assert [c.customer_code for c in _customers(organization.id)] == [
        f"CUS-{n:06d}" for n in range(1, 9)
    ]
    row_ids = db.session.scalars(
        select(AuditEntry.row_id)
        .where(AuditEntry.organization_id == organization.id, AuditEntry.table_name == "customers")
        .order_by(AuditEntry.id)
    ).all()
    assert row_ids == ["CUS-000001..CUS-000005", "CUS-000006..CUS-000008"]


def test_seed_unknown_org_and_negative_count(cli):
    result = cli("seed", "--org", "no-such-org-here", "--customers", "10")
    assert result.exit_code == 1
    assert "Error: No organization with slug no-such-org-here." in result.output

    slug = _slug("seed")
    _create_org(cli, slug)
    result = cli("seed", "--org", slug, "--customers", "-1")
    assert result.exit_code == 2
    assert "Invalid value for '--customers'" in result.output
