"""Bulk loads leave the planner informed: `analyze_loaded_tables` refreshes statistics.

`crm seed` and CSV imports write thousands to millions of rows at once. Until the tables are
analyzed the planner plans with the statistics of an empty table (a 300k-customer list page
took 1.3 s instead of 10 ms); autovacuum catches up eventually, or never where it is off or
lagging. The app role owns no table and so may not ANALYZE; this SECURITY DEFINER function
does it for the tables the caller names (plain tables of this schema only), and only for
those whose `changed` rows pass autovacuum's own threshold (50 rows plus a tenth of the rows
the statistics knew of; a never-analyzed table always), so a ten-row import into a million-row
table costs nothing. Returns the tables it analyzed.

Revision ID: 0024d_analyze_loaded_tables
Revises: 0023_tenant_search_barriers
"""

from alembic import op
from helpers import app_role

revision = "0024d_analyze_loaded_tables"
down_revision = "0023_tenant_search_barriers"
branch_labels = None
depends_on = None

SIGNATURE = "analyze_loaded_tables(p_tables text[], p_changed bigint)"


def upgrade():
    op.execute(
        f"""
        CREATE FUNCTION {SIGNATURE} RETURNS text[]
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$
        DECLARE
            v_table regclass;
            v_name text;
            v_analyzed text[] := '{{}}';
        BEGIN
            FOREACH v_name IN ARRAY p_tables LOOP
                SELECT c.oid INTO v_table FROM pg_class c
                 WHERE c.relname = v_name AND c.relnamespace = 'public'::regnamespace
                   AND c.relkind IN ('r', 'p')
                   AND (c.reltuples < 0 OR p_changed > 50 + 0.1 * c.reltuples);
                IF v_table IS NOT NULL THEN
                    EXECUTE format('ANALYZE %s', v_table);
                    v_analyzed := v_analyzed || v_name;
                END IF;
            END LOOP;
            RETURN v_analyzed;
        END
        $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {app_role()}")


def downgrade():
    op.execute(f"DROP FUNCTION {SIGNATURE}")
