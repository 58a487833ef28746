"""Order pages: the list, a new order, an order with its status actions and returns."""

from flask import Blueprint, flash, request, url_for
from flask_babel import gettext as _
from wtforms import SelectChoice

from crm_web.catalog import fulfilment, orders, products
from crm_web.catalog.forms import OrderForm, ReturnForm, StatusForm
from crm_web.catalog.models import CHANNELS, ORDER_STATUSES, PAYMENT_METHODS
from crm_web.errors import ValidationError, invalid
from crm_web.events.services import find_customer
from crm_web.forms import form_status, submit
from crm_web.permissions import requires
from crm_web.rendering import redirect_to, render, wanted_fragment

bp = Blueprint("orders", __name__)

# How many matching products the new-order form suggests for a typed SKU or name.
SUGGESTIONS = 20


def _labels() -> dict:
    return {
        "status_labels": orders.STATUS_LABELS,
        "channel_labels": orders.CHANNEL_LABELS,
        "payment_labels": orders.PAYMENT_LABELS,
    }


@bp.route("/orders")
@requires("view orders")
def index():
    filters = orders.OrderFilters.from_args(request.args)
    cursor = request.args.get("cursor")
    page = orders.search_orders(filters, cursor=cursor)
    return render(
        "catalog/orders.html",
        block="rows" if cursor else "results",
        page=page,
        filters=filters,
        statuses=ORDER_STATUSES,
        channels=CHANNELS,
        next_url=url_for(".index", cursor=page.next_cursor, **filters.to_args()),
        **_labels(),
    )


def _customer_id(reference: str) -> int:
    """The customer a person typed (a code or an email), or the form's field error."""
    try:
        return find_customer(reference).id
    except ValidationError as exc:
        raise invalid({"customer": exc.fields.get("reference", exc.message)}) from None


def _new_order_form() -> OrderForm:
    form = OrderForm()
    form.channel.choices = [SelectChoice(c, orders.CHANNEL_LABELS[c]) for c in CHANNELS]
    form.payment_method.choices = [
        SelectChoice(m, orders.PAYMENT_LABELS[m]) for m in PAYMENT_METHODS
    ]
    return form


@bp.route("/orders/new", methods=["GET", "POST"])
@requires("place orders")
def new():
    if wanted_fragment("product_options"):
        # Suggestions for the SKU the person is typing (a datalist the inputs share).
        # The input sends itself, named after its line (lines-<n>-sku).
        typed = next((v for k, v in request.args.items() if k.endswith("-sku")), "")
        filters = products.ProductFilters(q=typed.strip()[:100])
        found = products.search_products(filters, limit=SUGGESTIONS) if filters.q else None
        return render(
            "catalog/order_form.html",
            block="product_options",
            suggestions=found.items if found else [],
        )
    form = _new_order_form()
    if request.method == "GET" and request.args.get("customer"):
        form.customer.data = request.args["customer"][:320]
    placed = submit(
        form,
        lambda: orders.place_order(
            customer_id=_customer_id(form.customer.data),
            lines=[
                {
                    "sku": line.sku.data,
                    "quantity": line.quantity.data,
                    "discount_percent": line.discount_percent.data,
                }
                for line in form.lines
            ],
            channel=form.channel.data,
            status=form.status.data,
            payment_method=form.payment_method.data,
            notes=form.notes.data,
            coupon_code=form.coupon_code.data,
        ),
    )
    if placed:
        order = placed.value
        flash(_("Order %(number)s is placed.", number=order.order_number), "success")
        return redirect_to(url_for(".show", order_id=order.id))
    return render(
        "catalog/order_form.html",
        block="form",
        status=form_status(form),
        form=form,
        suggestions=[],
    )


def _order_page(order, *, block="content", status=200, status_form=None, return_form=None):
    status_form = status_form or StatusForm(formdata=None)
    status_form.payment_method.choices = [
        SelectChoice(m, orders.PAYMENT_LABELS[m]) for m in PAYMENT_METHODS
    ]
    returns = orders.returns_of(order.id)
    # An order with returns is closed by returning the rest, not by cancelling it.
    next_statuses = [
        s for s in orders.TRANSITIONS[order.status] if not (returns and s == "cancelled")
    ]
    return render(
        "catalog/order.html",
        block=block,
        status=status,
        order=order,
        returns=returns,
        next_statuses=next_statuses,
        returnable=order.status in orders.RETURNABLE,
        status_form=status_form,
        return_form=return_form or ReturnForm(formdata=None),
        **_labels(),
    )


@bp.route("/orders/<int:order_id>")
@requires("view orders")
def show(order_id: int):
    return _order_page(orders.get_order(order_id))


@bp.route("/orders/<int:order_id>/status", methods=["POST"])
@requires("fulfil orders")
def change_status(order_id: int):
    orders.get_order(order_id)
    form = StatusForm()
    changed = submit(
        form,
        lambda: fulfilment.change_status(
            order_id,
            form.status.data or "",
            payment_method=form.payment_method.data,
            reason=form.reason.data,
        ),
    )
    if changed:
        order = changed.value
        flash(
            _(
                "Order %(number)s is %(status)s.",
                number=order.order_number,
                status=orders.STATUS_LABELS[order.status],
            ),
            "success",
        )
        return redirect_to(url_for(".show", order_id=order_id))
    return _order_page(
        orders.get_order(order_id), block="actions", status=form_status(form), status_form=form
    )


@bp.route("/orders/<int:order_id>/returns", methods=["POST"])
@requires("process returns")
def return_items(order_id: int):
    order = orders.get_order(order_id)
    form = ReturnForm()
    quantities = {line.id: request.form.get(f"return-{line.id}", "") for line in order.lines}
    returned = submit(
        form,
        lambda: fulfilment.return_items(
            order_id, quantities, reason=form.reason.data, restock=form.restock.data
        ),
    )
    if returned:
        flash(
            _(
                "The return is booked: %(amount)s %(currency)s refunded.",
                amount=returned.value.refund_amount,
                currency=order.currency,
            ),
            "success",
        )
        return redirect_to(url_for(".show", order_id=order_id))
    return _order_page(
        orders.get_order(order_id), block="returns", status=form_status(form), return_form=form
    )
