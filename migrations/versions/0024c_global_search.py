"""The global search finds deals: a folded search text with a trigram index, searched through a
tenant search function (as the customer list is, see 0023).

Customers, leads and tickets already have theirs (customer_search_page, lead_search_ids,
ticket_search_page); deals were only ever listed by stage, owner and close date. Their search
text is the number and the name, case and Turkish letters folded as the customers' is, so
"sahin" finds "Şahin Lojistik renewal" and "opp-12" finds OPP-000012.

Revision ID: 0024c_global_search
Revises: 0023_tenant_search_barriers
"""

import sqlalchemy as sa
from alembic import op
from helpers import create_tenant_search_function

revision = "0024c_global_search"
down_revision = "0023_tenant_search_barriers"
branch_labels = None
depends_on = None

# As crm_web.pipeline.models.OPPORTUNITY_SEARCH_TEXT_SQL (the fold of the customers' search).
SEARCH_TEXT_SQL = (
    "lower(translate(opportunity_number || ' ' || name, "
    "'çğıöşüâîûÇĞİÖŞÜÂÎÛ', 'cgiosuaiuCGIOSUAIU'))"
)
OPPORTUNITY_SEARCH = "opportunity_search_page(p_pattern text, p_limit integer)"
# Any `p_limit` matches, unordered: suggestions as one types stop at the first ones found
# rather than read every match to sort them.
OPPORTUNITY_SEARCH_BODY = """
    RETURN QUERY SELECT o.id FROM opportunities o
     WHERE o.organization_id = v_organization_id AND o.search_text LIKE p_pattern
     LIMIT p_limit;"""


def upgrade():
    op.add_column(
        "opportunities",
        sa.Column("search_text", sa.Text(), sa.Computed(SEARCH_TEXT_SQL, persisted=True)),
    )
    # pg_trgm and btree_gin (for organization_id in a GIN index) come with 0003 and 0006.
    op.create_index(
        "ix_opportunities_search_trgm",
        "opportunities",
        ["organization_id", "search_text"],
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    create_tenant_search_function(OPPORTUNITY_SEARCH, "TABLE (id bigint)", OPPORTUNITY_SEARCH_BODY)


def downgrade():
    op.execute(f"DROP FUNCTION {OPPORTUNITY_SEARCH}")
    op.drop_index("ix_opportunities_search_trgm", table_name="opportunities")
    op.drop_column("opportunities", "search_text")
