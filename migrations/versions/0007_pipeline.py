"""Pipeline stages, opportunities, stage history and quotes.

Revision ID: 0007_pipeline
Revises: 0006_leads
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from helpers import disable_tenant_rls, enable_tenant_rls

revision = "0007_pipeline"
down_revision = "0006_leads"
branch_labels = None
depends_on = None

TABLES = (
    "pipeline_stages",
    "opportunities",
    "pipeline_stage_totals",
    "pipeline_month_totals",
    "opportunity_stage_history",
    "sales_targets",
    "sales_settings",
    "quotes",
    "quote_items",
)

# The board's column headers read these sums instead of scanning every deal, and the forecast
# reads the open deals' sums per month of expected close, owner, stage and probability. One statement
# trigger per event (a trigger with transition tables serves one event), one function: each
# statement adds its rows' net change per stage, so COPY-sized inserts, cascades from deleted
# customers and renumbering (no change) all keep the totals right. Rows are upserted in stage
# order, so two transactions touching the same stages lock them in the same order.
TOTALS_FUNCTION = """
CREATE FUNCTION pipeline_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO pipeline_stage_totals AS t
            (organization_id, stage_id, opportunity_count, amount, weighted_amount)
        SELECT organization_id, stage_id, count(*), sum(amount), sum(amount * probability / 100)
        FROM new_rows GROUP BY organization_id, stage_id ORDER BY stage_id
        ON CONFLICT (stage_id) DO UPDATE SET
            opportunity_count = t.opportunity_count + excluded.opportunity_count,
            amount = t.amount + excluded.amount,
            weighted_amount = t.weighted_amount + excluded.weighted_amount;
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
            weighted_amount = t.weighted_amount - d.w
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
        INSERT INTO pipeline_stage_totals AS t
            (organization_id, stage_id, opportunity_count, amount, weighted_amount)
        SELECT organization_id, stage_id, sum(n), sum(a), sum(w)
        FROM (
            SELECT n.organization_id, n.stage_id, 1 AS n, n.amount AS a,
                   n.amount * n.probability / 100 AS w
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.stage_id, n.amount, n.probability) IS DISTINCT FROM (o.stage_id, o.amount, o.probability)
            UNION ALL
            SELECT o.organization_id, o.stage_id, -1, -o.amount, -o.amount * o.probability / 100
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.stage_id, n.amount, n.probability) IS DISTINCT FROM (o.stage_id, o.amount, o.probability)
        ) AS changes
        GROUP BY organization_id, stage_id ORDER BY stage_id
        ON CONFLICT (stage_id) DO UPDATE SET
            opportunity_count = t.opportunity_count + excluded.opportunity_count,
            amount = t.amount + excluded.amount,
            weighted_amount = t.weighted_amount + excluded.weighted_amount;
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
TOTALS_TRIGGERS = {
    "INSERT": "NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
    "UPDATE": "NEW TABLE AS new_rows OLD TABLE AS old_rows",
}


def timestamps():
    return [
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    ]


def organization_fk(table: str):
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=f"fk_{table}_organization_id_organizations",
        ondelete="CASCADE",
    )


def user_fk(table: str, column: str):
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=f"fk_{table}_{column}_users", ondelete="SET NULL"
    )


def upgrade():
    op.create_table(
        "pipeline_stages",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Numeric(5, 2), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_stages"),
        organization_fk("pipeline_stages"),
        sa.UniqueConstraint("organization_id", "name", name="uq_pipeline_stages_org_name"),
        sa.CheckConstraint(
            "outcome IN ('open', 'won', 'lost')", name="ck_pipeline_stages_outcome_known"
        ),
        sa.CheckConstraint(
            "probability BETWEEN 0 AND 100", name="ck_pipeline_stages_probability_percent"
        ),
    )
    op.create_index("ix_pipeline_stages_organization_id", "pipeline_stages", ["organization_id"])
    op.create_index(
        "ix_pipeline_stages_org_position", "pipeline_stages", ["organization_id", "position"]
    )

    op.create_table(
        "opportunities",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("opportunity_number", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("lead_id", sa.BigInteger()),
        sa.Column("stage_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("probability", sa.Numeric(5, 2), nullable=False),
        sa.Column("amount", sa.Numeric(15, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("expected_close_date", sa.Date(), nullable=False),
        sa.Column("owner_id", sa.BigInteger()),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("competitor", sa.String(100), nullable=False),
        sa.Column("next_step", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("win_reason", sa.Text(), nullable=False),
        sa.Column("loss_reason", sa.Text(), nullable=False),
        sa.Column(
            "stage_entered_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("created_by_id", sa.BigInteger()),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_opportunities"),
        organization_fk("opportunities"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_opportunities_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name="fk_opportunities_lead_id_leads", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["pipeline_stages.id"],
            name="fk_opportunities_stage_id_pipeline_stages",
        ),
        user_fk("opportunities", "owner_id"),
        user_fk("opportunities", "created_by_id"),
        sa.CheckConstraint(
            "status IN ('open', 'won', 'lost')", name="ck_opportunities_status_known"
        ),
        sa.CheckConstraint("amount >= 0", name="ck_opportunities_amount_not_negative"),
        sa.CheckConstraint(
            "probability BETWEEN 0 AND 100", name="ck_opportunities_probability_percent"
        ),
    )
    op.create_index("ix_opportunities_organization_id", "opportunities", ["organization_id"])
    op.create_index(
        "uq_opportunities_org_number",
        "opportunities",
        ["organization_id", "opportunity_number"],
        unique=True,
    )
    # A board column in card order; keyset pages continue after (position, id).
    op.create_index(
        "ix_opportunities_board",
        "opportunities",
        ["organization_id", "stage_id", "position", "id"],
    )
    op.create_index(
        "ix_opportunities_owner_board",
        "opportunities",
        ["organization_id", "owner_id", "stage_id", "position", "id"],
    )
    op.create_index(
        "ix_opportunities_org_close",
        "opportunities",
        ["organization_id", "expected_close_date", "id"],
    )
    op.create_index(
        "ix_opportunities_org_closed",
        "opportunities",
        ["organization_id", "closed_at"],
        postgresql_where=sa.text("closed_at IS NOT NULL"),
    )
    op.create_index(
        "ix_opportunities_org_customer", "opportunities", ["organization_id", "customer_id"]
    )
    op.create_index(
        "ix_opportunities_org_lead",
        "opportunities",
        ["organization_id", "lead_id"],
        postgresql_where=sa.text("lead_id IS NOT NULL"),
    )

    op.create_table(
        "pipeline_stage_totals",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("stage_id", sa.BigInteger(), nullable=False),
        sa.Column("opportunity_count", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(20, 2), nullable=False),
        sa.Column("weighted_amount", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("stage_id", name="pk_pipeline_stage_totals"),
        organization_fk("pipeline_stage_totals"),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["pipeline_stages.id"],
            name="fk_pipeline_stage_totals_stage_id_pipeline_stages",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_pipeline_stage_totals_organization_id", "pipeline_stage_totals", ["organization_id"]
    )
    op.create_table(
        "pipeline_month_totals",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("owner_key", sa.BigInteger(), nullable=False),
        sa.Column("stage_id", sa.BigInteger(), nullable=False),
        sa.Column("probability", sa.Numeric(5, 2), nullable=False),
        sa.Column("opportunity_count", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(20, 2), nullable=False),
        sa.PrimaryKeyConstraint(
            "organization_id",
            "month",
            "owner_key",
            "stage_id",
            "probability",
            name="pk_pipeline_month_totals",
        ),
        organization_fk("pipeline_month_totals"),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["pipeline_stages.id"],
            name="fk_pipeline_month_totals_stage_id_pipeline_stages",
            ondelete="CASCADE",
        ),
    )
    op.execute(TOTALS_FUNCTION)
    for event, tables in TOTALS_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER opportunities_totals_{event.lower()} AFTER {event} ON opportunities "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION pipeline_totals_apply()"
        )

    op.create_table(
        "opportunity_stage_history",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("opportunity_id", sa.BigInteger(), nullable=False),
        sa.Column("from_stage_id", sa.BigInteger()),
        sa.Column("to_stage_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(15, 2), nullable=False),
        sa.Column("changed_by_id", sa.BigInteger()),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_opportunity_stage_history"),
        organization_fk("opportunity_stage_history"),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunities.id"],
            name="fk_opportunity_stage_history_opportunity_id_opportunities",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_stage_id"],
            ["pipeline_stages.id"],
            name="fk_opportunity_stage_history_from_stage_id_pipeline_stages",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["to_stage_id"],
            ["pipeline_stages.id"],
            name="fk_opportunity_stage_history_to_stage_id_pipeline_stages",
            ondelete="CASCADE",
        ),
        user_fk("opportunity_stage_history", "changed_by_id"),
    )
    op.create_index(
        "ix_opportunity_stage_history_organization_id",
        "opportunity_stage_history",
        ["organization_id"],
    )
    op.create_index(
        "ix_opportunity_stage_history_opportunity",
        "opportunity_stage_history",
        ["organization_id", "opportunity_id", "changed_at"],
    )
    op.create_index(
        "ix_opportunity_stage_history_stage",
        "opportunity_stage_history",
        ["organization_id", "to_stage_id"],
    )

    op.create_table(
        "sales_targets",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(15, 2), nullable=False),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_sales_targets"),
        organization_fk("sales_targets"),
        sa.UniqueConstraint("organization_id", "month", name="uq_sales_targets_org_month"),
        sa.CheckConstraint("amount >= 0", name="ck_sales_targets_amount_not_negative"),
        sa.CheckConstraint("extract(day FROM month) = 1", name="ck_sales_targets_month_first_day"),
    )
    op.create_index("ix_sales_targets_organization_id", "sales_targets", ["organization_id"])

    op.create_table(
        "sales_settings",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("quote_approval_threshold", sa.Numeric(15, 2), nullable=False),
        sa.Column("default_tax_rate", sa.Numeric(5, 2), nullable=False),
        *timestamps(),
        sa.PrimaryKeyConstraint("organization_id", name="pk_sales_settings"),
        organization_fk("sales_settings"),
    )

    op.create_table(
        "quotes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("quote_number", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("opportunity_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("valid_until", sa.Date()),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("discount_percent", sa.Numeric(5, 2), nullable=False),
        sa.Column("tax_rate", sa.Numeric(5, 2), nullable=False),
        sa.Column("subtotal", sa.Numeric(15, 2), nullable=False),
        sa.Column("discount_total", sa.Numeric(15, 2), nullable=False),
        sa.Column("tax_total", sa.Numeric(15, 2), nullable=False),
        sa.Column("total", sa.Numeric(15, 2), nullable=False),
        sa.Column("created_by_id", sa.BigInteger()),
        sa.Column("approved_by_id", sa.BigInteger()),
        sa.Column("approved_at", sa.DateTime(timezone=True)),
        sa.Column("approval_note", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_quotes"),
        organization_fk("quotes"),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunities.id"],
            name="fk_quotes_opportunity_id_opportunities",
            ondelete="CASCADE",
        ),
        user_fk("quotes", "created_by_id"),
        user_fk("quotes", "approved_by_id"),
        sa.CheckConstraint(
            "status IN ('draft', 'pending_approval', 'approved', 'sent', 'accepted', 'rejected')",
            name="ck_quotes_status_known",
        ),
        sa.CheckConstraint("discount_percent BETWEEN 0 AND 100", name="ck_quotes_discount_percent"),
        sa.CheckConstraint("tax_rate BETWEEN 0 AND 100", name="ck_quotes_tax_rate_percent"),
    )
    op.create_index("ix_quotes_organization_id", "quotes", ["organization_id"])
    op.create_index(
        "uq_quotes_org_number_version",
        "quotes",
        ["organization_id", "quote_number", "version"],
        unique=True,
    )
    # Exactly one version of a quote is the one being worked on.
    op.create_index(
        "uq_quotes_org_number_current",
        "quotes",
        ["organization_id", "quote_number"],
        unique=True,
        postgresql_where=sa.text("is_current"),
    )
    op.create_index(
        "ix_quotes_org_opportunity", "quotes", ["organization_id", "opportunity_id", "id"]
    )
    op.create_index("ix_quotes_org_status", "quotes", ["organization_id", "status", "id"])

    op.create_table(
        "quote_items",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("quote_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(300), nullable=False),
        sa.Column("quantity", sa.Numeric(12, 2), nullable=False),
        sa.Column("unit_price", sa.Numeric(15, 2), nullable=False),
        sa.Column("discount_percent", sa.Numeric(5, 2), nullable=False),
        sa.Column("line_total", sa.Numeric(15, 2), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quote_items"),
        organization_fk("quote_items"),
        sa.ForeignKeyConstraint(
            ["quote_id"], ["quotes.id"], name="fk_quote_items_quote_id_quotes", ondelete="CASCADE"
        ),
        sa.CheckConstraint("quantity > 0", name="ck_quote_items_quantity_positive"),
        sa.CheckConstraint("unit_price >= 0", name="ck_quote_items_unit_price_not_negative"),
        sa.CheckConstraint(
            "discount_percent BETWEEN 0 AND 100", name="ck_quote_items_discount_percent"
        ),
    )
    op.create_index("ix_quote_items_organization_id", "quote_items", ["organization_id"])
    op.create_index(
        "ix_quote_items_quote", "quote_items", ["organization_id", "quote_id", "position"]
    )

    # Organizations that exist already get seed 003's stages and the default settings; new ones
    # get them from accounts.services.create_organization (pipeline.stages.set_up_organization).
    op.execute(
        """
        INSERT INTO pipeline_stages (organization_id, name, position, probability, outcome)
        SELECT o.id, s.name, s.position, s.probability, s.outcome
        FROM organizations o
        CROSS JOIN (VALUES
            ('Prospecting', 1, 10, 'open'),
            ('Qualification', 2, 25, 'open'),
            ('Proposal', 3, 50, 'open'),
            ('Negotiation', 4, 75, 'open'),
            ('Closed Won', 5, 100, 'won'),
            ('Closed Lost', 6, 0, 'lost')
        ) AS s (name, position, probability, outcome)
        """
    )
    op.execute(
        "INSERT INTO sales_settings (organization_id, quote_approval_threshold, default_tax_rate) "
        "SELECT id, 10000, 0 FROM organizations"
    )

    for table in TABLES:
        enable_tenant_rls(table)


def downgrade():
    for event in TOTALS_TRIGGERS:
        op.execute(f"DROP TRIGGER opportunities_totals_{event.lower()} ON opportunities")
    op.execute("DROP FUNCTION pipeline_totals_apply()")
    for table in reversed(TABLES):
        disable_tenant_rls(table)
        op.drop_table(table)
