"""The stock movements ledger: writing a movement, telling a refused one apart, reading them.

Every change of stock is a movement; its trigger (0031_commerce) moves the product's stock and
refuses what would take it below zero. Orders insert their lines and the line trigger writes
the sale movements; everything else calls `move`.
"""

import json
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm_web.catalog.models import STOCK_GUARD, Product, StockMovement
from crm_web.db import current_organization_id, current_tenant
from crm_web.errors import ValidationError
from crm_web.extensions import db
from crm_web.pagination import Page, keyset_page


@dataclass(frozen=True)
class Shortage:
    """What the stock guard refused: the product, what was left, what was asked."""

    product_id: int | None
    available: int | None
    requested: int | None


class OutOfStock(ValidationError):
    """A movement (an order line, a reward) asked for more than is in stock."""

    def __init__(self, message: str, fields: dict[str, str], shortage: Shortage):
        super().__init__(message, fields)
        self.shortage = shortage


def shortage_of(error: IntegrityError) -> Shortage | None:
    """The shortage an IntegrityError reports, if the stock guard raised it (else None)."""
    diag = getattr(error.orig, "diag", None)
    if diag is None or diag.constraint_name != STOCK_GUARD:
        return None
    try:
        detail = json.loads(diag.message_detail or "")
    except ValueError:
        # The CHECK itself (a write that bypassed the trigger): no details to give.
        return Shortage(None, None, None)
    return Shortage(detail.get("product_id"), detail.get("available"), detail.get("requested"))


def shortage_message(sku: str, shortage: Shortage) -> str:
    """The sentence a person reads for a refused movement of the product `sku`."""
    if shortage.available is None:
        return _("Not enough stock of %(sku)s.", sku=sku)
    return _(
        "Only %(available)s of %(sku)s in stock; %(requested)s asked.",
        available=shortage.available,
        sku=sku,
        requested=shortage.requested,
    )


def move(
    product: Product,
    kind: str,
    quantity: int,
    reason: str = "",
    *,
    order_id: int | None = None,
    field: str = "quantity",
) -> StockMovement:
    """Write one movement of `product` (signed `quantity`) and refresh the product's stock; a
    movement the guard refuses is OutOfStock on `field`, and the transaction is rolled back
    (nothing of the caller's action may stand without it)."""
    sku = product.sku
    movement = StockMovement(
        organization_id=product.organization_id,
        product_id=product.id,
        kind=kind,
        quantity=quantity,
        reason=reason,
        order_id=order_id,
        created_by_id=current_tenant().user_id,
    )
    db.session.add(movement)
    try:
        db.session.flush()
    except IntegrityError as exc:
        shortage = shortage_of(exc)
        if shortage is None:
            raise
        # The transaction cannot go on after a refused statement. Rolled back now, the
        # message can be written (the language is read from the database).
        db.session.rollback()
        message = shortage_message(sku, shortage)
        raise OutOfStock(message, {field: message}, shortage) from None
    # The trigger ran after the insert: the stock and the movement's stock_after are its.
    db.session.refresh(product, ["stock_on_hand", "updated_at"])
    db.session.refresh(movement, ["stock_after"])
    return movement


def movements(product_id: int | None = None, *, cursor: str | None = None, limit: int = 50) -> Page:
    """The ledger, newest first: one product's movements, or every product's."""
    stmt = select(StockMovement).where(StockMovement.organization_id == current_organization_id())
    if product_id is not None:
        stmt = stmt.where(StockMovement.product_id == product_id)
    return keyset_page(stmt, (StockMovement.id,), cursor=cursor, limit=min(max(limit, 1), 200))
