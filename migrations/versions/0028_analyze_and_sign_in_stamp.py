"""Two functions the app role calls: `analyze_loaded_tables` and `signed_in_stamp`.

Bulk loads leave the planner informed: `analyze_loaded_tables` refreshes statistics.

`crm seed` and CSV imports write thousands to millions of rows at once. Until the tables are
analyzed the planner plans with the statistics of an empty table (a 300k-customer list page
took 1.3 s instead of 10 ms); autovacuum catches up eventually, or never where it is off or
lagging. The app role owns no table and so may not ANALYZE; this SECURITY DEFINER function
does it for the tables the caller names (plain tables of this schema only), and only for
those whose `changed` rows pass autovacuum's own threshold (50 rows plus a tenth of the rows
the statistics knew of; a never-analyzed table always), so a ten-row import into a million-row
table costs nothing. Returns the tables it analyzed.

A signed-in request costs no more round trips than an anonymous one: `signed_in_stamp` checks
the sign-in the session cookie names (its user_sessions row, unexpired, of an active user of
that organization) in the statement that sets up the tenant (crm_web.db.check_sign_in), and
returns a hash of the user's and the organization's rows, which tells whether the cookie's
snapshot of them (crm_web.accounts.signed_in) is still true; NULL when the sign-in no longer
holds. It runs as the owner because the tenant it filters by is being set in the same
statement, which row-level security could not see yet; it filters by it explicitly.

Revision ID: 0028_analyze_and_sign_in_stamp
Revises: 0027_global_search
"""

from alembic import op
from helpers import app_role

revision = "0028_analyze_and_sign_in_stamp"
down_revision = "0027_global_search"
branch_labels = None
depends_on = None

SIGNATURE = "analyze_loaded_tables(p_tables text[], p_changed bigint)"
STAMP_SIGNATURE = "signed_in_stamp(p_organization_id bigint, p_user_id bigint, p_session_id text)"


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
    op.execute(
        f"""
        CREATE FUNCTION {STAMP_SIGNATURE} RETURNS text
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$
            SELECT md5(u::text || o::text)
              FROM user_sessions s
              JOIN users u ON u.id = s.user_id AND u.organization_id = s.organization_id
              JOIN organizations o ON o.id = s.organization_id
             WHERE s.id = p_session_id AND s.organization_id = p_organization_id
               AND s.user_id = p_user_id AND s.expires_at > now() AND u.is_active
        $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {STAMP_SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {STAMP_SIGNATURE} TO {app_role()}")


def downgrade():
    op.execute(f"DROP FUNCTION {STAMP_SIGNATURE}")
    op.execute(f"DROP FUNCTION {SIGNATURE}")
