"""Languages: users' language and time zone, customers' language, and search that knows Turkish.

`crm_fold(text)` is the one normalisation of searched text: the Turkish letters (and the
circumflexed ones) are mapped to their plain Latin letters before lower(), so "İSTANBUL",
"Istanbul" and "istanbul" fold alike, and so do "Işık", "ışık" and "isik" or "Şule" and
"sule". Mapping İ and I before lower() keeps the result independent of the database's
collation: lower() of a C collation leaves non-ASCII letters alone, and ICU's turns İ into i
plus a combining dot. It is IMMUTABLE, so the same call serves the stored search columns, the
trigram and city indexes, and the queries, which fold the typed text with it too: both sides
always agree, and each search keeps its index.

The customers' and leads' search columns are computed with it (leads folded no Turkish letters
before; customers' fold is unchanged, now spelt once): PostgreSQL 15 cannot change a generated
column's expression, so each column is dropped and added again, which rewrites the table once.
The ticket queue searches the folded subject, the customer list's city filter compares folded
cities.

Sorting customers by name in a Turkish organization uses ICU's Turkish collation (ç after c, ı
before i, ş after s), with its own keyset index, where the server has ICU (`tr-x-icu`: Debian's
PostgreSQL has it, the embedded one has no ICU); elsewhere the Turkish sort is the plain one.

Revision ID: 0026_languages
Revises: 0025_customer_job_title
"""

import sqlalchemy as sa
from alembic import op
from helpers import (
    create_definer_function,
    create_tenant_search_function,
    earlier_revision,
    paged_body,
)

revision = "0026_languages"
down_revision = "0025_customer_job_title"
branch_labels = None
depends_on = None

FOLD = (
    "CREATE FUNCTION crm_fold(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
    "RETURN lower(translate($1, 'çğıöşüâîûÇĞİÖŞÜÂÎÛ', 'cgiosuaiuCGIOSUAIU'))"
)
TURKISH_COLLATION = "tr-x-icu"

CUSTOMER_SEARCH_TEXT = (
    "crm_fold(customer_code || ' ' || first_name || ' ' || last_name || ' ' || "
    "company_name || ' ' || primary_email || ' ' || secondary_email || ' ' || "
    "primary_phone || ' ' || secondary_phone)"
)
LEAD_SEARCH_TEXT = "crm_fold(first_name || ' ' || last_name || ' ' || company || ' ' || email)"
LEAD_QUERY = ("lower(p_query)", "crm_fold(p_query)")
TICKET_ACTIVE = "status IN ('new', 'open', 'in_progress', 'waiting_on_customer')"

# (the earlier condition, the folded one) in 0023's queries.
CUSTOMER_CITY = ("lower(c.city) = lower(p_city)", "crm_fold(c.city) = crm_fold(p_city)")
TICKET_MATCHES_SEARCH = (
    "(p_pattern IS NULL OR t.subject ILIKE p_pattern OR t.number = p_number)",
    "(p_pattern IS NULL OR crm_fold(t.subject) LIKE crm_fold(p_pattern) OR t.number = p_number)",
)


def _customer_sorts(previous: dict, turkish_collation: bool) -> dict:
    """The earlier sorts plus `name_tr` / `-name_tr`: by Turkish collation where ICU has it."""
    collated = f'c.sort_name COLLATE "{TURKISH_COLLATION}"' if turkish_collation else "c.sort_name"
    return {
        **previous,
        "name_tr": (f"({collated}, c.id) > (p_after_name, p_after_id)", f"{collated}, c.id"),
        "-name_tr": (
            f"({collated}, c.id) < (p_after_name, p_after_id)",
            f"{collated} DESC, c.id DESC",
        ),
    }


def _replace_search_functions(customer_matches, customer_sorts, ticket_matches, ticket_sorts):
    earlier = earlier_revision("0023_tenant_search_barriers")
    op.execute(f"DROP FUNCTION {earlier.CUSTOMER_SEARCH}")
    op.execute(f"DROP FUNCTION {earlier.TICKET_SEARCH}")
    create_tenant_search_function(
        earlier.CUSTOMER_SEARCH,
        "TABLE (id bigint, sort_name text, updated_at timestamptz)",
        paged_body(customer_matches, customer_sorts, unordered=True),
    )
    create_tenant_search_function(
        earlier.TICKET_SEARCH,
        "TABLE (id bigint, sla_due_sort timestamptz)",
        paged_body(ticket_matches, ticket_sorts, unordered=False),
    )


def _search_column(table: str, index: str, index_columns: str, expression: str) -> None:
    """Compute `table.search_text` as `expression`, with its trigram index again."""
    op.execute(f"DROP INDEX {index}")
    op.drop_column(table, "search_text")
    op.add_column(
        table,
        sa.Column(
            "search_text", sa.Text(), sa.Computed(expression, persisted=True), nullable=False
        ),
    )
    op.execute(f"CREATE INDEX {index} ON {table} USING gin ({index_columns})")


def _city_indexes(expression: str) -> None:
    op.execute("DROP INDEX ix_customers_org_city")
    op.execute("DROP INDEX ix_customers_org_city_name")
    op.execute(
        f"CREATE INDEX ix_customers_org_city ON customers (organization_id, {expression}, id)"
    )
    op.execute(
        "CREATE INDEX ix_customers_org_city_name "
        f"ON customers (organization_id, {expression}, sort_name, id)"
    )


def _ticket_subject_index(expression: str) -> None:
    op.execute("DROP INDEX ix_tickets_active_subject_trgm")
    op.execute(
        "CREATE INDEX ix_tickets_active_subject_trgm ON tickets "
        f"USING gin (organization_id, {expression} gin_trgm_ops) WHERE {TICKET_ACTIVE}"
    )


def upgrade():
    op.add_column("users", sa.Column("locale", sa.String(16), nullable=True))
    op.add_column("users", sa.Column("timezone", sa.String(64), nullable=True))
    op.add_column(
        "customers", sa.Column("language", sa.String(5), server_default="", nullable=False)
    )

    op.execute(FOLD)
    _search_column(
        "customers", "ix_customers_search", "search_text gin_trgm_ops", CUSTOMER_SEARCH_TEXT
    )
    _search_column(
        "leads",
        "ix_leads_search_trgm",
        "organization_id, search_text gin_trgm_ops",
        LEAD_SEARCH_TEXT,
    )
    leads = earlier_revision("0006_leads")
    op.execute(f"DROP FUNCTION {leads.LEAD_SEARCH}")
    create_definer_function(
        leads.LEAD_SEARCH, "SETOF bigint", leads.LEAD_SEARCH_BODY.replace(*LEAD_QUERY)
    )
    _city_indexes("crm_fold(city)")
    _ticket_subject_index("crm_fold(subject)")

    turkish_collation = (
        op.get_bind()
        .execute(
            sa.text("SELECT to_regcollation(:name) IS NOT NULL"), {"name": f'"{TURKISH_COLLATION}"'}
        )
        .scalar()
    )
    if turkish_collation:
        op.execute(
            "CREATE INDEX ix_customers_org_sort_name_tr ON customers "
            f'(organization_id, sort_name COLLATE "{TURKISH_COLLATION}", id)'
        )
    earlier = earlier_revision("0023_tenant_search_barriers")
    _replace_search_functions(
        earlier.CUSTOMER_MATCHES.replace(*CUSTOMER_CITY),
        _customer_sorts(earlier.CUSTOMER_SORTS, turkish_collation),
        earlier.TICKET_MATCHES.replace(*TICKET_MATCHES_SEARCH),
        earlier.TICKET_SORTS,
    )


def downgrade():
    earlier = earlier_revision("0023_tenant_search_barriers")
    _replace_search_functions(
        earlier.CUSTOMER_MATCHES,
        earlier.CUSTOMER_SORTS,
        earlier.TICKET_MATCHES,
        earlier.TICKET_SORTS,
    )
    op.execute("DROP INDEX IF EXISTS ix_customers_org_sort_name_tr")
    op.execute("DROP INDEX ix_tickets_active_subject_trgm")
    op.execute(
        "CREATE INDEX ix_tickets_active_subject_trgm ON tickets "
        f"USING gin (organization_id, subject gin_trgm_ops) WHERE {TICKET_ACTIVE}"
    )
    _city_indexes("lower(city)")
    leads = earlier_revision("0006_leads")
    op.execute(f"DROP FUNCTION {leads.LEAD_SEARCH}")
    create_definer_function(leads.LEAD_SEARCH, "SETOF bigint", leads.LEAD_SEARCH_BODY)
    _search_column(
        "leads",
        "ix_leads_search_trgm",
        "organization_id, search_text gin_trgm_ops",
        "lower(first_name || ' ' || last_name || ' ' || company || ' ' || email)",
    )
    _search_column(
        "customers",
        "ix_customers_search",
        "search_text gin_trgm_ops",
        earlier_revision("0003_customer_profile").SEARCH_TEXT,
    )
    op.execute("DROP FUNCTION crm_fold(text)")
    op.drop_column("customers", "language")
    op.drop_column("users", "timezone")
    op.drop_column("users", "locale")
