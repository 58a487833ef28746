"""Session helpers: the tenant of the current transaction and the app's database role.

Every transaction starts with `app.organization_id` (and `app.user_id`) set from the
current tenant with set_config(..., true), so row-level security scopes all reads and
writes even where a query forgets its filter.
"""

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import psycopg
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from crm_web.errors import invalid
from crm_web.extensions import db


@dataclass(frozen=True)
class Tenant:
    organization_id: int | None = None
    user_id: int | None = None


_tenant: ContextVar[Tenant] = ContextVar("tenant", default=Tenant())  # noqa: B039 (Tenant is frozen)


def current_tenant() -> Tenant:
    """The organization and user the current code acts for."""
    return _tenant.get()


def current_organization_id() -> int | None:
    return _tenant.get().organization_id


def _apply(connection: Connection, tenant: Tenant) -> None:
    connection.execute(
        text(
            "SELECT set_config('app.organization_id', :org, true), set_config('app.user_id', :user, true)"
        ),
        {
            "org": "" if tenant.organization_id is None else str(tenant.organization_id),
            "user": "" if tenant.user_id is None else str(tenant.user_id),
        },
    )


def set_tenant(organization_id: int | None, user_id: int | None = None) -> None:
    """Act for this organization from now on, including the transaction already open."""
    tenant = Tenant(organization_id, user_id)
    _tenant.set(tenant)
    session = db.session()
    if session.in_transaction():
        _apply(session.connection(), tenant)


def clear_tenant() -> None:
    """Forget the tenant (end of a request or a job)."""
    _tenant.set(Tenant())


@contextmanager
def tenant_scope(organization_id: int | None, user_id: int | None = None) -> Iterator[None]:
    """Run a block as this organization and restore the previous tenant afterwards."""
    previous = _tenant.get()
    set_tenant(organization_id, user_id)
    try:
        yield
    finally:
        set_tenant(previous.organization_id, previous.user_id)


@event.listens_for(Session, "after_begin")
def _scope_new_transaction(session: Session, transaction, connection: Connection) -> None:
    _apply(connection, _tenant.get())


def install_app_role(engine: Engine, role: str) -> None:
    """Make every pooled connection run as the app role, which RLS applies to."""

    @event.listens_for(engine, "connect")
    def _set_role(dbapi_connection, connection_record) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            if cursor.fetchone()[0] != role:
                cursor.execute(f'SET ROLE "{role}"')
        # SET ROLE outside a transaction must not be undone by the pool's rollback.
        dbapi_connection.commit()


_atomic_depth: ContextVar[int] = ContextVar("atomic_depth", default=0)


# A deadlock or a serialization failure aborts the transaction of the losing side only.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
RETRY_ATTEMPTS = 3


def _retryable(error: BaseException) -> bool:
    return (
        isinstance(error, DBAPIError)
        and getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES
    )


def atomic(fn=None, *, retry: bool = False):
    """Run a service function as one transaction: commit when the outermost call returns, else
    roll back. With `retry`, an outermost call that PostgreSQL chose as a deadlock's victim runs
    again in a new transaction (for functions whose only effects are in that transaction)."""
    if fn is None:
        return functools.partial(atomic, retry=retry)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        depth = _atomic_depth.get()
        token = _atomic_depth.set(depth + 1)
        try:
            for attempt in range(1, RETRY_ATTEMPTS + 1):
                try:
                    result = fn(*args, **kwargs)
                    if depth == 0:
                        db.session.commit()
                    return result
                except BaseException as error:
                    if depth == 0:
                        db.session.rollback()
                    if depth or not retry or attempt == RETRY_ATTEMPTS or not _retryable(error):
                        raise
        finally:
            _atomic_depth.reset(token)

    return wrapper


def flush_unique(refusals: dict[str, tuple[str, object]]) -> None:
    """Flush the session; when a unique index named in `refusals` (index -> (field, message))
    refuses the change, roll the transaction back (it cannot go on after a refused statement,
    and the message may need the database: the language is read from it) and raise the
    ValidationError on that field. Other errors go on as they are."""
    try:
        db.session.flush()
    except IntegrityError as exc:
        diag = getattr(exc.orig, "diag", None)
        refusal = refusals.get(getattr(diag, "constraint_name", None))
        if refusal is None:
            raise
        db.session.rollback()
        field, message = refusal
        raise invalid({field: str(message)}) from None


def analyze(database_url: str, tables: tuple[str, ...]) -> None:
    """ANALYZE freshly loaded tables, as their owner (the app role may not): the planner then
    knows their size at once instead of when autovacuum comes by."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        for table in tables:
            connection.execute(f"ANALYZE {table}")


def copy_insert(table: str, columns: tuple[str, ...], chunks) -> None:
    """Bulk-insert COPY text (tab-separated chunks) into an RLS table.

    PostgreSQL refuses COPY FROM into a table with row-level security, so the rows land in
    a temporary staging table first and move with one INSERT ... SELECT, which RLS checks.
    """
    column_list = ", ".join(columns)
    staging = f"staging_{table}"
    session = db.session()
    session.execute(text(f"DROP TABLE IF EXISTS pg_temp.{staging}"))
    session.execute(
        text(
            f"CREATE TEMP TABLE {staging} ON COMMIT DROP AS SELECT {column_list} FROM {table} WITH NO DATA"
        )
    )
    connection = session.connection().connection.driver_connection
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {staging} ({column_list}) FROM STDIN") as copy,
    ):
        for chunk in chunks:
            copy.write(chunk)
    session.execute(
        text(f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {staging}")
    )
    session.execute(text(f"DROP TABLE {staging}"))
