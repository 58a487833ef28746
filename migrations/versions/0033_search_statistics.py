"""Finer statistics on the customers' folded search text, so the planner sees a common name.

The customer list's search (`customer_search_page`) asks `search_text LIKE '%arslan%'`. The
planner estimates such a pattern from the column's histogram: with the default 100 buckets a
surname one customer in eighty carries is in none of them, so it expected 100 matches out of
a million where there were 13,000, and read all 13,000 through the trigram index (12,000 heap
pages, 110 ms) to sort them and keep the newest 50, instead of walking the newest-first index
until the 50th match (some 4,000 rows, 2 ms). With 1,000 buckets the estimate follows the
name's share; a rare name still finds no bucket and still goes through the trigram index,
its best plan. ANALYZE samples more rows for this column (300,000 instead of 30,000).

Revision ID: 0033_search_statistics
Revises: 0032_loyalty
"""

from alembic import op

revision = "0033_search_statistics"
down_revision = "0032_loyalty"
branch_labels = None
depends_on = None

STATISTICS = 1000


def upgrade():
    op.execute(f"ALTER TABLE customers ALTER COLUMN search_text SET STATISTICS {STATISTICS}")
    op.execute("ANALYZE customers (search_text)")


def downgrade():
    op.execute("ALTER TABLE customers ALTER COLUMN search_text SET STATISTICS -1")
    op.execute("ANALYZE customers (search_text)")
