"""Sales analytics (seed 003's analytics; seed 002's): revenue by month against the year before,
orders, average order, repeat purchase rate, revenue by category and product, top customers and
the RFM segments, for the page, its charts and its CSV exports.

Revenue is what buyers kept paying for: purchased orders (paid, not cancelled or wholly
returned) at their total after refunds, counted in the month they were ordered (in the
organization's time zone). By category and product: the lines' totals for the units kept
(before an order-wide coupon). The period is the last twelve months, this one included.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import text

from crm_web.accounts.models import Organization
from crm_web.catalog import customer_value
from crm_web.catalog.orders import PURCHASED
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.formatting import local, number
from crm_web.sla import charts

CENT = Decimal("0.01")
TOP = 10
# CSV exports: name -> the header of its rows.
EXPORTS = {
    "months": ("month", "orders", "revenue", "revenue_year_before"),
    "categories": ("category", "units", "revenue"),
    "products": ("sku", "product", "units", "revenue"),
    "customers": ("customer_code", "customer", "orders", "value", "segment"),
    "segments": ("segment", "customers", "value"),
}


@dataclass(frozen=True)
class Month:
    start: dt.date
    orders: int
    revenue: Decimal
    year_before: Decimal

    @property
    def label(self) -> str:
        return self.start.strftime("%Y-%m")


@dataclass
class SalesReport:
    currency: str
    start: dt.date
    months: list[Month]
    revenue: Decimal
    previous_revenue: Decimal
    orders: int
    previous_orders: int
    buyers: int
    repeat_buyers: int
    categories: list[tuple] = field(default_factory=list)
    products: list[tuple] = field(default_factory=list)
    customers: list[tuple] = field(default_factory=list)
    segments: list = field(default_factory=list)
    segments_computed_at: dt.datetime | None = None
    chart: charts.Chart | None = None

    @property
    def average_order(self) -> Decimal | None:
        return (self.revenue / self.orders).quantize(CENT, ROUND_HALF_UP) if self.orders else None

    @property
    def repeat_rate(self) -> Decimal | None:
        """The share of the period's buyers who bought more than once, in percent."""
        if not self.buyers:
            return None
        return (Decimal(100) * self.repeat_buyers / self.buyers).quantize(Decimal("0.1"))

    @property
    def growth(self) -> Decimal | None:
        """Revenue against the twelve months before, in percent."""
        if not self.previous_revenue:
            return None
        change = (self.revenue - self.previous_revenue) / self.previous_revenue * 100
        return change.quantize(Decimal("0.1"))


def _month_starts(today: dt.date, count: int) -> list[dt.date]:
    year, month = today.year, today.month
    starts = []
    for _step in range(count):
        starts.append(dt.date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return list(reversed(starts))


def _rows(sql: str, **params) -> list:
    return db.session.execute(text(sql), {"org": current_organization_id(), **params}).all()


def _money_label(value: float) -> str:
    return number(value, 0)


def sales_report(now: dt.datetime | None = None) -> SalesReport:
    """The analytics page's figures (definitions in the module docstring)."""
    organization = db.session.get(Organization, current_organization_id())
    zone = ZoneInfo(organization.timezone or "UTC")
    now = now or dt.datetime.now(dt.UTC)
    starts = _month_starts(now.astimezone(zone).date(), 24)
    previous_start, start = starts[0], starts[12]
    since = dt.datetime.combine(previous_start, dt.time(), zone)
    period = dt.datetime.combine(start, dt.time(), zone)
    by_month = {
        row.month: row
        for row in _rows(
            f"""SELECT (date_trunc('month', ordered_at AT TIME ZONE :zone))::date AS month,
                       count(*) AS orders, sum(total - refunded_total) AS revenue
                  FROM orders
                 WHERE organization_id = :org AND status IN {PURCHASED} AND ordered_at >= :since
                 GROUP BY 1""",
            zone=zone.key,
            since=since,
        )
    }

    def revenue(month: dt.date) -> Decimal:
        return by_month[month].revenue if month in by_month else Decimal("0")

    months = [
        Month(
            month,
            by_month[month].orders if month in by_month else 0,
            revenue(month),
            revenue(before),
        )
        for before, month in zip(starts[:12], starts[12:], strict=True)
    ]
    buyers = _rows(
        f"""SELECT count(*) AS buyers, count(*) FILTER (WHERE n > 1) AS repeat
              FROM (SELECT customer_id, count(*) AS n FROM orders
                     WHERE organization_id = :org AND status IN {PURCHASED}
                       AND ordered_at >= :period GROUP BY customer_id) b""",
        period=period,
    )[0]
    kept = "l.line_total * (l.quantity - l.returned_quantity) / l.quantity"
    lines = f"""FROM order_lines l JOIN orders o ON o.id = l.order_id AND o.organization_id = :org
                WHERE l.organization_id = :org AND o.status IN {PURCHASED}
                  AND o.ordered_at >= :period AND l.quantity > l.returned_quantity"""
    report = SalesReport(
        currency=organization.currency,
        start=start,
        months=months,
        revenue=sum((m.revenue for m in months), Decimal("0")),
        previous_revenue=sum((m.year_before for m in months), Decimal("0")),
        orders=sum(m.orders for m in months),
        previous_orders=sum(by_month[m].orders for m in starts[:12] if m in by_month),
        buyers=buyers.buyers,
        repeat_buyers=buyers.repeat,
        categories=_rows(
            f"""SELECT coalesce(c.name, :none) AS name, sum(l.quantity - l.returned_quantity) AS units,
                       round(sum({kept}), 2) AS revenue
                  {lines.replace("WHERE", "LEFT JOIN product_categories c ON c.id = l.category_id WHERE", 1)}
                 GROUP BY 1 ORDER BY revenue DESC""",
            period=period,
            none=_("No category"),
        ),
        products=_rows(
            f"""SELECT l.sku, max(l.name) AS name, sum(l.quantity - l.returned_quantity) AS units,
                       round(sum({kept}), 2) AS revenue
                  {lines}
                 GROUP BY l.sku ORDER BY revenue DESC LIMIT :top""",
            period=period,
            top=TOP,
        ),
        customers=top_customers(TOP),
    )
    report.segments, report.segments_computed_at = customer_value.segments()
    report.chart = charts.bar_chart(
        _("Revenue by month (%(currency)s)", currency=organization.currency),
        [local(m.start, "month") for m in months],
        [
            charts.Series(_("Last 12 months"), "series-a", [float(m.revenue) for m in months]),
            charts.Series(_("The year before"), "series-b", [float(m.year_before) for m in months]),
        ],
        label=_money_label,
        width=1100,
        height=250,
    )
    return report


def top_customers(limit: int) -> list:
    """The most valuable buyers as last recomputed: code, name, orders, value, segment."""
    return _rows(
        """SELECT c.id, c.customer_code,
                  CASE WHEN c.customer_type = 'company' AND c.company_name <> '' THEN c.company_name
                       ELSE btrim(c.first_name || ' ' || c.last_name) END AS name,
                  v.order_count, v.monetary, v.segment
             FROM customer_values v JOIN customers c ON c.id = v.customer_id
            WHERE v.organization_id = :org AND c.organization_id = :org
            ORDER BY v.monetary DESC, v.customer_id LIMIT :limit""",
        limit=limit,
    )


def export_rows(table: str, report: SalesReport):
    """The rows of one CSV export of the report (see EXPORTS)."""
    if table == "months":
        return [(m.label, m.orders, m.revenue, m.year_before) for m in report.months]
    if table == "categories":
        return [(row.name, row.units, row.revenue) for row in report.categories]
    if table == "products":
        return [(row.sku, row.name, row.units, row.revenue) for row in report.products]
    if table == "customers":
        return [
            (row.customer_code, row.name, row.order_count, row.monetary, row.segment)
            for row in top_customers(1000)
        ]
    return [(s.label, s.customers, s.value) for s in report.segments]
