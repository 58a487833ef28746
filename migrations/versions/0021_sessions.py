"""Sign-ins kept in PostgreSQL: a session cookie holds only while its row here exists.

Sessions used to live in Redis, so a Redis outage answered every signed-in page with a 500 and
a Redis restart signed everyone out. The session is now a cookie signed with SECRET_KEY that
names its row; signing out deletes the row, deactivating a user or setting their password
deletes all of theirs. Each request reads the row with the user's (one query, primary keys).

Revision ID: 0021_sessions
Revises: 0019_auth_hardening
"""

import sqlalchemy as sa
from alembic import op
from helpers import disable_tenant_rls, enable_tenant_rls

revision = "0021_sessions"
down_revision = "0019_auth_hardening"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_user_sessions"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_user_sessions_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_sessions_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_user_sessions_organization_id", "user_sessions", ["organization_id"])
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    enable_tenant_rls("user_sessions")


def downgrade():
    disable_tenant_rls("user_sessions")
    op.drop_table("user_sessions")
