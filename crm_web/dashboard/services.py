"""Refreshing the dashboards' materialized views (0033): concurrently, so readers never wait."""

import time

from sqlalchemy import text

from crm_web import jobs
from crm_web.extensions import db

REFRESH_SECONDS = 15 * 60


def refresh() -> float:
    """Refresh `sales_dashboard` and `operations_dashboard` for every organization; returns the
    seconds it took. Readers keep reading the previous rows meanwhile (CONCURRENTLY)."""
    started = time.perf_counter()
    db.session.execute(text("SELECT refresh_dashboards()"))
    db.session.commit()
    return time.perf_counter() - started


def refresh_later() -> None:
    """Ask a worker to refresh the dashboards (after a bulk change: an import, a seed)."""
    jobs.enqueue(jobs.REFRESH_DASHBOARDS)
