"""The customer list as CSV: the rows the list's filters match, streamed in constant memory;
and the consent log (the compliance record) the same way.

The rows come in keyset batches (the list's own search, a page of ids at a time, then those
customers by primary key), and each batch becomes CSV text as it arrives, so a million
customers never sit in memory at once. The header uses the import's labels, so an exported
file imports again as it is.
"""

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, any_, cast, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased

from crm_web.accounts.models import User
from crm_web.csv_writer import stream_csv
from crm_web.customers.fields import FIELDS
from crm_web.customers.models import CONSENT_CHANNELS, ConsentEvent, Customer
from crm_web.customers.services import CustomerFilters, matching_customer_ids
from crm_web.db import current_organization_id, current_tenant, tenant_scope
from crm_web.extensions import db

BATCH_ROWS = 2000
FLUSH_BYTES = 256 * 1024


def _cell(value):
    """A value as the file shows it (the CSV writer disarms formulas in text)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date | Decimal):
        return str(value)
    return value


def export_customers(filters: CustomerFilters) -> Iterator[str]:
    """CSV text (with a byte order mark, for Excel) of every customer the filters match.

    The generator keeps the caller's tenant: a response streams it after the request's own
    scope has ended.
    """
    tenant = current_tenant()

    def chunks() -> Iterator[str]:
        with tenant_scope(tenant.organization_id, tenant.user_id):
            yield from _csv(filters)

    return chunks()


def _csv(filters: CustomerFilters) -> Iterator[str]:
    owner = aliased(User)
    # The owner is written as their email, which an import reads back.
    columns = [owner.email if f.kind == "owner" else getattr(Customer, f.name) for f in FIELDS]

    def rows() -> Iterator[list]:
        for ids in matching_customer_ids(filters, BATCH_ROWS):
            found = {
                row[0]: row[1:]
                for row in db.session.execute(
                    select(Customer.id, Customer.customer_code, *columns, Customer.created_at)
                    .outerjoin(owner, owner.id == Customer.owner_id)
                    .where(
                        Customer.organization_id == current_organization_id(),
                        Customer.id == any_(cast(ids, ARRAY(BigInteger))),
                    )
                )
            }
            yield from ([_cell(value) for value in found[id_]] for id_ in ids if id_ in found)

    yield from stream_csv(
        ["Code", *(f.label for f in FIELDS), "Created"], rows(), flush_bytes=FLUSH_BYTES
    )


def export_consent_log(channel: str = "") -> Iterator[str]:
    """CSV text of the organization's consent history, oldest first: who consented or opted
    out, when, of what channel (`channel` alone, or every one), through what and by whom.
    Keeps the caller's tenant, as export_customers does."""
    tenant = current_tenant()
    channel = channel if channel in CONSENT_CHANNELS else ""

    def chunks() -> Iterator[str]:
        with tenant_scope(tenant.organization_id, tenant.user_id):
            yield from stream_csv(
                ["When", "Customer code", "Channel", "Consent", "Before", "Source", "By", "Note"],
                _consent_rows(channel),
                flush_bytes=FLUSH_BYTES,
            )

    return chunks()


def _consent_rows(channel: str) -> Iterator[list]:
    after = 0
    while True:
        stmt = (
            select(
                ConsentEvent.id,
                ConsentEvent.created_at,
                Customer.customer_code,
                ConsentEvent.channel,
                ConsentEvent.new_value,
                ConsentEvent.old_value,
                ConsentEvent.source,
                User.email,
                ConsentEvent.note,
            )
            .join(Customer, Customer.id == ConsentEvent.customer_id)
            .outerjoin(User, User.id == ConsentEvent.user_id)
            .where(
                ConsentEvent.organization_id == current_organization_id(),
                ConsentEvent.id > after,
            )
            .order_by(ConsentEvent.id)
            .limit(BATCH_ROWS)
        )
        if channel:
            stmt = stmt.where(ConsentEvent.channel == channel)
        batch = db.session.execute(stmt).all()
        if not batch:
            return
        for row in batch:
            yield [_cell(value) if value is not None else "" for value in row[1:]]
        after = batch[-1][0]
