"""Set-based writes that every import target makes the same way: changes to matched records
with their audit entries, and the audit summary of the records created.

A target's write() calls these with SQL for each field's new value, in which `c` is the
stored record and `p` the planned row of the file.
"""

from decimal import Decimal
from typing import Any

from sqlalchemy import Column, text
from sqlalchemy.dialects import postgresql

from crm_web.db import current_organization_id, current_tenant
from crm_web.extensions import db
from crm_web.fields import column_default
from crm_web.privacy.audit import record

# What an update changes, per record: (id, row_number, old, new), old and new as JSONB of the
# changed fields only. It lives until the run's transaction ends.
CHANGES = "import_changes"


def params(job_id: int) -> dict:
    """The bind parameters every statement here takes: organization, user, job."""
    return {"org": current_organization_id(), "user": current_tenant().user_id, "job": job_id}


def planned(plan: str, action: str) -> int:
    """How many planned rows have this action."""
    return db.session.execute(
        text(f"SELECT count(*) FROM {plan} WHERE action = :action"), {"action": action}
    ).scalar_one()


def _literal(value: Any, column: Column) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        items = ", ".join(_literal(item, column) for item in value)
        return f"ARRAY[{items}]::{column.type.compile(dialect=postgresql.dialect())}"
    if isinstance(value, int | Decimal):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def default_sql(column: Column) -> str:
    """SQL for what the model gives a new record's column: its default, else its server
    default, else NULL where it may be NULL, else ''."""
    value = column_default(column)
    if value is not None:
        return _literal(value, column)
    if column.server_default is not None:
        default = column.server_default.arg
        if isinstance(default, str):
            return _literal(default, column)
        return str(default.compile(dialect=postgresql.dialect()))
    return "NULL" if column.nullable else "''"


def new_values(
    table: str, names: tuple[str, ...], mapped: tuple[str, ...], defaults: dict[str, str]
) -> dict[str, str]:
    """SQL for each of these columns of a new record: the file's value where the row has one,
    else the default (from `defaults`, else the model's). Nullable columns neither mapped,
    in `defaults` nor with a default of their own are left to the table."""
    columns = db.metadata.tables[table].c
    values = {}
    for name in names:
        default = defaults.get(name) or default_sql(columns[name])
        if name in mapped:
            values[name] = f"coalesce(p.{name}, {default})"
        elif name in defaults or default != "NULL":
            values[name] = default
    return values


def collect_changes(plan: str, table: str, values: dict[str, str], job_id: int) -> None:
    """Fill CHANGES with what the planned updates change (read before the update: the audit
    trail, and whatever else the target keeps, need the old values) and audit each record."""
    session = db.session()
    pairs = ", ".join(
        f"('{name}', to_jsonb(c.{name}), to_jsonb({new}))" for name, new in values.items()
    )
    session.execute(text(f"DROP TABLE IF EXISTS pg_temp.{CHANGES}"))
    session.execute(
        text(
            f"""
            CREATE TEMP TABLE {CHANGES} ON COMMIT DROP AS
            SELECT c.id, p.row_number, d.old, d.new
            FROM {plan} p
            JOIN {table} c ON c.id = p.match_id AND c.organization_id = :org
            CROSS JOIN LATERAL (
                SELECT jsonb_object_agg(field, old) AS old, jsonb_object_agg(field, new) AS new
                FROM (VALUES {pairs}) v(field, old, new)
                WHERE old IS DISTINCT FROM new
            ) d
            WHERE p.action = 'update' AND d.old IS NOT NULL
            """
        ),
        params(job_id),
    )
    session.execute(
        text(
            "INSERT INTO audit_log (organization_id, user_id, action, table_name, row_id, "
            f"old_values, new_values) SELECT :org, :user, 'update', '{table}', id::text, old, new "
            f"FROM {CHANGES}"
        ),
        params(job_id),
    )


def apply_changes(
    plan: str, table: str, values: dict[str, str], job_id: int, derived: str = ""
) -> int:
    """Write the changes collect_changes found, and `derived` (more of the SET clause: what
    follows from the new values); returns how many records changed."""
    assignments = [f"{name} = {new}" for name, new in values.items()]
    assignments += [derived] if derived else []

    result = db.session.execute(
        text(
            f"""
            UPDATE {table} c SET {", ".join(assignments)}, updated_at = now()
            FROM {CHANGES} ch JOIN {plan} p ON p.row_number = ch.row_number
            WHERE c.id = ch.id AND c.organization_id = :org
            """
        ),
        params(job_id),
    )
    return result.rowcount


def record_created(table: str, first: str, last: str, count: int, job_id: int) -> None:
    """One audit entry for the records an import created, named first..last."""
    record(
        db.session,
        organization_id=current_organization_id(),
        action="create",
        table_name=table,
        row_id=f"{first}..{last}",
        new={"import_job": job_id, table: count},
    )
