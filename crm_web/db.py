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


# The tenant set-up every transaction starts with. It goes to psycopg directly: SQLAlchemy's
# statement machinery had been most of its cost, and it runs in every request and job.
_SET_TENANT = (
    "SELECT set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)"
)
# The same, checking a sign-in on the way (one round trip): the stamp while it holds, else NULL.
_SET_TENANT_AND_CHECK = _SET_TENANT + ", signed_in_stamp(%s, %s, %s)"


def _apply(connection: Connection, tenant: Tenant, sign_in: str | None = None) -> str | None:
    """Set the tenant for the transaction; with `sign_in` (a session id), also check it and
    return its stamp (see check_sign_in)."""
    organization = "" if tenant.organization_id is None else str(tenant.organization_id)
    user = "" if tenant.user_id is None else str(tenant.user_id)
    with connection.connection.driver_connection.cursor() as cursor:
        if sign_in is None:
            cursor.execute(_SET_TENANT, (organization, user))
            return None
        cursor.execute(
            _SET_TENANT_AND_CHECK,
            (organization, user, tenant.organization_id, tenant.user_id, sign_in),
        )
        return cursor.fetchone()[2]


# A sign-in to check with the next transaction's tenant set-up, and what the check found.
_sign_in_check: ContextVar[str | None] = ContextVar("sign_in_check", default=None)
_sign_in_stamp: ContextVar[str | None] = ContextVar("sign_in_stamp", default=None)


def check_sign_in(organization_id: int, user_id: int, session_id: str) -> str | None:
    """Act for this user of this organization and tell whether their sign-in still holds: the
    stamp of the user's and the organization's rows while it does (`signed_in_stamp`,
    migration 0024d), None once it was ended, expired or the user deactivated.

    The check rides in the statement that sets up the request's first transaction, so a
    signed-in request costs no round trip more than an anonymous one.
    """
    tenant = Tenant(organization_id, user_id)
    _tenant.set(tenant)
    session = db.session()
    if session.in_transaction():
        return _apply(session.connection(), tenant, session_id)
    # A thread serves request after request in one context: nothing of an earlier check stays.
    _sign_in_stamp.set(None)
    token = _sign_in_check.set(session_id)
    try:
        session.connection()  # begins the transaction: _scope_new_transaction checks
        return _sign_in_stamp.get()
    finally:
        _sign_in_check.reset(token)
        _sign_in_stamp.set(None)


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
    sign_in = _sign_in_check.get()
    stamp = _apply(connection, _tenant.get(), sign_in)
    if sign_in is not None:
        _sign_in_check.set(None)
        _sign_in_stamp.set(stamp)


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


def analyze_loaded(tables: tuple[str, ...], changed: int | None = None) -> list[str]:
    """Refresh the planner's statistics of tables a bulk load just wrote; returns those analyzed.

    Without it the planner keeps the statistics of the table before the load (a new
    organization's million customers planned as a handful) until autovacuum passes, if it
    runs at all. The owner's function `analyze_loaded_tables` (migration 0024d) does it, for
    each table whose `changed` rows pass autovacuum's threshold; None: every table.
    Call it after the load commits: ANALYZE's lock, held to the end of the transaction,
    would keep two loads of two organizations from analyzing at once.
    """
    return list(
        db.session.scalar(
            text("SELECT analyze_loaded_tables(CAST(:tables AS text[]), :changed)"),
            {"tables": list(tables), "changed": 2**62 if changed is None else changed},
        )
    )
