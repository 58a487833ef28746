"""Deterministic demo commerce: a catalog with categories, two years of orders for the customers
(more of them lately) with their stock movements, some cancelled and some returned.

Written with COPY and set-based SQL through the real triggers: receipts first (two years ago,
enough for what is sold and what is left), then the order lines, whose trigger writes their
sale movements and takes the stock as any order's would. The ledger's moments are then set to
the orders' own (a seeded history, not a live one).
"""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from crm_web.accounts.models import Organization
from crm_web.catalog.orders import line_amounts, order_number
from crm_web.customers.seeding import _copy_text
from crm_web.db import copy_insert, current_organization_id, current_tenant
from crm_web.extensions import db
from crm_web.privacy.audit import record
from crm_web.sequences import allocate

# category -> products (name, price before tax, tax rate, tracked)
CATALOG = {
    "Coffee": [
        ("Espresso beans 1 kg", "540.00", "1", True),
        ("Filter coffee 250 g", "185.00", "1", True),
        ("Turkish coffee 100 g", "75.00", "1", True),
        ("Decaf beans 500 g", "320.00", "1", True),
        ("Cold brew concentrate", "210.00", "1", True),
    ],
    "Tea": [
        ("Black tea 1 kg", "260.00", "1", True),
        ("Green tea 100 g", "140.00", "1", True),
        ("Linden tea 50 g", "95.00", "1", True),
        ("Apple tea 250 g", "120.00", "1", True),
    ],
    "Mugs": [
        ("Blue enamel mug", "180.00", "20", True),
        ("Tulip tea glass (6)", "240.00", "20", True),
        ("Travel tumbler", "450.00", "20", True),
        ("Espresso cup set", "380.00", "20", True),
    ],
    "Equipment": [
        ("Copper cezve", "650.00", "20", True),
        ("Pour-over kit", "890.00", "20", True),
        ("Burr grinder", "2400.00", "20", True),
        ("Electric kettle", "1350.00", "20", True),
        ("Double teapot (çaydanlık)", "780.00", "20", True),
    ],
    "Services": [
        ("Grinder service", "500.00", "20", False),
        ("Barista workshop seat", "1200.00", "20", False),
    ],
}
PRODUCT_COLUMNS = (
    "organization_id",
    "sku",
    "name",
    "category_id",
    "description",
    "price",
    "tax_rate",
    "is_active",
    "track_stock",
    "stock_on_hand",
    "reorder_level",
)
MOVEMENT_COLUMNS = ("organization_id", "product_id", "kind", "quantity", "reason", "created_at")
ORDER_COLUMNS = (
    "organization_id",
    "order_number",
    "customer_id",
    "status",
    "channel",
    "payment_method",
    "currency",
    "subtotal",
    "tax_total",
    "discount_total",
    "total",
    "refunded_total",
    "coupon_code",
    "notes",
    "ordered_at",
    "paid_at",
    "shipped_at",
    "delivered_at",
    "cancelled_at",
    "returned_at",
    "created_at",
    "updated_at",
)
LINE_COLUMNS = (
    "organization_id",
    "order_id",
    "position",
    "product_id",
    "category_id",
    "sku",
    "name",
    "quantity",
    "unit_price",
    "discount_percent",
    "tax_rate",
    "net_amount",
    "tax_amount",
    "line_total",
    "returned_quantity",
)
CHANNELS = ("store", "store", "online", "online", "online", "phone")
PAYMENTS = ("card", "card", "card", "cash", "bank_transfer")
# The tables this seeding fills, for ANALYZE afterwards.
TABLES = ("product_categories", "products", "orders", "order_lines", "stock_movements")


def _chunks(rows: list[tuple], size: int = 5000):
    for start in range(0, len(rows), size):
        yield "".join(
            "\t".join(_copy_text(value) for value in row) + "\n"
            for row in rows[start : start + size]
        )


def _ids(sql: str, **params) -> dict:
    return dict(db.session.execute(text(sql), {"org": current_organization_id(), **params}).all())


def seed_catalog(*, seed: int = 1) -> dict[str, int]:
    """The demo catalog (categories and products, no stock yet); product id by SKU."""
    organization_id = current_organization_id()
    db.session.execute(
        text(
            "INSERT INTO product_categories (organization_id, name, description) "
            "SELECT :org, name, '' FROM unnest(CAST(:names AS text[])) AS name "
            "ON CONFLICT DO NOTHING"
        ),
        {"org": organization_id, "names": list(CATALOG)},
    )
    categories = _ids(
        "SELECT name, id FROM product_categories WHERE organization_id = :org AND name = ANY(:n)",
        n=list(CATALOG),
    )
    existing = _ids("SELECT sku, id FROM products WHERE organization_id = :org")
    rng = random.Random(seed)
    rows = []
    for category, items in CATALOG.items():
        for index, (name, price, tax, tracked) in enumerate(items, start=1):
            sku = f"{category[:3].upper()}-{index:03d}"
            if sku in existing:
                continue
            rows.append(
                (
                    organization_id,
                    sku,
                    name,
                    categories[category],
                    "",
                    Decimal(price),
                    Decimal(tax),
                    True,
                    tracked,
                    0,
                    rng.choice((5, 10, 15)) if tracked else 0,
                )
            )
    copy_insert("products", PRODUCT_COLUMNS, _chunks(rows))
    return _ids("SELECT sku, id FROM products WHERE organization_id = :org")


def seed_orders(count: int, *, seed: int = 1) -> int:
    """`count` orders over the last two years for the organization's customers (a catalog is
    seeded first if there is none), with their stock movements; returns how many."""
    if count <= 0:
        return 0
    organization_id = current_organization_id()
    organization = db.session.get(Organization, organization_id)
    customers = list(
        db.session.scalars(
            text("SELECT id FROM customers WHERE organization_id = :org ORDER BY id"),
            {"org": organization_id},
        )
    )
    if not customers:
        raise ValueError("Seed customers first: orders need customers.")
    seed_catalog(seed=seed)
    products = db.session.execute(
        text(
            "SELECT id, sku, name, category_id, price, tax_rate, track_stock FROM products "
            "WHERE organization_id = :org AND is_active ORDER BY id"
        ),
        {"org": organization_id},
    ).all()
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    # Most orders come from a loyal share of the customers, as in any shop.
    buyers = customers[: max(1, int(len(customers) * 0.6))]
    first = allocate(organization_id, "order", count)
    orders, lines, sold, returned = [], [], {}, {}
    # Numbers follow the dates, as they would have been given.
    moments = sorted(
        now - timedelta(days=730 * rng.random() ** 1.5, minutes=rng.randrange(1440))
        for _ in range(count)
    )
    for index, ordered in enumerate(moments):
        number = order_number(first + index)
        age = (now - ordered).days
        roll = rng.random()
        if age < 2:
            status = rng.choice(("pending", "paid", "paid"))
        elif age < 6:
            status = rng.choice(("paid", "shipped", "shipped"))
        else:
            status = "cancelled" if roll < 0.03 else "returned" if roll < 0.06 else "delivered"
        order_lines, subtotal, tax_total = [], Decimal("0"), Decimal("0")
        for position, product in enumerate(rng.sample(products, rng.choice((1, 1, 2, 2, 3, 4))), 1):
            quantity = rng.choice((1, 1, 1, 2, 2, 3))
            discount = Decimal(rng.choice((0, 0, 0, 0, 5, 10)))
            amounts = line_amounts(quantity, product.price, discount, product.tax_rate)
            subtotal += amounts.net
            tax_total += amounts.tax
            order_lines.append((position, product, quantity, discount, amounts))
            if product.track_stock:
                sold[product.id] = sold.get(product.id, 0) + quantity
                if status in ("cancelled", "returned"):
                    returned.setdefault((number, status), []).append((product.id, quantity))
        total = subtotal + tax_total
        paid = None if status == "pending" else ordered + timedelta(minutes=rng.randrange(1, 90))
        shipped = (
            ordered + timedelta(days=1) if status in ("shipped", "delivered", "returned") else None
        )
        delivered = ordered + timedelta(days=3) if status in ("delivered", "returned") else None
        orders.append(
            (
                organization_id,
                number,
                rng.choice(buyers),
                status,
                rng.choice(CHANNELS),
                "" if paid is None else rng.choice(PAYMENTS),
                organization.currency,
                subtotal,
                tax_total,
                Decimal("0"),
                total,
                total if status in ("cancelled", "returned") else Decimal("0"),
                "",
                "",
                ordered,
                paid,
                shipped,
                delivered,
                ordered + timedelta(hours=5) if status == "cancelled" else None,
                ordered + timedelta(days=10) if status == "returned" else None,
                ordered,
                ordered + timedelta(days=10) if status == "returned" else ordered,
            )
        )
        lines.append((number, status, order_lines))
    # Receipts before the first order: what will be sold, and a stock left over (some low).
    two_years_ago = now - timedelta(days=731)
    receipts = [
        (
            organization_id,
            product.id,
            "receipt",
            sold.get(product.id, 0) + rng.choice((0, 3, 8, 25, 40, 60, 120)),
            "Opening stock",
            two_years_ago,
        )
        for product in products
        if product.track_stock
    ]
    last_movement = db.session.scalar(
        text("SELECT coalesce(max(id), 0) FROM stock_movements WHERE organization_id = :org"),
        {"org": organization_id},
    )
    copy_insert("stock_movements", MOVEMENT_COLUMNS, _chunks([r for r in receipts if r[3] > 0]))
    copy_insert("orders", ORDER_COLUMNS, _chunks(orders))
    order_ids = _ids(
        "SELECT order_number, id FROM orders WHERE organization_id = :org AND order_number = ANY(:n)",
        n=[row[1] for row in orders],
    )
    line_rows = []
    for number, status, order_lines in lines:
        for position, product, quantity, discount, amounts in order_lines:
            line_rows.append(
                (
                    organization_id,
                    order_ids[number],
                    position,
                    product.id,
                    product.category_id,
                    product.sku,
                    product.name,
                    quantity,
                    product.price,
                    discount,
                    product.tax_rate,
                    amounts.net,
                    amounts.tax,
                    amounts.total,
                    quantity if status == "returned" else 0,
                )
            )
    # Through the line trigger: each line's sale movement takes its stock.
    copy_insert("order_lines", LINE_COLUMNS, _chunks(line_rows))
    restock = [
        (
            organization_id,
            product_id,
            "cancellation" if status == "cancelled" else "return",
            quantity,
            f"{number} {status}",
            None,
        )
        for (number, status), parts in returned.items()
        for product_id, quantity in parts
    ]
    if restock:
        db.session.execute(
            text(
                "INSERT INTO stock_movements (organization_id, product_id, kind, quantity, reason,"
                " order_id, created_by_id) SELECT :org, p, k, q, r, o.id, :user"
                " FROM unnest(CAST(:p AS bigint[]), CAST(:k AS text[]), CAST(:q AS int[]),"
                " CAST(:r AS text[]), CAST(:n AS text[])) AS x(p, k, q, r, n)"
                " JOIN orders o ON o.organization_id = :org AND o.order_number = x.n"
            ),
            {
                "org": organization_id,
                "user": current_tenant().user_id,
                "p": [row[1] for row in restock],
                "k": [row[2] for row in restock],
                "q": [row[3] for row in restock],
                "r": [row[4] for row in restock],
                "n": [row[4].split(" ")[0] for row in restock],
            },
        )
    # A seeded history: each movement at its order's moment, not at the seeding's. The tables
    # were just loaded in this transaction, so the planner's statistics still say they are
    # nearly empty and it would pick a nested loop (a probe per order): a hash join it is.
    db.session.execute(text("SET LOCAL enable_nestloop = off"))
    db.session.execute(
        text(
            "UPDATE stock_movements m SET created_at = CASE m.kind WHEN 'sale' THEN o.ordered_at"
            " ELSE coalesce(o.cancelled_at, o.returned_at) END"
            " FROM orders o WHERE o.id = m.order_id AND m.organization_id = :org"
            " AND o.organization_id = :org AND m.id > :before AND o.id >= :first_order"
        ),
        {"org": organization_id, "before": last_movement, "first_order": min(order_ids.values())},
    )
    db.session.execute(text("SET LOCAL enable_nestloop = on"))
    for table, rows in (("orders", len(orders)), ("order_lines", len(line_rows))):
        record(
            db.session,
            organization_id=organization_id,
            action="create",
            table_name=table,
            row_id=f"seed {seed}",
            new={"seeded": rows, "seed": seed},
        )
    return count
