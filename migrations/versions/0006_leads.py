"""Leads: capture, scoring rules, assignment rules and conversion.

Revision ID: 0006_leads
Revises: 0005_customer_imports
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from helpers import create_definer_function, disable_tenant_rls, enable_tenant_rls
from sqlalchemy.dialects import postgresql

revision = "0006_leads"
down_revision = "0005_customer_imports"
branch_labels = None
depends_on = None

TENANT_TABLES = (
    "lead_settings",
    "teams",
    "team_members",
    "leads",
    "lead_scoring_rules",
    "assignment_rules",
    "lead_assignments",
)
# The nightly rescoring walks every organization that uses leads, before any tenant is set.
LEAD_ORGANIZATIONS = "lead_organizations()"
# Substring search through the trigram index. Under row-level security the app role cannot use
# that index (LIKE is not leakproof, so it may not run before the policy), so this lookup runs as
# the owner and applies the tenant filter itself: the current organization's matching ids.
LEAD_SEARCH = "lead_search_ids(p_query text)"
LEAD_SEARCH_BODY = (
    "SELECT id FROM leads"
    " WHERE organization_id = nullif(current_setting('app.organization_id', true), '')::bigint"
    " AND search_text LIKE '%' || replace(replace(replace(lower(p_query),"
    " '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'"
)


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


def user_fk(table: str, column: str, ondelete: str = "SET NULL"):
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=f"fk_{table}_{column}_users", ondelete=ondelete
    )


def text_array(name: str):
    return sa.Column(name, postgresql.ARRAY(sa.Text()), nullable=False)


def upgrade():
    # Substring search on names; btree_gin lets that GIN index lead with organization_id.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")

    op.create_table(
        "lead_settings",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("web_form_enabled", sa.Boolean(), nullable=False),
        sa.Column("web_form_thank_you", sa.Text(), nullable=False),
        sa.Column("auto_assign", sa.Boolean(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("organization_id", name="pk_lead_settings"),
        organization_fk("lead_settings"),
    )

    op.create_table(
        "teams",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("last_assigned_user_id", sa.BigInteger()),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
        organization_fk("teams"),
        user_fk("teams", "last_assigned_user_id"),
        sa.UniqueConstraint("organization_id", "name", name="uq_teams_org_name"),
    )
    op.create_index("ix_teams_organization_id", "teams", ["organization_id"])

    op.create_table(
        "team_members",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("team_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", name="pk_team_members"),
        organization_fk("team_members"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name="fk_team_members_team_id_teams", ondelete="CASCADE"
        ),
        user_fk("team_members", "user_id", ondelete="CASCADE"),
    )
    op.create_index("ix_team_members_organization_id", "team_members", ["organization_id"])
    op.create_index("ix_team_members_org_user", "team_members", ["organization_id", "user_id"])

    op.create_table(
        "leads",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("lead_number", sa.String(20), nullable=False),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("captured_via", sa.String(20), nullable=False),
        sa.Column("first_name", sa.String(50), nullable=False),
        sa.Column("last_name", sa.String(50), nullable=False),
        sa.Column("company", sa.String(100), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("website", sa.String(200), nullable=False),
        sa.Column("industry", sa.String(50), nullable=False),
        sa.Column("company_size", sa.String(20), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("budget", sa.Numeric(15, 2)),
        sa.Column("authority", sa.String(20), nullable=False),
        sa.Column("need", sa.Text(), nullable=False),
        sa.Column("timeline", sa.String(50), nullable=False),
        sa.Column("lead_score", sa.Integer(), nullable=False),
        sa.Column("score_breakdown", postgresql.JSONB(), nullable=False),
        sa.Column("recommended_action", sa.String(40), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True)),
        sa.Column("form_submissions", sa.Integer(), nullable=False),
        sa.Column("activity_count", sa.Integer(), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column(
            "status_changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("disqualified_reason", sa.Text(), nullable=False),
        sa.Column("assigned_to_id", sa.BigInteger()),
        sa.Column("assigned_at", sa.DateTime(timezone=True)),
        sa.Column("converted_customer_id", sa.BigInteger()),
        sa.Column("converted_opportunity_id", sa.BigInteger()),
        sa.Column("converted_at", sa.DateTime(timezone=True)),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column(
            "search_text",
            sa.Text(),
            sa.Computed(
                "lower(first_name || ' ' || last_name || ' ' || company || ' ' || email)",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.Column("created_by_id", sa.BigInteger()),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_leads"),
        organization_fk("leads"),
        user_fk("leads", "assigned_to_id"),
        user_fk("leads", "created_by_id"),
        sa.ForeignKeyConstraint(
            ["converted_customer_id"],
            ["customers.id"],
            name="fk_leads_converted_customer_id_customers",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(
            "status IN ('new', 'contacted', 'qualified', 'converted', 'disqualified')",
            name="ck_leads_status_known",
        ),
        sa.CheckConstraint("lead_score BETWEEN 0 AND 100", name="ck_leads_score_percent"),
        sa.CheckConstraint("budget IS NULL OR budget >= 0", name="ck_leads_budget_not_negative"),
        sa.CheckConstraint(
            "(status = 'converted') = (converted_at IS NOT NULL)",
            name="ck_leads_converted_has_date",
        ),
    )
    op.create_index("ix_leads_organization_id", "leads", ["organization_id"])
    op.create_index("uq_leads_org_number", "leads", ["organization_id", "lead_number"], unique=True)
    op.create_index("ix_leads_org_id", "leads", ["organization_id", "id"])
    op.create_index("ix_leads_org_status", "leads", ["organization_id", "status", "id"])
    op.create_index("ix_leads_org_assignee", "leads", ["organization_id", "assigned_to_id", "id"])
    op.create_index(
        "ix_leads_org_score",
        "leads",
        ["organization_id", "lead_score", "id"],
        postgresql_include=["status"],
    )
    # Workload balancing counts each candidate's open leads.
    op.create_index(
        "ix_leads_open_by_assignee",
        "leads",
        ["organization_id", "assigned_to_id"],
        postgresql_where=sa.text("status IN ('new', 'contacted', 'qualified')"),
    )
    op.create_index("ix_leads_org_email", "leads", ["organization_id", "email"])
    op.create_index(
        "ix_leads_search_trgm",
        "leads",
        ["organization_id", "search_text"],
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )

    op.create_table(
        "lead_scoring_rules",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("factor", sa.String(20), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("field", sa.String(40), nullable=False),
        sa.Column("operator", sa.String(20), nullable=False),
        sa.Column("value", sa.String(500), nullable=False),
        text_array("match_values"),
        sa.Column("threshold", sa.Numeric(15, 2)),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_lead_scoring_rules"),
        organization_fk("lead_scoring_rules"),
        sa.CheckConstraint(
            "factor IN ('demographic', 'firmographic', 'behavioural', 'engagement')",
            name="ck_lead_scoring_rules_factor_known",
        ),
        sa.CheckConstraint(
            "points BETWEEN -100 AND 100", name="ck_lead_scoring_rules_points_range"
        ),
    )
    op.create_index(
        "ix_lead_scoring_rules_organization_id", "lead_scoring_rules", ["organization_id"]
    )
    op.create_index(
        "ix_lead_scoring_rules_org_position",
        "lead_scoring_rules",
        ["organization_id", "position", "id"],
    )

    op.create_table(
        "assignment_rules",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        text_array("sources"),
        text_array("industries"),
        text_array("countries"),
        text_array("cities"),
        sa.Column("user_id", sa.BigInteger()),
        sa.Column("team_id", sa.BigInteger()),
        sa.Column("method", sa.String(20), nullable=False),
        text_array("required_skills"),
        sa.Column("max_open_leads", sa.Integer()),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_assignment_rules"),
        organization_fk("assignment_rules"),
        user_fk("assignment_rules", "user_id", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name="fk_assignment_rules_team_id_teams", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (team_id IS NULL)", name="ck_assignment_rules_one_target"
        ),
        sa.CheckConstraint(
            "method IN ('round_robin', 'least_loaded')", name="ck_assignment_rules_method_known"
        ),
        sa.CheckConstraint(
            "max_open_leads IS NULL OR max_open_leads > 0",
            name="ck_assignment_rules_max_open_leads_positive",
        ),
    )
    op.create_index("ix_assignment_rules_organization_id", "assignment_rules", ["organization_id"])
    op.create_index(
        "ix_assignment_rules_org_priority",
        "assignment_rules",
        ["organization_id", "priority", "id"],
    )

    op.create_table(
        "lead_assignments",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("lead_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger()),
        sa.Column("previous_user_id", sa.BigInteger()),
        sa.Column("rule_id", sa.BigInteger()),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("note", sa.String(200), nullable=False),
        sa.Column("assigned_by_id", sa.BigInteger()),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_lead_assignments"),
        organization_fk("lead_assignments"),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name="fk_lead_assignments_lead_id_leads", ondelete="CASCADE"
        ),
        user_fk("lead_assignments", "user_id"),
        user_fk("lead_assignments", "previous_user_id"),
        user_fk("lead_assignments", "assigned_by_id"),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["assignment_rules.id"],
            name="fk_lead_assignments_rule_id_assignment_rules",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_lead_assignments_organization_id", "lead_assignments", ["organization_id"])
    op.create_index(
        "ix_lead_assignments_org_lead", "lead_assignments", ["organization_id", "lead_id", "id"]
    )

    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    create_definer_function(
        LEAD_ORGANIZATIONS, "SETOF bigint", "SELECT organization_id FROM lead_settings"
    )
    create_definer_function(LEAD_SEARCH, "SETOF bigint", LEAD_SEARCH_BODY)


def downgrade():
    op.execute(f"DROP FUNCTION {LEAD_SEARCH}")
    op.execute(f"DROP FUNCTION {LEAD_ORGANIZATIONS}")
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(table)
        op.drop_table(table)
    # The extensions stay: other tables may have come to rely on them.
