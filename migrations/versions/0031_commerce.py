"""Commerce: product categories, products, the stock movements ledger with its stock guard, and
orders with their lines and returns.

Stock is moved only by inserting stock movements. The movements' statement trigger locks their
products in product order and moves each product's stock once by the statement's sum, only
where it stays at zero or above: a second transaction selling the same product waits for the
first's lock, then sees its stock (READ COMMITTED re-reads the row), so the last unit is sold
once. A refused statement raises a check violation named after the product's CHECK
(`ck_products_stock_not_negative`, the backstop), with the product, what is left and what was
asked in its detail, so the service can say which line it was. One update per product per
statement, not per movement: a bulk load (an import, the demo) costs as much as its products.

An order line takes its stock as seed 000's sale lines do, in PostgreSQL: the lines' statement
trigger writes their sale movements (for products whose stock is tracked), which the stock
trigger refuses past the stock; the lines, and so the order's transaction, fail with them.

CHECK constraints are named with op.f(): the names are final (the naming convention would
prefix them a second time), so the name the stock guard raises is the CHECK's own.

Revision ID: 0031_commerce
Revises: 0030_campaigns
"""

import sqlalchemy as sa
from alembic import op
from helpers import (
    create_definer_function,
    disable_tenant_rls,
    enable_tenant_rls,
    foreign_key,
    organization_fk,
    timestamps,
)

revision = "0031_commerce"
down_revision = "0030_campaigns"
branch_labels = None
depends_on = None

TABLES = (
    "product_categories",
    "products",
    "orders",
    "order_lines",
    "order_returns",
    "order_return_lines",
    "stock_movements",
    "customer_values",
)


STOCK_FUNCTION = """
CREATE FUNCTION stock_movements_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_products integer;
    v_moved integer;
    v_short record;
BEGIN
    -- The products' row locks in product order, the order every writer takes them in. NO KEY
    -- UPDATE, as the UPDATE below takes: it does not wait for the key-share locks that other
    -- transactions' order lines hold on the same products (their foreign keys), which would
    -- deadlock two orders each waiting for the other's line.
    PERFORM 1 FROM products p
      WHERE p.id IN (SELECT product_id FROM new_rows)
      ORDER BY p.id FOR NO KEY UPDATE;
    WITH delta AS (
        SELECT organization_id, product_id, sum(quantity) AS quantity
          FROM new_rows GROUP BY organization_id, product_id
    ), moved AS (
        UPDATE products p SET stock_on_hand = p.stock_on_hand + d.quantity, updated_at = now()
          FROM delta d
         WHERE p.id = d.product_id AND p.organization_id = d.organization_id
           AND p.stock_on_hand + d.quantity >= 0
        RETURNING p.id
    )
    SELECT count(*) INTO v_moved FROM moved;
    SELECT count(DISTINCT product_id) INTO v_products FROM new_rows;
    IF v_moved < v_products THEN
        SELECT d.product_id, p.sku, p.stock_on_hand AS available, -d.quantity AS requested
          INTO v_short
          FROM (SELECT organization_id, product_id, sum(quantity) AS quantity
                  FROM new_rows GROUP BY organization_id, product_id) d
          LEFT JOIN products p ON p.id = d.product_id AND p.organization_id = d.organization_id
         WHERE p.id IS NULL OR p.stock_on_hand + d.quantity < 0
         ORDER BY d.product_id LIMIT 1;
        IF v_short.sku IS NULL THEN
            RAISE EXCEPTION 'No product % in this organization', v_short.product_id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RAISE EXCEPTION 'Not enough stock of %: % left, % asked',
                v_short.sku, v_short.available, v_short.requested
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'ck_products_stock_not_negative',
                  DETAIL = json_build_object(
                      'product_id', v_short.product_id, 'available', v_short.available,
                      'requested', v_short.requested)::text;
    END IF;
    -- Each movement's stock after it: today's stock less the statement's later movements.
    UPDATE stock_movements m SET stock_after = x.after
      FROM (SELECT n.id, p.stock_on_hand - coalesce(sum(n.quantity) OVER (
                       PARTITION BY n.product_id ORDER BY n.id DESC
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS after
              FROM new_rows n JOIN products p ON p.id = n.product_id) x
     WHERE m.id = x.id;
    RETURN NULL;
END $$
"""

ORDER_LINE_FUNCTION = """
CREATE FUNCTION order_lines_take_stock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stock_movements
        (organization_id, product_id, kind, quantity, reason, order_id, created_by_id)
    SELECT n.organization_id, n.product_id, 'sale', -n.quantity, '', n.order_id,
           nullif(current_setting('app.user_id', true), '')::bigint
      FROM new_rows n
      JOIN products p ON p.id = n.product_id AND p.organization_id = n.organization_id
     WHERE p.track_stock
     ORDER BY n.order_id, n.position;
    RETURN NULL;
END $$
"""

# The nightly customer value recompute walks the organizations that sell, before any tenant is set.
COMMERCE_ORGANIZATIONS = "commerce_organizations()"

# Substring search on SKU and name through the trigram index (the app role could not use it
# under row-level security: LIKE is not leakproof). Runs as the owner and applies the tenant
# filter itself: the current organization's matching product ids.
PRODUCT_SEARCH = "product_search_ids(p_query text)"
PRODUCT_SEARCH_BODY = (
    "SELECT id FROM products"
    " WHERE organization_id = nullif(current_setting('app.organization_id', true), '')::bigint"
    " AND search_text LIKE '%' || replace(replace(replace(crm_fold(p_query),"
    " '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'"
)


def user_fk(table: str, column: str):
    return foreign_key(table, column, "users", "SET NULL")


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")

    op.create_table(
        "product_categories",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_product_categories"),
        organization_fk("product_categories"),
    )
    op.create_index(
        "ix_product_categories_organization_id", "product_categories", ["organization_id"]
    )
    op.create_index(
        "uq_product_categories_org_name",
        "product_categories",
        ["organization_id", sa.text("lower(name)")],
        unique=True,
    )

    op.create_table(
        "products",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("category_id", sa.BigInteger()),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("price", sa.Numeric(15, 2), nullable=False),
        sa.Column("tax_rate", sa.Numeric(5, 2), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("track_stock", sa.Boolean(), nullable=False),
        sa.Column("stock_on_hand", sa.Integer(), nullable=False),
        sa.Column("reorder_level", sa.Integer(), nullable=False),
        sa.Column(
            "search_text",
            sa.Text(),
            sa.Computed("crm_fold(sku || ' ' || name)", persisted=True),
            nullable=False,
        ),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        organization_fk("products"),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["product_categories.id"],
            name="fk_products_category_id_product_categories",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("price >= 0", name=op.f("ck_products_price_not_negative")),
        sa.CheckConstraint("tax_rate BETWEEN 0 AND 100", name=op.f("ck_products_tax_rate_percent")),
        sa.CheckConstraint(
            "reorder_level >= 0", name=op.f("ck_products_reorder_level_not_negative")
        ),
        sa.CheckConstraint("stock_on_hand >= 0", name=op.f("ck_products_stock_not_negative")),
    )
    op.create_index("ix_products_organization_id", "products", ["organization_id"])
    op.create_index(
        "uq_products_org_sku", "products", ["organization_id", sa.text("lower(sku)")], unique=True
    )
    op.create_index("ix_products_org_name", "products", ["organization_id", "name", "id"])
    op.create_index(
        "ix_products_org_category", "products", ["organization_id", "category_id", "name", "id"]
    )
    op.create_index(
        "ix_products_org_low_stock",
        "products",
        ["organization_id", "stock_on_hand", "id"],
        postgresql_where=sa.text("track_stock AND is_active AND stock_on_hand <= reorder_level"),
    )
    op.create_index(
        "ix_products_search_trgm",
        "products",
        ["organization_id", "search_text"],
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )

    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("order_number", sa.String(20), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("payment_method", sa.String(20), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("subtotal", sa.Numeric(15, 2), nullable=False),
        sa.Column("tax_total", sa.Numeric(15, 2), nullable=False),
        sa.Column("discount_total", sa.Numeric(15, 2), nullable=False),
        sa.Column("total", sa.Numeric(15, 2), nullable=False),
        sa.Column("refunded_total", sa.Numeric(15, 2), nullable=False),
        sa.Column("coupon_code", sa.String(40), nullable=False),
        sa.Column("external_ref", sa.String(100)),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column(
            "ordered_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("paid_at", sa.DateTime(timezone=True)),
        sa.Column("shipped_at", sa.DateTime(timezone=True)),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
        sa.Column("returned_at", sa.DateTime(timezone=True)),
        sa.Column("created_by_id", sa.BigInteger()),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        organization_fk("orders"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_orders_customer_id_customers",
            ondelete="CASCADE",
        ),
        user_fk("orders", "created_by_id"),
        sa.CheckConstraint(
            "status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'returned')",
            name=op.f("ck_orders_status_known"),
        ),
        sa.CheckConstraint(
            "channel IN ('store', 'online', 'phone')", name=op.f("ck_orders_channel_known")
        ),
        sa.CheckConstraint(
            "payment_method IN ('', 'card', 'cash', 'bank_transfer', 'other')",
            name=op.f("ck_orders_payment_method_known"),
        ),
        sa.CheckConstraint(
            "subtotal >= 0 AND tax_total >= 0 AND discount_total >= 0 AND total >= 0",
            name=op.f("ck_orders_amounts_not_negative"),
        ),
        sa.CheckConstraint(
            "refunded_total BETWEEN 0 AND total", name=op.f("ck_orders_refund_within_total")
        ),
    )
    op.create_index("ix_orders_organization_id", "orders", ["organization_id"])
    op.create_index(
        "uq_orders_org_number", "orders", ["organization_id", "order_number"], unique=True
    )
    op.create_index(
        "uq_orders_org_external_ref",
        "orders",
        ["organization_id", "external_ref"],
        unique=True,
        postgresql_where=sa.text("external_ref IS NOT NULL"),
    )
    op.create_index("ix_orders_org_ordered", "orders", ["organization_id", "ordered_at", "id"])
    op.create_index(
        "ix_orders_org_status_ordered", "orders", ["organization_id", "status", "ordered_at", "id"]
    )
    op.create_index(
        "ix_orders_org_customer",
        "orders",
        ["organization_id", "customer_id", "ordered_at", "id"],
        postgresql_include=["status", "total", "refunded_total"],
    )

    op.create_table(
        "order_lines",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("category_id", sa.BigInteger()),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(15, 2), nullable=False),
        sa.Column("discount_percent", sa.Numeric(5, 2), nullable=False),
        sa.Column("tax_rate", sa.Numeric(5, 2), nullable=False),
        sa.Column("net_amount", sa.Numeric(15, 2), nullable=False),
        sa.Column("tax_amount", sa.Numeric(15, 2), nullable=False),
        sa.Column("line_total", sa.Numeric(15, 2), nullable=False),
        sa.Column("returned_quantity", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_lines"),
        organization_fk("order_lines"),
        # Checked at commit: an order's lines are written before its row.
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name="fk_order_lines_order_id_orders",
            ondelete="CASCADE",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name="fk_order_lines_product_id_products"
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["product_categories.id"],
            name="fk_order_lines_category_id_product_categories",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_quantity_positive")),
        sa.CheckConstraint(
            "returned_quantity BETWEEN 0 AND quantity",
            name=op.f("ck_order_lines_returned_within_quantity"),
        ),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_order_lines_unit_price_not_negative")),
        sa.CheckConstraint(
            "discount_percent BETWEEN 0 AND 100", name=op.f("ck_order_lines_discount_percent")
        ),
        sa.CheckConstraint(
            "tax_rate BETWEEN 0 AND 100", name=op.f("ck_order_lines_tax_rate_percent")
        ),
    )
    op.create_index("ix_order_lines_organization_id", "order_lines", ["organization_id"])
    op.create_index(
        "ix_order_lines_org_order", "order_lines", ["organization_id", "order_id", "position"]
    )
    op.create_index("ix_order_lines_org_product", "order_lines", ["organization_id", "product_id"])

    op.create_table(
        "order_returns",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("restocked", sa.Boolean(), nullable=False),
        sa.Column("refund_amount", sa.Numeric(15, 2), nullable=False),
        sa.Column("created_by_id", sa.BigInteger()),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_order_returns"),
        organization_fk("order_returns"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_returns_order_id_orders", ondelete="CASCADE"
        ),
        user_fk("order_returns", "created_by_id"),
        sa.CheckConstraint("refund_amount >= 0", name=op.f("ck_order_returns_refund_not_negative")),
    )
    op.create_index("ix_order_returns_organization_id", "order_returns", ["organization_id"])
    op.create_index(
        "ix_order_returns_org_order", "order_returns", ["organization_id", "order_id", "id"]
    )

    op.create_table(
        "order_return_lines",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("return_id", sa.BigInteger(), nullable=False),
        sa.Column("order_line_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("refund_amount", sa.Numeric(15, 2), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_return_lines"),
        organization_fk("order_return_lines"),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["order_returns.id"],
            name="fk_order_return_lines_return_id_order_returns",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_lines.id"],
            name="fk_order_return_lines_order_line_id_order_lines",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_return_lines_quantity_positive")),
    )
    op.create_index(
        "ix_order_return_lines_organization_id", "order_return_lines", ["organization_id"]
    )
    op.create_index(
        "ix_order_return_lines_org_return", "order_return_lines", ["organization_id", "return_id"]
    )

    op.create_table(
        "stock_movements",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("stock_after", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("order_id", sa.BigInteger()),
        sa.Column("created_by_id", sa.BigInteger()),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_stock_movements"),
        organization_fk("stock_movements"),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name="fk_stock_movements_product_id_products",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name="fk_stock_movements_order_id_orders",
            ondelete="SET NULL",
            deferrable=True,
            initially="DEFERRED",
        ),
        user_fk("stock_movements", "created_by_id"),
        sa.CheckConstraint(
            "kind IN ('receipt', 'sale', 'return', 'cancellation', 'adjustment', 'reward')",
            name=op.f("ck_stock_movements_kind_known"),
        ),
        sa.CheckConstraint("quantity <> 0", name=op.f("ck_stock_movements_quantity_not_zero")),
    )
    op.create_index("ix_stock_movements_organization_id", "stock_movements", ["organization_id"])
    op.create_index(
        "ix_stock_movements_org_product", "stock_movements", ["organization_id", "product_id", "id"]
    )
    op.create_index("ix_stock_movements_org_id", "stock_movements", ["organization_id", "id"])
    op.create_index(
        "ix_stock_movements_order_id",
        "stock_movements",
        ["order_id"],
        postgresql_where=sa.text("order_id IS NOT NULL"),
    )
    op.create_table(
        "customer_values",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("monetary", sa.Numeric(15, 2), nullable=False),
        sa.Column("first_order_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_order_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("r_score", sa.Integer(), nullable=False),
        sa.Column("f_score", sa.Integer(), nullable=False),
        sa.Column("m_score", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(20), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customer_values"),
        organization_fk("customer_values"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_customer_values_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "r_score BETWEEN 1 AND 5 AND f_score BETWEEN 1 AND 5 AND m_score BETWEEN 1 AND 5",
            name=op.f("ck_customer_values_scores_1_to_5"),
        ),
    )
    op.create_index("ix_customer_values_organization_id", "customer_values", ["organization_id"])
    op.create_index(
        "ix_customer_values_org_segment", "customer_values", ["organization_id", "segment"]
    )
    op.create_index(
        "ix_customer_values_org_monetary",
        "customer_values",
        ["organization_id", "monetary", "customer_id"],
    )

    op.execute(STOCK_FUNCTION)
    op.execute(
        "CREATE TRIGGER stock_movements_apply AFTER INSERT ON stock_movements "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION stock_movements_apply()"
    )

    op.execute(ORDER_LINE_FUNCTION)
    op.execute(
        "CREATE TRIGGER order_lines_take_stock AFTER INSERT ON order_lines "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION order_lines_take_stock()"
    )

    for table in TABLES:
        enable_tenant_rls(table)
    create_definer_function(PRODUCT_SEARCH, "SETOF bigint", PRODUCT_SEARCH_BODY)
    create_definer_function(
        COMMERCE_ORGANIZATIONS, "SETOF bigint", "SELECT DISTINCT organization_id FROM products"
    )


def downgrade():
    op.execute(f"DROP FUNCTION {COMMERCE_ORGANIZATIONS}")
    op.execute(f"DROP FUNCTION {PRODUCT_SEARCH}")
    for table in reversed(TABLES):
        disable_tenant_rls(table)
    op.execute("DROP TRIGGER order_lines_take_stock ON order_lines")
    op.execute("DROP FUNCTION order_lines_take_stock()")
    op.execute("DROP TRIGGER stock_movements_apply ON stock_movements")
    op.execute("DROP FUNCTION stock_movements_apply()")
    for table in reversed(TABLES):
        op.drop_table(table)
