"""A version per pipeline stage, bumped by every change to what the board and the forecast show.

The board keeps each column's rendered cards, and the forecast its rendered figures, under keys
that name these versions (crm_web.fragments): a changed deal, a renamed customer or owner, or a
changed target makes a new key, so nothing has to find and drop what was kept before. Database
triggers bump them, so every writer counts (services, imports, merges, cascades, SQL by hand),
and the bump commits or rolls back with the change itself.

The versions live in the stages' totals rows, so a deal's change bumps them in the same write
as its sums. Rows are locked in stage order, as the totals trigger does, so two statements
bumping the same stages cannot deadlock on them.

Revision ID: 0017_pipeline_versions
Revises: 0016_ticket_search
"""

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0017_pipeline_versions"
down_revision = "0016_ticket_search"
branch_labels = None
depends_on = None

# 0007_pipeline's totals function, now also bumping the version of every stage a statement's
# deals are in or left, even when its sums stay the same (a deal renamed or moved within its
# column): one write per stage row, under the lock the sums take anyway.
TOTALS_FUNCTION = """CREATE OR REPLACE FUNCTION pipeline_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO pipeline_stage_totals AS t
            (organization_id, stage_id, opportunity_count, amount, weighted_amount, version)
        SELECT organization_id, stage_id, count(*), sum(amount), sum(amount * probability / 100), 1
        FROM new_rows GROUP BY organization_id, stage_id ORDER BY stage_id
        ON CONFLICT (stage_id) DO UPDATE SET
            opportunity_count = t.opportunity_count + excluded.opportunity_count,
            amount = t.amount + excluded.amount,
            weighted_amount = t.weighted_amount + excluded.weighted_amount,
            version = t.version + 1;
        INSERT INTO pipeline_month_totals AS m
            (organization_id, month, owner_key, stage_id, probability, opportunity_count, amount)
        SELECT organization_id, date_trunc('month', expected_close_date)::date,
               coalesce(owner_id, 0), stage_id, probability, count(*), sum(amount)
        FROM new_rows WHERE status = 'open' GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (organization_id, month, owner_key, stage_id, probability) DO UPDATE SET
            opportunity_count = m.opportunity_count + excluded.opportunity_count,
            amount = m.amount + excluded.amount;
    ELSIF TG_OP = 'DELETE' THEN
        -- An update, not an upsert: when a whole organization goes, its stages (and their
        -- totals) may already be gone by the time the cascade reaches the deals.
        UPDATE pipeline_stage_totals AS t SET
            opportunity_count = t.opportunity_count - d.n,
            amount = t.amount - d.a,
            weighted_amount = t.weighted_amount - d.w,
            version = t.version + 1
        FROM (
            SELECT stage_id, count(*) AS n, sum(amount) AS a, sum(amount * probability / 100) AS w
            FROM old_rows GROUP BY stage_id
        ) AS d
        WHERE t.stage_id = d.stage_id;
        UPDATE pipeline_month_totals AS m SET
            opportunity_count = m.opportunity_count - d.n,
            amount = m.amount - d.a
        FROM (
            SELECT organization_id, date_trunc('month', expected_close_date)::date AS month,
                   coalesce(owner_id, 0) AS owner_key, stage_id, probability,
                   count(*) AS n, sum(amount) AS a
            FROM old_rows WHERE status = 'open' GROUP BY 1, 2, 3, 4, 5
        ) AS d
        WHERE (m.organization_id, m.month, m.owner_key, m.stage_id, m.probability)
            = (d.organization_id, d.month, d.owner_key, d.stage_id, d.probability);
    ELSE
        -- Every stage a changed deal is in or left: what was added less what was taken away
        -- (nothing, for a deal that stayed with the same amount and probability), and a new version.
        INSERT INTO pipeline_stage_totals AS t
            (organization_id, stage_id, opportunity_count, amount, weighted_amount, version)
        SELECT organization_id, stage_id, sum(n), sum(a), sum(w), 1
        FROM (
            SELECT organization_id, stage_id, 1 AS n, amount AS a, amount * probability / 100 AS w
            FROM new_rows
            UNION ALL
            SELECT organization_id, stage_id, -1, -amount, -amount * probability / 100
            FROM old_rows
        ) AS changes
        GROUP BY organization_id, stage_id ORDER BY stage_id
        ON CONFLICT (stage_id) DO UPDATE SET
            opportunity_count = t.opportunity_count + excluded.opportunity_count,
            amount = t.amount + excluded.amount,
            weighted_amount = t.weighted_amount + excluded.weighted_amount,
            version = t.version + 1;
        INSERT INTO pipeline_month_totals AS m
            (organization_id, month, owner_key, stage_id, probability, opportunity_count, amount)
        SELECT organization_id, month, owner_key, stage_id, probability, sum(n), sum(a)
        FROM (
            SELECT n.organization_id, date_trunc('month', n.expected_close_date)::date AS month,
                   coalesce(n.owner_id, 0) AS owner_key, n.stage_id, n.probability,
                   1 AS n, n.amount AS a
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE n.status = 'open' AND (n.status, n.stage_id, n.amount, n.probability, n.expected_close_date, n.owner_id)
                IS DISTINCT FROM (o.status, o.stage_id, o.amount, o.probability, o.expected_close_date, o.owner_id)
            UNION ALL
            SELECT o.organization_id, date_trunc('month', o.expected_close_date)::date,
                   coalesce(o.owner_id, 0), o.stage_id, o.probability, -1, -o.amount
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE o.status = 'open' AND (n.status, n.stage_id, n.amount, n.probability, n.expected_close_date, n.owner_id)
                IS DISTINCT FROM (o.status, o.stage_id, o.amount, o.probability, o.expected_close_date, o.owner_id)
        ) AS changes
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (organization_id, month, owner_key, stage_id, probability) DO UPDATE SET
            opportunity_count = m.opportunity_count + excluded.opportunity_count,
            amount = m.amount + excluded.amount;
    END IF;
    RETURN NULL;
END $$
"""

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


def _previous_totals_function() -> str:
    """0007_pipeline's own definition, to put back on downgrade."""
    path = Path(__file__).with_name("0007_pipeline.py")
    spec = importlib.util.spec_from_file_location("pipeline_0007", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TOTALS_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


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
    op.execute(TOTALS_FUNCTION)
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
    op.execute(_previous_totals_function())
    for function in (
        "pipeline_organization_changed()",
        "pipeline_customers_renamed()",
        "pipeline_stage_added()",
        "pipeline_bump_organization(bigint)",
        "pipeline_bump_versions(bigint[])",
    ):
        op.execute(f"DROP FUNCTION {function}")
    op.drop_column("pipeline_stage_totals", "version")
