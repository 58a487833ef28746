"""Refreshing the dashboards' materialized views (0036, 0039): concurrently, so readers never
wait."""

import time

from sqlalchemy import text

from crm_web import jobs
from crm_web.extensions import db

REFRESH_SECONDS = 15 * 60
# Every view refresh_dashboard_view() accepts, in the order the job refreshes them.
VIEWS = (
    "sales_dashboard",
    "operations_dashboard",
    "activity_months",
    "ticket_months",
    "ticket_month_medians",
    "csat_months",
    "consent_months",
    "order_days",
    "product_days",
    "communication_days",
    "campaign_results",
)


def refresh() -> dict[str, float]:
    """Refresh every dashboard view for every organization; returns the seconds each took.
    Each commits on its own, so a reader waits for none and a long one holds no other back."""
    seconds = {}
    for view in VIEWS:
        started = time.perf_counter()
        db.session.execute(text("SELECT refresh_dashboard_view(:view)"), {"view": view})
        db.session.commit()
        seconds[view] = time.perf_counter() - started
    return seconds


def refresh_later() -> None:
    """Ask a worker to refresh the dashboards (after a bulk change: an import, a seed)."""
    jobs.enqueue(jobs.REFRESH_DASHBOARDS)
