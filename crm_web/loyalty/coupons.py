"""Discount coupons: issued when a member redeems a coupon reward, used once on one of their
orders (the order's service claims it in the order's transaction).

Single use: claiming locks the coupon's row, so of two orders placed with one code at once the
second waits, then finds it used. An order that fails (its stock, say) rolls its claim back.
"""

import datetime as dt
import secrets
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from crm_web.db import current_organization_id
from crm_web.errors import invalid
from crm_web.extensions import db
from crm_web.loyalty.models import Coupon, LoyaltyMember

CENT = Decimal("0.01")
# Letters and digits that cannot be mistaken for one another when read out or typed.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _position in range(CODE_LENGTH))


def issue(
    member: LoyaltyMember,
    *,
    discount_type: str,
    discount_value: Decimal,
    valid_days: int,
    redemption_id: int | None,
    now: dt.datetime,
) -> Coupon:
    """A new coupon of the member's with a unique code, valid for `valid_days` from `now`."""
    for _attempt in range(5):
        coupon = Coupon(
            organization_id=member.organization_id,
            code=new_code(),
            member_id=member.id,
            redemption_id=redemption_id,
            discount_type=discount_type,
            discount_value=discount_value,
            valid_from=now,
            valid_until=now + dt.timedelta(days=valid_days),
        )
        try:
            with db.session.begin_nested():
                db.session.add(coupon)
                db.session.flush()
            return coupon
        except IntegrityError:
            # 32^10 codes: a repeat is all but impossible; a fresh one is drawn.
            continue
    raise RuntimeError("could not draw a unique coupon code")


def coupons_of(member_id: int) -> list[Coupon]:
    """The member's coupons, newest first."""
    return list(
        db.session.scalars(
            select(Coupon)
            .where(
                Coupon.organization_id == current_organization_id(), Coupon.member_id == member_id
            )
            .order_by(Coupon.id.desc())
        )
    )


def discount(coupon: Coupon, gross: Decimal) -> Decimal:
    """What the coupon takes off an order of `gross` (lines with tax), never more than it."""
    if coupon.discount_type == "percent":
        off = gross * coupon.discount_value / 100
    else:
        off = coupon.discount_value
    return min(off, gross).quantize(CENT, ROUND_HALF_UP)


def claim(code: str, customer_id: int, gross: Decimal, now: dt.datetime) -> tuple[Coupon, Decimal]:
    """Lock the customer's coupon `code` for an order of `gross` and return it with its
    discount; a coupon that is unknown, another customer's, used or out of date is refused
    on the order's `coupon_code` field. The caller marks it used once the order exists."""
    code = (code or "").strip().upper()
    coupon = db.session.scalar(
        select(Coupon)
        .join(LoyaltyMember, LoyaltyMember.id == Coupon.member_id)
        .where(
            Coupon.organization_id == current_organization_id(),
            func.upper(Coupon.code) == code,
            LoyaltyMember.customer_id == customer_id,
        )
        .with_for_update(of=Coupon)
        .execution_options(populate_existing=True)
    )
    if coupon is None:
        raise invalid({"coupon_code": _("This customer has no coupon with this code.")})
    if coupon.used_at is not None:
        raise invalid({"coupon_code": _("This coupon was used already.")})
    if not coupon.valid_from <= now <= coupon.valid_until:
        raise invalid({"coupon_code": _("This coupon is not valid today.")})
    return coupon, discount(coupon, gross)


def mark_used(coupon: Coupon, order_id: int, now: dt.datetime) -> None:
    coupon.used_at = now
    coupon.order_id = order_id
    db.session.flush()
