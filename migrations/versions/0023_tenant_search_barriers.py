"""The customer list and the ticket queue search through functions, not tenant views.

The customer_search and ticket_search views (0003, 0016) applied the tenant predicate
themselves, without a security barrier: a condition of the caller's own, such as a cast that
fails on a row's text, could run on another organization's row before that predicate and
quote it in its error. A barrier would close that, but also keep the trigram, array and
lower() conditions (not leakproof) away from their indexes, with searches and filters ten to
a thousand times slower.

These SECURITY DEFINER functions take the list's filters, sort, cursor and page size as
values and return a page of ids with their sort keys; a caller cannot add a condition of its
own, so nothing but the tenant's rows ever reaches one. Their queries are planned for each
call with the values known (as constants), so each search, filter and sort uses the index it
used through the view. The views go.

Revision ID: 0023_tenant_search_barriers
Revises: 0022_import_liveness
"""

from alembic import op
from helpers import create_tenant_search_function, create_tenant_view, paged_body

revision = "0023_tenant_search_barriers"
down_revision = "0022_import_liveness"
branch_labels = None
depends_on = None

CUSTOMER_SEARCH = (
    "customer_search_page(p_pattern text, p_customer_type text, p_lifecycle_stage text, "
    "p_owner_id bigint, p_unassigned boolean, p_tag text, p_city text, p_is_active boolean, "
    "p_sort text, p_after_name text, p_after_updated timestamptz, p_after_id bigint, "
    "p_limit integer)"
)
CUSTOMER_MATCHES = """
    SELECT c.id, c.sort_name, c.updated_at FROM customers c
     WHERE c.organization_id = v_organization_id
       AND (p_pattern IS NULL OR c.search_text LIKE p_pattern)
       AND (p_customer_type IS NULL OR c.customer_type = p_customer_type)
       AND (p_lifecycle_stage IS NULL OR c.lifecycle_stage = p_lifecycle_stage)
       AND (p_owner_id IS NULL OR c.owner_id = p_owner_id)
       AND (NOT p_unassigned OR c.owner_id IS NULL)
       AND (p_tag IS NULL OR c.tags @> ARRAY[p_tag])
       AND (p_city IS NULL OR lower(c.city) = lower(p_city))
       AND (p_is_active IS NULL OR c.is_active = p_is_active)"""
# sort -> (the keyset condition after the cursor's key, the order); a NULL sort counts.
CUSTOMER_SORTS = {
    "-created": ("c.id < p_after_id", "c.id DESC"),
    "created": ("c.id > p_after_id", "c.id"),
    "name": ("(c.sort_name, c.id) > (p_after_name, p_after_id)", "c.sort_name, c.id"),
    "-name": ("(c.sort_name, c.id) < (p_after_name, p_after_id)", "c.sort_name DESC, c.id DESC"),
    "-updated": (
        "(c.updated_at, c.id) < (p_after_updated, p_after_id)",
        "c.updated_at DESC, c.id DESC",
    ),
}

TICKET_SEARCH = (
    "ticket_search_page(p_view text, p_user_id bigint, p_department text, "
    "p_breaching_soon interval, p_status text, p_priority text, p_channel text, "
    "p_category text, p_tag text, p_pattern text, p_number bigint, "
    "p_sort text, p_after_due timestamptz, p_after_id bigint, p_limit integer)"
)
# The queue's views, as crm_web.sla.services.queue_clauses writes the deadline ones. The
# status list is the active tickets' indexes' own predicate, so that they apply.
TICKET_MATCHES = """
    SELECT t.id, t.sla_due_sort FROM tickets t
     WHERE t.organization_id = v_organization_id
       AND t.status IN ('new', 'open', 'in_progress', 'waiting_on_customer')
       AND CASE p_view
               WHEN 'mine' THEN t.assignee_id = p_user_id
               WHEN 'team' THEN t.department = p_department
               WHEN 'unassigned' THEN t.assignee_id IS NULL
               WHEN 'breaching' THEN t.sla_due_sort BETWEEN now() AND now() + p_breaching_soon
               WHEN 'breached' THEN t.sla_due_sort < now()
               ELSE true
           END
       AND (p_status IS NULL OR t.status = p_status)
       AND (p_priority IS NULL OR t.priority = p_priority)
       AND (p_channel IS NULL OR t.channel = p_channel)
       AND (p_category IS NULL OR t.category = p_category)
       AND (p_tag IS NULL OR t.tags @> ARRAY[p_tag])
       AND (p_pattern IS NULL OR t.subject ILIKE p_pattern OR t.number = p_number)"""
TICKET_SORTS = {
    "due": ("(t.sla_due_sort, t.id) > (p_after_due, p_after_id)", "t.sla_due_sort, t.id"),
    "newest": ("t.id < p_after_id", "t.id DESC"),
    "oldest": ("t.id > p_after_id", "t.id"),
}

# For the downgrade: the views as 0003 and 0016 made them.
CUSTOMER_VIEW_COLUMNS = (
    "id",
    "organization_id",
    "customer_type",
    "lifecycle_stage",
    "owner_id",
    "tags",
    "city",
    "is_active",
    "updated_at",
    "sort_name",
    "search_text",
)
TICKET_VIEW_COLUMNS = (
    "id",
    "organization_id",
    "number",
    "subject",
    "status",
    "priority",
    "channel",
    "category",
    "assignee_id",
    "department",
    "tags",
    "sla_due_sort",
)


def upgrade():
    op.execute("DROP VIEW customer_search")
    op.execute("DROP VIEW ticket_search")
    create_tenant_search_function(
        CUSTOMER_SEARCH,
        "TABLE (id bigint, sort_name text, updated_at timestamptz)",
        paged_body(CUSTOMER_MATCHES, CUSTOMER_SORTS, unordered=True),
    )
    create_tenant_search_function(
        TICKET_SEARCH,
        "TABLE (id bigint, sla_due_sort timestamptz)",
        paged_body(TICKET_MATCHES, TICKET_SORTS, unordered=False),
    )


def downgrade():
    op.execute(f"DROP FUNCTION {TICKET_SEARCH}")
    op.execute(f"DROP FUNCTION {CUSTOMER_SEARCH}")
    create_tenant_view("ticket_search", "tickets", TICKET_VIEW_COLUMNS)
    create_tenant_view("customer_search", "customers", CUSTOMER_VIEW_COLUMNS)
