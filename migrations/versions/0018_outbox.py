"""One outbox for every email and SMS the app sends, and the addresses that bounced.

`outbox_messages` replaces `sla_notifications` and `activity_reminders` (their rows move over:
SLA notices keep their recipients and outcomes, reminders their Message-IDs); ticket replies,
resolution emails and invitations, which had no row of their own, are written here from now on.
`suppressions` holds the addresses a hard bounce (5xx at RCPT) ruled out, per organization.

Revision ID: 0018_outbox
Revises: 0017_pipeline_versions
"""

import sqlalchemy as sa
from alembic import op
from helpers import (
    TENANT_OR_SYSTEM_PREDICATE,
    create_definer_function,
    disable_tenant_rls,
    enable_tenant_rls,
)
from sqlalchemy.dialects import postgresql

revision = "0018_outbox"
down_revision = "0017_pipeline_versions"
branch_labels = None
depends_on = None

STATUSES = ("queued", "claimed", "sent", "failed", "suppressed", "cancelled")

# The sweep runs for no tenant: which organizations and channels have messages due that no
# worker holds, or claims whose lease ran out (the worker died). Ids and channels only.
WORK_FUNCTION = "outbox_work(p_now timestamptz, p_idle timestamptz)"
WORK_QUERY = """
    SELECT DISTINCT organization_id, channel FROM outbox_messages
     WHERE (status = 'queued' AND next_attempt_at <= p_idle)
        OR (status = 'claimed' AND lease_expires_at < p_now)
"""
# Without sla_notifications: the outbox's own sweep sends what a fired escalation left behind.
SLA_WORK_FUNCTION = "sla_organizations_with_work(p_until timestamptz, p_stale timestamptz)"
SLA_WORK_QUERY = """
    SELECT organization_id FROM sla_escalations
     WHERE status = 'pending' AND fire_at <= p_until
       AND (enqueued_at IS NULL OR enqueued_at < p_stale)
"""
OLD_SLA_WORK_QUERY = """
    SELECT organization_id FROM sla_escalations
     WHERE status = 'pending' AND fire_at <= p_until
       AND (enqueued_at IS NULL OR enqueued_at < p_stale)
    UNION
    SELECT n.organization_id FROM sla_notifications n
      JOIN sla_escalations e ON e.id = n.escalation_id
     WHERE n.status = 'pending' AND (e.enqueued_at IS NULL OR e.enqueued_at < p_stale)
    UNION
    SELECT organization_id FROM sla_notifications WHERE status = 'sending' AND claimed_at < p_stale
"""
REMINDERS_FUNCTION = "activity_reminder_organizations()"
# DISTINCT: one row per organization (the sweep enqueues one job per row), as the UNION gave.
REMINDERS_QUERY = (
    "SELECT DISTINCT organization_id FROM activities WHERE reminder_armed AND reminder_at <= now()"
)
OLD_REMINDERS_QUERY = (
    REMINDERS_QUERY + " UNION SELECT organization_id FROM activity_reminders "
    "WHERE status = 'pending' AND next_attempt_at <= now()"
)


def upgrade():
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        # NULL for the system's own messages (a sign-up link: no organization exists yet).
        sa.Column("organization_id", sa.BigInteger()),
        sa.Column("channel", sa.String(5), nullable=False),
        # What it is (ticket_reply, sla_escalation, ...): names its template and how it loads.
        sa.Column("kind", sa.String(40), nullable=False),
        # The record it is about (the ticket message, the escalation, ...) and what else it
        # renders from: ids and small values, never prose.
        sa.Column("source_id", sa.BigInteger()),
        sa.Column("context", postgresql.JSONB(), nullable=False, server_default="{}"),
        # Writing the same message twice (a re-run fan-out) inserts nothing.
        sa.Column("dedupe_key", sa.String(200)),
        sa.Column("customer_id", sa.BigInteger()),
        sa.Column("user_id", sa.BigInteger()),
        sa.Column("to_address", sa.String(320), nullable=False),
        sa.Column("to_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("language", sa.String(10), nullable=False, server_default=""),
        sa.Column("status", sa.String(10), nullable=False, server_default="queued"),
        sa.Column("attempts", sa.SmallInteger(), nullable=False, server_default="0"),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
        # Assigned when written, so every attempt sends the same Message-ID.
        sa.Column("message_id", sa.String(250), nullable=False),
        sa.Column("provider_id", sa.String(200), nullable=False, server_default=""),
        # What an SMS gateway last reported (delivered, undelivered, ...).
        sa.Column("delivery_status", sa.String(20), nullable=False, server_default=""),
        sa.Column("segments", sa.SmallInteger()),
        sa.Column("last_error", sa.String(1000), nullable=False, server_default=""),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_messages"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_outbox_messages_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_outbox_messages_customer_id_customers",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_outbox_messages_user_id_users", ondelete="SET NULL"
        ),
        sa.CheckConstraint("channel IN ('email', 'sms')", name="ck_outbox_messages_channel"),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{status}'" for status in STATUSES) + ")",
            name="ck_outbox_messages_status",
        ),
    )
    op.create_index(
        "uq_outbox_messages_dedupe_key",
        "outbox_messages",
        ["organization_id", "dedupe_key"],
        unique=True,
        postgresql_where=sa.text("dedupe_key IS NOT NULL"),
    )
    # The claim: the oldest due messages of one organization and channel.
    op.create_index(
        "ix_outbox_messages_queued",
        "outbox_messages",
        ["organization_id", "channel", "next_attempt_at", "id"],
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_index(
        "ix_outbox_messages_leases",
        "outbox_messages",
        ["lease_expires_at"],
        postgresql_where=sa.text("status = 'claimed'"),
    )
    # What one record sent (a ticket's replies, an escalation's notices).
    op.create_index(
        "ix_outbox_messages_source", "outbox_messages", ["organization_id", "kind", "source_id"]
    )
    # The System page: recent failures and the send rate.
    op.create_index(
        "ix_outbox_messages_recent", "outbox_messages", ["organization_id", "updated_at"]
    )
    enable_tenant_rls("outbox_messages", predicate=TENANT_OR_SYSTEM_PREDICATE)
    create_definer_function(
        WORK_FUNCTION, "TABLE (organization_id bigint, channel text)", WORK_QUERY
    )

    op.create_table(
        "suppressions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(5), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("outbox_message_id", sa.BigInteger()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_suppressions"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_suppressions_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("channel IN ('email', 'sms')", name="ck_suppressions_channel"),
    )
    op.create_index(
        "uq_suppressions_address",
        "suppressions",
        ["organization_id", "channel", sa.text("lower(address)")],
        unique=True,
    )
    enable_tenant_rls("suppressions")

    _move_sla_notifications()
    _move_activity_reminders()


def _move_sla_notifications():
    # A claim never confirmed was most likely sent: it is kept as sent, with the doubt written.
    op.execute(
        """
        INSERT INTO outbox_messages (organization_id, channel, kind, source_id, context,
            dedupe_key, user_id, to_address, status, attempts, message_id, provider_id,
            delivery_status, last_error, created_at, updated_at, sent_at)
        SELECT n.organization_id, n.channel,
               CASE n.channel WHEN 'sms' THEN 'sla_escalation_sms' ELSE 'sla_escalation' END,
               n.escalation_id, jsonb_build_object('escalation_id', n.escalation_id),
               'sla:' || n.escalation_id || ':' || n.channel || ':' || n.recipient,
               n.user_id, n.recipient,
               CASE n.status WHEN 'pending' THEN 'queued' WHEN 'sending' THEN 'queued'
                             WHEN 'unconfirmed' THEN 'sent' ELSE n.status END,
               n.attempts, '<sla-notification-' || n.id || '@crm.localhost>', n.provider_id,
               n.delivery_status, n.last_error, n.created_at, coalesce(n.sent_at, n.created_at),
               n.sent_at
          FROM sla_notifications n
        """
    )
    op.execute(f"DROP FUNCTION {SLA_WORK_FUNCTION}")
    create_definer_function(SLA_WORK_FUNCTION, "SETOF bigint", SLA_WORK_QUERY)
    disable_tenant_rls("sla_notifications")
    op.drop_table("sla_notifications")


def _move_activity_reminders():
    op.execute(
        """
        INSERT INTO outbox_messages (organization_id, channel, kind, source_id, context,
            dedupe_key, user_id, to_address, to_name, status, attempts, next_attempt_at,
            message_id, last_error, created_at, updated_at, sent_at)
        SELECT r.organization_id, 'email', 'activity_reminder', r.activity_id,
               jsonb_build_object('activity_id', r.activity_id, 'remind_at', r.remind_at),
               'activity-reminder:' || r.activity_id || ':' || extract(epoch FROM r.remind_at)::bigint,
               r.user_id, u.email, u.name,
               CASE r.status WHEN 'pending' THEN 'queued' ELSE r.status END,
               r.attempts, r.next_attempt_at,
               coalesce(nullif(r.message_id, ''),
                        '<activity-reminder-' || r.organization_id || '-' || r.id || '@crm.localhost>'),
               r.last_error, r.created_at, r.updated_at, r.sent_at
          FROM activity_reminders r JOIN users u ON u.id = r.user_id
        """
    )
    op.execute(f"DROP FUNCTION {REMINDERS_FUNCTION}")
    create_definer_function(REMINDERS_FUNCTION, "SETOF bigint", REMINDERS_QUERY)
    disable_tenant_rls("activity_reminders")
    op.drop_table("activity_reminders")


def downgrade():
    # The two tables come back as 0009 and 0010 made them, empty: the outbox's rows are its own.
    op.execute(
        """
        CREATE TABLE sla_notifications (
            id bigserial CONSTRAINT pk_sla_notifications PRIMARY KEY,
            organization_id bigint NOT NULL CONSTRAINT fk_sla_notifications_organization_id_organizations
                REFERENCES organizations (id) ON DELETE CASCADE,
            escalation_id bigint NOT NULL CONSTRAINT fk_sla_notifications_escalation_id_sla_escalations
                REFERENCES sla_escalations (id) ON DELETE CASCADE,
            channel varchar(10) NOT NULL CONSTRAINT ck_sla_notifications_channel
                CHECK (channel IN ('email', 'sms')),
            recipient varchar(254) NOT NULL,
            user_id bigint CONSTRAINT fk_sla_notifications_user_id_users
                REFERENCES users (id) ON DELETE SET NULL,
            status varchar(12) NOT NULL CONSTRAINT ck_sla_notifications_status
                CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unconfirmed')),
            attempts smallint NOT NULL,
            provider_id varchar(200) NOT NULL,
            delivery_status varchar(20) NOT NULL,
            last_error varchar(500) NOT NULL,
            claimed_at timestamptz,
            sent_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_sla_notifications_organization_id ON sla_notifications (organization_id);
        CREATE UNIQUE INDEX uq_sla_notifications_recipient
            ON sla_notifications (organization_id, escalation_id, channel, recipient);
        CREATE INDEX ix_sla_notifications_open ON sla_notifications (claimed_at)
            WHERE status IN ('pending', 'sending');

        CREATE TABLE activity_reminders (
            id bigserial CONSTRAINT pk_activity_reminders PRIMARY KEY,
            organization_id bigint NOT NULL CONSTRAINT fk_activity_reminders_organization_id_organizations
                REFERENCES organizations (id) ON DELETE CASCADE,
            activity_id bigint NOT NULL CONSTRAINT fk_activity_reminders_activity_id_activities
                REFERENCES activities (id) ON DELETE CASCADE,
            user_id bigint NOT NULL CONSTRAINT fk_activity_reminders_user_id_users
                REFERENCES users (id) ON DELETE CASCADE,
            remind_at timestamptz NOT NULL,
            status varchar(20) NOT NULL CONSTRAINT ck_activity_reminders_status_known
                CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
            attempts integer NOT NULL,
            next_attempt_at timestamptz NOT NULL,
            last_error text NOT NULL,
            message_id varchar(250) NOT NULL,
            sent_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_activity_reminders_organization_id ON activity_reminders (organization_id);
        CREATE UNIQUE INDEX uq_activity_reminders_activity_time
            ON activity_reminders (organization_id, activity_id, remind_at);
        CREATE INDEX ix_activity_reminders_pending ON activity_reminders (organization_id, next_attempt_at, id)
            WHERE status = 'pending';
        """
    )
    enable_tenant_rls("sla_notifications")
    enable_tenant_rls("activity_reminders")
    op.execute(f"DROP FUNCTION {SLA_WORK_FUNCTION}")
    create_definer_function(SLA_WORK_FUNCTION, "SETOF bigint", OLD_SLA_WORK_QUERY)
    op.execute(f"DROP FUNCTION {REMINDERS_FUNCTION}")
    create_definer_function(REMINDERS_FUNCTION, "SETOF bigint", OLD_REMINDERS_QUERY)
    op.execute(f"DROP FUNCTION {WORK_FUNCTION}")
    for table in ("suppressions", "outbox_messages"):
        disable_tenant_rls(table)
        op.drop_table(table)
