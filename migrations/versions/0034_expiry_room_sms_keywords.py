"""Loyalty members keep room on their pages for the balance updates; consent may change by an
SMS keyword.

Every ledger entry updates its member's balance (the ledger's statement trigger), and the expiry
job updates every member with expired points at once. On full pages each of those updates
writes a new row version elsewhere and an entry in each of the member's six indexes; with room
left on the page the update is HOT (heap-only: no index entry at all), which took the expiry of
a million lots from tens of seconds to a few. Half a page kept free: an expiry run updates
every member once. Rows written from now on get the room; a table loaded before keeps its
pages until it is rewritten (VACUUM FULL, at a quiet hour).

A customer texting STOP (or BASLA) changes their consent: the history names that source.

Revision ID: 0034_expiry_room_sms_keywords
Revises: 0033_search_statistics
"""

from alembic import op

revision = "0034_expiry_room_sms_keywords"
down_revision = "0033_search_statistics"
branch_labels = None
depends_on = None


CONSENT_CHECK = "ck_customer_consent_events_source_known"
SOURCES = "'form', 'import', 'api', 'unsubscribe', 'merge', 'bulk'"


def upgrade():
    op.execute("ALTER TABLE loyalty_members SET (fillfactor = 50)")
    op.drop_constraint(CONSENT_CHECK, "customer_consent_events", type_="check")
    op.create_check_constraint(
        CONSENT_CHECK, "customer_consent_events", f"source IN ({SOURCES}, 'sms_keyword')"
    )


def downgrade():
    op.drop_constraint(CONSENT_CHECK, "customer_consent_events", type_="check")
    op.create_check_constraint(CONSENT_CHECK, "customer_consent_events", f"source IN ({SOURCES})")
    op.execute("ALTER TABLE loyalty_members RESET (fillfactor)")
