"""Alembic environment: migrations run as the connecting (owner) role, never as the app role."""

from alembic import context
from flask import current_app
from sqlalchemy import create_engine, pool

config = context.config
target_metadata = current_app.extensions["migrate"].db.metadata
database_url = current_app.config["SQLALCHEMY_DATABASE_URI"]
# Indexes a revision makes only where the server can (0026: the Turkish name sort needs ICU),
# so the models cannot declare them; `flask db check` leaves them alone.
SERVER_DEPENDENT_INDEXES = {"ix_customers_org_sort_name_tr"}


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "index" and name in SERVER_DEPENDENT_INDEXES)


def run_migrations_offline() -> None:
    context.configure(
        url=database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # A plain engine: the app's engine switches to the app role on connect, which owns nothing.
    engine = create_engine(database_url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, include_object=include_object
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
