"""DDL helpers for Alembic revisions: the app role and row-level security on tenant tables.

Only revisions import this module (as `helpers`: alembic.ini puts this folder on the import
path); the app never does, so a revision's needs never weigh on the app's imports.
"""

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

CURRENT_ORGANIZATION = "nullif(current_setting('app.organization_id', true), '')::bigint"
TENANT_PREDICATE = f"organization_id = {CURRENT_ORGANIZATION}"
# For tables whose rows with no organization belong to the system: those are seen and
# written only while no tenant is set.
TENANT_OR_SYSTEM_PREDICATE = f"organization_id IS NOT DISTINCT FROM {CURRENT_ORGANIZATION}"


def enable_tenant_rls(
    table: str, column: str = "organization_id", predicate: str = TENANT_PREDICATE
) -> None:
    """Scope every row of `table` to the organization set for the transaction, owner included."""
    predicate = predicate.replace("organization_id", column, 1)
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({predicate}) WITH CHECK ({predicate})"
    )


def disable_tenant_rls(table: str) -> None:
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


def app_role() -> str:
    """The role named by DB_APP_ROLE, quoted for DDL."""
    from flask import current_app

    role = current_app.config["DB_APP_ROLE"]
    return '"' + role.replace('"', '""') + '"'


def create_app_role() -> None:
    """Create the app role (once per cluster) and let it use whatever later revisions create."""
    role = app_role()
    op.execute(
        f"""
        DO $$
        BEGIN
            CREATE ROLE {role} NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$;
        """
    )
    # The migrating role must be able to SET ROLE to it (a superuser already can).
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT pg_has_role(current_user, '{role.strip('"')}', 'MEMBER') THEN
                EXECUTE 'GRANT {role} TO ' || quote_ident(current_user);
            END IF;
        END $$;
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}"
    )


def drop_app_role_privileges() -> None:
    """Undo create_app_role's grants; the role itself stays, other databases may use it."""
    role = app_role()
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {role}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {role}"
    )
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")


def create_definer_function(signature: str, returns: str, body: str) -> None:
    """A SECURITY DEFINER lookup the app role may call before it knows its tenant (login, tokens)."""
    op.execute(
        f"""
        CREATE FUNCTION {signature} RETURNS {returns}
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$ {body} $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {app_role()}")


def create_tenant_search_function(signature: str, returns: str, body: str) -> None:
    """A SECURITY DEFINER search over the current tenant's rows that can use any index.

    Row-level security lets a condition use an index only if its operator is leakproof, so
    LIKE (trigram search), @> (arrays) and lower() would scan every row of the tenant. The
    function runs as its owner (the migrating role, which bypasses RLS) and applies the tenant
    predicate itself to `v_organization_id`. The caller passes values only: it cannot add a
    condition that would run on another tenant's rows (a failing cast would quote them).
    Each call plans its queries with the values known, as a query written with them would be.
    `body` is PL/pgSQL statements that RETURN QUERY.
    """
    op.execute(
        f"""
        CREATE FUNCTION {signature} RETURNS {returns}
        LANGUAGE plpgsql STABLE SECURITY DEFINER
        SET search_path = public, pg_temp
        SET plan_cache_mode = force_custom_plan
        AS $$
        DECLARE
            -- A constant to the planner, unlike current_setting() in the query.
            v_organization_id bigint := {CURRENT_ORGANIZATION};
        BEGIN
            {body}
        END
        $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {app_role()}")


def paged_body(matches: str, sorts: dict[str, tuple[str, str]], *, unordered: bool) -> str:
    """One query per sort (a plan each can index), keyset after p_after_id when it is set."""
    branches = [
        f"""IF p_sort = '{sort}' THEN
        RETURN QUERY {matches}
           AND (p_after_id IS NULL OR {after})
         ORDER BY {order} LIMIT p_limit;"""
        for sort, (after, order) in sorts.items()
    ]
    body = "\n    ELS".join(branches)
    if unordered:
        body += f"""
    ELSIF p_sort IS NULL THEN
        RETURN QUERY {matches}
         LIMIT p_limit;"""
    return body + "\n    END IF;"


def create_tenant_view(view: str, table: str, columns: tuple[str, ...]) -> None:
    """A read-only view of the current tenant's rows of `table` that searches could index.

    Superseded by create_tenant_search_function (revision 0023 replaced the two views):
    without a security barrier, a caller's own condition may run on other tenants' rows
    before the view's tenant predicate. Kept for the revisions that made those views.
    """
    op.execute(
        f"CREATE VIEW {view} AS SELECT {', '.join(columns)} FROM {table} WHERE {TENANT_PREDICATE}"
    )
    # The default privileges would let the app write through the view, past the table's policy.
    op.execute(f"REVOKE ALL ON {view} FROM {app_role()}")
    op.execute(f"GRANT SELECT ON {view} TO {app_role()}")


def earlier_revision(name: str) -> ModuleType:
    """The module of an earlier revision (say "0023_tenant_search_barriers"), so a downgrade
    restores the definitions that revision made rather than restating them."""
    path = Path(__file__).parent / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"revision_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timestamps() -> list[sa.Column]:
    """created_at and updated_at, as TimestampMixin declares them."""
    return [
        sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)
        for name in ("created_at", "updated_at")
    ]


def foreign_key(
    table: str, column: str, target: str, ondelete: str | None = "CASCADE"
) -> sa.ForeignKeyConstraint:
    """`table.column` -> `target.id`, named as the models' naming convention names it."""
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete=ondelete
    )


def organization_fk(table: str) -> sa.ForeignKeyConstraint:
    """A tenant table's organization_id, deleted with its organization."""
    return foreign_key(table, "organization_id", "organizations")
