"""What segment rules can ask of a customer's purchases (crm_web.segments.registry).

A purchase is an order that counts as one (orders.PURCHASED: paid, shipped, delivered), as the
360 page's cards and the RFM recompute count them; its value is what was kept after refunds.
A product or category was bought when some of a purchase's line was kept (not all returned).
The RFM group is the one the last recompute gave (crm_web.catalog.customer_value).
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm_web.catalog.customer_value import SEGMENT_LABELS
from crm_web.catalog.models import RFM_SEGMENTS, Product, ProductCategory
from crm_web.catalog.orders import PURCHASED
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.segments.registry import SegmentField, register

GROUP = _l("Purchases")
_STATUSES = ", ".join(f"'{status}'" for status in PURCHASED)
# The customer's purchases (the orders index by customer covers it).
_ORDERS = (
    "FROM orders o WHERE o.organization_id = c.organization_id AND o.customer_id = c.id "
    f"AND o.status IN ({_STATUSES})"
)
# The lines kept of the customer's purchases.
_KEPT_LINES = (
    "FROM orders o JOIN order_lines l ON l.organization_id = o.organization_id "
    "AND l.order_id = o.id "
    "WHERE o.organization_id = c.organization_id AND o.customer_id = c.id "
    f"AND o.status IN ({_STATUSES}) AND l.quantity > l.returned_quantity"
)


def _products() -> list[tuple[str, str]]:
    rows = db.session.execute(
        select(Product.id, Product.sku, Product.name)
        .where(Product.organization_id == current_organization_id())
        .order_by(Product.sku)
    )
    return [(str(product_id), f"{sku} · {name}") for product_id, sku, name in rows]


def _categories() -> list[tuple[str, str]]:
    rows = db.session.execute(
        select(ProductCategory.id, ProductCategory.name)
        .where(ProductCategory.organization_id == current_organization_id())
        .order_by(ProductCategory.name)
    )
    return [(str(category_id), name) for category_id, name in rows]


def _rfm_groups() -> list[tuple[str, str]]:
    return [(segment, str(SEGMENT_LABELS[segment])) for segment in RFM_SEGMENTS]


for field in (
    SegmentField(
        "orders_count",
        _l("Orders"),
        GROUP,
        "number",
        f"(SELECT count(*) {_ORDERS})",
        nullable=False,
    ),
    SegmentField(
        "total_spent",
        _l("Total spent"),
        GROUP,
        "number",
        f"(SELECT coalesce(sum(o.total - o.refunded_total), 0) {_ORDERS})",
        nullable=False,
    ),
    SegmentField(
        "last_purchase",
        _l("Last purchase"),
        GROUP,
        "date",
        f"(SELECT max(o.ordered_at) {_ORDERS})",
        timestamp=True,
    ),
    SegmentField(
        "bought_product",
        _l("Bought product"),
        GROUP,
        "set",
        f"ARRAY(SELECT DISTINCT l.product_id {_KEPT_LINES})",
        _products,
        numeric_choice=True,
        nullable=False,
    ),
    SegmentField(
        "bought_category",
        _l("Bought from category"),
        GROUP,
        "set",
        f"ARRAY(SELECT DISTINCT l.category_id {_KEPT_LINES} AND l.category_id IS NOT NULL)",
        _categories,
        numeric_choice=True,
        nullable=False,
    ),
    SegmentField(
        "rfm_group",
        _l("RFM group"),
        GROUP,
        "choice",
        "(SELECT v.segment FROM customer_values v "
        "WHERE v.organization_id = c.organization_id AND v.customer_id = c.id)",
        _rfm_groups,
    ),
):
    register(field)
