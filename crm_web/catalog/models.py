"""Product categories, products and the stock movements ledger (seed 000's urunler with its
stock trigger; seed 003's products); orders with their lines and returns (seed 000's satislar
and sale lines, seed 002's orders, seed 003's transactions).

Stock on hand is kept on the product and changed only by inserting stock movements: their
trigger (0031_commerce) moves the products' stock and refuses movements that would take it
below zero, so the ledger and the figure never disagree and no writer, however concurrent,
can oversell.
"""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_web.customers.models import Customer
from crm_web.customers.services import register_customer_reference
from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited

# receipt: goods in; sale: an order line; return: a returned line restocked; cancellation: a
# cancelled order's lines back; adjustment: a count corrected (with its reason); reward: a
# product given for loyalty points.
MOVEMENT_KINDS = ("receipt", "sale", "return", "cancellation", "adjustment", "reward")
ORDER_STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled", "returned")
CHANNELS = ("store", "online", "phone")
PAYMENT_METHODS = ("", "card", "cash", "bank_transfer", "other")
# The constraint the stock guard names when it refuses a movement (the CHECK on the product
# and the movement trigger both), so services tell a stock error from any other.
STOCK_GUARD = "ck_products_stock_not_negative"
# Folded by crm_fold() (migration 0026) as every search is: "isik" finds "Işık".
PRODUCT_SEARCH_SQL = "crm_fold(sku || ' ' || name)"


class ProductCategory(Audited, TenantMixin, TimestampMixin, db.Model):
    """A group of products (seed 003's category), for filters, analytics and earn multipliers."""

    __tablename__ = "product_categories"
    __table_args__ = (
        Index(
            "uq_product_categories_org_name", "organization_id", text("lower(name)"), unique=True
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")


class Product(Audited, TenantMixin, TimestampMixin, db.Model):
    """Something we sell: its price in the organization's currency (before tax) and its stock."""

    __tablename__ = "products"
    # Derived columns: the audit trail shows what they come from.
    audit_hidden = frozenset({"search_text"})
    __table_args__ = (
        Index("uq_products_org_sku", "organization_id", text("lower(sku)"), unique=True),
        Index("ix_products_org_name", "organization_id", "name", "id"),
        Index("ix_products_org_category", "organization_id", "category_id", "name", "id"),
        # The low-stock view: only the products at or below their reorder level are indexed.
        Index(
            "ix_products_org_low_stock",
            "organization_id",
            "stock_on_hand",
            "id",
            postgresql_where=text("track_stock AND is_active AND stock_on_hand <= reorder_level"),
        ),
        # Substring search on SKU and name (pg_trgm; btree_gin for the leading organization).
        Index(
            "ix_products_search_trgm",
            "organization_id",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("tax_rate BETWEEN 0 AND 100", name="tax_rate_percent"),
        CheckConstraint("reorder_level >= 0", name="reorder_level_not_negative"),
        # The backstop of the stock guard (the movement trigger refuses first, with details).
        CheckConstraint("stock_on_hand >= 0", name="stock_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    category_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("product_categories.id", ondelete="SET NULL")
    )
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Services (installation, a consultation) have no stock: nothing counts or refuses them.
    track_stock: Mapped[bool] = mapped_column(Boolean, default=True)
    # Changed only through stock movements (see the module docstring).
    stock_on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reorder_level: Mapped[int] = mapped_column(Integer, default=0)
    search_text: Mapped[str] = mapped_column(Text, Computed(PRODUCT_SEARCH_SQL, persisted=True))

    category: Mapped[ProductCategory | None] = relationship(lazy="joined")

    @property
    def low_on_stock(self) -> bool:
        return self.track_stock and self.stock_on_hand <= self.reorder_level


class StockMovement(TenantMixin, db.Model):
    """One change of a product's stock, with who made it and why; never changed afterwards."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        Index("ix_stock_movements_org_product", "organization_id", "product_id", "id"),
        Index("ix_stock_movements_org_id", "organization_id", "id"),
        # What a deleted order's SET NULL finds.
        Index(
            "ix_stock_movements_order_id",
            "order_id",
            postgresql_where=text("order_id IS NOT NULL"),
        ),
        CheckConstraint(
            "kind IN ('receipt', 'sale', 'return', 'cancellation', 'adjustment', 'reward')",
            name="kind_known",
        ),
        CheckConstraint("quantity <> 0", name="quantity_not_zero"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    product_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("products.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(12))
    # Signed: goods in are positive, goods out negative.
    quantity: Mapped[int] = mapped_column(Integer)
    # Set by the trigger: the product's stock once this movement applied.
    stock_after: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    reason: Mapped[str] = mapped_column(Text, default="")
    # The order a sale, return or cancellation belongs to (the ledger outlives a deleted order).
    # Checked at commit: an order's lines (and so their sales) are written before its row.
    order_id: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("orders.id", ondelete="SET NULL", deferrable=True, initially="DEFERRED"),
    )
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    product: Mapped[Product] = relationship(lazy="joined", innerjoin=True)


class Order(Audited, TenantMixin, TimestampMixin, db.Model):
    """A sale to a customer: its lines' totals, where it stands and how it was paid.

    Amounts are in `currency`, the organization's when the order was placed. `subtotal` is the
    lines after their discounts, before tax; `discount_total` a coupon's discount on the whole;
    `total` = subtotal + tax_total - discount_total; `refunded_total` what returns and a
    cancellation gave back. An order's value is total - refunded_total.
    """

    __tablename__ = "orders"
    __table_args__ = (
        Index("uq_orders_org_number", "organization_id", "order_number", unique=True),
        # A shop that pushes its orders names each once: a push sent again is refused.
        Index(
            "uq_orders_org_external_ref",
            "organization_id",
            "external_ref",
            unique=True,
            postgresql_where=text("external_ref IS NOT NULL"),
        ),
        # The list, newest first; and seed 002's order_date + status.
        Index("ix_orders_org_ordered", "organization_id", "ordered_at", "id"),
        Index("ix_orders_org_status_ordered", "organization_id", "status", "ordered_at", "id"),
        # The dashboards' feed: the latest big orders (crm_web/dashboard/feed.py's BIG_ORDER).
        Index(
            "ix_orders_org_big",
            "organization_id",
            "ordered_at",
            postgresql_where=text("total >= 5000"),
        ),
        # A customer's orders (the 360 page's cards read their totals from this index alone).
        Index(
            "ix_orders_org_customer",
            "organization_id",
            "customer_id",
            "ordered_at",
            "id",
            postgresql_include=["status", "total", "refunded_total"],
        ),
        CheckConstraint(
            "status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'returned')",
            name="status_known",
        ),
        CheckConstraint("channel IN ('store', 'online', 'phone')", name="channel_known"),
        CheckConstraint(
            "payment_method IN ('', 'card', 'cash', 'bank_transfer', 'other')",
            name="payment_method_known",
        ),
        CheckConstraint(
            "subtotal >= 0 AND tax_total >= 0 AND discount_total >= 0 AND total >= 0",
            name="amounts_not_negative",
        ),
        CheckConstraint("refunded_total BETWEEN 0 AND total", name="refund_within_total"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    order_number: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(12), default="pending")
    channel: Mapped[str] = mapped_column(String(10), default="store")
    payment_method: Mapped[str] = mapped_column(String(20), default="")
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    tax_total: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    discount_total: Mapped[Decimal] = mapped_column(Numeric(15, 2), default=Decimal("0"))
    total: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    refunded_total: Mapped[Decimal] = mapped_column(Numeric(15, 2), default=Decimal("0"))
    coupon_code: Mapped[str] = mapped_column(String(40), default="")
    external_ref: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str] = mapped_column(Text, default="")
    ordered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    returned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )

    customer: Mapped[Customer] = relationship()
    lines: Mapped[list["OrderLine"]] = relationship(
        order_by="OrderLine.position", back_populates="order", cascade="all, delete-orphan"
    )

    @property
    def net_total(self) -> Decimal:
        """What the customer keeps paying for: the total less refunds."""
        return self.total - self.refunded_total


class OrderLine(TenantMixin, db.Model):
    """A product on an order (seed 000's sale line): quantity, price, discount and tax as sold.

    The product's SKU, name and category are copied, so the order reads as it was sold. Its
    insert takes the stock (the trigger writes the sale movement, see 0031_commerce).
    """

    __tablename__ = "order_lines"
    __table_args__ = (
        Index("ix_order_lines_org_order", "organization_id", "order_id", "position"),
        Index("ix_order_lines_org_product", "organization_id", "product_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "returned_quantity BETWEEN 0 AND quantity", name="returned_within_quantity"
        ),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        CheckConstraint("discount_percent BETWEEN 0 AND 100", name="discount_percent"),
        CheckConstraint("tax_rate BETWEEN 0 AND 100", name="tax_rate_percent"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # Checked at commit: an order's lines are written before its row (orders.place_order).
    order_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("orders.id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
    )
    position: Mapped[int] = mapped_column(Integer)
    # No cascade: a product that was sold is deactivated, never deleted.
    product_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("products.id"))
    category_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("product_categories.id", ondelete="SET NULL")
    )
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    discount_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"))
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"))
    # quantity x unit price less the discount, before tax; then its tax; and the two together.
    net_amount: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    tax_amount: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    line_total: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    returned_quantity: Mapped[int] = mapped_column(Integer, default=0)

    order: Mapped[Order] = relationship(back_populates="lines")


class OrderReturn(TenantMixin, db.Model):
    """Goods a customer brought back from one order (all or part), with the refund."""

    __tablename__ = "order_returns"
    __table_args__ = (
        Index("ix_order_returns_org_order", "organization_id", "order_id", "id"),
        CheckConstraint("refund_amount >= 0", name="refund_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("orders.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text, default="")
    # False for goods that cannot be sold again (damaged): they do not go back into stock.
    restocked: Mapped[bool] = mapped_column(Boolean, default=True)
    refund_amount: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    lines: Mapped[list["OrderReturnLine"]] = relationship(cascade="all, delete-orphan")


class OrderReturnLine(TenantMixin, db.Model):
    """How many of one order line came back in a return, and their share of the refund."""

    __tablename__ = "order_return_lines"
    __table_args__ = (
        Index("ix_order_return_lines_org_return", "organization_id", "return_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    return_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("order_returns.id", ondelete="CASCADE")
    )
    order_line_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("order_lines.id", ondelete="CASCADE")
    )
    quantity: Mapped[int] = mapped_column(Integer)
    refund_amount: Mapped[Decimal] = mapped_column(Numeric(15, 2))

    order_line: Mapped[OrderLine] = relationship(lazy="joined", innerjoin=True)


register_customer_reference("orders")


RFM_SEGMENTS = (
    "champions",
    "loyal",
    "new",
    "promising",
    "needs_attention",
    "cannot_lose",
    "at_risk",
    "hibernating",
)


class CustomerValue(TenantMixin, db.Model):
    """A customer's value as the last recompute found it (crm_web.catalog.customer_value):
    their purchases, and RFM scores (1-5, quintiles of the organization's buyers) with the
    segment they make. Derived data: recomputed from orders, never edited."""

    __tablename__ = "customer_values"
    __table_args__ = (
        Index("ix_customer_values_org_segment", "organization_id", "segment"),
        Index("ix_customer_values_org_monetary", "organization_id", "monetary", "customer_id"),
        CheckConstraint(
            "r_score BETWEEN 1 AND 5 AND f_score BETWEEN 1 AND 5 AND m_score BETWEEN 1 AND 5",
            name="scores_1_to_5",
        ),
    )

    # Indexed by the two indexes that lead with it (a third would only slow the recompute).
    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    order_count: Mapped[int] = mapped_column(Integer)
    monetary: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    first_order_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_order_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    r_score: Mapped[int] = mapped_column(Integer)
    f_score: Mapped[int] = mapped_column(Integer)
    m_score: Mapped[int] = mapped_column(Integer)
    segment: Mapped[str] = mapped_column(String(20))
    # When these figures were last written: a recompute rewrites only the rows that changed.
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CustomerValueRun(db.Model):
    """When the organization's customer values were last recomputed, and how many buyers."""

    __tablename__ = "customer_value_runs"

    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    buyers: Mapped[int] = mapped_column(Integer)


# One row per customer: when two merge, the recompute sets the kept one's value again.
register_customer_reference("customer_values", unique_with=("organization_id",))
