"""The Alembic history, run for real with the `flask db` CLI on an empty database of its own."""

import os
import subprocess
import sys
import uuid

import psycopg
import pytest

from crm_web.config import PROJECT_ROOT
from crm_web.devservices import drop_database, ensure_database
from crm_web.extensions import db
from tests.conftest import WORKER, _database_url

FLASK = [str(os.path.join(os.path.dirname(sys.executable), "flask")), "--app", "wsgi", "db"]
GLOBAL_TABLES = {"scheduled_jobs"}  # shared by all organizations: no RLS


@pytest.fixture
def empty_database(server_admin_url):
    name = f"crm_migrations_{WORKER}_{uuid.uuid4().hex[:8]}"
    ensure_database(server_admin_url, name)
    try:
        yield _database_url(server_admin_url, name)
    finally:
        drop_database(server_admin_url, name)


@pytest.fixture
def flask_db(empty_database, redis_url):
    env = {**os.environ, "DATABASE_URL": empty_database, "REDIS_URL": redis_url}

    def run(*args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [*FLASK, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        if expect_ok:
            assert result.returncode == 0, (
                f"flask db {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    return run


def _model_tables() -> set[str]:
    return set(db.metadata.tables)


def _tenant_tables() -> set[str]:
    tenant = {name for name, table in db.metadata.tables.items() if "organization_id" in table.c}
    return tenant | {"organizations"}


def _tables(connection) -> dict[str, tuple[bool, bool]]:
    rows = connection.execute(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r'"
    ).fetchall()
    return {name: (rls, forced) for name, rls, forced in rows}


def _heads() -> set[str]:
    """The newest revisions in migrations/."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from crm_web.config import PROJECT_ROOT

    config = AlembicConfig()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return set(ScriptDirectory.from_config(config).get_heads())


def _functions(connection) -> set[str]:
    rows = connection.execute(
        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public'"
    ).fetchall()
    return {name for (name,) in rows}


def _assert_migrated(url: str, app_role: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        tables = _tables(connection)
        assert set(tables) == _model_tables() | {"alembic_version"}
        versions = {
            version for (version,) in connection.execute("SELECT version_num FROM alembic_version")
        }
        assert versions == _heads()

        # Every table with an organization_id is guarded by RLS that binds its owner too.
        tenant_tables = _tenant_tables()
        assert {
            "users",
            "customers",
            "audit_log",
            "api_tokens",
            "organization_counters",
        } <= tenant_tables
        for table in tenant_tables:
            assert tables[table] == (True, True), f"{table}: RLS enabled/forced = {tables[table]}"
        for table in GLOBAL_TABLES:
            assert tables[table] == (False, False), table
        policies = connection.execute(
            "SELECT tablename FROM pg_policies WHERE policyname = 'tenant_isolation'"
        )
        assert {name for (name,) in policies} == tenant_tables

        # The lookups used before the tenant is known, callable by the app role only.
        functions = {
            "auth_user_by_email",
            "auth_user_organization",
            "auth_token_owner",
            "organization_id_for_slug",
        }
        assert functions <= _functions(connection)
        for name in functions:
            callable_by = connection.execute(
                "SELECT has_function_privilege(%s, p.oid, 'EXECUTE'), p.prosecdef "
                "FROM pg_proc p WHERE proname = %s",
                (app_role, name),
            ).fetchone()
            assert callable_by == (True, True), name

        # The app role can use every table (default privileges granted before they were created).
        for table in _model_tables():
            assert connection.execute(
                "SELECT has_table_privilege(%s, %s, 'SELECT,INSERT,UPDATE,DELETE')",
                (app_role, table),
            ).fetchone()[0], table
        assert connection.execute(
            "SELECT has_sequence_privilege(%s, 'customers_id_seq', 'USAGE')", (app_role,)
        ).fetchone()[0]

        # And the policies really scope it: a row is invisible to the app role without its tenant.
        organization_id = connection.execute(
            "INSERT INTO organizations (name, slug, timezone, currency, locale) "
            "VALUES ('Probe', 'probe', 'UTC', 'USD', 'en') RETURNING id"
        ).fetchone()[0]
        with connection.transaction():
            connection.execute(f'SET LOCAL ROLE "{app_role}"')
            assert connection.execute("SELECT count(*) FROM organizations").fetchone()[0] == 0
            connection.execute(
                "SELECT set_config('app.organization_id', %s, true)", (str(organization_id),)
            )
            assert connection.execute("SELECT slug FROM organizations").fetchall() == [("probe",)]
            assert (
                connection.execute("SELECT organization_id_for_slug('probe')").fetchone()[0]
                == organization_id
            )
        connection.execute("DELETE FROM organizations WHERE id = %s", (organization_id,))


def _assert_empty(url: str, app_role: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        # Only Alembic's bookkeeping table is left, at no revision.
        assert set(_tables(connection)) == {"alembic_version"}
        assert connection.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 0
        assert not _functions(connection) & {
            "auth_user_by_email",
            "auth_token_owner",
            "organization_id_for_slug",
        }
        assert connection.execute("SELECT count(*) FROM pg_policies").fetchone()[0] == 0
        default_grants = connection.execute(
            "SELECT count(*) FROM pg_default_acl d, aclexplode(d.defaclacl) a "
            "WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s)",
            (app_role,),
        ).fetchone()[0]
        assert default_grants == 0


def test_upgrade_downgrade_upgrade_on_an_empty_database(app, empty_database, flask_db):
    app_role = app.config["DB_APP_ROLE"]
    with psycopg.connect(empty_database) as connection:
        assert set(_tables(connection)) == set()

    flask_db("upgrade")
    _assert_migrated(empty_database, app_role)
    current = flask_db("current").stdout
    assert all(f"{head} (head)" in current for head in _heads())

    flask_db("downgrade", "base")
    _assert_empty(empty_database, app_role)

    flask_db("upgrade")
    _assert_migrated(empty_database, app_role)


def test_models_match_the_migrations(empty_database, flask_db):
    # Against a database behind the head, `check` refuses rather than passing vacuously.
    behind = flask_db("check", expect_ok=False)
    assert behind.returncode != 0
    assert "Target database is not up to date" in behind.stdout + behind.stderr

    flask_db("upgrade")
    result = flask_db("check")
    assert "No new upgrade operations detected." in result.stdout + result.stderr

    # And it does notice a difference between the models and the schema.
    with psycopg.connect(empty_database, autocommit=True) as connection:
        connection.execute("ALTER TABLE customers DROP COLUMN website")
    drift = flask_db("check", expect_ok=False)
    assert drift.returncode != 0
    assert "New upgrade operations detected" in drift.stdout + drift.stderr
    assert "website" in drift.stdout + drift.stderr
