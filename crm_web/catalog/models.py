"""Product categories, products and the stock movements ledger (seed 000's urunler with its
stock trigger; seed 003's products).

Stock on hand is kept on the product and changed only by inserting a stock movement: the
movement's trigger (0027_commerce) moves the product's stock and refuses a movement that
would take it below zero, so the ledger and the figure never disagree and no writer, however
concurrent, can oversell.
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

from crm_web.customers.models import FOLD_FROM, FOLD_TO
from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited

# receipt: goods in; sale: an order line; return: a returned line restocked; cancellation: a
# cancelled order's lines back; adjustment: a count corrected (with its reason); reward: a
# product given for loyalty points.
MOVEMENT_KINDS = ("receipt", "sale", "return", "cancellation", "adjustment", "reward")
# The constraint the stock guard names when it refuses a movement (the CHECK on the product
# and the movement trigger both), so services tell a stock error from any other.
STOCK_GUARD = "ck_products_stock_not_negative"
PRODUCT_SEARCH_SQL = f"lower(translate(sku || ' ' || name, '{FOLD_FROM}', '{FOLD_TO}'))"


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
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    product: Mapped[Product] = relationship(lazy="joined", innerjoin=True)
