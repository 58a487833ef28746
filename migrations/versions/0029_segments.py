"""Segments: saved criteria, their members with entered/left times, and each refresh's count.

`segment_members` is the movement log as well as the membership: a stay is a row with the time
the customer entered and the time they left (NULL while still a member); coming back makes a
new row. `segment_refreshes` keeps each refresh's count, arrivals and departures for the chart.
`segments_to_refresh` lets the scheduler (which acts for no organization) find the dynamic
segments that are due, or whose requested refresh no worker has done.

Revision ID: 0029_segments
Revises: 0028_analyze_and_sign_in_stamp
"""

import sqlalchemy as sa
from alembic import op
from helpers import create_definer_function, disable_tenant_rls, enable_tenant_rls
from sqlalchemy.dialects import postgresql

revision = "0029_segments"
down_revision = "0028_analyze_and_sign_in_stamp"
branch_labels = None
depends_on = None

SEGMENT_TYPES = ("demographic", "geographic", "behavioral", "value", "custom")

DUE_FUNCTION = "segments_to_refresh(p_now timestamptz, p_stale timestamptz)"
DUE_QUERY = """
    SELECT organization_id, id FROM segments
     WHERE is_active AND is_dynamic
       AND (last_refreshed_at IS NULL
            OR last_refreshed_at <= p_now - make_interval(mins => refresh_minutes)
            OR (refresh_requested_at > last_refreshed_at AND refresh_requested_at < p_stale))
"""


def _tenant_columns():
    return [
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
    ]


def _organization_key(table: str):
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=f"fk_{table}_organization_id_organizations",
        ondelete="CASCADE",
    )


def upgrade():
    op.create_table(
        "segments",
        *_tenant_columns(),
        sa.Column("segment_name", sa.String(100), nullable=False),
        sa.Column("segment_code", sa.String(20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("segment_type", sa.String(20), nullable=False),
        # {"match": "all"|"any", "rules": [...]} (crm_web/segments/criteria.py)
        sa.Column("criteria", postgresql.JSONB(), nullable=False),
        sa.Column("is_dynamic", sa.Boolean(), nullable=False),
        sa.Column("refresh_minutes", sa.Integer(), nullable=False),
        sa.Column("customer_count", sa.Integer(), nullable=False),
        sa.Column("last_refreshed_at", sa.DateTime(timezone=True)),
        sa.Column("refresh_requested_at", sa.DateTime(timezone=True)),
        sa.Column("last_refresh_ms", sa.Integer()),
        sa.Column("created_by_id", sa.BigInteger()),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_segments"),
        _organization_key("segments"),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name="fk_segments_created_by_id_users",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(
            "segment_type IN (" + ", ".join(f"'{t}'" for t in SEGMENT_TYPES) + ")",
            name="ck_segments_type_known",
        ),
        sa.CheckConstraint("refresh_minutes > 0", name="ck_segments_refresh_minutes_positive"),
    )
    op.create_index("ix_segments_organization_id", "segments", ["organization_id"])
    op.create_index("ix_segments_org_id", "segments", ["organization_id", "id"])
    op.create_index(
        "uq_segments_org_code", "segments", ["organization_id", "segment_code"], unique=True
    )
    enable_tenant_rls("segments")

    op.create_table(
        "segment_members",
        *_tenant_columns(),
        sa.Column("segment_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_segment_members"),
        _organization_key("segment_members"),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name="fk_segment_members_segment_id_segments",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_segment_members_customer_id_customers",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_segment_members_organization_id", "segment_members", ["organization_id"])
    # The current members, one stay each (and the keyset list of a segment's customers).
    op.create_index(
        "uq_segment_members_current",
        "segment_members",
        ["organization_id", "segment_id", "customer_id"],
        unique=True,
        postgresql_where=sa.text("left_at IS NULL"),
    )
    # The movement log, newest first: arrivals and departures.
    op.create_index(
        "ix_segment_members_entered",
        "segment_members",
        ["organization_id", "segment_id", "entered_at"],
    )
    op.create_index(
        "ix_segment_members_left",
        "segment_members",
        ["organization_id", "segment_id", "left_at"],
        postgresql_where=sa.text("left_at IS NOT NULL"),
    )
    op.create_index(
        "ix_segment_members_customer", "segment_members", ["organization_id", "customer_id"]
    )
    enable_tenant_rls("segment_members")

    op.create_table(
        "segment_refreshes",
        *_tenant_columns(),
        sa.Column("segment_id", sa.BigInteger(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customer_count", sa.Integer(), nullable=False),
        sa.Column("entered", sa.Integer(), nullable=False),
        sa.Column("left", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_segment_refreshes"),
        _organization_key("segment_refreshes"),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name="fk_segment_refreshes_segment_id_segments",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_segment_refreshes_organization_id", "segment_refreshes", ["organization_id"]
    )
    op.create_index(
        "ix_segment_refreshes_segment",
        "segment_refreshes",
        ["organization_id", "segment_id", "refreshed_at"],
    )
    enable_tenant_rls("segment_refreshes")
    create_definer_function(DUE_FUNCTION, "TABLE (organization_id bigint, id bigint)", DUE_QUERY)


def downgrade():
    op.execute(f"DROP FUNCTION {DUE_FUNCTION}")
    for table in ("segment_refreshes", "segment_members", "segments"):
        disable_tenant_rls(table)
        op.drop_table(table)
