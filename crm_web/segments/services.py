"""Segments: save, refresh, count and read members and movements.

A refresh is one statement: the criteria compiled to SQL (crm_web.segments.criteria) select the
matching customers, those no longer matching get their stay closed (left_at), newcomers get
a new stay; the counts come back with it. The segment row is locked for the refresh, so two
refreshes of one segment take turns. Dynamic segments are refreshed by the scheduler every
`refresh_minutes` and on demand; a static one takes its members when it is saved.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, text, update

from crm_web import jobs, sequences
from crm_web.accounts.models import Organization
from crm_web.customers.models import Customer, display_name
from crm_web.db import atomic, current_organization_id, current_tenant, tenant_scope
from crm_web.errors import Conflict, NotFound, ValidationError, check_fields
from crm_web.extensions import db
from crm_web.inputs import text_field
from crm_web.pagination import Page, keyset_page
from crm_web.segments import criteria as rules
from crm_web.segments.models import (
    REFRESH_MINUTES,
    SEGMENT_TYPES,
    Segment,
    SegmentMember,
    SegmentRefresh,
)

PREVIEW_SIZE = 20
# A requested refresh that no worker did within this long is asked for again by the sweep.
STALE_REQUEST = timedelta(seconds=60)


def _timezone() -> str:
    return (
        db.session.scalar(
            select(Organization.timezone).where(Organization.id == current_organization_id())
        )
        or "UTC"
    )


def compiled(group: rules.Group) -> rules.Compiled:
    """The group as SQL over the current organization's active customers."""
    return rules.compile_criteria(group, current_organization_id(), _timezone())


# -- reading ------------------------------------------------------------------------------------


def list_segments(cursor: str | None = None, limit: int = 50) -> Page:
    """The organization's active segments, newest first."""
    stmt = select(Segment).where(
        Segment.organization_id == current_organization_id(), Segment.is_active
    )
    return keyset_page(stmt, (Segment.id,), cursor=cursor, limit=limit)


def get_segment(segment_id: int) -> Segment:
    segment = db.session.scalar(
        select(Segment).where(
            Segment.id == segment_id,
            Segment.organization_id == current_organization_id(),
            Segment.is_active,
        )
    )
    if segment is None:
        raise NotFound(_("No such segment."))
    return segment


def segment_choices() -> list[tuple[int, str]]:
    """(id, name) of every active segment, by name (for pickers)."""
    return list(
        db.session.execute(
            select(Segment.id, Segment.segment_name)
            .where(Segment.organization_id == current_organization_id(), Segment.is_active)
            .order_by(Segment.segment_name, Segment.id)
        ).all()
    )


@dataclass(frozen=True)
class Preview:
    count: int
    customers: list[Customer]


def preview(criteria: object) -> Preview:
    """How many active customers the criteria match now, and the newest 20 of them."""
    where = compiled(rules.parse(criteria))
    # Two statements, each with its best plan: the count reads every customer once; the newest
    # 20 walk the id index backwards and stop at the 20th match. (One statement with a window
    # count has to find every match before the limit, through the index: 3x slower at 1M.)
    count = db.session.scalar(
        text(f"SELECT count(*) FROM customers c WHERE {where.where}"), where.params
    )
    ids = db.session.scalars(
        text(f"SELECT c.id FROM customers c WHERE {where.where} ORDER BY c.id DESC LIMIT :limit"),
        {**where.params, "limit": PREVIEW_SIZE},
    ).all()
    customers = {
        customer.id: customer
        for customer in db.session.scalars(select(Customer).where(Customer.id.in_(ids)))
    }
    return Preview(count, [customers[i] for i in ids if i in customers])


def members_page(segment_id: int, cursor: str | None = None, limit: int = 50) -> Page:
    """The segment's current members, newest customers first (keyset on the customer id)."""
    segment = get_segment(segment_id)
    stmt = (
        select(Customer)
        .join(
            SegmentMember,
            (SegmentMember.organization_id == Customer.organization_id)
            & (SegmentMember.customer_id == Customer.id),
        )
        .where(
            SegmentMember.organization_id == segment.organization_id,
            SegmentMember.segment_id == segment.id,
            SegmentMember.left_at.is_(None),
        )
    )
    return keyset_page(stmt, (Customer.id,), cursor=cursor, limit=limit)


@dataclass(frozen=True)
class Movement:
    at: datetime
    entered: bool
    customer_id: int
    customer_name: str


def movements(segment_id: int, limit: int = 30) -> list[Movement]:
    """The latest arrivals and departures, newest first."""
    segment = get_segment(segment_id)
    rows = db.session.execute(
        text(
            """
            SELECT m.at, m.entered, c.id, c.customer_type, c.company_name, c.first_name,
                   c.last_name
              FROM ((SELECT entered_at AS at, true AS entered, customer_id
                       FROM segment_members
                      WHERE organization_id = :org AND segment_id = :segment
                      ORDER BY entered_at DESC LIMIT :limit)
                    UNION ALL
                    (SELECT left_at, false, customer_id FROM segment_members
                      WHERE organization_id = :org AND segment_id = :segment
                        AND left_at IS NOT NULL
                      ORDER BY left_at DESC LIMIT :limit)) AS m
              JOIN customers c ON c.organization_id = :org AND c.id = m.customer_id
             ORDER BY m.at DESC, m.entered, c.id DESC
             LIMIT :limit
            """
        ),
        {"org": segment.organization_id, "segment": segment.id, "limit": limit},
    ).all()
    return [
        Movement(
            row.at,
            row.entered,
            row.id,
            display_name(row.customer_type, row.company_name, row.first_name, row.last_name),
        )
        for row in rows
    ]


def history(segment_id: int, limit: int = 30) -> list[SegmentRefresh]:
    """The last refreshes, oldest first (the counts-over-time chart)."""
    segment = get_segment(segment_id)
    rows = db.session.scalars(
        select(SegmentRefresh)
        .where(
            SegmentRefresh.organization_id == segment.organization_id,
            SegmentRefresh.segment_id == segment.id,
        )
        .order_by(SegmentRefresh.refreshed_at.desc(), SegmentRefresh.id.desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))


# -- saving -------------------------------------------------------------------------------------


def _clean(data: dict, segment: Segment | None) -> tuple[dict[str, Any], rules.Group | None]:
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {
        "segment_name": text_field(data, "segment_name", errors, 100, required=True),
        "segment_code": text_field(data, "segment_code", errors, 20),
        "description": text_field(data, "description", errors, 2000),
    }
    segment_type = data.get("segment_type") or "custom"
    if segment_type not in SEGMENT_TYPES:
        errors["segment_type"] = _("Choose a segment type.")
    clean["segment_type"] = segment_type
    dynamic = data.get("is_dynamic", True if segment is None else segment.is_dynamic)
    if not isinstance(dynamic, bool):
        errors["is_dynamic"] = _("Send true or false.")
    clean["is_dynamic"] = bool(dynamic)
    minutes = data.get("refresh_minutes", 60 if segment is None else segment.refresh_minutes)
    if isinstance(minutes, str) and minutes.isdigit():
        minutes = int(minutes)
    if minutes not in REFRESH_MINUTES:
        errors["refresh_minutes"] = _(
            "Choose one of: %(values)s minutes.", values=", ".join(map(str, REFRESH_MINUTES))
        )
    clean["refresh_minutes"] = minutes
    group = None
    try:
        group = rules.parse(data.get("criteria", rules.EVERYONE))
    except ValidationError as exc:
        errors.update(
            {f"criteria.{path}" if path else "criteria": m for path, m in exc.fields.items()}
        )
    if clean["segment_code"]:
        taken = db.session.scalar(
            select(Segment.id).where(
                Segment.organization_id == current_organization_id(),
                Segment.segment_code == clean["segment_code"],
                Segment.id != (segment.id if segment else 0),
            )
        )
        if taken is not None:
            errors["segment_code"] = _("Another segment has this code.")
    check_fields(errors)
    return clean, group


@atomic
def create_segment(data: dict) -> Segment:
    """Save a segment and take its members now (a static segment keeps them)."""
    clean, group = _clean(data, None)
    if not clean["segment_code"]:
        number = sequences.allocate(current_organization_id(), "segment")
        clean["segment_code"] = sequences.document_number("SEG", number)[:20]
    segment = Segment(
        organization_id=current_organization_id(),
        criteria=rules.to_json(group),
        created_by_id=current_tenant().user_id,
        **clean,
    )
    db.session.add(segment)
    db.session.flush()
    _refresh(segment, group)
    return segment


@atomic
def update_segment(segment_id: int, data: dict) -> Segment:
    """Change a segment; new criteria take effect at once (a static one takes new members)."""
    segment = _locked(segment_id)
    merged = {
        "segment_name": segment.segment_name,
        "segment_code": segment.segment_code,
        "description": segment.description,
        "segment_type": segment.segment_type,
        "is_dynamic": segment.is_dynamic,
        "refresh_minutes": segment.refresh_minutes,
        "criteria": segment.criteria,
        **data,
    }
    clean, group = _clean(merged, segment)
    if not clean["segment_code"]:
        clean["segment_code"] = segment.segment_code
    criteria = rules.to_json(group)
    changed = criteria != segment.criteria
    for name, value in {**clean, "criteria": criteria}.items():
        if getattr(segment, name) != value:
            setattr(segment, name, value)
    db.session.flush()
    if changed:
        _refresh(segment, group)
    return segment


@atomic
def delete_segment(segment_id: int) -> None:
    """Retire a segment (its history stays; campaigns that used it keep their recipients)."""
    segment = _locked(segment_id)
    segment.is_active = False
    db.session.flush()


def _locked(segment_id: int) -> Segment:
    segment = db.session.scalar(
        select(Segment)
        .where(
            Segment.id == segment_id,
            Segment.organization_id == current_organization_id(),
            Segment.is_active,
        )
        .with_for_update()
    )
    if segment is None:
        raise NotFound(_("No such segment."))
    return segment


# -- refreshing ---------------------------------------------------------------------------------


@atomic
def request_refresh(segment_id: int) -> Segment:
    """Ask a worker to refresh a dynamic segment now (the page shows it running until done)."""
    segment = get_segment(segment_id)
    if not segment.is_dynamic:
        raise Conflict(_("A static segment keeps the members it was saved with."))
    db.session.execute(
        update(Segment)
        .where(Segment.id == segment.id, Segment.organization_id == segment.organization_id)
        .values(refresh_requested_at=datetime.now(UTC))
    )
    jobs.enqueue_after_commit(jobs.REFRESH_SEGMENT, segment.organization_id, segment.id)
    db.session.refresh(segment)
    return segment


@atomic
def refresh_segment_now(segment_id: int) -> "RefreshResult":
    """Refresh a dynamic segment in this request (the API's refresh)."""
    if not get_segment(segment_id).is_dynamic:
        raise Conflict(_("A static segment keeps the members it was saved with."))
    return refresh_segment(segment_id)


@dataclass(frozen=True)
class RefreshResult:
    customer_count: int
    entered: int
    left: int
    duration_ms: int


@atomic
def refresh_segment(segment_id: int) -> RefreshResult:
    """Bring a segment's members in line with its criteria now (static ones too: on demand
    from a test or the CLI; the pages refresh only dynamic ones)."""
    segment = _locked(segment_id)
    return _refresh(segment, rules.parse(segment.criteria))


_REFRESH = """
WITH matching AS (
    SELECT c.id FROM customers c WHERE {where}
), gone AS (
    UPDATE segment_members m SET left_at = :now
     WHERE m.organization_id = :org AND m.segment_id = :segment AND m.left_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM matching WHERE matching.id = m.customer_id)
    RETURNING 1
), came AS (
    INSERT INTO segment_members (organization_id, segment_id, customer_id, entered_at)
    SELECT :org, :segment, matching.id, :now FROM matching
     WHERE NOT EXISTS (SELECT 1 FROM segment_members m
                        WHERE m.organization_id = :org AND m.segment_id = :segment
                          AND m.customer_id = matching.id AND m.left_at IS NULL)
    RETURNING 1
)
SELECT (SELECT count(*) FROM matching) AS customer_count,
       (SELECT count(*) FROM came) AS entered,
       (SELECT count(*) FROM gone) AS left_count
"""


def _refresh(segment: Segment, group: rules.Group) -> RefreshResult:
    started = time.perf_counter()
    # The clock, not the transaction's start: a stay's times are when the refresh ran.
    now = db.session.scalar(text("SELECT clock_timestamp()"))
    where = compiled(group)
    row = db.session.execute(
        text(_REFRESH.format(where=where.where)),
        {**where.params, "segment": segment.id, "now": now},
    ).one()
    duration = int((time.perf_counter() - started) * 1000)
    # A core UPDATE: the audit log records what people change, not every refresh's count.
    db.session.execute(
        update(Segment)
        .where(Segment.id == segment.id, Segment.organization_id == segment.organization_id)
        .values(customer_count=row.customer_count, last_refreshed_at=now, last_refresh_ms=duration)
    )
    db.session.add(
        SegmentRefresh(
            organization_id=segment.organization_id,
            segment_id=segment.id,
            refreshed_at=now,
            customer_count=row.customer_count,
            entered=row.entered,
            left=row.left_count,
            duration_ms=duration,
        )
    )
    db.session.flush()
    db.session.refresh(segment)
    return RefreshResult(row.customer_count, row.entered, row.left_count, duration)


def sweep(*, now: datetime | None = None) -> int:
    """Enqueue a refresh of every dynamic segment that is due (or whose requested refresh was
    lost); returns how many. Two schedulers at once only refresh a segment twice."""
    now = now or datetime.now(UTC)
    due = db.session.execute(
        text("SELECT organization_id, id FROM segments_to_refresh(:now, :stale)"),
        {"now": now, "stale": now - STALE_REQUEST},
    ).all()
    db.session.commit()
    for organization_id, segment_id in due:
        with tenant_scope(organization_id):
            jobs.enqueue(jobs.REFRESH_SEGMENT, organization_id, segment_id)
    return len(due)
