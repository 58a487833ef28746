"""The points ledger: adding entries, taking points from the oldest lots first, expiry.

Every change of a member's points is an entry; the balance is their sum (kept on the member by
the ledger's trigger, under a CHECK that refuses a negative balance). A positive entry opens a
lot; a debit (redeem, expire, reverse, a negative adjustment) takes from the member's oldest
unexpired lots first and records which it took in its details.

Concurrency: every writer of a member's points holds the member's row lock (`lock_member`)
while it reads the lots and writes, so two redemptions of one member go one after the other
and the second sees what the first left. The expiry job locks its members in id order first,
as a redemption does one member, so the two never deadlock. An entry with a `source_key`
(order:42:earn) is written once: a job run twice adds nothing the second time.
"""

import datetime as dt

from flask_babel import gettext as _
from sqlalchemy import func, or_, select, text
from sqlalchemy.dialects.postgresql import insert

from crm_web.db import current_organization_id, current_tenant
from crm_web.errors import NotFound, ValidationError
from crm_web.extensions import db
from crm_web.loyalty.models import LedgerEntry, LoyaltyMember, PointLot
from crm_web.pagination import Page, keyset_page


class NotEnoughPoints(ValidationError):
    """A debit asked for more points than the member has unexpired."""


def lock_member(member_id: int) -> LoyaltyMember:
    """The member, with their row locked until the transaction ends (see the module docstring)."""
    member = db.session.scalar(
        select(LoyaltyMember)
        .where(
            LoyaltyMember.id == member_id,
            LoyaltyMember.organization_id == current_organization_id(),
        )
        .with_for_update(of=LoyaltyMember)
        .execution_options(populate_existing=True)
    )
    if member is None:
        raise NotFound(_("No such member."))
    return member


def _insert_entry(member: LoyaltyMember, kind: str, points: int, **values) -> int | None:
    """Insert one entry; its id, or None when its source_key was written before."""
    stmt = (
        insert(LedgerEntry)
        .values(
            organization_id=member.organization_id,
            member_id=member.id,
            kind=kind,
            points=points,
            created_by_id=current_tenant().user_id,
            note=values.pop("note", "") or "",
            details=values.pop("details", None) or {},
            **values,
        )
        .on_conflict_do_nothing(
            index_elements=["organization_id", "source_key"],
            index_where=text("source_key IS NOT NULL"),
        )
        .returning(LedgerEntry.id)
    )
    return db.session.execute(stmt).scalar_one_or_none()


def credit(
    member: LoyaltyMember,
    kind: str,
    points: int,
    *,
    now: dt.datetime,
    expiry_days: int,
    source_key: str | None = None,
    order_id: int | None = None,
    note: str = "",
    details: dict | None = None,
) -> int | None:
    """Add `points` (> 0) as a new lot that expires `expiry_days` after `now` (0: never); the
    entry's id, or None when `source_key` was written before."""
    expires_at = now + dt.timedelta(days=expiry_days) if expiry_days else None
    entry_id = _insert_entry(
        member,
        kind,
        points,
        expires_at=expires_at,
        source_key=source_key,
        order_id=order_id,
        note=note,
        details=details,
    )
    if entry_id is not None:
        db.session.add(
            PointLot(
                organization_id=member.organization_id,
                entry_id=entry_id,
                member_id=member.id,
                earned_at=now,
                expires_at=expires_at,
                remaining=points,
            )
        )
        db.session.flush()
    return entry_id


def _open_lots(member_id: int, now: dt.datetime, *, lock: bool) -> list[PointLot]:
    stmt = (
        select(PointLot)
        .where(
            PointLot.organization_id == current_organization_id(),
            PointLot.member_id == member_id,
            PointLot.remaining > 0,
            or_(PointLot.expires_at.is_(None), PointLot.expires_at > now),
        )
        .order_by(PointLot.earned_at, PointLot.entry_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update()
    return list(db.session.scalars(stmt))


def available(member_id: int, now: dt.datetime | None = None) -> int:
    """The member's points that can be spent: what is left of their unexpired lots."""
    now = now or dt.datetime.now(dt.UTC)
    return db.session.scalar(
        select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
            PointLot.organization_id == current_organization_id(),
            PointLot.member_id == member_id,
            PointLot.remaining > 0,
            or_(PointLot.expires_at.is_(None), PointLot.expires_at > now),
        )
    )


def expiring(
    member_id: int, now: dt.datetime, within: dt.timedelta
) -> tuple[int, dt.datetime | None]:
    """How many of the member's points expire within `within`, and when the first of them do."""
    row = db.session.execute(
        select(func.coalesce(func.sum(PointLot.remaining), 0), func.min(PointLot.expires_at)).where(
            PointLot.organization_id == current_organization_id(),
            PointLot.member_id == member_id,
            PointLot.remaining > 0,
            PointLot.expires_at > now,
            PointLot.expires_at <= now + within,
        )
    ).one()
    return row[0], row[1]


def debit(
    member: LoyaltyMember,
    kind: str,
    points: int,
    *,
    now: dt.datetime,
    source_key: str | None = None,
    order_id: int | None = None,
    note: str = "",
    details: dict | None = None,
    up_to: bool = False,
) -> tuple[int | None, int]:
    """Take `points` (> 0) from the member's oldest unexpired lots (the member must be locked).
    More than they have is NotEnoughPoints, or with `up_to` takes what there is. Returns the
    entry's id (None when nothing was taken or `source_key` was written before) and the points
    taken."""
    lots = _open_lots(member.id, now, lock=True)
    have = sum(lot.remaining for lot in lots)
    if points > have:
        if not up_to:
            message = _(
                "Not enough points: %(have)s available, %(asked)s asked.", have=have, asked=points
            )
            raise NotEnoughPoints(message, {"points": message})
        points = have
    if points <= 0:
        return None, 0
    taken, left = [], points
    for lot in lots:
        if not left:
            break
        part = min(lot.remaining, left)
        taken.append([lot.entry_id, part])
        left -= part
    entry_id = _insert_entry(
        member,
        kind,
        -points,
        source_key=source_key,
        order_id=order_id,
        note=note,
        details={**(details or {}), "lots": taken},
    )
    if entry_id is None:
        return None, 0
    by_lot = dict(taken)
    for lot in lots:
        if lot.entry_id in by_lot:
            lot.remaining -= by_lot[lot.entry_id]
    db.session.flush()
    return entry_id, points


def expire_points(now: dt.datetime | None = None) -> int:
    """Remove every lot of the organization past its date with points left, and write one
    expiry entry per member for them (set-based; the entry's details list its lots); returns
    how many entries. Run twice, the second finds nothing left: the lots go in the same
    statement, under the members' locks. (Deleting, not emptying: no index entries to add.)

    An expiry is the program's rule, not a person's act: its entries name nobody (and so the
    insert makes no per-row check of a user key). The members' balance updates are HOT (their
    pages keep room, migration 0034_expiry_room_sms_keywords), so a million lots take seconds.
    The lots' list is one array turned into JSON once per member (a JSON value per lot costs
    twice as much)."""
    now = now or dt.datetime.now(dt.UTC)
    params = {"org": current_organization_id(), "now": now}
    # The sorts of a million lots fit in memory (about 90 MB), instead of spilling to disk.
    db.session.execute(text("SET LOCAL work_mem = '256MB'"))
    # The members first, in id order: a redemption locks its member before the lots too.
    db.session.execute(
        text(
            """
            SELECT m.id FROM loyalty_members m
             WHERE m.organization_id = :org
               AND m.id IN (SELECT member_id FROM loyalty_lots
                             WHERE organization_id = :org AND remaining > 0
                               AND expires_at IS NOT NULL AND expires_at <= :now)
             ORDER BY m.id FOR UPDATE
            """
        ),
        params,
    )
    written = db.session.execute(
        text(
            """
            WITH expired AS (
                DELETE FROM loyalty_lots
                 WHERE organization_id = :org AND remaining > 0
                   AND expires_at IS NOT NULL AND expires_at <= :now
                RETURNING entry_id, member_id, remaining
            )
            INSERT INTO loyalty_ledger
                (organization_id, member_id, kind, points, note, details, created_by_id)
            SELECT :org, member_id, 'expire', -sum(remaining), '',
                   jsonb_build_object('lots', to_jsonb(
                       array_agg(ARRAY[entry_id, remaining] ORDER BY entry_id))),
                   NULL
              FROM expired
             GROUP BY member_id
             ORDER BY member_id
            """
        ),
        params,
    )
    return written.rowcount


def entries(member_id: int, *, cursor: str | None = None, limit: int = 25) -> Page:
    """The member's ledger, newest first."""
    stmt = select(LedgerEntry).where(
        LedgerEntry.organization_id == current_organization_id(),
        LedgerEntry.member_id == member_id,
    )
    return keyset_page(stmt, (LedgerEntry.id,), cursor=cursor, limit=min(max(limit, 1), 200))
