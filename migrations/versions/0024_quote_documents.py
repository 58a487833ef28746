"""Quotes as documents: the company that issues them, their terms, and the PDF that was sent.

- organizations: the company's address, phone, email, tax office and tax number, printed on
  every quote (an admin edits them under Company).
- sales_settings: the terms printed under every quote, and how many days a new quote is
  valid for by default.
- quotes.document_id: the PDF emailed to the customer, kept among the customer's documents,
  so the customer's copy stays what it was whatever changes later (SET NULL when a person
  deletes that document; the next send makes it again from the quote version).

Revision ID: 0024_quote_documents
Revises: 0023_tenant_search_barriers
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_quote_documents"
down_revision = "0023_tenant_search_barriers"
branch_labels = None
depends_on = None

COMPANY_COLUMNS = (
    ("address", 500),
    ("phone", 30),
    ("email", 254),
    ("tax_office", 100),
    ("tax_number", 20),
)


def upgrade():
    for name, length in COMPANY_COLUMNS:
        op.add_column(
            "organizations",
            sa.Column(name, sa.String(length), nullable=False, server_default=""),
        )
    op.add_column(
        "sales_settings", sa.Column("quote_terms", sa.Text(), nullable=False, server_default="")
    )
    op.add_column(
        "sales_settings",
        sa.Column("quote_validity_days", sa.Integer(), nullable=False, server_default="30"),
    )
    op.create_check_constraint(
        "ck_sales_settings_quote_validity_days",
        "sales_settings",
        "quote_validity_days BETWEEN 1 AND 365",
    )
    op.add_column("quotes", sa.Column("document_id", sa.BigInteger()))
    op.create_foreign_key(
        "fk_quotes_document_id_customer_documents",
        "quotes",
        "customer_documents",
        ["document_id"],
        ["id"],
        ondelete="SET NULL",
    )
    # Deleting a customer document finds the quote that points at it by this index.
    op.create_index(
        "ix_quotes_document",
        "quotes",
        ["document_id"],
        postgresql_where=sa.text("document_id IS NOT NULL"),
    )


def downgrade():
    op.drop_index("ix_quotes_document", table_name="quotes")
    op.drop_constraint("fk_quotes_document_id_customer_documents", "quotes", type_="foreignkey")
    op.drop_column("quotes", "document_id")
    op.drop_constraint("ck_sales_settings_quote_validity_days", "sales_settings", type_="check")
    op.drop_column("sales_settings", "quote_validity_days")
    op.drop_column("sales_settings", "quote_terms")
    for name, _length in reversed(COMPANY_COLUMNS):
        op.drop_column("organizations", name)
