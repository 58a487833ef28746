"""Dashboard aggregates: the month and day counts cards and reports read, as materialized views.

At a million customers the cards' "this month against last" counts and the reports' period
sums read hundreds of thousands of rows each time they are drawn. These views keep them per
organization and month (activities, tickets, consent changes) or day (orders, order lines,
interactions), in the organization's time zone as the live queries bound their periods, so a
card or a report period sums a few hundred rows. Each has `refreshed_at` (the "as of").

As with 0036's views: the app role reads each through a security-barrier `<view>_rows` view
that keeps the current organization's rows, and refreshes them with
`refresh_dashboard_view(name)` (SECURITY DEFINER, one view a call so the job can time and
commit each; CONCURRENTLY, so readers keep the previous rows meanwhile). It replaces 0036's
`refresh_dashboards()`, which refreshed its two views in one transaction.

Revision ID: 0038_dashboard_aggregates
Revises: 0037_sms_campaigns
"""

from alembic import op
from helpers import CURRENT_ORGANIZATION, app_role, earlier_revision

revision = "0038_dashboard_aggregates"
down_revision = "0037_sms_campaigns"
branch_labels = None
depends_on = None

# crm_web.catalog.orders.PURCHASED when this revision was written.
PURCHASED = "('paid', 'shipped', 'delivered')"
ZONE = "coalesce(nullif(org.timezone, ''), 'UTC')"


def _local(column: str, unit: str) -> str:
    return f"date_trunc('{unit}', {column} AT TIME ZONE {ZONE})::date"


# name -> (query, the columns of its unique index: CONCURRENTLY needs one)
VIEWS = {
    # Completed activities per month, assignee and the owner of the activity's customer
    # (team activity, my tasks, activity on my accounts); 0 stands for nobody.
    "activity_months": (
        f"""SELECT a.organization_id, {_local("a.completed_at", "month")} AS month,
                   coalesce(a.assigned_to_id, 0) AS assignee_key,
                   coalesce(c.owner_id, 0) AS owner_key,
                   count(*) AS completed, now() AS refreshed_at
              FROM activities a
              JOIN organizations org ON org.id = a.organization_id
              LEFT JOIN customers c
                ON c.id = a.customer_id AND c.organization_id = a.organization_id
             WHERE a.status = 'completed' AND a.completed_at IS NOT NULL
             GROUP BY 1, 2, 3, 4""",
        "organization_id, month, assignee_key, owner_key",
    ),
    # Tickets per month opened and channel: how many, how many missed a target (a live
    # deadline passed on an open ticket is counted live: it depends on the time of reading).
    "ticket_months": (
        f"""SELECT t.organization_id, {_local("t.created_at", "month")} AS month, t.channel,
                   count(*) AS tickets,
                   count(*) FILTER (WHERE t.first_response_breached OR t.resolution_breached)
                       AS missed,
                   now() AS refreshed_at
              FROM tickets t JOIN organizations org ON org.id = t.organization_id
             GROUP BY 1, 2, 3""",
        "organization_id, month, channel",
    ),
    # Medians cannot be added up: one row per month opened, the month's medians.
    "ticket_month_medians": (
        f"""SELECT t.organization_id, {_local("t.created_at", "month")} AS month,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY t.first_response_seconds)
                       AS first_response,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY t.resolution_seconds)
                       AS resolution,
                   now() AS refreshed_at
              FROM tickets t JOIN organizations org ON org.id = t.organization_id
             GROUP BY 1, 2""",
        "organization_id, month",
    ),
    # CSAT answers per month answered.
    "csat_months": (
        f"""SELECT t.organization_id, {_local("t.csat_submitted_at", "month")} AS month,
                   sum(t.csat_rating) AS rating_sum, count(*) AS answers,
                   now() AS refreshed_at
              FROM tickets t JOIN organizations org ON org.id = t.organization_id
             WHERE t.csat_rating IS NOT NULL AND t.csat_submitted_at IS NOT NULL
             GROUP BY 1, 2""",
        "organization_id, month",
    ),
    # Consent changes per month and channel (audience growth).
    "consent_months": (
        f"""SELECT e.organization_id, {_local("e.created_at", "month")} AS month, e.channel,
                   count(*) FILTER (WHERE e.new_value) AS opt_ins,
                   count(*) FILTER (WHERE NOT e.new_value) AS opt_outs,
                   now() AS refreshed_at
              FROM customer_consent_events e JOIN organizations org ON org.id = e.organization_id
             GROUP BY 1, 2, 3""",
        "organization_id, month, channel",
    ),
    # Purchased orders per day ordered: revenue after refunds (reports, sales analytics).
    "order_days": (
        f"""SELECT o.organization_id, {_local("o.ordered_at", "day")} AS day,
                   count(*) AS orders, sum(o.total - o.refunded_total) AS revenue,
                   now() AS refreshed_at
              FROM orders o JOIN organizations org ON org.id = o.organization_id
             WHERE o.status IN {PURCHASED}
             GROUP BY 1, 2""",
        "organization_id, day",
    ),
    # Kept units and revenue per day and product of purchased orders' lines, unrounded so a
    # period's sum rounds as the live sum did.
    "product_days": (
        f"""SELECT l.organization_id, {_local("o.ordered_at", "day")} AS day, l.sku,
                   max(l.name) AS name, sum(l.quantity - l.returned_quantity) AS units,
                   sum(l.line_total * (l.quantity - l.returned_quantity) / l.quantity)
                       AS revenue,
                   now() AS refreshed_at
              FROM order_lines l
              JOIN orders o ON o.id = l.order_id AND o.organization_id = l.organization_id
              JOIN organizations org ON org.id = l.organization_id
             WHERE o.status IN {PURCHASED}
               AND l.quantity > l.returned_quantity
             GROUP BY 1, 2, 3""",
        "organization_id, day, sku",
    ),
    # Interactions logged per day and type.
    "communication_days": (
        f"""SELECT m.organization_id, {_local("m.created_at", "day")} AS day,
                   m.communication_type, count(*) AS interactions, now() AS refreshed_at
              FROM communications m JOIN organizations org ON org.id = m.organization_id
             GROUP BY 1, 2, 3""",
        "organization_id, day, communication_type",
    ),
}
EARLIER = ("sales_dashboard", "operations_dashboard")

REFRESH = f"""
CREATE FUNCTION refresh_dashboard_view(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    IF NOT name = ANY (ARRAY{list(EARLIER + tuple(VIEWS))}) THEN
        RAISE EXCEPTION 'not a dashboard view: %', name;
    END IF;
    EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %I', name);
END
$$
"""


def upgrade():
    role = app_role()
    for name, (query, unique) in VIEWS.items():
        op.execute(f"CREATE MATERIALIZED VIEW {name} AS {query}")
        op.execute(f"CREATE UNIQUE INDEX uq_{name} ON {name} ({unique})")
        # Default privileges would let the app role read every organization's rows.
        op.execute(f"REVOKE ALL ON {name} FROM {role}")
        op.execute(
            f"CREATE VIEW {name}_rows WITH (security_barrier) AS "
            f"SELECT * FROM {name} WHERE organization_id = {CURRENT_ORGANIZATION}"
        )
        op.execute(f"REVOKE ALL ON {name}_rows FROM {role}")
        op.execute(f"GRANT SELECT ON {name}_rows TO {role}")
    op.execute("DROP FUNCTION refresh_dashboards()")
    op.execute(REFRESH)
    op.execute("REVOKE ALL ON FUNCTION refresh_dashboard_view(text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION refresh_dashboard_view(text) TO {role}")


def downgrade():
    role = app_role()
    op.execute("DROP FUNCTION IF EXISTS refresh_dashboard_view(text)")
    op.execute(earlier_revision("0036_dashboards").REFRESH)
    op.execute("REVOKE ALL ON FUNCTION refresh_dashboards() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION refresh_dashboards() TO {role}")
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}_rows")
        op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {name}")
