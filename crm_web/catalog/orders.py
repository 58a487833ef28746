"""Orders: placing one (its lines take their stock in PostgreSQL) and reading them. What
happens to an order afterwards (its status, cancellation, returns) is in fulfilment.py.

Placing an order inserts its lines first: their trigger takes the stock, locking the products
in product order, so two orders never deadlock over the same products, and a line beyond the
stock fails the whole order with nothing of it written (crm_web.catalog.stock). The order's
row and number come last, so the organization's number counter is held only for that.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from crm_web import jobs
from crm_web.accounts.models import Organization
from crm_web.catalog import stock
from crm_web.catalog.models import (
    CHANNELS,
    ORDER_STATUSES,
    PAYMENT_METHODS,
    Order,
    OrderLine,
    OrderReturn,
    Product,
)
from crm_web.catalog.products import parse_count, parse_decimal
from crm_web.customers.models import Customer
from crm_web.customers.validation import FieldError
from crm_web.db import atomic, current_organization_id, current_tenant
from crm_web.errors import Conflict, NotFound, ValidationError, check_fields, invalid
from crm_web.extensions import db
from crm_web.inputs import whole_number
from crm_web.loyalty import coupons
from crm_web.pagination import Page, keyset_page
from crm_web.sequences import allocate, document_number
from crm_web.timezones import from_local, user_timezone

CENT = Decimal("0.01")
MAX_LINES = 200
MAX_QUANTITY = 100_000
MAX_NOTES = 10_000
# A shop's clock may run a little ahead of ours.
CLOCK_SKEW = dt.timedelta(minutes=5)

TRANSITIONS = {
    "pending": ("paid", "cancelled"),
    "paid": ("shipped", "cancelled", "returned"),
    "shipped": ("delivered", "returned"),
    "delivered": ("returned",),
    "cancelled": (),
    "returned": (),
}
# Statuses an order may be placed in: a shop pushes orders already paid.
OPENING_STATUSES = ("pending", "paid")
RETURNABLE = ("paid", "shipped", "delivered")
STATUS_LABELS = {
    "pending": _l("Pending"),
    "paid": _l("Paid"),
    "shipped": _l("Shipped"),
    "delivered": _l("Delivered"),
    "cancelled": _l("Cancelled"),
    "returned": _l("Returned"),
}
CHANNEL_LABELS = {"store": _l("Store"), "online": _l("Online"), "phone": _l("Phone")}
PAYMENT_LABELS = {
    "": _l("Not recorded"),
    "card": _l("Card"),
    "cash": _l("Cash"),
    "bank_transfer": _l("Bank transfer"),
    "other": _l("Other"),
}


@dataclass(frozen=True)
class Amounts:
    """A line's money: before tax (after its discount), its tax, and both."""

    net: Decimal
    tax: Decimal
    total: Decimal


def line_amounts(
    quantity: int, unit_price: Decimal, discount_percent: Decimal, tax_rate: Decimal
) -> Amounts:
    """Quantity x price less the discount, then tax on that, each rounded to the cent."""
    net = (quantity * unit_price * (100 - discount_percent) / 100).quantize(CENT, ROUND_HALF_UP)
    tax = (net * tax_rate / 100).quantize(CENT, ROUND_HALF_UP)
    return Amounts(net, tax, net + tax)


@dataclass(frozen=True)
class NewLine:
    """A line as asked for, checked: the product and its terms."""

    product: Product
    quantity: int
    unit_price: Decimal
    discount_percent: Decimal

    @property
    def amounts(self) -> Amounts:
        return line_amounts(
            self.quantity, self.unit_price, self.discount_percent, self.product.tax_rate
        )


def _blank(raw: dict) -> bool:
    return all(raw.get(key) in (None, "") for key in ("product_id", "sku", "quantity"))


def _products_for(raw_lines: list[dict]) -> tuple[dict[int, Product], dict[str, Product]]:
    """The products the lines name, by id and by lower-cased SKU, read in one query."""
    ids, skus = set(), set()
    for raw in raw_lines:
        if isinstance(raw.get("product_id"), int) and not isinstance(raw["product_id"], bool):
            ids.add(raw["product_id"])
        elif isinstance(raw.get("sku"), str) and raw["sku"].strip():
            skus.add(raw["sku"].strip().lower())
    if not ids and not skus:
        return {}, {}
    found = db.session.scalars(
        select(Product).where(
            Product.organization_id == current_organization_id(),
            or_(Product.id.in_(ids), func.lower(Product.sku).in_(skus)),
        )
    ).all()
    return {p.id: p for p in found}, {p.sku.lower(): p for p in found}


def parse_lines(raw_lines) -> list[NewLine]:
    """Lines from form or JSON objects, each naming its product by `product_id` or `sku`;
    blank rows (a form's spare lines) are skipped. Errors are named `lines-<n>-<field>`."""
    if not isinstance(raw_lines, list) or not all(isinstance(raw, dict) for raw in raw_lines):
        raise invalid({"lines": _("Send a list of lines.")})
    if len(raw_lines) > MAX_LINES:
        raise invalid({"lines": _("An order has at most %(n)s lines.", n=MAX_LINES)})
    by_id, by_sku = _products_for(raw_lines)
    lines, errors = [], {}
    for index, raw in enumerate(raw_lines):
        if _blank(raw):
            continue
        prefix = f"lines-{index}-"
        product_id, sku = raw.get("product_id"), raw.get("sku")
        product = (
            by_id.get(product_id)
            if isinstance(product_id, int)
            else by_sku.get(sku.strip().lower())
            if isinstance(sku, str)
            else None
        )
        if product is None:
            errors[prefix + "sku"] = _("No product with this SKU.")
        elif not product.is_active:
            errors[prefix + "sku"] = _("%(sku)s is no longer sold.", sku=product.sku)
        try:
            quantity = parse_count(raw.get("quantity") or "1", low=1, high=MAX_QUANTITY)
        except FieldError as exc:
            errors[prefix + "quantity"] = str(exc)
            quantity = 1
        terms = {}
        for name, default, high in (
            ("unit_price", product.price if product else None, Decimal("9999999999999.99")),
            ("discount_percent", Decimal("0"), Decimal("100")),
        ):
            value = raw.get(name)
            if value in (None, ""):
                terms[name] = default
                continue
            try:
                terms[name] = parse_decimal(value, low=Decimal("0"), high=high)
            except FieldError as exc:
                errors[prefix + name] = str(exc)
        if product is not None and len(terms) == 2:
            lines.append(NewLine(product, quantity, terms["unit_price"], terms["discount_percent"]))
    if not lines and not errors:
        errors["lines"] = _("Add at least one product.")
    check_fields(errors)
    return lines


def choice(value, allowed, field: str, errors: dict, default: str) -> str:
    """`value` if it is one of `allowed` (`default` when empty), else an error on `field`."""
    value = default if value in (None, "") else value
    if value not in allowed:
        errors[field] = _("Choose one of: %(values)s.", values=", ".join(v for v in allowed if v))
        return default
    return value


def _ordered_at(value, errors: dict) -> dt.datetime:
    """When it was ordered: now, or a past time sent by a shop or a file (ISO 8601, in the
    organization's time zone when it carries no offset)."""
    now = dt.datetime.now(dt.UTC)
    if value in (None, ""):
        return now
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            errors["ordered_at"] = _("Use a time like 2026-03-31T14:30:00+03:00.")
            return now
    moment = from_local(moment)
    if moment > now + CLOCK_SKEW:
        errors["ordered_at"] = _("An order cannot be placed in the future.")
    return moment


def _customer(customer_id) -> Customer:
    customer = None
    if isinstance(customer_id, int) and not isinstance(customer_id, bool):
        customer = db.session.scalar(
            select(Customer).where(
                Customer.id == customer_id, Customer.organization_id == current_organization_id()
            )
        )
    if customer is None:
        raise invalid({"customer_id": _("Choose a customer of this organization.")})
    return customer


def order_number(number: int) -> str:
    """The n-th order of an organization: ORD-000042."""
    return document_number("ORD", number)


def _take_stock(organization_id: int, order_id: int, lines: list[NewLine]) -> None:
    """Insert the lines of the order to be (its row comes after them: the foreign keys to it
    are checked at commit): their statement's trigger takes their stock, locking the products
    in product order (the lines go in that order too, should the insert be split)."""
    for position, line in sorted(enumerate(lines, start=1), key=lambda p: p[1].product.id):
        amounts = line.amounts
        db.session.add(
            OrderLine(
                organization_id=organization_id,
                order_id=order_id,
                position=position,
                product_id=line.product.id,
                category_id=line.product.category_id,
                sku=line.product.sku,
                name=line.product.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount_percent=line.discount_percent,
                tax_rate=line.product.tax_rate,
                net_amount=amounts.net,
                tax_amount=amounts.tax,
                line_total=amounts.total,
                returned_quantity=0,
            )
        )
    skus = {line.product.id: line.product.sku for line in lines}
    try:
        db.session.flush()
    except IntegrityError as exc:
        shortage = stock.shortage_of(exc)
        if shortage is None:
            raise
        db.session.rollback()  # as in stock.move: the message needs a working session
        index = next(
            (i for i, line in enumerate(lines) if line.product.id == shortage.product_id), 0
        )
        message = stock.shortage_message(skus.get(shortage.product_id, "?"), shortage)
        raise stock.OutOfStock(message, {f"lines-{index}-quantity": message}, shortage) from None


def settle_points_later(order: Order) -> None:
    """Once committed, have the loyalty program settle the order's points (earned when paid,
    taken back after a refund); the job is idempotent, so any change may ask again."""
    jobs.enqueue_after_commit(jobs.SETTLE_ORDER_POINTS, order.organization_id, order.id)


def mark_paid(order: Order, payment_method: str, at: dt.datetime) -> None:
    """The order is paid (at `at`, by `payment_method` when known); its points are settled
    after the commit (the caller's order must have its id)."""
    order.status = "paid"
    order.paid_at = at
    if payment_method:
        order.payment_method = payment_method
    settle_points_later(order)


@atomic(retry=True)
def place_order(
    *,
    customer_id,
    lines,
    channel: str | None = "store",
    payment_method: str | None = "",
    status: str | None = "pending",
    ordered_at=None,
    external_ref: str | None = None,
    notes: str | None = "",
    coupon_code: str | None = "",
) -> Order:
    """A new order for a customer of this organization; its lines take their stock, and a
    line beyond the stock refuses the whole order (OutOfStock, nothing written). A coupon of
    the customer's takes its discount off the total and is used up with the order."""
    errors: dict[str, str] = {}
    customer = _customer(customer_id)
    channel = choice(channel, CHANNELS, "channel", errors, "store")
    payment_method = choice(payment_method, PAYMENT_METHODS, "payment_method", errors, "")
    status = choice(status, OPENING_STATUSES, "status", errors, "pending")
    moment = _ordered_at(ordered_at, errors)
    external_ref = (external_ref or "").strip() or None
    if external_ref and len(external_ref) > 100:
        errors["external_ref"] = _("Keep this under %(n)s characters.", n=100)
    notes = (notes or "").strip()
    if len(notes) > MAX_NOTES:
        errors["notes"] = _("Keep this under %(n)s characters.", n=MAX_NOTES)
    parsed: list[NewLine] = []
    try:
        parsed = parse_lines(lines)
    except ValidationError as exc:
        errors.update(exc.fields)
    check_fields(errors)
    if external_ref:
        existing = db.session.scalar(
            select(Order.order_number).where(
                Order.organization_id == customer.organization_id,
                Order.external_ref == external_ref,
            )
        )
        if existing:
            raise Conflict(
                _("Order %(number)s already has this reference.", number=existing),
                {"external_ref": _("Already used by order %(number)s.", number=existing)},
            )
    organization = db.session.get(Organization, customer.organization_id)
    subtotal = sum((line.amounts.net for line in parsed), Decimal("0"))
    tax_total = sum((line.amounts.tax for line in parsed), Decimal("0"))
    coupon, off = None, Decimal("0")
    if coupon_code and coupon_code.strip():
        coupon, off = coupons.claim(
            coupon_code, customer.id, subtotal + tax_total, dt.datetime.now(dt.UTC)
        )
    # The stock first, the number last: the organization's counter is locked until the commit,
    # so concurrent orders queue on it only for the order's own row, and a refused order
    # uses no number.
    order_id = db.session.scalar(select(func.nextval("orders_id_seq")))
    _take_stock(customer.organization_id, order_id, parsed)
    order = Order(
        id=order_id,
        organization_id=customer.organization_id,
        order_number=order_number(allocate(customer.organization_id, "order")),
        customer_id=customer.id,
        status="pending",
        channel=channel,
        payment_method=payment_method,
        currency=organization.currency,
        subtotal=subtotal,
        tax_total=tax_total,
        discount_total=off,
        total=subtotal + tax_total - off,
        refunded_total=Decimal("0"),
        coupon_code=coupon.code if coupon else "",
        external_ref=external_ref,
        notes=notes,
        ordered_at=moment,
        created_by_id=current_tenant().user_id,
    )
    if status == "paid":
        order.status, order.paid_at, order.payment_method = "paid", moment, payment_method
    db.session.add(order)
    db.session.flush()
    # The lines were written on their own: read them into the order the caller gets.
    db.session.refresh(order, ["lines"])
    if coupon is not None:
        coupons.mark_used(coupon, order.id, dt.datetime.now(dt.UTC))
    if order.paid_at is not None:
        settle_points_later(order)
    return order


# Reading


@dataclass(frozen=True)
class OrderFilters:
    """The order list's filters as the page and the API take them."""

    q: str = ""
    status: str = ""
    channel: str = ""
    customer_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @classmethod
    def from_args(cls, args) -> "OrderFilters":
        def day(name: str) -> dt.date | None:
            try:
                return dt.date.fromisoformat(args.get(name, "").strip())
            except ValueError:
                return None

        status, channel = args.get("status", ""), args.get("channel", "")
        return cls(
            q=args.get("q", "").strip()[:100],
            status=status if status in ORDER_STATUSES else "",
            channel=channel if channel in CHANNELS else "",
            customer_id=whole_number(args.get("customer_id", "")),
            date_from=day("from"),
            date_to=day("to"),
        )

    def to_args(self) -> dict[str, str]:
        values = {
            "q": self.q,
            "status": self.status,
            "channel": self.channel,
            "customer_id": "" if self.customer_id is None else str(self.customer_id),
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
        }
        return {name: value for name, value in values.items() if value}


def search_orders(filters: OrderFilters, *, cursor: str | None = None, limit: int = 50) -> Page:
    """Orders matching the filters, newest first, one keyset page at a time; `q` is an order
    number, a shop's reference or a customer code."""
    organization_id = current_organization_id()
    stmt = (
        select(Order)
        .where(Order.organization_id == organization_id)
        .options(joinedload(Order.customer))
    )
    if filters.q:
        by_code = select(Customer.id).where(
            Customer.organization_id == organization_id,
            Customer.customer_code == filters.q.upper(),
        )
        stmt = stmt.where(
            or_(
                Order.order_number == filters.q.upper(),
                Order.external_ref == filters.q,
                Order.customer_id.in_(by_code),
            )
        )
    if filters.status:
        stmt = stmt.where(Order.status == filters.status)
    if filters.channel:
        stmt = stmt.where(Order.channel == filters.channel)
    if filters.customer_id is not None:
        stmt = stmt.where(Order.customer_id == filters.customer_id)
    zone = user_timezone()
    if filters.date_from:
        start = dt.datetime.combine(filters.date_from, dt.time(), zone)
        stmt = stmt.where(Order.ordered_at >= start)
    if filters.date_to:
        end = dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time(), zone)
        stmt = stmt.where(Order.ordered_at < end)
    return keyset_page(
        stmt, (Order.ordered_at, Order.id), cursor=cursor, limit=min(max(limit, 1), 200)
    )


def get_order(order_id: int, *, for_update: bool = False) -> Order:
    """This organization's order with its lines, or NotFound (other tenants' ids included)."""
    stmt = (
        select(Order)
        .where(Order.id == order_id, Order.organization_id == current_organization_id())
        .options(selectinload(Order.lines), joinedload(Order.customer))
    )
    if for_update:
        stmt = stmt.with_for_update(of=Order)
    order = db.session.scalar(stmt)
    if order is None:
        raise NotFound(_("No such order."))
    return order


def returns_of(order_id: int) -> list[OrderReturn]:
    """The order's returns, oldest first, with their lines."""
    return list(
        db.session.scalars(
            select(OrderReturn)
            .where(
                OrderReturn.organization_id == current_organization_id(),
                OrderReturn.order_id == order_id,
            )
            .options(selectinload(OrderReturn.lines))
            .order_by(OrderReturn.id)
        )
    )


# A customer's purchases (the 360 page)

# Orders that count as purchases: paid and not cancelled or wholly returned (an order partly
# returned counts for what was kept).
PURCHASED = ("paid", "shipped", "delivered")


@dataclass(frozen=True)
class Purchases:
    """What a customer bought: their orders' value after refunds, how many, the average and
    the last one."""

    lifetime_value: Decimal
    order_count: int
    last_order_at: dt.datetime | None

    @property
    def average_order(self) -> Decimal | None:
        if not self.order_count:
            return None
        return (self.lifetime_value / self.order_count).quantize(CENT, ROUND_HALF_UP)


def customer_purchases(customer_id: int) -> Purchases:
    """The customer's purchase figures, in one query on their orders' index alone."""
    row = db.session.execute(
        select(
            func.coalesce(func.sum(Order.total - Order.refunded_total), 0),
            func.count(),
            func.max(Order.ordered_at),
        ).where(
            Order.organization_id == current_organization_id(),
            Order.customer_id == customer_id,
            Order.status.in_(PURCHASED),
        )
    ).one()
    return Purchases(Decimal(row[0]).quantize(CENT), row[1], row[2])


def recent_orders(customer_id: int, limit: int = 5) -> list[Order]:
    """The customer's newest orders, of any status."""
    return list(
        db.session.scalars(
            select(Order)
            .where(
                Order.organization_id == current_organization_id(),
                Order.customer_id == customer_id,
            )
            .order_by(Order.ordered_at.desc(), Order.id.desc())
            .limit(limit)
        )
    )
