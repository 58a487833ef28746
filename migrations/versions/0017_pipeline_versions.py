"""A version per pipeline stage, bumped by every change to what the board and the forecast show.

The board keeps each column's rendered cards, and the forecast its rendered figures, under keys
that name these versions (crm_web.fragments): a changed deal, a renamed customer or owner, or a
changed target makes a new key, so nothing has to find and drop what was kept before. Database
triggers bump them, so every writer counts (services, imports, merges, cascades, SQL by hand),
and the bump commits or rolls back with the change itself.

Rows are locked in stage order, as the totals trigger of 0007_pipeline does, so two statements
bumping the same stages cannot deadlock on them.

Revision ID: 0017_pipeline_versions
Revises: 0016_ticket_search
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_pipeline_versions"
down_revision = "0016_ticket_search"
branch_labels = None
depends_on = None

FUNCTIONS = """
CREATE FUNCTION pipeline_bump_versions(stage_ids bigint[]) RETURNS void LANGUAGE sql AS $$
    WITH locked AS (
        SELECT stage_id FROM pipeline_stage_totals
        WHERE stage_id = ANY(stage_ids) ORDER BY stage_id FOR UPDATE
    )
    UPDATE pipeline_stage_totals t SET version = t.version + 1
    FROM locked WHERE t.stage_id = locked.stage_id
$$;

CREATE FUNCTION pipeline_bump_organization(org bigint) RETURNS void LANGUAGE sql AS $$
    SELECT pipeline_bump_versions(ARRAY(SELECT id FROM pipeline_stages WHERE organization_id = org))
$$;

-- Any change to a deal, even one the totals don't see (its name, date, owner or place in the column).
CREATE FUNCTION pipeline_deals_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pipeline_bump_versions(ARRAY(SELECT DISTINCT stage_id FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pipeline_bump_versions(ARRAY(SELECT DISTINCT stage_id FROM old_rows));
    ELSE
        PERFORM pipeline_bump_versions(ARRAY(
            SELECT stage_id FROM new_rows UNION SELECT stage_id FROM old_rows
        ));
    END IF;
    RETURN NULL;
END $$;

-- Cards show their customer's name: a renamed customer changes the columns holding its deals.
CREATE FUNCTION pipeline_customers_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pipeline_bump_versions(ARRAY(
        SELECT DISTINCT o.stage_id
        FROM new_rows n
        JOIN old_rows p ON p.id = n.id
        JOIN opportunities o ON o.organization_id = n.organization_id AND o.customer_id = n.id
        WHERE (n.customer_type, n.company_name, n.first_name, n.last_name)
            IS DISTINCT FROM (p.customer_type, p.company_name, p.first_name, p.last_name)
    ));
    RETURN NULL;
END $$;

-- Every stage has its totals row, and so a version, from the start: a target set before the
-- first deal must bump something too.
CREATE FUNCTION pipeline_stage_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pipeline_stage_totals
        (organization_id, stage_id, opportunity_count, amount, weighted_amount)
    VALUES (NEW.organization_id, NEW.id, 0, 0, 0)
    ON CONFLICT (stage_id) DO NOTHING;
    RETURN NULL;
END $$;

-- Owners' names are on cards and in the forecast, targets in the forecast.
CREATE FUNCTION pipeline_organization_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pipeline_bump_organization(
        CASE WHEN TG_OP = 'DELETE' THEN OLD.organization_id ELSE NEW.organization_id END
    );
    RETURN NULL;
END $$;
"""

DEAL_TRIGGERS = {
    "INSERT": "NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
    "UPDATE": "NEW TABLE AS new_rows OLD TABLE AS old_rows",
}


def upgrade():
    op.add_column(
        "pipeline_stage_totals",
        sa.Column("version", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.execute(FUNCTIONS)
    op.execute(
        "INSERT INTO pipeline_stage_totals"
        " (organization_id, stage_id, opportunity_count, amount, weighted_amount)"
        " SELECT organization_id, id, 0, 0, 0 FROM pipeline_stages"
        " ON CONFLICT (stage_id) DO NOTHING"
    )
    op.execute(
        "CREATE TRIGGER pipeline_stages_totals AFTER INSERT ON pipeline_stages FOR EACH ROW "
        "EXECUTE FUNCTION pipeline_stage_added()"
    )
    # Named to fire after opportunities_totals_* (triggers fire in name order), which may create
    # the stage's totals row this bumps.
    for event, tables in DEAL_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER opportunities_versions_{event.lower()} AFTER {event} ON opportunities "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION pipeline_deals_changed()"
        )
    # Transition tables rule out a column list, so every update statement compares the names.
    op.execute(
        "CREATE TRIGGER customers_pipeline_versions AFTER UPDATE ON customers "
        "REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION pipeline_customers_renamed()"
    )
    op.execute(
        "CREATE TRIGGER users_pipeline_versions AFTER UPDATE OF name ON users FOR EACH ROW "
        "WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION pipeline_organization_changed()"
    )
    op.execute(
        "CREATE TRIGGER sales_targets_pipeline_versions AFTER INSERT OR UPDATE OR DELETE "
        "ON sales_targets FOR EACH ROW EXECUTE FUNCTION pipeline_organization_changed()"
    )


def downgrade():
    op.execute("DROP TRIGGER sales_targets_pipeline_versions ON sales_targets")
    op.execute("DROP TRIGGER users_pipeline_versions ON users")
    op.execute("DROP TRIGGER customers_pipeline_versions ON customers")
    op.execute("DROP TRIGGER pipeline_stages_totals ON pipeline_stages")
    for event in DEAL_TRIGGERS:
        op.execute(f"DROP TRIGGER opportunities_versions_{event.lower()} ON opportunities")
    for function in (
        "pipeline_organization_changed()",
        "pipeline_customers_renamed()",
        "pipeline_stage_added()",
        "pipeline_deals_changed()",
        "pipeline_bump_organization(bigint)",
        "pipeline_bump_versions(bigint[])",
    ):
        op.execute(f"DROP FUNCTION {function}")
    op.drop_column("pipeline_stage_totals", "version")
