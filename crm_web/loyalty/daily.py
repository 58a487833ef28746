"""The loyalty program's periodic work, per organization: points past their date expire, tiers
whose yearly review has come are reviewed, and orders whose settling nudge was lost are settled
(settling is idempotent, so settling again costs nothing)."""

import datetime as dt
import logging

from sqlalchemy import text

from crm_web import jobs
from crm_web.db import atomic, current_organization_id
from crm_web.extensions import db
from crm_web.loyalty import earning, ledger, members

log = logging.getLogger("crm.loyalty")

# How far back the run looks for orders to settle again: it runs every hour, so a day is
# many chances for a nudge lost while Redis was down.
SETTLE_AGAIN = dt.timedelta(days=1)


def run(now: dt.datetime | None = None) -> dict[str, int]:
    """Expire, review and settle for the current organization; what each did."""
    now = now or dt.datetime.now(dt.UTC)
    expired = atomic(ledger.expire_points)(now)
    reviewed = members.review_due_tiers(now)
    settled = 0
    for order_id in earning.orders_to_settle(now - SETTLE_AGAIN):
        result = earning.settle_order(order_id, now=now)
        settled += bool(result.earned or result.reversed)
    log.info(
        "loyalty run org=%s expiries=%d tiers_changed=%d orders_settled=%d",
        current_organization_id(),
        expired,
        reviewed,
        settled,
    )
    return {"expired": expired, "reviewed": reviewed, "settled": settled}


def schedule_everywhere() -> int:
    """Enqueue the run for every organization with an active program (no tenant is set)."""
    organization_ids = list(db.session.execute(text("SELECT loyalty_organizations()")).scalars())
    for organization_id in organization_ids:
        jobs.enqueue(jobs.RUN_LOYALTY_DAY, organization_id)
    return len(organization_ids)
