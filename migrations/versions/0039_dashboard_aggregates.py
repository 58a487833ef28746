"""Dashboard aggregates: the month and day counts cards and reports read, as materialized views.

At a million customers the cards' "this month against last" counts and the reports' period
sums read hundreds of thousands of rows each time they are drawn. These views keep them per
organization and month (activities, tickets, consent changes) or day (orders, order lines,
interactions), in the organization's time zone as the live queries bound their periods, so a
card or a report period sums a few hundred rows; and each campaign's results. Each has `refreshed_at` (the "as of").

As with 0036's views: the app role reads each through a security-barrier `<view>_rows` view
that keeps the current organization's rows, and refreshes them with
`refresh_dashboard_view(name)` (SECURITY DEFINER, one view a call so the job can time and
commit each; CONCURRENTLY, so readers keep the previous rows meanwhile). It replaces 0036's
`refresh_dashboards()`, which refreshed its two views in one transaction.

Revision ID: 0039_dashboard_aggregates
Revises: 0038_surveys
"""

from alembic import op
from helpers import CURRENT_ORGANIZATION, app_role, earlier_revision

revision = "0039_dashboard_aggregates"
down_revision = "0038_surveys"
branch_labels = None
depends_on = None

# crm_web.catalog.orders.PURCHASED when this revision was written.
PURCHASED = "('paid', 'shipped', 'delivered')"
ZONE = "coalesce(nullif(org.timezone, ''), 'UTC')"


def _per(
    table: str,
    at: str,
    unit: str,
    keys: tuple[str, ...],
    measures: str,
    where: str = "",
    join: str = "",
) -> str:
    """`measures` of `table x` (and `join`) per organization, `unit` (month or day) of `at` in
    the organization's time zone, and `keys`."""
    columns = "".join(f"{key}, " for key in keys)
    positions = ", ".join(str(n) for n in range(1, 3 + len(keys)))
    return f"""
        SELECT x.organization_id, date_trunc('{unit}', {at} AT TIME ZONE {ZONE})::date AS {unit},
               {columns}{measures}, now() AS refreshed_at
          FROM {table} x {join}
          JOIN organizations org ON org.id = x.organization_id
         {"WHERE " + where if where else ""}
         GROUP BY {positions}"""


# name -> (query, the columns of its unique index: CONCURRENTLY needs one)
VIEWS = {
    # Completed activities per month, assignee and the owner of the activity's customer
    # (team activity, my tasks, activity on my accounts); 0 stands for nobody.
    "activity_months": (
        _per(
            "activities",
            "x.completed_at",
            "month",
            (
                "coalesce(x.assigned_to_id, 0) AS assignee_key",
                "coalesce(c.owner_id, 0) AS owner_key",
            ),
            "count(*) AS completed",
            "x.status = 'completed' AND x.completed_at IS NOT NULL",
            "LEFT JOIN customers c ON c.id = x.customer_id AND c.organization_id = x.organization_id",
        ),
        "organization_id, month, assignee_key, owner_key",
    ),
    # Tickets per month opened and channel: how many, how many missed a target (a live
    # deadline passed on an open ticket is counted live: it depends on the time of reading).
    "ticket_months": (
        _per(
            "tickets",
            "x.created_at",
            "month",
            ("x.channel",),
            "count(*) AS tickets, "
            "count(*) FILTER (WHERE x.first_response_breached OR x.resolution_breached) AS missed",
        ),
        "organization_id, month, channel",
    ),
    # Medians cannot be added up: one row per month opened, the month's medians.
    "ticket_month_medians": (
        _per(
            "tickets",
            "x.created_at",
            "month",
            (),
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY x.first_response_seconds) "
            "AS first_response, "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY x.resolution_seconds) AS resolution",
        ),
        "organization_id, month",
    ),
    # CSAT answers per month answered.
    "csat_months": (
        _per(
            "tickets",
            "x.csat_submitted_at",
            "month",
            (),
            "sum(x.csat_rating) AS rating_sum, count(*) AS answers",
            "x.csat_rating IS NOT NULL AND x.csat_submitted_at IS NOT NULL",
        ),
        "organization_id, month",
    ),
    # Consent changes per month and channel (audience growth).
    "consent_months": (
        _per(
            "customer_consent_events",
            "x.created_at",
            "month",
            ("x.channel",),
            "count(*) FILTER (WHERE x.new_value) AS opt_ins, "
            "count(*) FILTER (WHERE NOT x.new_value) AS opt_outs",
        ),
        "organization_id, month, channel",
    ),
    # Purchased orders per day ordered: revenue after refunds (reports).
    "order_days": (
        _per(
            "orders",
            "x.ordered_at",
            "day",
            (),
            "count(*) AS orders, sum(x.total - x.refunded_total) AS revenue",
            f"x.status IN {PURCHASED}",
        ),
        "organization_id, day",
    ),
    # Kept units and revenue per day and product of purchased orders' lines, unrounded so a
    # period's sum rounds as the live sum did.
    "product_days": (
        _per(
            "order_lines",
            "o.ordered_at",
            "day",
            ("x.sku",),
            "max(x.name) AS name, sum(x.quantity - x.returned_quantity) AS units, "
            "sum(x.line_total * (x.quantity - x.returned_quantity) / x.quantity) AS revenue",
            f"o.status IN {PURCHASED} AND x.quantity > x.returned_quantity",
            "JOIN orders o ON o.id = x.order_id AND o.organization_id = x.organization_id",
        ),
        "organization_id, day, sku",
    ),
    # Interactions logged per day and type.
    "communication_days": (
        _per(
            "communications",
            "x.created_at",
            "day",
            ("x.communication_type",),
            "count(*) AS interactions",
        ),
        "organization_id, day, communication_type",
    ),
    # Each campaign's recipients sent (as crm_web/campaigns/results.py counts them: an SMS
    # delivered, or failed after it left), opened and clicked: the dashboard's latest results.
    "campaign_results": (
        """SELECT organization_id, campaign_id,
                  count(*) FILTER (WHERE status IN ('sent', 'delivered')
                                      OR (status = 'failed' AND sent_at IS NOT NULL)) AS sent,
                  count(opened_at) AS opened, count(clicked_at) AS clicked,
                  now() AS refreshed_at
             FROM campaign_recipients GROUP BY 1, 2""",
        "organization_id, campaign_id",
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


# What depends on the time of reading stays live, read from an index alone rather than from
# the table's pages: deals at risk (the open deals touched lately, and this month's past their
# date) and the breach rate's deadlines passed on tickets still open.
INDEXES = {
    "ix_opportunities_open_risk": "opportunities (organization_id, updated_at) "
    "INCLUDE (expected_close_date, amount) WHERE status = 'open'",
    "ix_opportunities_open_close": "opportunities (organization_id, expected_close_date) "
    "WHERE status = 'open'",
    "ix_tickets_active_late": "tickets (organization_id, sla_due_at) "
    "INCLUDE (created_at, first_response_breached, resolution_breached) "
    "WHERE status IN ('new', 'open', 'in_progress', 'waiting_on_customer')",
}


def upgrade():
    role = app_role()
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {definition}")
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
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("DROP FUNCTION IF EXISTS refresh_dashboard_view(text)")
    op.execute(earlier_revision("0036_dashboards").REFRESH)
    op.execute("REVOKE ALL ON FUNCTION refresh_dashboards() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION refresh_dashboards() TO {role}")
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}_rows")
        op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {name}")
