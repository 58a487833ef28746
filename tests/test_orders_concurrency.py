"""The stock guard under real concurrency: threads, each on its own connection, committing."""

import threading

import pytest
from sqlalchemy import text

from crm_web.catalog import orders, products, stock
from crm_web.db import atomic, clear_tenant, set_tenant
from crm_web.extensions import db
from tests import factories

pytestmark = pytest.mark.committed

BUYERS = 50
LAST_UNITS = 10


def _in_threads(app, organization_id: int, user_id: int, count: int, work) -> list:
    """Run `work(index)` in `count` threads at once, each in an app context (a session and a
    connection) of its own; returns what each returned or raised."""
    results: list = [None] * count
    start = threading.Barrier(count)

    def run(index: int) -> None:
        with app.app_context():
            set_tenant(organization_id, user_id)
            try:
                start.wait(30)
                results[index] = work(index)
            except Exception as exc:  # reported by the test
                results[index] = exc
            finally:
                clear_tenant()
                db.session.remove()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


@pytest.fixture
def last_units(app, make_org, committed_context):
    """A committed organization with customers and one product with its last 10 units."""
    organization, admin = make_org("Last Units")
    committed_context.append(organization.id)
    set_tenant(organization.id, admin.id)
    customers = [c.id for c in atomic(factories.customer_rows)(organization.id, BUYERS)]
    product = factories.product(stock=LAST_UNITS, sku="LAST-10")
    clear_tenant()
    return organization, admin, customers, product


def _count(sql: str, **params) -> int:
    return db.session.execute(text(sql), params).scalar_one()


def test_fifty_concurrent_orders_for_the_last_ten_units(app, last_units):
    organization, admin, customers, product = last_units

    def buy(index: int):
        return orders.place_order(
            customer_id=customers[index], lines=[{"product_id": product.id, "quantity": 1}]
        ).id

    results = _in_threads(app, organization.id, admin.id, BUYERS, buy)
    placed = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if not isinstance(r, int)]
    assert len(placed) == LAST_UNITS
    assert len(refused) == BUYERS - LAST_UNITS
    assert all(isinstance(r, stock.OutOfStock) for r in refused), refused[:3]
    assert {r.fields["lines-0-quantity"] for r in refused} == {
        "Only 0 of LAST-10 in stock; 1 asked."
    }

    # Nothing of a refused order is left: ten orders, ten lines, ten sales, no stock.
    set_tenant(organization.id)
    db.session.expire_all()  # the threads changed it
    assert _count("SELECT count(*) FROM orders") == LAST_UNITS
    assert _count("SELECT count(*) FROM order_lines") == LAST_UNITS
    assert _count("SELECT count(*) FROM stock_movements WHERE kind = 'sale'") == LAST_UNITS
    assert products.get_product(product.id).stock_on_hand == 0
    numbers = db.session.execute(text("SELECT order_number FROM orders")).scalars().all()
    assert len(set(numbers)) == LAST_UNITS
    clear_tenant()


def test_concurrent_orders_of_two_products_in_opposite_orders_all_go_through(app, last_units):
    """Lines lock their products in product order, so crossing orders never deadlock."""
    organization, admin, customers, first = last_units
    set_tenant(organization.id, admin.id)
    second = factories.product(stock=100, sku="PLENTY")
    more = products.change_stock(first.id, kind="receipt", quantity=90, reason="Delivery")
    assert more.stock_after == 100
    clear_tenant()

    def buy(index: int):
        pair = [first.id, second.id] if index % 2 else [second.id, first.id]
        return orders.place_order(
            customer_id=customers[index],
            lines=[{"product_id": product_id, "quantity": 2} for product_id in pair],
        ).id

    results = _in_threads(app, organization.id, admin.id, 20, buy)
    assert all(isinstance(r, int) for r in results), [r for r in results if not isinstance(r, int)]
    set_tenant(organization.id)
    db.session.expire_all()
    assert products.get_product(first.id).stock_on_hand == 60
    assert products.get_product(second.id).stock_on_hand == 60
    clear_tenant()
