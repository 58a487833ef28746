"""/api/v1/crm/products/: the catalog (list with the page's filters, create, read, update) and
a product's stock movements (read, and goods received or corrected)."""

from decimal import Decimal

from flask import Blueprint, jsonify, request, url_for

from crm_web.catalog import products, stock
from crm_web.catalog.fields import NAMES
from crm_web.catalog.models import Product, StockMovement
from crm_web.inputs import json_object, query_int
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
