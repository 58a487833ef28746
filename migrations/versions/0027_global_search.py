"""The global search finds deals, and leads a few at a time: tenant search functions (as the
customer list's, see 0023) that stop at the first matches.

Deals were only ever listed by stage, owner and close date: they get a search text (the number
and the name, case and Turkish letters folded by crm_fold() (0026) as the customers' is, so "sahin" finds "Şahin
Lojistik renewal" and "opp-12" finds OPP-000012) with a trigram index. Leads have their trigram
index, but lead_search_ids (0006) returns every match, and a query that joins its ids to the
leads walks the leads' id index (the planner cannot tell how many it returns): 40 ms for three
matches among 100,000 leads. lead_search_page returns at most the few the suggestions show.

Revision ID: 0027_global_search
Revises: 0026_languages
"""

import sqlalchemy as sa
from alembic import op
from helpers import create_tenant_search_function

revision = "0027_global_search"
down_revision = "0026_languages"
branch_labels = None
depends_on = None

# As crm_web.pipeline.models.OPPORTUNITY_SEARCH_TEXT_SQL (the fold of the customers' search).
SEARCH_TEXT_SQL = "crm_fold(opportunity_number || ' ' || name)"
OPPORTUNITY_SEARCH = "opportunity_search_page(p_pattern text, p_limit integer)"
# Any `p_limit` matches, unordered: suggestions as one types stop at the first ones found
# rather than read every match to sort them.
OPPORTUNITY_SEARCH_BODY = """
    RETURN QUERY SELECT o.id FROM opportunities o
     WHERE o.organization_id = v_organization_id AND o.search_text LIKE p_pattern
     LIMIT p_limit;"""

LEAD_SEARCH = "lead_search_page(p_pattern text, p_limit integer)"
LEAD_SEARCH_BODY = """
    RETURN QUERY SELECT l.id FROM leads l
     WHERE l.organization_id = v_organization_id AND l.search_text LIKE p_pattern
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
    create_tenant_search_function(LEAD_SEARCH, "TABLE (id bigint)", LEAD_SEARCH_BODY)


def downgrade():
    op.execute(f"DROP FUNCTION {LEAD_SEARCH}")
    op.execute(f"DROP FUNCTION {OPPORTUNITY_SEARCH}")
    op.drop_index("ix_opportunities_search_trgm", table_name="opportunities")
    op.drop_column("opportunities", "search_text")
