"""Which organizations have CSV import runs that nobody may be running (for the scheduler's sweep).

A run holds an advisory lock for as long as its transaction lives; the sweep runs for no tenant,
so this function names the candidates (queued or running, untouched for a while), ids only, and
the sweep asks the lock whether their worker is still there.

Revision ID: 0022_import_liveness
Revises: 0021_sessions
"""

from alembic import op
from helpers import create_definer_function

revision = "0022_import_liveness"
down_revision = "0021_sessions"
branch_labels = None
depends_on = None

FUNCTION = "import_jobs_without_progress(p_stale timestamptz)"
QUERY = """
    SELECT organization_id, id FROM import_jobs
     WHERE status IN ('queued', 'running') AND updated_at < p_stale
"""


def upgrade():
    create_definer_function(FUNCTION, "TABLE (organization_id bigint, id bigint)", QUERY)


def downgrade():
    op.execute(f"DROP FUNCTION {FUNCTION}")
