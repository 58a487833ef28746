"""A customer's job title: what the contact person of a company does (a lead's title keeps it
when the lead becomes a customer).

For a company customer, title, first and last name, email and phone are its contact person;
the job title completes them. An empty default, so adding it rewrites no row.

Revision ID: 0025_customer_job_title
Revises: 0024_quote_documents
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_customer_job_title"
down_revision = "0024_quote_documents"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "customers", sa.Column("job_title", sa.String(100), server_default="", nullable=False)
    )


def downgrade():
    op.drop_column("customers", "job_title")
