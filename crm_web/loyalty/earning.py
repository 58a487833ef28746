"""An order's points: earned once it is paid, taken back as it is refunded (returns, a
cancellation after payment), settled by one job that may run any number of times.

The earn entry's key is order:<id>:earn, so a retried job or a re-sent nudge earns nothing
twice. What a refund takes back is the earned points' share of the refund (rounded down), less
what was taken back before; each take-back's key names the refunded total it answers, so it
too is written once. A take-back never takes the balance below zero: when the member has
spent the points already, it takes what is left and says how much it could not.

Points for an order (the program's rules, at the moment it is settled):
    base   = sum of (line before tax x its category's multiplier), less the coupon's share
    points = floor(base x points per unit x tier multiplier x birthday multiplier
                   [in the customer's birthday month]) + first-order bonus [first paid order]
"""

import datetime as dt
import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from crm_web.accounts.models import Organization
from crm_web.catalog.models import Order
from crm_web.db import atomic, current_organization_id
from crm_web.extensions import db
from crm_web.loyalty import ledger, members, programs
from crm_web.loyalty.models import LedgerEntry, LoyaltyMember, LoyaltyProgram


@dataclass(frozen=True)
class Earning:
    points: int
    details: dict


@dataclass(frozen=True)
class Settlement:
    """What settling an order did (for tests and the job's log)."""

    earned: int = 0
    reversed: int = 0
    short: int = 0


def _zone(organization_id: int) -> ZoneInfo:
    try:
        return ZoneInfo(db.session.get(Organization, organization_id).timezone or "UTC")
    except ZoneInfoNotFoundError:
        return ZoneInfo("UTC")


def _first_paid_order(order: Order) -> bool:
    earlier = db.session.scalar(
        select(func.count()).where(
            Order.organization_id == order.organization_id,
            Order.customer_id == order.customer_id,
            Order.paid_at.is_not(None),
            Order.status != "cancelled",
            (Order.paid_at < order.paid_at)
            | ((Order.paid_at == order.paid_at) & (Order.id < order.id)),
        )
    )
    return earlier == 0


def points_for(order: Order, program: LoyaltyProgram, member: LoyaltyMember) -> Earning:
    """The points `order` earns `member` under `program` (formula in the module docstring)."""
    by_category = programs.multipliers(program)
    base = sum(
        (line.net_amount * by_category.get(line.category_id, Decimal("1")) for line in order.lines),
        Decimal("0"),
    )
    gross = order.subtotal + order.tax_total
    if order.discount_total and gross:
        base = base * (gross - order.discount_total) / gross
    tier_multiplier = member.tier.points_multiplier if member.tier else Decimal("1")
    birth_date = order.customer.birth_date
    ordered_month = order.ordered_at.astimezone(_zone(order.organization_id)).month
    birthday = birth_date is not None and birth_date.month == ordered_month
    birthday_multiplier = program.birthday_multiplier if birthday else Decimal("1")
    raw = base * program.points_per_unit * tier_multiplier * birthday_multiplier
    points = int(raw.to_integral_value(ROUND_FLOOR))
    bonus = program.first_order_bonus if _first_paid_order(order) else 0
    details = {
        "rule": "order",
        "base": str(base.quantize(Decimal("0.01"))),
        "points_per_unit": str(program.points_per_unit),
        "tier_multiplier": str(tier_multiplier),
        "birthday": birthday,
        "first_order_bonus": bonus,
    }
    return Earning(points + bonus, details)


def _earned(order: Order) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
            LedgerEntry.organization_id == order.organization_id,
            LedgerEntry.source_key == f"order:{order.id}:earn",
        )
    )


def _taken_back(order: Order) -> int:
    return -db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
            LedgerEntry.organization_id == order.organization_id,
            LedgerEntry.order_id == order.id,
            LedgerEntry.kind == "reverse",
        )
    )


@atomic(retry=True)
def settle_order(order_id: int, *, now: dt.datetime | None = None) -> Settlement:
    """Bring the order's points in line with it: earned once paid (if the customer was a
    member then), taken back in proportion to what was refunded. Idempotent."""
    now = now or dt.datetime.now(dt.UTC)
    order = db.session.scalar(
        select(Order)
        .where(Order.id == order_id, Order.organization_id == current_organization_id())
        .options(selectinload(Order.lines))
    )
    if order is None or order.paid_at is None:
        return Settlement()
    member = members.member_of(order.customer_id)
    if member is None or not member.is_active or order.paid_at < member.joined_at:
        return Settlement()
    member = ledger.lock_member(member.id)
    program = member.program
    earned_now = 0
    if order.status != "cancelled" and not _earned(order):
        earning = points_for(order, program, member)
        if earning.points > 0 and ledger.credit(
            member,
            "earn",
            earning.points,
            now=now,
            expiry_days=program.point_expiry_days,
            source_key=f"order:{order.id}:earn",
            order_id=order.id,
            note=order.order_number,
            details=earning.details,
        ):
            earned_now = earning.points
            members.upgrade_if_reached(member, now)
    earned = _earned(order)
    if not earned or not order.refunded_total or not order.total:
        return Settlement(earned=earned_now)
    share = Decimal(earned) * order.refunded_total / order.total
    due = min(earned, math.floor(share)) - _taken_back(order)
    if due <= 0:
        return Settlement(earned=earned_now)
    _entry, taken = ledger.debit(
        member,
        "reverse",
        due,
        now=now,
        source_key=f"order:{order.id}:reverse:{order.refunded_total}",
        order_id=order.id,
        note=order.order_number,
        details={"rule": "refund", "refunded_total": str(order.refunded_total), "due": due},
        up_to=True,
    )
    return Settlement(earned=earned_now, reversed=taken, short=due - taken)


def orders_to_settle(since: dt.datetime) -> list[int]:
    """Orders of members changed since `since`: what the daily job settles again, in case a
    nudge was lost (settling is idempotent)."""
    return list(
        db.session.scalars(
            select(Order.id)
            .join(LoyaltyMember, LoyaltyMember.customer_id == Order.customer_id)
            .where(
                Order.organization_id == current_organization_id(),
                LoyaltyMember.organization_id == current_organization_id(),
                Order.paid_at.is_not(None),
                Order.updated_at >= since,
            )
            .order_by(Order.id)
        )
    )
