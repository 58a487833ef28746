"""The rewards catalog (products, services, discount coupons, experiences) and redeeming them.

A redemption is one transaction: the member's row lock (so their points are spent one
redemption at a time), the reward's stock taken with a conditional update (so the last one
goes once), the points taken from the oldest lots, a product reward's unit taken from the
product's stock (the stock guard, crm_web.catalog.stock) and a coupon reward's coupon issued.
"""

import datetime as dt
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from crm_web.catalog import stock
from crm_web.catalog.models import Product
from crm_web.catalog.products import parse_count, parse_decimal
from crm_web.customers.validation import FieldError
from crm_web.db import atomic, current_organization_id, current_tenant
from crm_web.errors import Conflict, NotFound, check_fields
from crm_web.extensions import db
from crm_web.loyalty import coupons, ledger, members, programs
from crm_web.loyalty.models import COUPON_TYPES, REWARD_KINDS, Coupon, Redemption, Reward

KIND_LABELS = {
    "product": _l("Product"),
    "service": _l("Service"),
    "coupon": _l("Discount coupon"),
    "experience": _l("Experience"),
}
CENT_UP = Decimal("0.01")
REWARD_FIELDS = (
    "name",
    "kind",
    "description",
    "points_cost",
    "stock",
    "sku",
    "coupon_type",
    "coupon_value",
    "coupon_valid_days",
    "min_tier_id",
)


def list_rewards(*, active_only: bool = True) -> list[Reward]:
    """The active program's rewards, cheapest first."""
    program = programs.active_program()
    if program is None:
        return []
    stmt = select(Reward).where(
        Reward.organization_id == current_organization_id(), Reward.program_id == program.id
    )
    if active_only:
        stmt = stmt.where(Reward.is_active)
    return list(db.session.scalars(stmt.order_by(Reward.points_cost, Reward.id)))


def get_reward(reward_id: int) -> Reward:
    reward = db.session.scalar(
        select(Reward).where(
            Reward.id == reward_id, Reward.organization_id == current_organization_id()
        )
    )
    if reward is None:
        raise NotFound(_("No such reward."))
    return reward


def _text(value, limit: int, required: bool) -> str:
    if not isinstance(value, str | type(None)):
        raise FieldError(_("Send text."))
    value = (value or "").strip()
    if required and not value:
        raise FieldError(_("This field is required."))
    if len(value) > limit:
        raise FieldError(_("Keep this under %(n)s characters.", n=limit))
    return value


def _clean_reward(values: dict, program) -> dict:
    cleaned, errors = {}, {}
    checks = {
        "name": lambda v: _text(v, 200, True),
        "description": lambda v: _text(v, 10_000, False),
        "points_cost": lambda v: parse_count(v, low=1, high=programs.MAX_POINTS),
        "stock": lambda v: None if v in (None, "") else parse_count(v),
    }
    for name, check in checks.items():
        try:
            cleaned[name] = check(values.get(name))
        except FieldError as exc:
            errors[name] = str(exc)
    kind = values.get("kind")
    if kind not in REWARD_KINDS:
        errors["kind"] = _("Choose a product, a service, a coupon or an experience.")
    cleaned["kind"] = kind
    cleaned["product_id"] = None
    if kind == "product":
        sku = values.get("sku")
        product = None
        if isinstance(sku, str) and sku.strip():
            product = db.session.scalar(
                select(Product).where(
                    Product.organization_id == program.organization_id,
                    func.lower(Product.sku) == sku.strip().lower(),
                )
            )
        if product is None:
            errors["sku"] = _("Give the SKU of the product given as the reward.")
        else:
            cleaned["product_id"] = product.id
    cleaned.update(coupon_type="", coupon_value=None, coupon_valid_days=None)
    if kind == "coupon":
        if values.get("coupon_type") not in COUPON_TYPES:
            errors["coupon_type"] = _("Choose a percentage or an amount off.")
        cleaned["coupon_type"] = values.get("coupon_type")
        high = Decimal("100") if values.get("coupon_type") == "percent" else Decimal("9999999999")
        try:
            cleaned["coupon_value"] = parse_decimal(
                values.get("coupon_value"), low=CENT_UP, high=high
            )
        except FieldError as exc:
            errors["coupon_value"] = str(exc)
        try:
            cleaned["coupon_valid_days"] = parse_count(
                values.get("coupon_valid_days") or "", low=1, high=3650
            )
        except FieldError as exc:
            errors["coupon_valid_days"] = str(exc)
    tier_id = values.get("min_tier_id")
    cleaned["min_tier_id"] = None
    if tier_id not in (None, ""):
        known = {tier.id for tier in programs.tiers(program)}
        tier_id = int(tier_id) if str(tier_id).isdigit() else None
        if tier_id not in known:
            errors["min_tier_id"] = _("Choose one of the program's tiers.")
        cleaned["min_tier_id"] = tier_id
    check_fields(errors)
    return cleaned


@atomic
def create_reward(values: dict) -> Reward:
    """A reward of the active program's catalog."""
    program = programs.active_program()
    if program is None:
        raise Conflict(_("There is no active loyalty program; set one up first."))
    reward = Reward(
        organization_id=program.organization_id,
        program_id=program.id,
        is_active=True,
        **_clean_reward(values, program),
    )
    db.session.add(reward)
    db.session.flush()
    return reward


@atomic
def set_reward_active(reward_id: int, active: bool) -> Reward:
    reward = get_reward(reward_id)
    reward.is_active = active
    db.session.flush()
    return reward


def _take_reward_stock(reward: Reward) -> None:
    """One unit of a reward with limited stock, or Conflict when none is left."""
    if reward.stock is None:
        return
    taken = db.session.execute(
        update(Reward)
        .where(Reward.id == reward.id, Reward.stock > 0)
        .values(stock=Reward.stock - 1)
        .returning(Reward.stock)
    ).scalar_one_or_none()
    if taken is None:
        raise Conflict(_("%(name)s is out of stock.", name=reward.name))
    db.session.refresh(reward, ["stock"])


@atomic
def redeem_reward(
    customer_id: int, reward_id, *, now: dt.datetime | None = None
) -> tuple[Redemption, Coupon | None]:
    """The member spends the reward's points on it (see the module docstring); a coupon
    reward's coupon comes with the redemption."""
    now = now or dt.datetime.now(dt.UTC)
    member = members.member_for_update(customer_id)
    reward = get_reward(reward_id) if isinstance(reward_id, int) else None
    if reward is None or reward.program_id != member.program_id or not reward.is_active:
        raise NotFound(_("No such reward in the program's catalog."))
    if reward.min_tier is not None and (
        member.tier is None or member.tier.threshold < reward.min_tier.threshold
    ):
        raise Conflict(
            _(
                "%(name)s is for %(tier)s members and up.",
                name=reward.name,
                tier=reward.min_tier.name,
            )
        )
    _take_reward_stock(reward)
    entry_id, _taken = ledger.debit(
        member,
        "redeem",
        reward.points_cost,
        now=now,
        note=reward.name,
        details={"reward_id": reward.id},
    )
    redemption = Redemption(
        organization_id=member.organization_id,
        member_id=member.id,
        reward_id=reward.id,
        entry_id=entry_id,
        points=reward.points_cost,
        note=reward.name,
        created_by_id=current_tenant().user_id,
    )
    db.session.add(redemption)
    db.session.flush()
    if reward.kind == "product":
        product = db.session.get(Product, reward.product_id)
        stock.move(
            product,
            "reward",
            -1,
            _("Loyalty reward for %(number)s", number=member.membership_number),
            field="reward_id",
        )
    coupon = None
    if reward.kind == "coupon":
        coupon = coupons.issue(
            member,
            discount_type=reward.coupon_type,
            discount_value=reward.coupon_value,
            valid_days=reward.coupon_valid_days,
            redemption_id=redemption.id,
            now=now,
        )
    return redemption, coupon


def redemptions_of(member_id: int, limit: int = 10) -> list[Redemption]:
    return list(
        db.session.scalars(
            select(Redemption)
            .where(
                Redemption.organization_id == current_organization_id(),
                Redemption.member_id == member_id,
            )
            .order_by(Redemption.id.desc())
            .limit(limit)
        )
    )
