"""Reports (seed 003): five charts and four CSV reports over a period given in the URL.

Charts: customer type distribution (from the operations view, 0036), revenue by day, the top
ten customers by lifetime value (customer value, RFM), interactions by type and the top
products by revenue. CSV reports: customers, interactions, pipeline and product revenue, each
streamed through the one CSV writer. Revenue is what the sales analytics count: purchased
orders after refunds (crm_web/catalog/analytics.py), lines at their kept units.

Revenue, products and interactions are summed from the day views (0039: `order_days`,
`product_days`, `communication_days`, refreshed with the dashboards), so the page says when
they were refreshed. The period is the report's only filter and is whole days in the
organization's time zone, the views' own days, so every period is served from them; the
CSV reports of rows (customers, interactions, pipeline) read the tables through their indexes.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import text

from crm_web.catalog import analytics
from crm_web.dashboard.figures import organization_zone
from crm_web.db import current_organization_id, current_tenant, tenant_scope
from crm_web.errors import ValidationError
from crm_web.extensions import db
from crm_web.labels import label
from crm_web.sla import charts

DEFAULT_DAYS = 30
MAX_DAYS = 366 * 3
TOP = 10
STREAM_ROWS = 2000

CSV_REPORTS = {
    "customers": _l("Customers"),
    "interactions": _l("Interactions"),
    "pipeline": _l("Pipeline"),
    "product-revenue": _l("Product revenue"),
}
CSV_HEADERS = {
    "customers": (
        "customer_code",
        "name",
        "customer_type",
        "lifecycle_stage",
        "email",
        "city",
        "customer_since",
        "orders",
        "lifetime_value",
    ),
    "interactions": (
        "created_at",
        "customer_code",
        "customer",
        "communication_type",
        "direction",
        "subject",
        "status",
    ),
    "pipeline": (
        "opportunity_number",
        "name",
        "customer_code",
        "stage",
        "status",
        "amount",
        "probability",
        "weighted_amount",
        "expected_close_date",
        "owner",
        "created_at",
        "closed_at",
    ),
    "product-revenue": ("sku", "product", "units", "revenue"),
}
KEPT = "l.line_total * (l.quantity - l.returned_quantity) / l.quantity"


@dataclass(frozen=True)
class Period:
    """The days a report covers, `start` to `end` included, in the organization's time zone."""

    start: date
    end: date

    @property
    def query(self) -> dict:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}

    def bounds(self) -> tuple[datetime, datetime]:
        zone = organization_zone()
        return (
            datetime.combine(self.start, time(), zone).astimezone(UTC),
            datetime.combine(self.end + timedelta(days=1), time(), zone).astimezone(UTC),
        )


def parse_period(args, today: date | None = None) -> Period:
    """The period of `from` and `to` (ISO dates) in `args`: the last 30 days by default."""
    today = today or datetime.now(organization_zone()).date()
    errors = {}
    values = {}
    for name, default in (("from", today - timedelta(days=DEFAULT_DAYS - 1)), ("to", today)):
        raw = (args.get(name) or "").strip()
        try:
            values[name] = date.fromisoformat(raw) if raw else default
        except ValueError:
            errors[name] = _("Use a date such as 2026-11-21.")
    if not errors and values["from"] > values["to"]:
        errors["from"] = _("The period starts after it ends.")
    if not errors and (values["to"] - values["from"]).days > MAX_DAYS:
        errors["from"] = _("A report covers at most three years.")
    if errors:
        raise ValidationError(_("Please correct the period."), errors)
    return Period(values["from"], values["to"])


def _rows(sql: str, period: Period | None = None, **params) -> list:
    bound = {}
    if period is not None:
        since, until = period.bounds()
        bound = {"since": since, "until": until}
    return db.session.execute(
        text(sql), {"org": current_organization_id(), **bound, **params}
    ).all()


def customer_types() -> list[tuple[str, int]]:
    """Customers per type, as of the operations view's last refresh."""
    row = db.session.execute(
        text("SELECT customers_by_type FROM operations_dashboard_rows")
    ).first()
    if row is None:
        return []
    found = sorted(row.customers_by_type.items(), key=lambda item: (-item[1], item[0]))
    return [(label(kind, "customer_type"), count) for kind, count in found]


def _days(period: Period) -> dict:
    """The period as the days of the day views (0039), which are in the organization's time
    zone as the period is: the same rows as bounding the instants by `Period.bounds`."""
    return {"first": period.start, "last": period.end}


def revenue_by_day(period: Period) -> list[tuple[date, Decimal]]:
    found = {
        row.day: row.revenue
        for row in _rows(
            """SELECT day, revenue FROM order_days_rows
                WHERE day >= :first AND day <= :last""",
            **_days(period),
        )
    }
    days = (period.end - period.start).days + 1
    return [
        (day, found.get(day, Decimal("0")))
        for day in (period.start + timedelta(days=n) for n in range(days))
    ]


def interaction_types(period: Period) -> list[tuple[str, int]]:
    return [
        (label(row.communication_type, "communication_type"), row.n)
        for row in _rows(
            """SELECT communication_type, sum(interactions)::bigint AS n
                 FROM communication_days_rows
                WHERE day >= :first AND day <= :last
                GROUP BY 1 ORDER BY n DESC, 1""",
            **_days(period),
        )
    ]


def _product_revenue_sql(limit: bool) -> str:
    # The day's revenue is kept unrounded: the period's sum rounds as one live sum would.
    return f"""SELECT sku, max(name) AS name, sum(units)::bigint AS units,
                      round(sum(revenue), 2) AS revenue
                 FROM product_days_rows
                WHERE day >= :first AND day <= :last
                GROUP BY sku ORDER BY revenue DESC, sku{" LIMIT :top" if limit else ""}"""


def top_products(period: Period) -> list:
    return _rows(_product_revenue_sql(True), top=TOP, **_days(period))


def as_of() -> datetime | None:
    """When the oldest of the views the page reads was refreshed (its figures' "as of")."""
    return db.session.execute(
        text(
            """SELECT least((SELECT max(refreshed_at) FROM order_days_rows),
                            (SELECT max(refreshed_at) FROM product_days_rows),
                            (SELECT max(refreshed_at) FROM communication_days_rows),
                            (SELECT refreshed_at FROM operations_dashboard_rows))"""
        )
    ).scalar()


@dataclass
class Report:
    period: Period
    charts: list[charts.Chart]
    tables: dict[str, list]
    as_of: datetime | None


def _money_label(value: float) -> str:
    return f"{value:,.0f}"


def build(period: Period) -> Report:
    """The reports page: its five charts and the tables under them."""
    types = customer_types()
    revenue = revenue_by_day(period)
    top_customers = analytics.top_customers(TOP)
    interactions = interaction_types(period)
    products = top_products(period)
    series = charts.Series
    return Report(
        period=period,
        charts=[
            charts.bar_chart(
                _("Customers by type"),
                [name for name, _count in types],
                [series(_("Customers"), "series-a", [count for _name, count in types])],
                label=_money_label,
                width=480,
            ),
            charts.bar_chart(
                _("Revenue by day"),
                [day.strftime("%d/%m") for day, _amount in revenue],
                [series(_("Revenue"), "series-a", [float(amount) for _day, amount in revenue])],
                label=_money_label,
                width=960,
            ),
            charts.bar_chart(
                _("Top customers by lifetime value"),
                [row.name[:14] for row in top_customers],
                [
                    series(
                        _("Lifetime value"), "series-a", [float(r.monetary) for r in top_customers]
                    )
                ],
                label=_money_label,
                width=960,
            ),
            charts.bar_chart(
                _("Interactions by type"),
                [name for name, _count in interactions],
                [series(_("Interactions"), "series-a", [n for _name, n in interactions])],
                label=_money_label,
                width=480,
            ),
            charts.bar_chart(
                _("Top products by revenue"),
                [row.sku for row in products],
                [series(_("Revenue"), "series-a", [float(row.revenue) for row in products])],
                label=_money_label,
                width=960,
            ),
        ],
        tables={
            "types": types,
            "revenue": revenue,
            "customers": top_customers,
            "interactions": interactions,
            "products": products,
        },
        as_of=as_of(),
    )


def _stream(sql: str, period: Period | None = None, **params) -> Iterator:
    """The rows of `sql`, read in batches from a server-side cursor (a million customers).

    The generator keeps the caller's tenant: a response streams it after the request's own
    scope has ended (as the customer export does)."""
    tenant = current_tenant()
    bound = {"org": tenant.organization_id, **params}
    if period is not None:
        bound["since"], bound["until"] = period.bounds()

    def rows() -> Iterator:
        with tenant_scope(tenant.organization_id, tenant.user_id):
            result = db.session.execute(text(sql).execution_options(yield_per=STREAM_ROWS), bound)
            for row in result:
                yield [_cell(value) for value in row]

    return rows()


def _cell(value):
    """Times as ISO 8601 to the second, as the API and the customer export write them."""
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else value


def csv_rows(name: str, period: Period) -> Iterator:
    """The rows of CSV report `name` (see CSV_HEADERS); customers are every customer, the
    others the period's."""
    if name == "customers":
        return _stream(
            """SELECT c.customer_code,
                      CASE WHEN c.customer_type = 'company' AND c.company_name <> ''
                           THEN c.company_name
                           ELSE btrim(c.first_name || ' ' || c.last_name) END,
                      c.customer_type, c.lifecycle_stage, c.primary_email, c.city,
                      c.customer_since, coalesce(v.order_count, 0), coalesce(v.monetary, 0)
                 FROM customers c LEFT JOIN customer_values v
                   ON v.customer_id = c.id AND v.organization_id = c.organization_id
                WHERE c.organization_id = :org ORDER BY c.id"""
        )
    if name == "interactions":
        return _stream(
            """SELECT m.created_at, c.customer_code,
                      CASE WHEN c.customer_type = 'company' AND c.company_name <> ''
                           THEN c.company_name
                           ELSE btrim(c.first_name || ' ' || c.last_name) END,
                      m.communication_type, m.direction, m.subject, m.status
                 FROM communications m JOIN customers c
                   ON c.id = m.customer_id AND c.organization_id = m.organization_id
                WHERE m.organization_id = :org AND m.created_at >= :since
                  AND m.created_at < :until
                ORDER BY m.created_at, m.id""",
            period,
        )
    if name == "pipeline":
        return _stream(
            """SELECT o.opportunity_number, o.name, c.customer_code, s.name, o.status, o.amount,
                      o.probability, round(o.amount * o.probability / 100, 2),
                      o.expected_close_date, coalesce(u.name, ''), o.created_at, o.closed_at
                 FROM opportunities o
                 JOIN customers c ON c.id = o.customer_id AND c.organization_id = o.organization_id
                 JOIN pipeline_stages s ON s.id = o.stage_id AND s.organization_id = o.organization_id
                 LEFT JOIN users u ON u.id = o.owner_id AND u.organization_id = o.organization_id
                WHERE o.organization_id = :org
                  AND (o.status = 'open' OR (o.closed_at >= :since AND o.closed_at < :until))
                ORDER BY o.id""",
            period,
        )
    return _stream(_product_revenue_sql(False), **_days(period))
