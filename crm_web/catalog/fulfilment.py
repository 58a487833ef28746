"""What happens to an order once placed: its status, cancellation and returns with restock.

Status flow: pending -> paid -> shipped -> delivered; pending or paid -> cancelled (the stock
goes back, a paid order is refunded); paid, shipped or delivered orders take returns, whole or
in part (restocked unless the goods are damaged); once every unit is back the order is
returned. Each action is one transaction, with the order's row locked.
"""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _

from crm_web.catalog import stock
from crm_web.catalog.models import (
    ORDER_STATUSES,
    PAYMENT_METHODS,
    Order,
    OrderLine,
    OrderReturn,
    OrderReturnLine,
    Product,
)
from crm_web.catalog.orders import (
    CENT,
    RETURNABLE,
    STATUS_LABELS,
    TRANSITIONS,
    choice,
    get_order,
    mark_paid,
    returns_of,
    settle_points_later,
)
from crm_web.catalog.products import parse_count
from crm_web.customers.validation import FieldError
from crm_web.db import atomic, current_tenant
from crm_web.errors import Conflict, check_fields, invalid
from crm_web.extensions import db
from crm_web.inputs import whole_number

MAX_REASON = 2000


# Status


def _check_transition(order: Order, status: str) -> None:
    if status not in ORDER_STATUSES:
        raise invalid({"status": _("Choose one of: %(values)s.", values=", ".join(ORDER_STATUSES))})
    if status not in TRANSITIONS[order.status]:
        raise Conflict(
            _(
                "Order %(number)s is %(status)s; it cannot become %(next)s.",
                number=order.order_number,
                status=STATUS_LABELS[order.status],
                next=STATUS_LABELS[status],
            ),
            {"status": _("Not possible from %(status)s.", status=STATUS_LABELS[order.status])},
        )


def _cancel(order: Order, reason: str) -> None:
    """Put every line's units back in stock and refund what was paid."""
    if returns_of(order.id):
        raise Conflict(_("This order has returns; return the rest instead of cancelling it."))
    now = dt.datetime.now(dt.UTC)
    for line in order.lines:
        product = db.session.get(Product, line.product_id)
        if product.track_stock:
            stock.move(product, "cancellation", line.quantity, reason, order_id=order.id)
    if order.paid_at is not None:
        order.refunded_total = order.total
        settle_points_later(order)
    order.status = "cancelled"
    order.cancelled_at = now


@atomic
def change_status(
    order_id: int, status: str, *, payment_method: str | None = None, reason: str = ""
) -> Order:
    """Move an order on: paid (with how), shipped, delivered, cancelled (restocked), or
    returned (everything not yet returned comes back, restocked)."""
    order = get_order(order_id, for_update=True)
    _check_transition(order, status)
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise invalid({"reason": _("Keep this under %(n)s characters.", n=MAX_REASON)})
    now = dt.datetime.now(dt.UTC)
    if status == "paid":
        errors: dict[str, str] = {}
        method = choice(payment_method, PAYMENT_METHODS, "payment_method", errors, "")
        check_fields(errors)
        mark_paid(order, method, now)
    elif status == "shipped":
        order.status, order.shipped_at = "shipped", now
    elif status == "delivered":
        order.status, order.delivered_at = "delivered", now
    elif status == "cancelled":
        _cancel(order, reason or _("Order %(number)s cancelled", number=order.order_number))
    elif status == "returned":
        remaining = {line.id: line.quantity - line.returned_quantity for line in order.lines}
        _return(order, {k: v for k, v in remaining.items() if v}, reason=reason, restock=True)
    db.session.flush()
    return order


# Returns


def _refund_share(order: Order, line: OrderLine, quantity: int) -> Decimal:
    """The returned units' part of what was paid: their share of the line, less their share of
    the order's discount."""
    share = line.line_total * quantity / line.quantity
    gross = order.subtotal + order.tax_total
    if order.discount_total and gross:
        share = share * order.total / gross
    return share.quantize(CENT, ROUND_HALF_UP)


def _return(order: Order, quantities: dict[int, int], *, reason: str, restock: bool) -> OrderReturn:
    lines = {line.id: line for line in order.lines}
    returned = OrderReturn(
        organization_id=order.organization_id,
        order_id=order.id,
        reason=reason,
        restocked=restock,
        refund_amount=Decimal("0"),
        created_by_id=current_tenant().user_id,
    )
    refund = Decimal("0")
    for line_id, quantity in sorted(quantities.items()):
        line = lines[line_id]
        line.returned_quantity += quantity
        share = _refund_share(order, line, quantity)
        refund += share
        returned.lines.append(
            OrderReturnLine(
                organization_id=order.organization_id,
                order_line_id=line.id,
                quantity=quantity,
                refund_amount=share,
            )
        )
    everything_back = all(line.returned_quantity == line.quantity for line in order.lines)
    if everything_back:
        # The last return gives back exactly what is left: no cent lost to rounding.
        refund = order.total - order.refunded_total
    returned.refund_amount = min(refund, order.total - order.refunded_total)
    order.refunded_total += returned.refund_amount
    settle_points_later(order)
    db.session.add(returned)
    db.session.flush()
    if restock:
        note = reason or _("Return from order %(number)s", number=order.order_number)
        for line_id, quantity in sorted(quantities.items(), key=lambda q: lines[q[0]].product_id):
            product = db.session.get(Product, lines[line_id].product_id)
            if product.track_stock:
                stock.move(product, "return", quantity, note, order_id=order.id)
    if everything_back:
        order.status = "returned"
    order.returned_at = dt.datetime.now(dt.UTC)
    return returned


@atomic
def return_items(
    order_id: int, quantities, *, reason: str = "", restock: bool = True
) -> OrderReturn:
    """Take back units of an order's lines (`quantities`: line id -> how many), refunding their
    share; restocked unless `restock` is False (damaged goods)."""
    order = get_order(order_id, for_update=True)
    if order.status not in RETURNABLE:
        raise Conflict(
            _(
                "Order %(number)s is %(status)s: only paid, shipped or delivered orders take returns.",
                number=order.order_number,
                status=STATUS_LABELS[order.status],
            )
        )
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if len(reason) > MAX_REASON:
        errors["reason"] = _("Keep this under %(n)s characters.", n=MAX_REASON)
    wanted: dict[int, int] = {}
    lines = {line.id: line for line in order.lines}
    if not isinstance(quantities, dict):
        raise invalid({"lines": _("Say how many of which line come back.")})
    for key, value in quantities.items():
        line_id = key if isinstance(key, int) else whole_number(str(key))
        line = lines.get(line_id)
        if line is None:
            errors["lines"] = _("A line of another order was given.")
            continue
        if value in (None, "", 0, "0"):
            continue
        left = line.quantity - line.returned_quantity
        try:
            wanted[line.id] = parse_count(value, low=1, high=left)
        except FieldError:
            errors[f"return-{line.id}"] = _(
                "Between 0 and %(left)s of %(sku)s can come back.", left=left, sku=line.sku
            )
    if not wanted and not errors:
        errors["lines"] = _("Say how many of which line come back.")
    check_fields(errors)
    returned = _return(order, wanted, reason=reason, restock=restock)
    db.session.flush()
    return returned
