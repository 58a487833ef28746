"""Every create, update and delete of an audited model writes an audit_log row.

The rows are written in the same flush as the change, so they commit or roll back with
it. Set-based statements that bypass the ORM call `record` themselves.
"""

import datetime as dt
import decimal
import enum
import uuid
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from crm_web.db import current_tenant


class Audited:
    """Mixin: changes to this model are written to the audit log."""

    # Column names whose values never reach the log (hashes, secrets).
    audit_hidden: frozenset[str] = frozenset()


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _snapshot(obj: Audited, *, old: bool) -> dict[str, Any]:
    state = inspect(obj)
    values = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in obj.audit_hidden:
            continue
        history = state.attrs[key].history
        if old:
            values[key] = _plain(history.deleted[0] if history.deleted else state.dict.get(key))
        else:
            values[key] = _plain(state.dict.get(key))
    return values


def _changes(obj: Audited) -> tuple[dict, dict] | None:
    state = inspect(obj)
    old, new = {}, {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        history = state.attrs[key].history
        if not history.has_changes():
            continue
        before = _plain(history.deleted[0] if history.deleted else None)
        after = _plain(history.added[0] if history.added else None)
        if before == after:
            continue
        if key in obj.audit_hidden:
            old[key] = new[key] = "(changed)"
        else:
            old[key], new[key] = before, after
    return (old, new) if old else None


def _entry(obj: Audited, action: str, old: dict | None, new: dict | None) -> dict:
    # Read the key off the instance: a row created in this flush has no identity key yet.
    primary_key = inspect(obj).mapper.primary_key_from_instance(obj)
    return {
        "organization_id": obj.audit_organization_id,
        "user_id": current_tenant().user_id,
        "action": action,
        "table_name": obj.__table__.name,
        "row_id": ",".join(str(part) for part in primary_key),
        "old_values": old,
        "new_values": new,
    }


def record(
    session: Session,
    *,
    organization_id: int,
    action: str,
    table_name: str,
    row_id: Any,
    old: dict | None = None,
    new: dict | None = None,
) -> None:
    """Write one audit row for a change made outside the ORM's unit of work."""
    from crm_web.privacy.models import AuditEntry

    session.execute(
        insert(AuditEntry).values(
            organization_id=organization_id,
            user_id=current_tenant().user_id,
            action=action,
            table_name=table_name,
            row_id=str(row_id),
            old_values=_plain(old),
            new_values=_plain(new),
        )
    )


def changed_values(old: dict, new: dict) -> tuple[dict, dict] | None:
    """The (old, new) values of the columns a change outside the ORM really alters, as the
    ORM's own entries give them (for `record`); None when nothing changes."""
    before, after = {}, {}
    for key, value in new.items():
        if (previous := _plain(old[key])) != (value := _plain(value)):
            before[key], after[key] = previous, value
    return (before, after) if before else None


@event.listens_for(Session, "after_flush")
def _write_audit_rows(session: Session, flush_context) -> None:
    from crm_web.privacy.models import AuditEntry

    rows = []
    for obj in session.new:
        if isinstance(obj, Audited):
            rows.append(_entry(obj, "create", None, _snapshot(obj, old=False)))
    for obj in session.dirty:
        if isinstance(obj, Audited) and (changes := _changes(obj)):
            rows.append(_entry(obj, "update", *changes))
    for obj in session.deleted:
        if isinstance(obj, Audited):
            rows.append(_entry(obj, "delete", _snapshot(obj, old=True), None))
    if rows:
        session.connection().execute(insert(AuditEntry), rows)
