"""Customer value: RFM scores (recency, frequency, monetary quintiles) and each buyer's segment,
recomputed set-based by a worker job (nightly, or when asked on the analytics page).

Buyers are the customers with a purchase (a paid order not cancelled or wholly returned). Each
score is the buyer's quintile among the organization's buyers: R by the last purchase (newest
5), F by how many purchases (ties by value), M by their value after refunds. Segments, by R
and F:

    champions        R 4-5, F 4-5        cannot_lose   R 1-2, F 4-5
    loyal            R 3-5, F 3-5 (rest) at_risk       R 1-2, F 3
    new              R 5,   F 1          needs_attention R 3, F 1-2
    promising        R 4-5, F 1-2 (rest) hibernating   R 1-2, F 1-2

A customer who stopped being a buyer (their orders returned) loses their row.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text

from crm_web import jobs
from crm_web.catalog.models import RFM_SEGMENTS, CustomerValue, CustomerValueRun
from crm_web.catalog.orders import PURCHASED
from crm_web.db import atomic, current_organization_id
from crm_web.extensions import db

log = logging.getLogger("crm.catalog")

SEGMENT_LABELS = {
    "champions": _l("Champions"),
    "loyal": _l("Loyal"),
    "new": _l("New"),
    "promising": _l("Promising"),
    "needs_attention": _l("Needs attention"),
    "cannot_lose": _l("Cannot lose them"),
    "at_risk": _l("At risk"),
    "hibernating": _l("Hibernating"),
}

# One statement: the buyers' figures come off ix_orders_org_customer already in customer order
# (a group aggregate, no sort) and each score is one window sort; the value sorts as whole
# cents, an exact bigint in the same order (the amounts have two decimals), which compares
# much faster than a numeric. Only the values whose figures or scores changed are updated (a
# nightly run rewrites few, and locks no others: an upsert would lock every row it meets),
# new buyers are inserted in customer order (the primary key's entries go to its right edge,
# not all over it), and the values of former buyers are deleted. The three act on disjoint
# rows, on the statement's one snapshot. Recomputes of one organization take turns (the
# advisory lock below), so two never insert the same buyer.
RECOMPUTE = f"""
WITH buyers AS (
    SELECT customer_id, count(*) AS order_count, sum(total - refunded_total) AS monetary,
           min(ordered_at) AS first_order_at, max(ordered_at) AS last_order_at
      FROM orders
     WHERE organization_id = :org AND status IN {PURCHASED}
     GROUP BY customer_id
), scored AS (
    SELECT customer_id, order_count, monetary, first_order_at, last_order_at, r, f, m,
           CASE
               WHEN r >= 4 AND f >= 4 THEN 'champions'
               WHEN r <= 2 AND f >= 4 THEN 'cannot_lose'
               WHEN r <= 2 AND f = 3 THEN 'at_risk'
               WHEN r <= 2 THEN 'hibernating'
               WHEN f >= 3 THEN 'loyal'
               WHEN r = 5 AND f = 1 THEN 'new'
               WHEN r >= 4 THEN 'promising'
               ELSE 'needs_attention'
           END AS segment
      FROM (SELECT *,
                   ntile(5) OVER (ORDER BY last_order_at, customer_id) AS r,
                   ntile(5) OVER (ORDER BY order_count, cents, customer_id) AS f,
                   ntile(5) OVER (ORDER BY cents, customer_id) AS m
              FROM (SELECT *, (monetary * 100)::bigint AS cents FROM buyers) AS counted
           ) AS ranked
), changed AS (
    UPDATE customer_values v SET
        order_count = s.order_count, monetary = s.monetary, first_order_at = s.first_order_at,
        last_order_at = s.last_order_at, r_score = s.r, f_score = s.f, m_score = s.m,
        segment = s.segment, computed_at = :now
      FROM scored s
     WHERE v.customer_id = s.customer_id AND v.organization_id = :org
       AND (v.order_count, v.monetary, v.first_order_at, v.last_order_at, v.r_score, v.f_score,
            v.m_score, v.segment)
           IS DISTINCT FROM
           (s.order_count, s.monetary, s.first_order_at, s.last_order_at, s.r, s.f, s.m,
            s.segment)
    RETURNING 1
), added AS (
    INSERT INTO customer_values
        (organization_id, customer_id, order_count, monetary, first_order_at, last_order_at,
         r_score, f_score, m_score, segment, computed_at)
    SELECT :org, customer_id, order_count, monetary, first_order_at, last_order_at, r, f, m,
           segment, :now
      FROM scored s
     WHERE NOT EXISTS (SELECT 1 FROM customer_values v WHERE v.customer_id = s.customer_id)
     ORDER BY customer_id
    RETURNING 1
), gone AS (
    DELETE FROM customer_values v
     WHERE v.organization_id = :org
       AND NOT EXISTS (SELECT 1 FROM scored s WHERE s.customer_id = v.customer_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM scored), (SELECT count(*) FROM changed),
       (SELECT count(*) FROM added), (SELECT count(*) FROM gone)
"""

# When the organization's values were last recomputed (whether or not any changed).
RECORD_RUN = """
INSERT INTO customer_value_runs AS r (organization_id, computed_at, buyers)
VALUES (:org, :now, :buyers)
ON CONFLICT (organization_id) DO UPDATE SET computed_at = excluded.computed_at,
    buyers = excluded.buyers
"""


@atomic
def recompute(now: dt.datetime | None = None) -> int:
    """Recompute every buyer's value and segment in the current organization; how many buyers."""
    now = now or dt.datetime.now(dt.UTC)
    params = {"org": current_organization_id(), "now": now}
    # The three window sorts and the buyers kept for the delete, in memory (about 200 MB for a
    # million buyers) rather than spilled to disk.
    db.session.execute(text("SET LOCAL work_mem = '256MB'"))
    db.session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('customer-values:' || :org, 0))"),
        params,
    )
    buyers, changed, added, gone = db.session.execute(text(RECOMPUTE), params).one()
    db.session.execute(text(RECORD_RUN), {**params, "buyers": buyers})
    log.info(
        "customer values recomputed org=%s buyers=%d changed=%d added=%d removed=%d",
        params["org"],
        buyers,
        changed,
        added,
        gone,
    )
    return buyers


def recompute_later() -> None:
    """Have a worker recompute the current organization's values after this commit."""
    jobs.enqueue_after_commit(jobs.RECOMPUTE_CUSTOMER_VALUES, current_organization_id())


def schedule_everywhere() -> int:
    """Enqueue the recompute for every organization that sells (no tenant is set)."""
    organization_ids = list(db.session.execute(text("SELECT commerce_organizations()")).scalars())
    for organization_id in organization_ids:
        jobs.enqueue(jobs.RECOMPUTE_CUSTOMER_VALUES, organization_id)
    return len(organization_ids)


def value_of(customer_id: int) -> CustomerValue | None:
    """The customer's value as last recomputed (None: no purchase then)."""
    return db.session.scalar(
        select(CustomerValue).where(
            CustomerValue.organization_id == current_organization_id(),
            CustomerValue.customer_id == customer_id,
        )
    )


@dataclass(frozen=True)
class SegmentFigures:
    segment: str
    customers: int
    value: Decimal

    @property
    def label(self) -> str:
        return str(SEGMENT_LABELS[self.segment])


def segments() -> tuple[list[SegmentFigures], dt.datetime | None]:
    """Buyers and their value per segment (every segment, in RFM_SEGMENTS' order), and when they
    were last recomputed."""
    rows = db.session.execute(
        select(
            CustomerValue.segment,
            func.count(),
            func.coalesce(func.sum(CustomerValue.monetary), 0),
        )
        .where(CustomerValue.organization_id == current_organization_id())
        .group_by(CustomerValue.segment)
    ).all()
    found = {row[0]: row for row in rows}
    figures = [
        SegmentFigures(
            name,
            found[name][1] if name in found else 0,
            found[name][2] if name in found else Decimal("0"),
        )
        for name in RFM_SEGMENTS
    ]
    computed = db.session.scalar(
        select(CustomerValueRun.computed_at).where(
            CustomerValueRun.organization_id == current_organization_id()
        )
    )
    return figures, computed
