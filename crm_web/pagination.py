"""Keyset pagination: the next page starts after the last row's sort key, never at an OFFSET."""

import base64
import datetime as dt
import decimal
import json
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from crm_web.errors import ValidationError
from crm_web.extensions import db


@dataclass
class Page:
    items: list
    next_cursor: str | None


def list_json(items: list, next_cursor: str | None, **extra) -> dict:
    """The one envelope of every list the API answers: a page of `items` and the cursor of the
    next page (None on the last), with any `extra` keys of that list."""
    return {"items": items, "next_cursor": next_cursor, **extra}


def iso(value: dt.date | None) -> str | None:
    """A date or time as the API answers it: ISO 8601, or null."""
    return value.isoformat() if value else None


def encode_cursor(values: list[Any]) -> str:
    def plain(value):
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        if isinstance(value, decimal.Decimal):
            return str(value)
        return value

    raw = json.dumps([plain(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, columns: tuple[InstrumentedAttribute, ...]) -> list[Any]:
    """The sort key a cursor carries, typed like its columns; a ValidationError if it is garbage."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError("wrong length")
        typed = []
        for column, value in zip(columns, values, strict=True):
            python_type = column.type.python_type
            if value is None or isinstance(value, python_type):
                typed.append(value)
            elif python_type is dt.datetime:
                typed.append(dt.datetime.fromisoformat(value))
            elif python_type is dt.date:
                typed.append(dt.date.fromisoformat(value))
            else:
                typed.append(python_type(value))
        return typed
    # (JSONDecodeError is a ValueError; Infinity for an int overflows; deep nesting recurses.)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise ValidationError(
            _("The page cursor is not valid."), {"cursor": _("Start again from the first page.")}
        ) from None


def cursor_key(cursor: str | None, columns: tuple) -> dict[str, Any]:
    """The sort key a cursor carries, by column name (empty without a cursor): for queries
    that take the key as values, such as a search function's."""
    if not cursor:
        return {}
    values = decode_cursor(cursor, columns)
    return {column.key: value for column, value in zip(columns, values, strict=True)}


def keyset_page(
    stmt: Select,
    columns: tuple[InstrumentedAttribute, ...],
    *,
    cursor: str | None = None,
    limit: int = 50,
    descending: bool = True,
) -> Page:
    """One page of `stmt` ordered by `columns` (the last one unique, e.g. the id): the
    entities or values it selects, or rows when it selects several columns."""
    if cursor:
        key = tuple_(*columns)
        after = tuple_(*decode_cursor(cursor, columns))
        stmt = stmt.where(key < after if descending else key > after)
    order = [column.desc() if descending else column.asc() for column in columns]
    result = db.session.execute(stmt.order_by(*order).limit(limit + 1))
    rows = list(result.scalars() if len(stmt.column_descriptions) == 1 else result)
    return page_of(rows, columns, limit)


def page_of(rows: list, columns: tuple, limit: int) -> Page:
    """The page of `rows` read for it (up to limit + 1, in order): the first `limit`, and a
    cursor at the last one's key (`columns`) if more followed."""
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor([getattr(last, column.key) for column in columns])
    return Page(items, next_cursor)
