"""A customer's timeline: every source's rows, merged newest first and keyset-paginated in SQL.

Each source (notes, communications, event registrations and attendances, consent changes,
documents; later orders, tickets, opportunities, survey responses) registers a
TimelineSource: the table its rows come from and the title, body and details (a JSONB
object of extra facts) it shows. The statement holds no words: its title column is the
entry's data (a subject, an event's name, a file name) and its details carry codes; the
source's `title(entry)` words the title in the reader's language when it is shown. The sources are combined with UNION ALL; each branch is
cut to one page by its own index on (organization_id, customer_id, <time>, id) before the
merge, so a page costs the same however long the history is. The sort key is
(occurred_at, kind, id), unique across sources; the cursor carries it.

The statement for a given choice of types is built once and reused with new parameters,
so it stays one prepared, already planned query.

A domain adds its sources with `register_source(...)` in a module listed in SOURCE_MODULES
(by convention its `timeline.py`); a module not built yet has no source, so nothing breaks.
"""

import base64
import datetime as dt
import functools
import importlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB

from crm_web import labels
from crm_web.db import current_organization_id
from crm_web.errors import ValidationError
from crm_web.extensions import db

# The modules whose import registers timeline sources, in the order their filters are shown.
SOURCE_MODULES = (
    "crm_web.customer360.sources",
    "crm_web.communications.timeline",
    "crm_web.events.timeline",
    "crm_web.customers.timeline",
    "crm_web.campaigns.timeline",
    "crm_web.surveys.timeline",
)
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Kind:
    """A kind of entry: its badge, and the type filter (group) it belongs to."""

    name: str
    label: str
    group: str
    group_label: str


@dataclass(frozen=True)
class TimelineSource:
    """Rows of one table (with its joins) on the timeline.

    `select()` returns a SELECT of the labelled columns title, body and details with its
    FROM and joins, and no conditions: the timeline adds the organization, customer,
    keyset and type conditions from the columns named here. `kind` is the column that tells
    the source's kinds apart (None when it has one kind); `where` are conditions of its own.
    `link(entry)` may give a URL for an entry (called during a request); `title(entry)` the
    title shown, from the entry's `data` (the title column) and details, through gettext.
    """

    name: str
    kinds: tuple[Kind, ...]
    select: Callable[[], Select]
    organization_id: ColumnElement
    customer_id: ColumnElement
    occurred_at: ColumnElement
    row_id: ColumnElement
    kind: ColumnElement | None = None
    where: tuple[ColumnElement, ...] = field(default_factory=tuple)
    link: Callable[["TimelineEntry"], str | None] = lambda entry: None
    title: Callable[["TimelineEntry"], str] = lambda entry: entry.data


# What the details' keys read as, and the vocabularies of the ones that hold codes.
DETAIL_LABELS = {
    "author": _l("Author"),
    "edited_at": _l("Edited"),
    "category": _l("Category"),
    "size_bytes": _l("Size"),
    "uploaded_by": _l("Uploaded by"),
    "direction": _l("Direction"),
    "status": _l("Status"),
    "outcome": _l("Outcome"),
    "duration_seconds": _l("Duration"),
    "delivered_at": _l("Delivered"),
    "opened_at": _l("Opened"),
    "clicked_at": _l("Clicked"),
    "logged_by": _l("Logged by"),
    "starts_at": _l("Starts"),
    "location": _l("Location"),
    "attended_at": _l("Attended"),
    "channel": _l("Channel"),
    "previous": _l("Before"),
    "source": _l("Source"),
    "changed_by": _l("Changed by"),
    "opens": _l("Opens"),
    "clicks": _l("Clicks"),
    "unsubscribed_at": _l("Unsubscribed"),
    "nps": _l("NPS"),
    "sentiment": _l("Sentiment"),
}
DETAIL_VOCABULARIES = {
    "category": labels.DOCUMENT_CATEGORY,
    "direction": labels.DIRECTION,
    "status": labels.COMMUNICATION_STATUS,
    "channel": labels.CONSENT_CHANNEL,
    "source": labels.CONSENT_SOURCE,
    "sentiment": labels.SENTIMENT,
}


@dataclass
class TimelineEntry:
    customer_id: int
    occurred_at: dt.datetime
    kind: str
    id: int
    data: str
    body: str
    details: dict[str, Any]
    source: TimelineSource

    @property
    def label(self) -> str:
        return next(str(kind.label) for kind in self.source.kinds if kind.name == self.kind)

    @property
    def title(self) -> str:
        """The title in the reader's language."""
        return str(self.source.title(self))

    @property
    def shown_details(self) -> list[tuple[str, str, Any]]:
        """(key, label, value) of the details people read: no ids, codes as their names."""
        shown = []
        for key, value in self.details.items():
            if key.endswith("_id"):
                continue
            name = DETAIL_LABELS.get(key) or key.replace("_", " ").capitalize()
            vocabulary = DETAIL_VOCABULARIES.get(key, {})
            if isinstance(value, str) and value in vocabulary:
                value = str(vocabulary[value])
            shown.append((key, str(name), value))
        return shown

    @property
    def link(self) -> str | None:
        """Where the entry leads (built on demand: it needs a request to make URLs)."""
        return self.source.link(self)


@dataclass
class TimelinePage:
    entries: list[TimelineEntry]
    next_cursor: str | None


_sources: dict[str, TimelineSource] = {}
_loaded = False


def register_source(source: TimelineSource) -> TimelineSource:
    """Add a source of entries to every customer's timeline."""
    _sources[source.name] = source
    _statement.cache_clear()
    return source


def sources() -> list[TimelineSource]:
    """Every registered source, in registration order."""
    global _loaded
    if not _loaded:
        for module in SOURCE_MODULES:
            importlib.import_module(module)
        _loaded = True
    return list(_sources.values())


def groups() -> dict[str, str]:
    """The type filters: group name -> label (a group may span several kinds)."""
    return {kind.group: str(kind.group_label) for source in sources() for kind in source.kinds}


def details_object(**values: ColumnElement) -> ColumnElement:
    """A JSONB object of the given columns, without the null ones."""
    pairs = []
    for key, value in values.items():
        pairs.extend((literal(key), value))
    return func.jsonb_strip_nulls(func.jsonb_build_object(*pairs), type_=JSONB)


def encode_cursor(entry: TimelineEntry) -> str:
    """The cursor of the page after this entry: its (occurred_at, kind, id)."""
    raw = json.dumps([entry.occurred_at.isoformat(), entry.kind, entry.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str, int]:
    """The (occurred_at, kind, id) a cursor carries; a ValidationError if it is garbage."""
    try:
        at, kind, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        occurred_at = dt.datetime.fromisoformat(at)
        if occurred_at.tzinfo is None or not isinstance(kind, str) or type(row_id) is not int:
            raise ValueError("wrong types")
        return occurred_at, kind, row_id
    except (ValueError, TypeError, RecursionError):
        raise ValidationError(
            _("The page cursor is not valid."), {"cursor": _("Start again from the first page.")}
        ) from None


def _typed(details: dict[str, Any]) -> dict[str, Any]:
    # JSONB has no timestamp type: the `*_at` facts come back as ISO strings.
    return {
        key: dt.datetime.fromisoformat(value)
        if key.endswith("_at") and isinstance(value, str)
        else value
        for key, value in details.items()
    }


def parse_groups(types: str | Iterable[str] | None) -> list[str] | None:
    """`?types=note,email` (or a list) as known group names; None means every group."""
    if types is None:
        return None
    if isinstance(types, str):
        types = types.split(",")
    wanted = [value.strip() for value in types if value.strip()]
    if not wanted:
        return None
    known = groups()
    unknown = [value for value in wanted if value not in known]
    if unknown:
        raise ValidationError(
            _("Unknown timeline type."),
            {
                "types": _(
                    "Not a timeline type: %(values)s. Use: %(known)s.",
                    values=", ".join(unknown),
                    known=", ".join(known),
                )
            },
        )
    return wanted


def _branch(source: TimelineSource, kinds: tuple[str, ...], paged: bool, since: bool) -> Select:
    """One source's rows for the customer, after the cursor, cut to the page size."""
    # Byte order ("C") for kinds, so the order is the same whatever the database's locale.
    kind = (
        cast(literal(source.kinds[0].name), Text) if source.kind is None else source.kind
    ).collate("C")
    conditions = [
        source.organization_id == bindparam("organization_id"),
        source.customer_id == bindparam("customer_id"),
        *source.where,
    ]
    if source.kind is not None and len(kinds) < len(source.kinds):
        conditions.append(source.kind.in_(kinds))
    if paged:
        at = bindparam("after_at", type_=DateTime(timezone=True))
        after_kind = bindparam("after_kind", type_=Text).collate("C")
        # (time, kind, id) < cursor, written so the first part can use the (time, id) index.
        conditions += [
            source.occurred_at <= at,
            or_(
                source.occurred_at < at,
                kind < after_kind,
                and_(kind == after_kind, source.row_id < bindparam("after_id", type_=BigInteger)),
            ),
        ]
    if since:
        conditions.append(source.occurred_at >= bindparam("since", type_=DateTime(timezone=True)))
    return (
        source.select()
        .add_columns(
            source.occurred_at.label("occurred_at"),
            source.row_id.label("id"),
            kind.label("kind"),
        )
        .where(*conditions)
        .order_by(source.occurred_at.desc(), kind.desc(), source.row_id.desc())
        .limit(bindparam("branch_limit"))
    )


@functools.lru_cache(maxsize=256)
def _statement(chosen: tuple[tuple[str, tuple[str, ...]], ...], paged: bool, since: bool) -> Select:
    """The merged query for these (source, kinds) pairs; built once, run with parameters."""
    branches = [_branch(_sources[name], kinds, paged, since) for name, kinds in chosen]
    merged = union_all(*branches).subquery("timeline")
    return (
        select(merged)
        .order_by(
            merged.c.occurred_at.desc(), merged.c.kind.collate("C").desc(), merged.c.id.desc()
        )
        .limit(bindparam("page_limit"))
    )


def timeline_page(
    customer_id: int,
    *,
    types: list[str] | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    since: dt.datetime | None = None,
) -> TimelinePage:
    """One page of the customer's timeline, newest first, optionally only some groups."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(
            _("The page size is not valid."), {"limit": _("Use 1 to %(most)s.", most=MAX_PAGE_SIZE)}
        )
    params: dict[str, Any] = {
        "organization_id": current_organization_id(),
        "customer_id": customer_id,
        "branch_limit": limit + 1,
        "page_limit": limit + 1,
    }
    if cursor:
        params["after_at"], params["after_kind"], params["after_id"] = decode_cursor(cursor)
    if since:
        params["since"] = since
    chosen = []
    for source in sources():
        kinds = tuple(k.name for k in source.kinds if types is None or k.group in types)
        if kinds:
            chosen.append((source.name, kinds))
    if not chosen:
        return TimelinePage([], None)
    rows = db.session.execute(_statement(tuple(chosen), bool(cursor), bool(since)), params).all()
    by_kind = {kind.name: source for source in sources() for kind in source.kinds}
    entries = [
        TimelineEntry(
            customer_id=customer_id,
            occurred_at=row.occurred_at,
            kind=row.kind,
            id=row.id,
            data=row.title or "",
            body=row.body or "",
            details=_typed(row.details or {}),
            source=by_kind[row.kind],
        )
        for row in rows[:limit]
    ]
    next_cursor = encode_cursor(entries[-1]) if len(rows) > limit else None
    return TimelinePage(entries, next_cursor)
