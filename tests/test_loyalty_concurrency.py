"""Loyalty under real concurrency: threads on connections of their own, committing; and the
settling job run twice by a real dramatiq worker."""

import pytest
from sqlalchemy import text

from crm_web.catalog import orders
from crm_web.db import clear_tenant, set_tenant
from crm_web.errors import ValidationError
from crm_web.extensions import db
from crm_web.loyalty import ledger, members, rewards
from tests.loyalty_fixtures import make_shop
from tests.test_orders_concurrency import _in_threads
from tests.worker_fixtures import queued, running_worker

pytestmark = pytest.mark.committed


@pytest.fixture
def shop(app, make_org, committed_context):
    made = make_shop(make_org)
    committed_context.append(made.organization.id)
    members.enrol(made.customer.id)
    clear_tenant()
    return made


def test_concurrent_redemptions_never_take_the_balance_below_zero(app, shop):
    set_tenant(shop.organization.id, shop.admin.id)
    members.adjust_points(shop.customer.id, 100, "Gift")
    clear_tenant()

    def spend(_index):
        return members.redeem_points(shop.customer.id, 30, "Bill").points

    results = _in_threads(app, shop.organization.id, shop.admin.id, 12, spend)
    spent = [r for r in results if r == 30]
    refused = [r for r in results if isinstance(r, ledger.NotEnoughPoints)]
    assert (len(spent), len(refused)) == (3, 9), results
    set_tenant(shop.organization.id)
    member = members.member_of(shop.customer.id)
    db.session.refresh(member)
    assert member.points_balance == 10 == ledger.available(member.id)
    clear_tenant()


def test_a_coupon_is_used_once_by_concurrent_orders(app, shop):
    set_tenant(shop.organization.id, shop.admin.id)
    members.adjust_points(shop.customer.id, 500, "Gift")
    reward = rewards.create_reward(
        {
            "name": "5 off",
            "kind": "coupon",
            "points_cost": "100",
            "coupon_type": "amount",
            "coupon_value": "5",
            "coupon_valid_days": "7",
        }
    )
    _redemption, coupon = rewards.redeem_reward(shop.customer.id, reward.id)
    code = coupon.code
    clear_tenant()

    def order(_index):
        return orders.place_order(
            customer_id=shop.customer.id,
            lines=[{"sku": shop.product.sku}],
            coupon_code=code,
        ).id

    results = _in_threads(app, shop.organization.id, shop.admin.id, 8, order)
    placed = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(placed) == 1 and len(refused) == 7, results
    assert {r.fields["coupon_code"] for r in refused} == {"This coupon was used already."}
    set_tenant(shop.organization.id)
    assert db.session.execute(text("SELECT count(*) FROM orders")).scalar_one() == 1
    clear_tenant()


@pytest.mark.usefixtures("stub_broker")
def test_a_paid_order_earns_once_when_its_job_runs_twice(app, shop, stub_broker):
    stub_broker.flush("loyalty")
    set_tenant(shop.organization.id, shop.admin.id)
    order = orders.place_order(
        customer_id=shop.customer.id,
        lines=[{"sku": shop.product.sku, "quantity": 2}],
        status="paid",
    )
    clear_tenant()
    [message] = queued(stub_broker, "loyalty")
    assert (message.actor_name, tuple(message.args)) == (
        "settle_order_points",
        (shop.organization.id, order.id),
    )
    # The same message again, as a retry or a nudge sent twice would bring it.
    stub_broker.enqueue(message.copy())
    with running_worker(stub_broker, ["loyalty"]):
        stub_broker.join("loyalty")
    set_tenant(shop.organization.id)
    member = members.member_of(shop.customer.id)
    db.session.refresh(member)
    entries = ledger.entries(member.id).items
    assert [(e.kind, e.points, e.order_id) for e in entries] == [("earn", 200, order.id)]
    assert member.points_balance == 200
    clear_tenant()
