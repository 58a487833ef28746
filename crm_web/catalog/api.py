"""/api/v1/crm/products/: the catalog (list with the page's filters, create, read, update) and
a product's stock movements (read, and goods received or corrected); /api/v1/crm/orders/:
orders (list, place, read), their status and their returns (for a shop that pushes its orders)."""

from decimal import Decimal

from flask import Blueprint, jsonify, request, url_for

from crm_web.catalog import fulfilment, orders, products, stock
from crm_web.catalog.fields import NAMES
from crm_web.catalog.models import Order, OrderReturn, Product, StockMovement
from crm_web.errors import invalid
from crm_web.inputs import json_field, json_object, query_int
from crm_web.pagination import list_json
from crm_web.permissions import requires

bp = Blueprint("catalog", __name__)


def money(value: Decimal | None) -> str | None:
    """An amount as the API writes it: a decimal string with two places ("12.50")."""
    return None if value is None else f"{Decimal(value).quantize(Decimal('0.01')):f}"


def product_json(product: Product) -> dict:
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "category": (
            {"id": product.category.id, "name": product.category.name} if product.category else None
        ),
        "description": product.description,
        "price": money(product.price),
        "tax_rate": money(product.tax_rate),
        "is_active": product.is_active,
        "track_stock": product.track_stock,
        "stock_on_hand": product.stock_on_hand,
        "reorder_level": product.reorder_level,
        "low_on_stock": product.low_on_stock,
        "created_at": product.created_at.isoformat(),
        "updated_at": product.updated_at.isoformat(),
    }


def movement_json(movement: StockMovement) -> dict:
    return {
        "id": movement.id,
        "product_id": movement.product_id,
        "kind": movement.kind,
        "quantity": movement.quantity,
        "stock_after": movement.stock_after,
        "reason": movement.reason,
        "created_by_id": movement.created_by_id,
        "created_at": movement.created_at.isoformat(),
    }


def _limit() -> int:
    return max(1, min(query_int("limit", 50), 200))


@bp.route("/crm/products/", methods=["GET"])
@requires("view catalog")
def list_products():
    """Products by name unless ?sort=; filters q, category (an id or none), active (yes, no,
    all), stock (low, out); ?cursor= from the answer's next_cursor."""
    filters = products.ProductFilters.from_args(request.args)
    page = products.search_products(filters, cursor=request.args.get("cursor"), limit=_limit())
    return jsonify(list_json([product_json(p) for p in page.items], page.next_cursor))


@bp.route("/crm/products/", methods=["POST"])
@requires("manage catalog")
def create_product():
    """A new product (the fields of FIELDS; `stock_on_hand` is its opening stock)."""
    body = json_object()
    product = products.create_product(
        {name: body.get(name) for name in (*NAMES, "stock_on_hand") if name in body}
    )
    response = jsonify(product_json(product))
    response.status_code = 201
    response.headers["Location"] = url_for(".get_product", product_id=product.id)
    return response


@bp.route("/crm/products/<int:product_id>/", methods=["GET"])
@requires("view catalog")
def get_product(product_id: int):
    return jsonify(product_json(products.get_product(product_id)))


@bp.route("/crm/products/<int:product_id>/", methods=["PUT"])
@requires("manage catalog")
def update_product(product_id: int):
    """Change the fields sent; stock moves through .../stock/, not here."""
    products.get_product(product_id)
    body = json_object()
    product = products.update_product(
        product_id, {name: body[name] for name in NAMES if name in body}
    )
    return jsonify(product_json(product))


@bp.route("/crm/products/<int:product_id>/stock/", methods=["GET"])
@requires("view catalog")
def list_movements(product_id: int):
    """The product's stock movements, newest first."""
    products.get_product(product_id)
    page = stock.movements(product_id, cursor=request.args.get("cursor"), limit=_limit())
    return jsonify(list_json([movement_json(m) for m in page.items], page.next_cursor))


@bp.route("/crm/products/<int:product_id>/stock/", methods=["POST"])
@requires("adjust stock")
def change_stock(product_id: int):
    """{"kind": "receipt" | "adjustment", "quantity": 5, "reason": "..."}."""
    products.get_product(product_id)
    body = json_object()
    movement = products.change_stock(
        product_id,
        kind=body.get("kind") if isinstance(body.get("kind"), str) else "",
        quantity=body.get("quantity"),
        reason=body.get("reason") if isinstance(body.get("reason"), str) else "",
    )
    response = jsonify({**movement_json(movement), "product": product_json(movement.product)})
    response.status_code = 201
    return response


# Orders

ORDER_FIELDS = (
    "customer_id",
    "lines",
    "channel",
    "payment_method",
    "status",
    "ordered_at",
    "external_ref",
    "notes",
)


def _when(value) -> str | None:
    return value.isoformat() if value else None


def order_json(order: Order) -> dict:
    return {
        "id": order.id,
        "order_number": order.order_number,
        "customer": {
            "id": order.customer_id,
            "customer_code": order.customer.customer_code,
            "name": order.customer.display_name,
        },
        "status": order.status,
        "channel": order.channel,
        "payment_method": order.payment_method,
        "currency": order.currency,
        "subtotal": money(order.subtotal),
        "tax_total": money(order.tax_total),
        "discount_total": money(order.discount_total),
        "total": money(order.total),
        "refunded_total": money(order.refunded_total),
        "coupon_code": order.coupon_code,
        "external_ref": order.external_ref,
        "notes": order.notes,
        "ordered_at": _when(order.ordered_at),
        "paid_at": _when(order.paid_at),
        "shipped_at": _when(order.shipped_at),
        "delivered_at": _when(order.delivered_at),
        "cancelled_at": _when(order.cancelled_at),
        "returned_at": _when(order.returned_at),
        "lines": [
            {
                "id": line.id,
                "product_id": line.product_id,
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "returned_quantity": line.returned_quantity,
                "unit_price": money(line.unit_price),
                "discount_percent": money(line.discount_percent),
                "tax_rate": money(line.tax_rate),
                "net_amount": money(line.net_amount),
                "tax_amount": money(line.tax_amount),
                "line_total": money(line.line_total),
            }
            for line in order.lines
        ],
    }


def return_json(returned: OrderReturn) -> dict:
    return {
        "id": returned.id,
        "order_id": returned.order_id,
        "reason": returned.reason,
        "restocked": returned.restocked,
        "refund_amount": money(returned.refund_amount),
        "lines": [
            {"line_id": part.order_line_id, "quantity": part.quantity} for part in returned.lines
        ],
        "created_at": returned.created_at.isoformat(),
    }


@bp.route("/crm/orders/", methods=["GET"])
@requires("view orders")
def list_orders():
    """Orders, newest first; filters q (order number, reference or customer code), status,
    channel, customer_id, from and to (dates); ?cursor= from the answer's next_cursor."""
    filters = orders.OrderFilters.from_args(request.args)
    page = orders.search_orders(filters, cursor=request.args.get("cursor"), limit=_limit())
    return jsonify(list_json([order_json(o) for o in page.items], page.next_cursor))


@bp.route("/crm/orders/", methods=["POST"])
@requires("place orders")
def place_order():
    """{"customer_id": 1, "lines": [{"sku": "MUG-1", "quantity": 2}], "status": "paid", ...}:
    a line beyond the stock refuses the whole order (422, the line named)."""
    body = json_object()
    order = orders.place_order(
        customer_id=json_field(body, "customer_id", int),
        lines=body.get("lines"),
        channel=json_field(body, "channel", str),
        payment_method=json_field(body, "payment_method", str),
        status=json_field(body, "status", str),
        ordered_at=json_field(body, "ordered_at", str),
        external_ref=json_field(body, "external_ref", str),
        notes=json_field(body, "notes", str),
    )
    response = jsonify(order_json(orders.get_order(order.id)))
    response.status_code = 201
    response.headers["Location"] = url_for(".get_order", order_id=order.id)
    return response


@bp.route("/crm/orders/<int:order_id>/", methods=["GET"])
@requires("view orders")
def get_order(order_id: int):
    order = orders.get_order(order_id)
    return jsonify(
        {**order_json(order), "returns": [return_json(r) for r in orders.returns_of(order.id)]}
    )


@bp.route("/crm/orders/<int:order_id>/status/", methods=["PUT"])
@requires("fulfil orders")
def change_order_status(order_id: int):
    """{"status": "paid" | "shipped" | "delivered" | "cancelled" | "returned", "payment_method":
    "card", "reason": "..."}; "returned" takes back everything not yet returned."""
    orders.get_order(order_id)
    body = json_object()
    order = fulfilment.change_status(
        order_id,
        json_field(body, "status", str, ""),
        payment_method=json_field(body, "payment_method", str),
        reason=json_field(body, "reason", str, ""),
    )
    return jsonify(order_json(order))


@bp.route("/crm/orders/<int:order_id>/returns/", methods=["POST"])
@requires("process returns")
def return_items(order_id: int):
    """{"lines": [{"line_id": 7, "quantity": 1}], "reason": "...", "restock": true}."""
    orders.get_order(order_id)
    body = json_object()
    lines = json_field(body, "lines", list, [])
    quantities = {}
    for index, line in enumerate(lines):
        if not isinstance(line, dict) or not isinstance(line.get("line_id"), int):
            raise invalid({f"lines[{index}]": 'Send {"line_id": <id>, "quantity": <n>}.'})
        quantities[line["line_id"]] = line.get("quantity")
    returned = fulfilment.return_items(
        order_id,
        quantities,
        reason=json_field(body, "reason", str, ""),
        restock=json_field(body, "restock", bool, True),
    )
    response = jsonify(return_json(returned))
    response.status_code = 201
    return response
