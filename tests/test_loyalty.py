"""Loyalty: joining, earning once per paid order, reversal on return, the FIFO ledger and
expiry with a frozen clock, tiers (up at once, down only at review), rewards and coupons."""

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from crm_web.catalog import fulfilment, orders, products
from crm_web.db import set_tenant
from crm_web.errors import Conflict, NotFound, ValidationError
from crm_web.extensions import db
from crm_web.loyalty import coupons, earning, ledger, members, programs, rewards
from crm_web.loyalty.models import LedgerEntry
from tests import factories
from tests.loyalty_fixtures import make_shop

T0 = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def shop(make_org):
    return make_shop(make_org)


def _ledger(member_id: int) -> list[tuple[str, int]]:
    return [(e.kind, e.points) for e in reversed(ledger.entries(member_id, limit=200).items)]


def _balance(member) -> int:
    db.session.refresh(member, ["points_balance", "lifetime_points"])
    return member.points_balance


def _buy(shop, quantity: int = 1, **fields):
    return orders.place_order(
        customer_id=shop.customer.id,
        lines=[{"sku": shop.product.sku, "quantity": quantity}],
        status="paid",
        **fields,
    )


def test_a_customer_joins_with_a_number_and_the_first_tier(shop):
    member = members.enrol(shop.customer.id, now=T0)
    assert member.membership_number == "LOY-000001"
    assert member.tier.name == "Bronze"
    assert member.tier_review_on == dt.date(2027, 1, 10)
    with pytest.raises(ValidationError, match="correct"):
        members.enrol(shop.customer.id)


def test_a_paid_order_earns_once_however_often_it_is_settled(shop):
    member = members.enrol(shop.customer.id, now=T0)
    order = _buy(shop, 3)  # 300.00 before tax
    first = earning.settle_order(order.id)
    again = earning.settle_order(order.id)
    assert (first.earned, again.earned) == (300, 0)
    assert _ledger(member.id) == [("earn", 300)]
    assert _balance(member) == 300 and member.lifetime_points == 300


def test_a_pending_order_earns_nothing_until_it_is_paid(shop):
    members.enrol(shop.customer.id, now=T0)
    order = orders.place_order(customer_id=shop.customer.id, lines=[{"sku": shop.product.sku}])
    assert earning.settle_order(order.id).earned == 0
    fulfilment.change_status(order.id, "paid", payment_method="cash")
    assert earning.settle_order(order.id).earned == 100


def test_earn_rules_category_tier_birthday_and_first_order(shop):
    mugs = products.create_category("Mugs")
    programs.set_category_multiplier(shop.program.id, str(mugs.id), "3")
    programs.update_program(shop.program.id, {"first_order_bonus": "50"})
    products.update_product(shop.product.id, {"category_id": mugs.id})
    shop.customer.birth_date = dt.date(1990, dt.datetime.now(dt.UTC).month, 1)
    db.session.flush()
    member = members.enrol(shop.customer.id)
    first = _buy(shop)
    # 100 x 3 (category) x 1 (Bronze) x 2 (birthday month) + 50 (first order)
    assert earning.settle_order(first.id).earned == 650
    second = _buy(shop)
    # Silver now (650 lifetime points, upgraded at once): 100 x 3 x 1.5 x 2
    assert member.tier.name == "Silver"
    assert earning.settle_order(second.id).earned == 900


def test_a_return_takes_back_its_share_and_a_cancellation_the_rest(shop):
    member = members.enrol(shop.customer.id, now=T0)
    order = _buy(shop, 4)
    earning.settle_order(order.id)
    fulfilment.return_items(order.id, {order.lines[0].id: 1})
    assert earning.settle_order(order.id).reversed == 100
    assert earning.settle_order(order.id).reversed == 0  # settled again: nothing more
    assert _balance(member) == 300
    other = _buy(shop, 2)
    earning.settle_order(other.id)
    fulfilment.change_status(other.id, "cancelled")
    earning.settle_order(other.id)
    assert _ledger(member.id) == [
        ("earn", 400),
        ("reverse", -100),
        ("earn", 200),
        ("reverse", -200),
    ]


def test_a_reversal_never_takes_the_balance_below_zero(shop):
    member = members.enrol(shop.customer.id, now=T0)
    order = _buy(shop, 2)
    earning.settle_order(order.id)
    members.redeem_points(shop.customer.id, 150, "Paid part of a bill")
    fulfilment.change_status(order.id, "returned")
    result = earning.settle_order(order.id)
    assert (result.reversed, result.short) == (50, 150)
    assert _balance(member) == 0


def test_redemption_takes_the_oldest_points_first_and_expiry_takes_what_is_left(shop):
    member = members.enrol(shop.customer.id, now=T0)
    members.adjust_points(shop.customer.id, 100, "Welcome gift", now=T0)
    members.adjust_points(shop.customer.id, 50, "Goodwill", now=T0 + dt.timedelta(days=100))
    members.redeem_points(shop.customer.id, 120, now=T0 + dt.timedelta(days=200))
    redeem = ledger.entries(member.id).items[0]
    assert redeem.details["lots"] == [
        [e.id, n] for e, n in zip(_lots(member.id), (100, 20), strict=True)
    ]
    # Day 365 + 1: the first lot expired (empty already), the second has 30 left until day 465.
    assert ledger.available(member.id, T0 + dt.timedelta(days=366)) == 30
    assert ledger.expire_points(T0 + dt.timedelta(days=366)) == 0
    assert ledger.expire_points(T0 + dt.timedelta(days=466)) == 1
    assert ledger.expire_points(T0 + dt.timedelta(days=466)) == 0  # run twice: once
    assert _ledger(member.id) == [
        ("adjust", 100),
        ("adjust", 50),
        ("redeem", -120),
        ("expire", -30),
    ]
    assert _balance(member) == 0 and member.lifetime_points == 150


def _lots(member_id: int) -> list[LedgerEntry]:
    return list(
        db.session.scalars(
            db.select(LedgerEntry)
            .where(LedgerEntry.member_id == member_id, LedgerEntry.points > 0)
            .order_by(LedgerEntry.id)
        )
    )


def test_points_past_their_date_cannot_be_spent_before_the_job_runs(shop):
    members.enrol(shop.customer.id, now=T0)
    members.adjust_points(shop.customer.id, 100, "Gift", now=T0)
    with pytest.raises(ledger.NotEnoughPoints, match="0 available"):
        members.redeem_points(shop.customer.id, 10, now=T0 + dt.timedelta(days=400))


def test_the_ledger_is_append_only_for_the_app(shop):
    member = members.enrol(shop.customer.id, now=T0)
    members.adjust_points(shop.customer.id, 10, "Gift")
    for statement in ("UPDATE loyalty_ledger SET points = 1000", "DELETE FROM loyalty_ledger"):
        with pytest.raises(ProgrammingError, match="permission denied"):
            with db.session.begin_nested():
                db.session.execute(text(statement))
    assert _ledger(member.id) == [("adjust", 10)]


def test_a_tier_goes_up_at_once_and_down_only_at_the_yearly_review(make_org):
    shop = make_shop(make_org, tier_basis="spend")
    member = members.enrol(shop.customer.id, now=T0)
    # 600.00 spent (with tax): Silver at once.
    order = orders.place_order(
        customer_id=shop.customer.id,
        lines=[{"sku": shop.product.sku, "quantity": 5}],
        status="paid",
        ordered_at=T0.isoformat(),
    )
    earning.settle_order(order.id, now=T0)
    assert member.tier.name == "Silver"
    # Eleven months on the spend is still within the year; at thirteen it has gone, but the
    # tier stays until the review day.
    members.review_due_tiers(T0 + dt.timedelta(days=330))
    assert member.tier.name == "Silver"
    later = T0 + dt.timedelta(days=364)
    assert members.qualifying_value(member, T0 + dt.timedelta(days=390)) == 0
    members.upgrade_if_reached(member, T0 + dt.timedelta(days=390))
    assert member.tier.name == "Silver"
    assert members.review_due_tiers(later + dt.timedelta(days=26)) == 1
    assert member.tier.name == "Bronze"
    assert member.tier_review_on == dt.date(2028, 1, 10)


def test_a_coupon_reward_gives_a_single_use_coupon_for_an_order(shop):
    member = members.enrol(shop.customer.id, now=T0)
    members.adjust_points(shop.customer.id, 300, "Gift")
    reward = rewards.create_reward(
        {
            "name": "10 % off",
            "kind": "coupon",
            "points_cost": "250",
            "coupon_type": "percent",
            "coupon_value": "10",
            "coupon_valid_days": "30",
            "stock": "1",
        }
    )
    redemption, coupon = rewards.redeem_reward(shop.customer.id, reward.id)
    assert redemption.points == 250 and _balance(member) == 50
    with pytest.raises(Conflict, match="out of stock"):
        rewards.redeem_reward(shop.customer.id, reward.id)
    order = _buy(shop, 1, coupon_code=coupon.code.lower())
    # 100 + 20 % tax = 120.00, less 10 %
    assert (order.discount_total, order.total) == (Decimal("12.00"), Decimal("108.00"))
    with pytest.raises(ValidationError) as used:
        _buy(shop, 1, coupon_code=coupon.code)
    assert used.value.fields == {"coupon_code": "This coupon was used already."}
    assert earning.settle_order(order.id).earned == 90  # the coupon's share earns nothing


def test_a_failed_order_leaves_its_coupon_unused(shop):
    member = members.enrol(shop.customer.id)
    coupon = coupons.issue(
        member,
        discount_type="amount",
        discount_value=Decimal("5"),
        valid_days=10,
        redemption_id=None,
        now=dt.datetime.now(dt.UTC),
    )
    db.session.commit()
    with pytest.raises(ValidationError):
        _buy(shop, 5000, coupon_code=coupon.code)
    db.session.refresh(coupon)
    assert coupon.used_at is None


def test_tier_only_and_product_rewards(shop):
    members.enrol(shop.customer.id)
    members.adjust_points(shop.customer.id, 1000, "Gift")
    gold = next(t for t in programs.tiers(shop.program) if t.name == "Gold")
    lounge = rewards.create_reward(
        {"name": "Lounge", "kind": "experience", "points_cost": "100", "min_tier_id": str(gold.id)}
    )
    with pytest.raises(Conflict, match="for Gold members and up"):
        rewards.redeem_reward(shop.customer.id, lounge.id)
    mug = rewards.create_reward(
        {"name": "Free mug", "kind": "product", "points_cost": "100", "sku": "sku-100"}
    )
    rewards.redeem_reward(shop.customer.id, mug.id)
    db.session.expire_all()
    assert products.get_product(shop.product.id).stock_on_hand == 999
    with pytest.raises(ValidationError) as bad:
        rewards.create_reward({"name": "", "kind": "coupon", "points_cost": "0"})
    assert set(bad.value.fields) == {
        "name",
        "points_cost",
        "coupon_type",
        "coupon_value",
        "coupon_valid_days",
    }


def test_a_referral_earns_once_per_referred_customer(shop):
    programs.update_program(shop.program.id, {"referral_points": "75"})
    member = members.enrol(shop.customer.id)
    assert members.award(shop.customer.id, "referral", "CUS-000042") is not None
    assert members.award(shop.customer.id, "referral", "CUS-000042") is None
    assert _balance(member) == 75


def test_no_program_no_membership(make_org):
    organization, admin = make_org("No Program")

    customer = factories.customer(organization)
    set_tenant(organization.id, admin.id)
    with pytest.raises(Conflict, match="no active loyalty program"):
        members.enrol(customer.id)
    with pytest.raises(NotFound):
        members.redeem_points(customer.id, 1)


def test_the_periodic_run_expires_reviews_and_settles_what_a_lost_nudge_left(shop):
    from crm_web.loyalty import daily

    now = dt.datetime.now(dt.UTC)
    long_ago = now - dt.timedelta(days=400)
    member = members.enrol(shop.customer.id, now=long_ago)
    members.adjust_points(shop.customer.id, 40, "Gift", now=long_ago)
    order = _buy(shop, 2)  # paid, but its settling nudge was lost: nothing settled it
    assert daily.run(now) == {"expired": 1, "reviewed": 0, "settled": 1}
    assert _ledger(member.id) == [("adjust", 40), ("expire", -40), ("earn", 200)]
    assert ledger.entries(member.id).items[0].order_id == order.id
    assert member.tier_review_on > now.date()  # reviewed (still Bronze), next year's date set
    assert daily.run(now) == {"expired": 0, "reviewed": 0, "settled": 0}
    assert daily.schedule_everywhere() >= 1


def test_an_order_form_takes_a_coupon_code(client, shop, login_as):
    member = members.enrol(shop.customer.id)
    coupon = coupons.issue(
        member,
        discount_type="amount",
        discount_value=Decimal("20"),
        valid_days=10,
        redemption_id=None,
        now=dt.datetime.now(dt.UTC),
    )
    db.session.commit()
    login_as(shop.admin)
    data = {
        "customer": shop.customer.customer_code,
        "channel": "store",
        "status": "paid",
        "payment_method": "card",
        "lines-0-sku": shop.product.sku,
        "lines-0-quantity": "1",
        "coupon_code": "NOPE",
    }
    refused = client.post("/orders/new", data=data)
    assert refused.status_code == 422
    assert "This customer has no coupon with this code." in refused.get_data(as_text=True)
    data["coupon_code"] = coupon.code
    assert client.post("/orders/new", data=data).status_code == 303
    set_tenant(shop.organization.id)
    order = orders.search_orders(orders.OrderFilters(customer_id=shop.customer.id)).items[0]
    assert (order.discount_total, order.total, order.coupon_code) == (
        Decimal("20.00"),
        Decimal("100.00"),
        coupon.code,
    )
