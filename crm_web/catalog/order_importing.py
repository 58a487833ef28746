"""Orders as an import target: one row per order line, the lines of an order grouped by the
shop's reference (`external_ref`), each order written whole or not at all.

Cells are checked per row (the customer by code or email, the product by SKU, quantity, price,
discount, status, channel, payment, date). The write then works per order: an order with a
rejected row, rows that disagree on the order's own fields, or a reference already imported,
is left out whole, each of its rows saying why. The lines go in with one statement, so the
stock trigger takes the stock of every order at once; when that is refused (some product runs
out) the orders go in one by one, each in a savepoint, in file order, and the orders beyond
the stock are refused row by row with the guard's message: nothing of them is written.

The dry run rehearses the write (ImportTarget.rehearses), so it reports the stock refusals
too. Order numbers are allocated only for the orders written.
"""

import datetime as dt
from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import literal_column, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from crm_web import jobs
from crm_web.accounts.models import Organization
from crm_web.catalog import stock
from crm_web.catalog.models import CHANNELS, PAYMENT_METHODS, Order, OrderLine, Product
from crm_web.catalog.orders import (
    CHANNEL_LABELS,
    CLOCK_SKEW,
    MAX_QUANTITY,
    OPENING_STATUSES,
    PAYMENT_LABELS,
    STATUS_LABELS,
)
from crm_web.catalog.products import parse_count, parse_decimal
from crm_web.customers.models import Customer
from crm_web.customers.validation import FieldError
from crm_web.db import current_organization_id, current_tenant
from crm_web.extensions import db
from crm_web.fields import Field, declare
from crm_web.imports import writing
from crm_web.imports.targets import (
    CleanBatch,
    ImportTarget,
    Stats,
    per_distinct,
    per_value,
    register,
)
from crm_web.sequences import allocate, document_number_sql
from crm_web.timezones import user_timezone

F = Field
ORDER_FIELDS = declare(
    Order,
    F(
        "external_ref",
        "Order reference",
        aliases=("Reference", "Order", "Order no", "Order ID", "Sipariş", "Sipariş no", "Referans"),
        form_label=_l("Order reference"),
    ),
    F("status", "Status", aliases=("Durum",), form_label=_l("Status")),
    F("channel", "Channel", aliases=("Kanal",), form_label=_l("Channel")),
    F(
        "payment_method",
        "Payment method",
        aliases=("Payment", "Ödeme", "Ödeme yöntemi"),
        form_label=_l("Payment method"),
    ),
    F(
        "ordered_at",
        "Ordered at",
        aliases=("Date", "Order date", "Tarih", "Sipariş tarihi"),
        form_label=_l("Ordered at"),
    ),
    F("notes", "Notes", aliases=("Not", "Notlar"), max_length=10_000, form_label=_l("Notes")),
)
CUSTOMER_FIELDS = declare(
    Customer,
    F(
        "customer_code",
        "Customer code",
        aliases=("Customer", "Müşteri", "Müşteri kodu"),
        form_label=_l("Customer code"),
    ),
    F(
        "primary_email",
        "Customer email",
        aliases=("Email", "E-mail", "E-posta", "Müşteri e-posta"),
        form_label=_l("Customer email"),
    ),
)
LINE_FIELDS = declare(
    OrderLine,
    F("sku", "SKU", aliases=("Product", "Stok kodu", "Ürün kodu", "Ürün"), form_label=_l("SKU")),
    F("quantity", "Quantity", aliases=("Qty", "Adet", "Miktar"), form_label=_l("Quantity")),
    F(
        "unit_price",
        "Unit price",
        aliases=("Price", "Fiyat", "Birim fiyat"),
        form_label=_l("Unit price"),
    ),
    F(
        "discount_percent",
        "Discount %",
        aliases=("Discount", "İndirim", "İndirim %"),
        form_label=_l("Discount %"),
    ),
)
FIELDS = ORDER_FIELDS + CUSTOMER_FIELDS + LINE_FIELDS
# The order's own fields: every row of an order must agree on those it gives.
ORDER_LEVEL = ("customer_code", "primary_email", "status", "channel", "payment_method")
ORDER_LEVEL += ("ordered_at", "notes")
ORDERS = "import_orders"
MAX_PRICE = parse_decimal("9999999999999.99", low=0, high=10**14)


@dataclass
class Context:
    """The catalog's SKUs (lower-cased -> as stored, active) and the zone of naive times.
    (Customers are looked up by the write: no query can run while rows are being staged.)"""

    skus: dict[str, tuple[str, bool]] = field(default_factory=dict)
    zone: dt.tzinfo | None = None


def _choice(values: tuple[str, ...], labels: dict) -> callable:
    """A parser of a value or its label (English or the reader's language), any case."""

    def parse(value: str) -> str:
        folded = value.strip().lower()
        for candidate in values:
            label = labels.get(candidate)
            if folded in (candidate, str(label or "").lower()):
                return candidate
        raise FieldError(_("Choose one of: %(values)s.", values=", ".join(v for v in values if v)))

    return parse


def _moment(zone: dt.tzinfo):
    def parse(value: str) -> str:
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise FieldError(_("Use a time like 2026-03-31T14:30:00+03:00.")) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        if moment > dt.datetime.now(dt.UTC) + CLOCK_SKEW:
            raise FieldError(_("An order cannot be placed in the future."))
        return moment.isoformat()

    return parse


def _text(limit: int):
    def parse(value: str) -> str:
        if len(value) > limit:
            raise FieldError(_("Keep this under %(n)s characters.", n=limit))
        return value

    return parse


class OrderTarget(ImportTarget):
    name = "orders"
    label = _l("Orders")
    capability = "place orders"
    fields = FIELDS
    # The rows of one order share its reference: they are not duplicates of each other.
    dedupe_keys = ()
    table = "orders"
    record_label = "order_number"
    list_view = ("orders.index", {})
    loaded_tables = ("orders", "order_lines", "stock_movements")
    rehearses = True

    def check_mapping(self, mapped: set[str], dedupe_mode: str) -> dict[str, str]:
        if not {"external_ref", "sku"} <= mapped:
            return {"mapping": _("Map columns to Order reference and SKU: each row is a line.")}
        if not mapped & {"customer_code", "primary_email"}:
            return {"mapping": _("Map a column to Customer code or Customer email.")}
        if dedupe_mode == "update":
            return {
                "dedupe_mode": _(
                    "Orders cannot be changed by a file: orders already imported are skipped."
                )
            }
        return {}

    def context(self) -> Context:
        organization_id = current_organization_id()
        rows = db.session.execute(
            select(Product.sku, Product.is_active).where(Product.organization_id == organization_id)
        )
        zone = user_timezone()
        return Context({sku.lower(): (sku, active) for sku, active in rows}, zone=zone)

    def _parsers(self, context: Context) -> dict:
        def code(value: str) -> str:
            if len(value) > 20:
                raise FieldError(_("No customer has this code."))
            return value.upper()

        def email(value: str) -> str:
            if "@" not in value or len(value) > 254:
                raise FieldError(_("Enter a valid email address."))
            return value.lower()

        def sku(value: str) -> str:
            stored = context.skus.get(value.lower())
            if stored is None:
                raise FieldError(_("No product with this SKU."))
            if not stored[1]:
                raise FieldError(_("%(sku)s is no longer sold.", sku=stored[0]))
            return stored[0]

        return {
            "external_ref": _text(100),
            "customer_code": code,
            "primary_email": email,
            "sku": sku,
            "quantity": lambda v: parse_count(v, low=1, high=MAX_QUANTITY),
            "unit_price": lambda v: parse_decimal(v, low=0, high=MAX_PRICE),
            "discount_percent": lambda v: parse_decimal(v, low=0, high=100),
            "status": _choice(OPENING_STATUSES, STATUS_LABELS),
            "channel": _choice(CHANNELS, CHANNEL_LABELS),
            "payment_method": _choice(PAYMENT_METHODS, PAYMENT_LABELS),
            "ordered_at": _moment(context.zone),
            "notes": _text(10_000),
        }

    def clean(
        self, columns: dict[str, list[str]], context: Context, dedupe_mode: str
    ) -> CleanBatch:
        count = len(next(iter(columns.values()))) if columns else 0
        parsers = self._parsers(context)
        values: dict[str, list] = {}
        errors: dict[int, dict[str, str]] = {}
        for name, cells in columns.items():
            many = name in ("external_ref", "notes", "ordered_at")
            parsed, column_errors = (per_value if many else per_distinct)(cells, parsers[name])
            values[name] = parsed
            for index, message in column_errors.items():
                errors.setdefault(index, {})[name] = message
        customer = [name for name in ("customer_code", "primary_email") if name in values]
        reasons: list[str | None] = [None] * count
        for index in range(count):
            row_errors = errors.get(index, {})
            for name in ("external_ref", "sku"):
                if name not in row_errors and values[name][index] is None:
                    row_errors[name] = _("This field is required.")
            if not any(values[name][index] for name in customer) and not any(
                name in row_errors for name in customer
            ):
                row_errors[customer[0]] = _("This field is required.")
            if row_errors:
                reasons[index] = self.reason(row_errors)
        return CleanBatch(values, reasons)

    # Writing

    def write(self, plan: str, job_id: int, mapped: tuple[str, ...], mode: str):
        refused = self._unknown_customers(plan, mapped)
        grouped = self._left_out(plan, mapped)
        self._refuse(plan, grouped)
        refused += grouped
        self._gather(plan, mapped)
        created, short = 0, []
        try:
            with db.session.begin_nested():
                created = self._insert(plan, mapped, None)
        except IntegrityError as exc:
            if stock.shortage_of(exc) is None:
                raise
            created, short = self._one_by_one(plan, mapped)
        refused += short
        self._refuse(plan, short)
        if created:
            self._settle_paid(job_id)
            first, last = db.session.execute(
                text(
                    f"SELECT min(o.order_number), max(o.order_number) FROM {ORDERS} i "
                    "JOIN orders o ON o.id = i.id AND o.organization_id = :org"
                ),
                {"org": current_organization_id()},
            ).one()
            writing.record_created("orders", first, last, created, job_id)
        return Stats(created=created, updated=0, refused=refused)

    def update(self, plan: str, job_id: int, mapped: tuple[str, ...]) -> int:
        return 0  # orders are never changed by a file (check_mapping refuses "update")

    def create(self, plan: str, job_id: int, mapped: tuple[str, ...]) -> int:
        return self.write(plan, job_id, mapped, "create").created

    def _unknown_customers(self, plan: str, mapped: tuple[str, ...]) -> list[tuple[int, str, str]]:
        """Valid rows naming no customer (or, by email, several), rejected in the plan."""
        counts = " ".join(
            f"WHEN p.{name} IS NOT NULL THEN (SELECT count(*) FROM customers c "
            f"WHERE c.organization_id = :org AND c.{name} = p.{name})"
            for name in ("customer_code", "primary_email")
            if name in mapped
        )
        rows = db.session.execute(
            text(
                f"SELECT row_number, found, customer_code IS NOT NULL AS by_code FROM ("
                f"SELECT p.row_number, CASE {counts} END AS found, "
                f"{'p.customer_code' if 'customer_code' in mapped else 'NULL'} AS customer_code "
                f"FROM {plan} p WHERE p.action = 'create') r WHERE found <> 1 "
                "ORDER BY row_number"
            ),
            {"org": current_organization_id()},
        ).all()
        refused = []
        for number, found, by_code in rows:
            if by_code:
                reason = self.reason({"customer_code": _("No customer has this code.")})
            elif found:
                reason = self.reason(
                    {"primary_email": _("Several customers have this email; give the code.")}
                )
            else:
                reason = self.reason({"primary_email": _("No customer has this email.")})
            refused.append((number, "reject", reason))
        if refused:
            db.session.execute(
                text(
                    f"UPDATE {plan} SET action = 'reject' "
                    "WHERE row_number = ANY(CAST(:numbers AS integer[]))"
                ),
                {"numbers": [number for number, _action, _note in refused]},
            )
        return refused

    def _left_out(self, plan: str, mapped: tuple[str, ...]) -> list[tuple[int, str, str]]:
        """The valid rows of orders that cannot be written whole: a reference imported before,
        another row of the order rejected, rows disagreeing on the order's fields."""
        fields = [name for name in ORDER_LEVEL if name in mapped]
        disagree = ", ".join(f"count(DISTINCT {name}) > 1 AS {name}" for name in fields)
        rows = db.session.execute(
            text(
                f"""
                WITH g AS (
                    SELECT external_ref,
                           min(row_number) FILTER (WHERE action = 'reject') AS bad_row,
                           {disagree}
                    FROM {plan} WHERE external_ref IS NOT NULL GROUP BY external_ref
                )
                SELECT p.row_number, p.external_ref, o.order_number, g.*
                FROM {plan} p
                JOIN g ON g.external_ref = p.external_ref
                LEFT JOIN orders o
                    ON o.organization_id = :org AND o.external_ref = p.external_ref
                WHERE p.action = 'create'
                ORDER BY p.row_number
                """
            ),
            {"org": current_organization_id()},
        ).mappings()
        refused = []
        for row in rows:
            ref = row["external_ref"]
            if row["order_number"]:
                note = _("Already imported as order %(number)s.", number=row["order_number"])
                refused.append((row["row_number"], "skip", note))
            elif row["bad_row"]:
                note = _(
                    "Row %(row)s of order %(ref)s is rejected; the order is left out whole.",
                    row=row["bad_row"],
                    ref=ref,
                )
                refused.append((row["row_number"], "reject", note))
            elif conflict := next((name for name in fields if row[name]), None):
                note = _(
                    "The rows of order %(ref)s give different values of %(field)s.",
                    ref=ref,
                    field=self.field(conflict).label_on_form,
                )
                refused.append((row["row_number"], "reject", note))
        return refused

    def _refuse(self, plan: str, refused: list[tuple[int, str, str]]) -> None:
        if not refused:
            return
        db.session.execute(
            text(
                f"UPDATE {plan} p SET action = 'refused' "
                "WHERE p.row_number = ANY(CAST(:numbers AS integer[]))"
            ),
            {"numbers": [number for number, _action, _note in refused]},
        )

    def _gather(self, plan: str, mapped: tuple[str, ...]) -> None:
        """One row per order to write, in file order: its id, customer and own fields."""
        org = current_organization_id()

        def given(name: str, default: str) -> str:
            return f"coalesce(f.{name}, {default})" if name in mapped else default

        customer = " ".join(
            f"WHEN f.{name} IS NOT NULL THEN (SELECT min(c.id) FROM customers c "
            f"WHERE c.organization_id = :org AND c.{name} = f.{name})"
            for name in ("customer_code", "primary_email")
            if name in mapped
        )
        order_level = ", ".join(
            f"max({name}) OVER (PARTITION BY external_ref) AS {name}"
            for name in ORDER_LEVEL
            if name in mapped
        )
        db.session.execute(text(f"DROP TABLE IF EXISTS pg_temp.{ORDERS}"))
        db.session.execute(
            text(
                f"""
                CREATE TEMP TABLE {ORDERS} ON COMMIT DROP AS
                SELECT nextval('orders_id_seq') AS id,
                       row_number() OVER (ORDER BY f.row_number) AS seq,
                       NULL::bigint AS number,
                       f.external_ref,
                       CASE {customer} END AS customer_id,
                       {given("status", "'pending'")} AS status,
                       {given("channel", "'store'")} AS channel,
                       {given("payment_method", "''")} AS payment_method,
                       {given("ordered_at", "now()::text")}::timestamptz AS ordered_at,
                       {given("notes", "''")} AS notes
                FROM (
                    SELECT DISTINCT ON (external_ref) row_number, external_ref, {order_level}
                    FROM {plan} WHERE action = 'create'
                    ORDER BY external_ref, row_number
                ) f
                ORDER BY f.row_number
                """
            ),
            {"org": org},
        )
        db.session.execute(text(f"ANALYZE {ORDERS}"))

    def _insert(self, plan: str, mapped: tuple[str, ...], order_id: int | None) -> int:
        """Write the lines, then the rows, of the gathered orders (of one, given `order_id`);
        returns how many. The lines' statement takes the stock or raises the guard's error."""
        org = current_organization_id()
        which = "" if order_id is None else "AND o.id = :order"
        bind = {"org": org, "order": order_id}
        quantity = "coalesce(p.quantity, 1)" if "quantity" in mapped else "1"
        price = "coalesce(p.unit_price, t.price)" if "unit_price" in mapped else "t.price"
        discount = "coalesce(p.discount_percent, 0)" if "discount_percent" in mapped else "0"
        db.session.execute(
            text(
                f"""
                INSERT INTO order_lines
                    (organization_id, order_id, position, product_id, category_id, sku, name,
                     quantity, unit_price, discount_percent, tax_rate, net_amount, tax_amount,
                     line_total, returned_quantity)
                SELECT :org, l.order_id, l.position, l.product_id, l.category_id, l.sku, l.name,
                       l.quantity, l.unit_price, l.discount, l.tax_rate, l.net,
                       round(l.net * l.tax_rate / 100, 2), l.net + round(l.net * l.tax_rate / 100, 2),
                       0
                FROM (
                    SELECT o.id AS order_id,
                           row_number() OVER (PARTITION BY o.id ORDER BY p.row_number) AS position,
                           t.id AS product_id, t.category_id, t.sku, t.name, t.tax_rate,
                           {quantity} AS quantity, {price} AS unit_price, {discount} AS discount,
                           round({quantity} * {price} * (100 - {discount}) / 100, 2) AS net
                    FROM {plan} p
                    JOIN {ORDERS} o ON o.external_ref = p.external_ref {which}
                    JOIN products t ON t.organization_id = :org AND lower(t.sku) = lower(p.sku)
                    WHERE p.action = 'create'
                ) l
                ORDER BY l.product_id, l.order_id
                """
            ),
            bind,
        )
        count = db.session.execute(
            text(f"SELECT count(*) FROM {ORDERS} o WHERE true {which}"), bind
        ).scalar_one()
        first = allocate(org, "order", count)
        number = document_number_sql("ORD", literal_column("o.number")).compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
        db.session.execute(
            text(
                f"UPDATE {ORDERS} o SET number = :first + o.seq - "
                f"(SELECT min(seq) FROM {ORDERS} o WHERE true {which}) WHERE true {which}"
            ),
            {**bind, "first": first},
        )
        currency = db.session.get(Organization, org).currency
        db.session.execute(
            text(
                f"""
                INSERT INTO orders
                    (id, organization_id, order_number, customer_id, status, channel,
                     payment_method, currency, subtotal, tax_total, discount_total, total,
                     refunded_total, coupon_code, external_ref, notes, ordered_at, paid_at,
                     created_by_id)
                SELECT o.id, :org, {number}, o.customer_id, o.status, o.channel,
                       o.payment_method, :currency, l.net, l.tax, 0, l.net + l.tax, 0, '',
                       o.external_ref, o.notes, o.ordered_at,
                       CASE WHEN o.status = 'paid' THEN o.ordered_at END, :user
                FROM {ORDERS} o
                JOIN (
                    SELECT order_id, sum(net_amount) AS net, sum(tax_amount) AS tax
                    FROM order_lines
                    WHERE organization_id = :org AND order_id IN (SELECT id FROM {ORDERS})
                    GROUP BY order_id
                ) l ON l.order_id = o.id
                WHERE true {which}
                ORDER BY o.seq
                """
            ),
            {**bind, "currency": currency, "user": current_tenant().user_id},
        )
        return count

    def _one_by_one(
        self, plan: str, mapped: tuple[str, ...]
    ) -> tuple[int, list[tuple[int, str, str]]]:
        """Each order in its own savepoint, in file order: (how many written, the rows of the
        orders the stock guard refused)."""
        created, refused = 0, []
        orders = db.session.execute(
            text(f"SELECT id, external_ref FROM {ORDERS} ORDER BY seq")
        ).all()
        for order_id, ref in orders:
            try:
                with db.session.begin_nested():
                    created += self._insert(plan, mapped, order_id)
            except IntegrityError as exc:
                shortage = stock.shortage_of(exc)
                if shortage is None:
                    raise
                refused += self._short_rows(plan, ref, shortage)
        db.session.execute(
            text(
                f"DELETE FROM {ORDERS} o WHERE NOT EXISTS (SELECT 1 FROM orders x "
                "WHERE x.id = o.id AND x.organization_id = :org)"
            ),
            {"org": current_organization_id()},
        )
        return created, refused

    def _short_rows(self, plan: str, ref: str, shortage) -> list[tuple[int, str, str]]:
        rows = db.session.execute(
            text(
                f"SELECT p.row_number, t.id, t.sku FROM {plan} p JOIN products t "
                "ON t.organization_id = :org AND lower(t.sku) = lower(p.sku) "
                "WHERE p.action = 'create' AND p.external_ref = :ref ORDER BY p.row_number"
            ),
            {"org": current_organization_id(), "ref": ref},
        ).all()
        sku = next((s for _n, pid, s in rows if pid == shortage.product_id), "?")
        message = _(
            "Order %(ref)s is left out whole: %(reason)s",
            ref=ref,
            reason=stock.shortage_message(sku, shortage),
        )
        return [(number, "reject", message) for number, _pid, _sku in rows]

    def _settle_paid(self, job_id: int) -> None:
        """Paid orders earn their points once the import commits (a dry run earns nothing)."""
        phase = db.session.execute(
            text("SELECT phase FROM import_jobs WHERE id = :job"), {"job": job_id}
        ).scalar_one()
        if phase != "import":
            return
        paid = db.session.scalars(
            text(f"SELECT id FROM {ORDERS} WHERE status = 'paid' ORDER BY seq")
        ).all()
        org = current_organization_id()
        for order_id in paid:
            jobs.enqueue_after_commit(jobs.SETTLE_ORDER_POINTS, org, order_id)


register(OrderTarget())
