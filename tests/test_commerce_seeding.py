"""The demo commerce and loyalty data: deterministic, consistent with the ledgers' own rules."""

from sqlalchemy import text

from crm_web.catalog.seeding import seed_orders
from crm_web.customers.seeding import seed_customers
from crm_web.db import atomic, set_tenant
from crm_web.extensions import db
from crm_web.loyalty.seeding import seed_loyalty


def _rows(sql: str) -> list[tuple]:
    return [tuple(row) for row in db.session.execute(text(sql)).all()]


def _seed(make_org, name: str):
    organization, admin = make_org(name, currency="TRY")
    set_tenant(organization.id, admin.id)
    atomic(seed_customers)(60, seed=3)
    orders = atomic(seed_orders)(150, seed=3)
    joined = atomic(seed_loyalty)(seed=3)
    return orders, joined


def test_seeded_orders_and_points_add_up(make_org):
    orders, joined = _seed(make_org, "Seeded")
    assert orders == 150 and joined > 5
    # Every product's stock is the sum of its movements, and never below zero.
    assert (
        _rows(
            "SELECT p.sku FROM products p LEFT JOIN stock_movements m ON m.product_id = p.id "
            "GROUP BY p.id HAVING p.stock_on_hand <> coalesce(sum(m.quantity), 0) "
            "OR p.stock_on_hand < 0"
        )
        == []
    )
    # Each order's total is its lines', and sales match the lines sold.
    assert (
        _rows(
            "SELECT o.order_number FROM orders o JOIN order_lines l ON l.order_id = o.id "
            "GROUP BY o.id HAVING o.total <> sum(l.line_total)"
        )
        == []
    )
    assert _rows(
        "SELECT sum(quantity) FROM order_lines l JOIN products p ON p.id = l.product_id "
        "WHERE p.track_stock"
    ) == _rows("SELECT -sum(quantity) FROM stock_movements WHERE kind = 'sale'")
    statuses = dict(_rows("SELECT status, count(*) FROM orders GROUP BY status"))
    assert statuses["delivered"] > statuses.get("cancelled", 0)
    # Each member's balance is their ledger's sum and what is left of their unexpired lots.
    assert (
        _rows(
            "SELECT m.membership_number FROM loyalty_members m "
            "LEFT JOIN (SELECT member_id, sum(points) AS s FROM loyalty_ledger GROUP BY member_id) e "
            "  ON e.member_id = m.id "
            "LEFT JOIN (SELECT member_id, sum(remaining) AS r FROM loyalty_lots "
            "  WHERE expires_at > now() GROUP BY member_id) l ON l.member_id = m.id "
            "WHERE m.points_balance <> coalesce(e.s, 0) OR m.points_balance <> coalesce(l.r, 0)"
        )
        == []
    )
    assert _rows("SELECT count(*) FROM loyalty_members WHERE tier_id IS NULL") == [(0,)]
    assert _rows("SELECT count(*) > 0 FROM loyalty_redemptions") == [(True,)]


def test_the_same_seed_gives_the_same_orders(make_org):
    _seed(make_org, "First")
    first = _rows("SELECT order_number, total, status FROM orders ORDER BY order_number")
    _seed(make_org, "Second")
    second = _rows("SELECT order_number, total, status FROM orders ORDER BY order_number")
    assert first == second
