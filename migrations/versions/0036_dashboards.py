"""Dashboards: the heavy aggregates as materialized views (seed 004), refreshed concurrently.

`sales_dashboard` holds closed deals per organization, month (in the organization's time
zone) and owner: won and lost counts, won amount and the days won deals took, so win rates,
cycle times and revenue trends read a few hundred rows instead of every closed deal.
`operations_dashboard` is seed 004's `crm_operations_dashboard`: one row per organization
with its customer, sales, support and campaign figures. Each has `refreshed_at`, the time of
its last refresh (the cards' "as of").

A materialized view has no row-level security, so the app role may not read them: it reads
`sales_dashboard_rows` and `operations_dashboard_rows`, security-barrier views that keep the
current organization's rows only. Refreshing needs the owner, so the app (the scheduler's job)
calls `refresh_dashboards()`, a SECURITY DEFINER function; `CONCURRENTLY` (each view has a
unique index) lets readers go on reading the previous rows while it runs.

Revision ID: 0036_dashboards
Revises: 0035_automations
"""

from alembic import op
from helpers import CURRENT_ORGANIZATION, app_role

revision = "0036_dashboards"
down_revision = "0035_automations"
branch_labels = None
depends_on = None

SALES = """
CREATE MATERIALIZED VIEW sales_dashboard AS
SELECT o.organization_id,
       date_trunc('month', o.closed_at AT TIME ZONE coalesce(nullif(org.timezone, ''), 'UTC'))::date
           AS month,
       coalesce(o.owner_id, 0) AS owner_key,
       count(*) FILTER (WHERE o.status = 'won') AS won_count,
       count(*) FILTER (WHERE o.status = 'lost') AS lost_count,
       coalesce(sum(o.amount) FILTER (WHERE o.status = 'won'), 0) AS won_amount,
       coalesce(sum(extract(epoch FROM o.closed_at - o.created_at) / 86400)
                FILTER (WHERE o.status = 'won'), 0) AS won_cycle_days,
       now() AS refreshed_at
  FROM opportunities o
  JOIN organizations org ON org.id = o.organization_id
 WHERE o.status IN ('won', 'lost') AND o.closed_at IS NOT NULL
 GROUP BY 1, 2, 3
"""

OPERATIONS = """
CREATE MATERIALIZED VIEW operations_dashboard AS
SELECT org.id AS organization_id,
       coalesce(c.total, 0) AS total_customers,
       coalesce(c.active, 0) AS active_customers,
       coalesce(c.new_30d, 0) AS new_customers_30d,
       coalesce(c.email_opt_in, 0) AS email_opt_in,
       coalesce(ct.by_type, '{}'::jsonb) AS customers_by_type,
       coalesce(d.total, 0) AS total_opportunities,
       coalesce(d.won, 0) AS won_opportunities,
       coalesce(d.won_amount, 0) AS total_revenue_won,
       d.avg_cycle_days,
       coalesce(t.total, 0) AS total_tickets,
       coalesce(t.open, 0) AS open_tickets,
       t.avg_resolution_hours,
       t.avg_csat,
       coalesce(k.active, 0) AS active_campaigns,
       coalesce(k.sent, 0) AS campaigns_sent,
       now() AS refreshed_at
  FROM organizations org
  LEFT JOIN (
        SELECT organization_id, count(*) AS total,
               count(*) FILTER (WHERE is_active) AS active,
               count(*) FILTER (WHERE created_at >= now() - interval '30 days') AS new_30d,
               count(*) FILTER (WHERE email_opt_in) AS email_opt_in
          FROM customers GROUP BY organization_id
       ) c ON c.organization_id = org.id
  LEFT JOIN (
        SELECT organization_id, jsonb_object_agg(customer_type, n) AS by_type
          FROM (SELECT organization_id, customer_type, count(*) AS n
                  FROM customers GROUP BY 1, 2) typed
         GROUP BY organization_id
       ) ct ON ct.organization_id = org.id
  LEFT JOIN (
        SELECT organization_id, count(*) AS total,
               count(*) FILTER (WHERE status = 'won') AS won,
               sum(amount) FILTER (WHERE status = 'won') AS won_amount,
               avg(extract(epoch FROM closed_at - created_at) / 86400)
                   FILTER (WHERE status = 'won') AS avg_cycle_days
          FROM opportunities GROUP BY organization_id
       ) d ON d.organization_id = org.id
  LEFT JOIN (
        SELECT organization_id, count(*) AS total,
               count(*) FILTER (WHERE status IN ('new', 'open', 'in_progress',
                                                 'waiting_on_customer')) AS open,
               avg(resolution_seconds) / 3600 AS avg_resolution_hours,
               avg(csat_rating) AS avg_csat
          FROM tickets GROUP BY organization_id
       ) t ON t.organization_id = org.id
  LEFT JOIN (
        SELECT organization_id,
               count(*) FILTER (WHERE status IN ('scheduled', 'sending')) AS active,
               count(*) FILTER (WHERE status = 'sent') AS sent
          FROM campaigns GROUP BY organization_id
       ) k ON k.organization_id = org.id
"""

REFRESH = """
CREATE FUNCTION refresh_dashboards() RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY sales_dashboard;
    REFRESH MATERIALIZED VIEW CONCURRENTLY operations_dashboard;
END
$$
"""


INDEXES = (
    (
        "ix_opportunities_open_owner",
        "opportunities",
        "(organization_id, owner_id) INCLUDE (amount, probability, expected_close_date, "
        "created_at) WHERE status = 'open'",
    ),
    # The feed's big orders: its threshold (crm_web/dashboard/feed.py BIG_ORDER) is in the index.
    ("ix_orders_org_big", "orders", "(organization_id, ordered_at) WHERE total >= 5000"),
    (
        "ix_activities_org_completed",
        "activities",
        "(organization_id, completed_at) WHERE status = 'completed'",
    ),
    ("ix_communications_org_created", "communications", "(organization_id, created_at)"),
    (
        "ix_customer_consent_events_org_channel",
        "customer_consent_events",
        "(organization_id, channel, created_at)",
    ),
)


def upgrade():
    role = app_role()
    # The cards' and reports' live counts: a month (or a report's period) by its index.
    for name, table, columns in INDEXES:
        op.execute(f"CREATE INDEX {name} ON {table} {columns}")
    op.execute(SALES)
    op.execute(
        "CREATE UNIQUE INDEX uq_sales_dashboard ON sales_dashboard "
        "(organization_id, month, owner_key)"
    )
    op.execute(OPERATIONS)
    op.execute(
        "CREATE UNIQUE INDEX uq_operations_dashboard ON operations_dashboard (organization_id)"
    )
    for view in ("sales_dashboard", "operations_dashboard"):
        # Default privileges would let the app role read every organization's rows.
        op.execute(f"REVOKE ALL ON {view} FROM {role}")
        op.execute(
            f"CREATE VIEW {view}_rows WITH (security_barrier) AS "
            f"SELECT * FROM {view} WHERE organization_id = {CURRENT_ORGANIZATION}"
        )
        op.execute(f"REVOKE ALL ON {view}_rows FROM {role}")
        op.execute(f"GRANT SELECT ON {view}_rows TO {role}")
    op.execute(REFRESH)
    op.execute("REVOKE ALL ON FUNCTION refresh_dashboards() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION refresh_dashboards() TO {role}")


def downgrade():
    for name, _table, _columns in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("DROP FUNCTION IF EXISTS refresh_dashboards()")
    for view in ("sales_dashboard", "operations_dashboard"):
        op.execute(f"DROP VIEW IF EXISTS {view}_rows")
        op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {view}")
