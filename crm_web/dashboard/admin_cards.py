"""Admin cards: the organization at a glance (seed 004's operations dashboard, read from the
`operations_dashboard_rows` view, 0033) and system health (outbox, worker, failed jobs).

The health score is seed 004's: satisfaction (25 points: the average CSAT over 5), sales
(30 when any deal was won), support (20 when tickets are resolved within a day on average,
else 10) and marketing (25 when a campaign was sent).
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import text

from crm_web.dashboard.figures import Figure, Row, months, one
from crm_web.dashboard.registry import Card
from crm_web.extensions import db
from crm_web.outbox import services as outbox
from crm_web.system import services as system

HEARTBEAT_LATE = timedelta(minutes=5)


def health_score(row) -> Decimal:
    """Seed 004's overall health score out of 100 (see the module docstring)."""
    satisfaction = Decimal(row.avg_csat or 0) / 5 * 25
    sales = 30 if row.won_opportunities else 0
    support = 20 if row.avg_resolution_hours is not None and row.avg_resolution_hours < 24 else 10
    marketing = 25 if row.campaigns_sent else 0
    return (satisfaction + sales + support + marketing).quantize(Decimal("0.1"))


def operations(user) -> Figure:
    row = db_row()
    if row is None:
        return Figure(
            None, note=_("The figures are being computed; they appear after the next refresh.")
        )
    return Figure(
        health_score(row),
        "number",
        caption=_("Health score out of 100"),
        rows=[
            Row(_("Customers"), row.total_customers, url=url_for("customers.index")),
            Row(_("Active customers"), row.active_customers),
            Row(_("New in the last 30 days"), row.new_customers_30d),
            Row(_("Deals won"), row.won_opportunities),
            Row(_("Revenue won"), row.total_revenue_won, "money"),
            Row(_("Average sales cycle"), _one_decimal(row.avg_cycle_days), "days"),
            Row(_("Open tickets"), row.open_tickets, url=url_for("tickets.index", view="all")),
            Row(_("Average resolution"), _one_decimal(row.avg_resolution_hours), "hours"),
            Row(_("Average CSAT"), _one_decimal(row.avg_csat), "rating"),
            Row(_("Active campaigns"), row.active_campaigns),
        ],
        as_of=row.refreshed_at,
    )


def db_row():
    """The organization's row of the operations view, or None before its first refresh."""
    return db.session.execute(text("SELECT * FROM operations_dashboard_rows")).first()


def _one_decimal(value) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.1"))


def system_health(user) -> Figure:
    report = outbox.report()
    heartbeat = system.last_worker_heartbeat()
    failed = one(
        "SELECT count(*) AS n FROM failed_jobs WHERE failed_at >= :since",
        months(),
        since=datetime.now(UTC) - timedelta(days=1),
    ).n
    late = heartbeat is None or datetime.now(UTC) - heartbeat > HEARTBEAT_LATE
    return Figure(
        report.queued,
        caption=_("Messages waiting in the outbox"),
        rows=[
            Row(_("Failed sends (24 hours)"), report.last_day.get("failed", 0)),
            Row(_("Sent per minute"), report.sent_per_minute),
            Row(_("Failed jobs (24 hours)"), failed),
            Row(
                _("Worker heartbeat"),
                heartbeat,
                "datetime",
                note=_("late: is a worker running?") if late else "",
            ),
        ],
        drill_url=url_for("system.index"),
    )


CARDS = (
    Card("operations", _l("Organization at a glance"), ("admin",), operations, order=10, wide=True),
    Card("system_health", _l("System health"), ("admin",), system_health, order=20),
)
