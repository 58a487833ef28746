"""Members of the loyalty program: joining, tiers (upgraded at once, lowered only at the yearly
review), points given by hand or for a referral or a survey, and plain redemptions by staff."""

import datetime as dt
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select

from crm_web.catalog.models import Order
from crm_web.catalog.orders import PURCHASED
from crm_web.catalog.products import parse_count
from crm_web.customers.services import get_customer
from crm_web.customers.validation import FieldError
from crm_web.db import atomic, current_organization_id, current_tenant, flush_unique
from crm_web.errors import Conflict, NotFound, check_fields, invalid
from crm_web.extensions import db
from crm_web.loyalty import ledger, programs
from crm_web.loyalty.models import (
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTier,
    Redemption,
    TierChange,
)
from crm_web.pagination import Page, keyset_page
from crm_web.sequences import allocate, document_number

AWARDS = ("referral", "survey")
MAX_NOTE = 2000
YEAR = dt.timedelta(days=365)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _program_or_refuse() -> LoyaltyProgram:
    program = programs.active_program()
    if program is None:
        raise Conflict(_("There is no active loyalty program; set one up first."))
    return program


def member_of(customer_id: int) -> LoyaltyMember | None:
    """The customer's membership of the active program, or None."""
    program = programs.active_program()
    if program is None:
        return None
    return db.session.scalar(
        select(LoyaltyMember).where(
            LoyaltyMember.organization_id == current_organization_id(),
            LoyaltyMember.program_id == program.id,
            LoyaltyMember.customer_id == customer_id,
        )
    )


def member_for_update(customer_id: int) -> LoyaltyMember:
    """The customer's membership, locked (ledger.lock_member), or NotFound."""
    member = member_of(customer_id)
    if member is None or not member.is_active:
        raise NotFound(_("This customer is not a member of the loyalty program."))
    return ledger.lock_member(member.id)


def get_member(member_id: int) -> LoyaltyMember:
    member = db.session.scalar(
        select(LoyaltyMember).where(
            LoyaltyMember.id == member_id,
            LoyaltyMember.organization_id == current_organization_id(),
        )
    )
    if member is None:
        raise NotFound(_("No such member."))
    return member


def search_members(q: str = "", *, cursor: str | None = None, limit: int = 50) -> Page:
    """The active program's members, newest first; `q` a membership number or customer code."""
    program = programs.active_program()
    stmt = select(LoyaltyMember).where(
        LoyaltyMember.organization_id == current_organization_id(),
        LoyaltyMember.program_id == (program.id if program else None),
    )
    q = (q or "").strip().upper()
    if q:
        stmt = stmt.where(
            (LoyaltyMember.membership_number == q) | LoyaltyMember.customer.has(customer_code=q)
        )
    return keyset_page(stmt, (LoyaltyMember.id,), cursor=cursor, limit=min(max(limit, 1), 200))


# Tiers


def qualifying_value(member: LoyaltyMember, now: dt.datetime) -> Decimal:
    """What the member's tier is judged on: lifetime points, or what they spent in the last 12
    months (orders after refunds)."""
    if member.program.tier_basis == "points":
        db.session.refresh(member, ["lifetime_points"])
        return Decimal(member.lifetime_points)
    spent = db.session.scalar(
        select(func.coalesce(func.sum(Order.total - Order.refunded_total), 0)).where(
            Order.organization_id == member.organization_id,
            Order.customer_id == member.customer_id,
            Order.status.in_(PURCHASED),
            Order.ordered_at > now - YEAR,
        )
    )
    return Decimal(spent)


def _set_tier(member: LoyaltyMember, tier: LoyaltyTier | None, reason: str, now: dt.datetime):
    db.session.add(
        TierChange(
            organization_id=member.organization_id,
            member_id=member.id,
            from_tier_id=member.tier_id,
            to_tier_id=tier.id if tier else None,
            reason=reason,
            changed_at=now,
        )
    )
    member.tier_id = tier.id if tier else None
    member.tier = tier
    member.tier_since = now


def _rank(tier: LoyaltyTier | None) -> Decimal:
    return Decimal("-1") if tier is None else tier.threshold


def upgrade_if_reached(member: LoyaltyMember, now: dt.datetime) -> bool:
    """Move the member up at once when they reach a higher tier (never down: that waits for the
    yearly review); True if they moved."""
    reached = programs.tier_reached(member.program, qualifying_value(member, now))
    if _rank(reached) <= _rank(member.tier):
        return False
    _set_tier(member, reached, "upgrade", now)
    db.session.flush()
    return True


def review_tier(member: LoyaltyMember, now: dt.datetime) -> bool:
    """The yearly review: the member's tier becomes the one they qualify for now, higher or
    lower, and the next review is a year on; True if the tier changed."""
    reached = programs.tier_reached(member.program, qualifying_value(member, now))
    changed = (reached.id if reached else None) != member.tier_id
    if changed:
        _set_tier(member, reached, "review", now)
    today = now.date()
    while member.tier_review_on <= today:
        member.tier_review_on += YEAR
    db.session.flush()
    return changed


@atomic
def review_due_tiers(now: dt.datetime | None = None) -> int:
    """Review every member whose review day has come (the scheduler's daily job); how many
    changed tier."""
    now = now or now_utc()
    due = db.session.scalars(
        select(LoyaltyMember.id)
        .where(
            LoyaltyMember.organization_id == current_organization_id(),
            LoyaltyMember.is_active,
            LoyaltyMember.tier_review_on <= now.date(),
        )
        .order_by(LoyaltyMember.id)
    ).all()
    return sum(review_tier(ledger.lock_member(member_id), now) for member_id in due)


# Joining


def membership_number(number: int) -> str:
    return document_number("LOY", number)


@atomic
def enrol(customer_id: int, *, now: dt.datetime | None = None) -> LoyaltyMember:
    """The customer joins the active program: a membership number, the tier they qualify for,
    and their first review a year on."""
    now = now or now_utc()
    customer = get_customer(customer_id)
    program = _program_or_refuse()
    member = LoyaltyMember(
        organization_id=customer.organization_id,
        program_id=program.id,
        customer_id=customer.id,
        membership_number=membership_number(allocate(customer.organization_id, "loyalty_member")),
        joined_at=now,
        is_active=True,
        tier_review_on=(now + YEAR).date(),
        points_balance=0,
        lifetime_points=0,
    )
    db.session.add(member)
    flush_unique(
        {
            "uq_loyalty_members_program_customer": (
                "customer_id",
                _("This customer is a member already."),
            )
        }
    )
    reached = programs.tier_reached(program, qualifying_value(member, now))
    _set_tier(member, reached, "join", now)
    db.session.flush()
    return member


# Points by hand


def _note(note) -> str:
    """A note as typed, or FieldError."""
    if not isinstance(note, str | type(None)):
        raise FieldError(_("Send text."))
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise FieldError(_("Keep this under %(n)s characters.", n=MAX_NOTE))
    return note


@atomic
def award(
    customer_id: int, reason: str, reference: str, *, now: dt.datetime | None = None
) -> int | None:
    """The program's points for a referral (`reference`: the referred customer) or a survey
    response (`reference`: the response), once per reference; the entry id, or None if given
    before."""
    now = now or now_utc()
    if reason not in AWARDS:
        raise invalid({"reason": _("Choose a referral or a survey response.")})
    reference = str(reference or "").strip()[:60]
    if not reference:
        raise invalid({"reference": _("Say which referral or response this is for.")})
    member = member_for_update(customer_id)
    points = getattr(member.program, f"{reason}_points")
    if not points:
        raise Conflict(_("The program gives no points for this."))
    entry_id = ledger.credit(
        member,
        "earn",
        points,
        now=now,
        expiry_days=member.program.point_expiry_days,
        source_key=f"{reason}:{reference}",
        note=_("Referral") if reason == "referral" else _("Survey response"),
        details={"rule": reason, "reference": reference},
    )
    upgrade_if_reached(member, now)
    return entry_id


@atomic
def adjust_points(
    customer_id: int, points, note: str, *, now: dt.datetime | None = None
) -> int | None:
    """Add (a goodwill gesture, a correction) or take away points by hand, with the reason."""
    now = now or now_utc()
    errors = {}
    try:
        amount = parse_count(points, low=-programs.MAX_POINTS, high=programs.MAX_POINTS)
        if amount == 0:
            raise FieldError(_("Give a number of points other than 0."))
    except FieldError as exc:
        errors["points"] = str(exc)
    try:
        note = _note(note)
        if not note:
            raise FieldError(_("Say why the points change."))
    except FieldError as exc:
        errors["note"] = str(exc)
    check_fields(errors)
    member = member_for_update(customer_id)
    if amount > 0:
        entry_id = ledger.credit(
            member,
            "adjust",
            amount,
            now=now,
            expiry_days=member.program.point_expiry_days,
            note=note,
        )
        upgrade_if_reached(member, now)
        return entry_id
    entry_id, _taken = ledger.debit(member, "adjust", -amount, now=now, note=note)
    return entry_id


@atomic
def redeem_points(
    customer_id: int, points, note: str = "", *, now: dt.datetime | None = None
) -> Redemption:
    """Spend points without a reward of the catalog (paying part of a bill, say)."""
    now = now or now_utc()
    errors = {}
    try:
        amount = parse_count(points, low=1, high=programs.MAX_POINTS)
    except FieldError as exc:
        errors["points"] = str(exc)
    try:
        note = _note(note)
    except FieldError as exc:
        errors["note"] = str(exc)
    check_fields(errors)
    member = member_for_update(customer_id)
    entry_id, _taken = ledger.debit(member, "redeem", amount, now=now, note=note)
    redemption = Redemption(
        organization_id=member.organization_id,
        member_id=member.id,
        entry_id=entry_id,
        points=amount,
        note=note,
        created_by_id=current_tenant().user_id,
    )
    db.session.add(redemption)
    db.session.flush()
    return redemption
