"""API tokens that expire, and the token lookup that tells when a token was last used.

`expires_at` is optional (a token without one lasts until revoked). The sign-in lookup
`auth_token_owner` now also returns the token's id, expiry and last use, so the app can answer
an expired token with its own message and write `last_used_at` at most once a minute.

Revision ID: 0019_auth_hardening
Revises: 0018_outbox
"""

import sqlalchemy as sa
from alembic import op
from helpers import create_definer_function

revision = "0019_auth_hardening"
down_revision = "0018_outbox"
branch_labels = None
depends_on = None

SIGNATURE = "auth_token_owner(p_token_hash text)"
BODY = (
    " FROM api_tokens t JOIN users u ON u.id = t.user_id"
    " WHERE t.token_hash = p_token_hash AND t.revoked_at IS NULL AND u.is_active"
)


def upgrade():
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True)))
    # The returned columns change, which CREATE OR REPLACE cannot do.
    op.execute(f"DROP FUNCTION {SIGNATURE}")
    create_definer_function(
        SIGNATURE,
        "TABLE(user_id bigint, organization_id bigint, token_id bigint,"
        " expires_at timestamptz, last_used_at timestamptz)",
        "SELECT t.user_id, t.organization_id, t.id, t.expires_at, t.last_used_at" + BODY,
    )


def downgrade():
    op.execute(f"DROP FUNCTION {SIGNATURE}")
    create_definer_function(
        SIGNATURE,
        "TABLE(user_id bigint, organization_id bigint)",
        "SELECT t.user_id, t.organization_id" + BODY,
    )
    op.drop_column("api_tokens", "expires_at")
