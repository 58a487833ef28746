"""The customers' part of the global search: by name, code, email or phone.

A whole email address or customer code is looked up by its index (a trigram search for a whole
address reads the posting lists of "exa", "com" and the like: 20 to 150 ms among 300,000
customers); anything else, or what those do not find, through customer_search_page and its
trigram index on the folded search text (see services)."""

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm_web.accounts.models import User
from crm_web.customers.models import Customer
from crm_web.customers.services import CustomerFilters, find_duplicates, first_matching_ids
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.search.providers import MIN_TERM_LENGTH, SearchHit, SearchProvider

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CODE = re.compile(r"^[a-z]+-\d+$", re.IGNORECASE)


def _exactly(term: str, limit: int) -> list[Customer]:
    """The customers a whole email address (stored lower-cased) or code names."""
    if EMAIL.match(term):
        return find_duplicates([term.lower()], [], limit=limit)
    if CODE.match(term):
        return list(
            db.session.scalars(
                select(Customer).where(
                    Customer.organization_id == current_organization_id(),
                    Customer.customer_code == term.upper(),
                )
            )
        )
    return []


def find(term: str, limit: int, user: User) -> list[SearchHit]:
    """Customers, active or not, whose name, code, email or phone contains the term; a code,
    email or phone typed in full comes first."""
    if len(term) < MIN_TERM_LENGTH:
        return []
    customers = _exactly(term, limit)
    if not customers:
        ids = first_matching_ids(CustomerFilters(q=term, is_active=None), limit)
        if not ids:
            return []
        customers = db.session.scalars(
            select(Customer).where(
                Customer.organization_id == current_organization_id(), Customer.id.in_(ids)
            )
        ).all()
    folded = term.casefold()

    def exact(customer: Customer) -> bool:
        return folded in {
            customer.customer_code.casefold(),
            customer.primary_email.casefold(),
            customer.primary_phone,
        }

    customers = sorted(customers, key=lambda c: (not exact(c), c.display_name.casefold()))
    return [
        SearchHit.of(
            customer.display_name,
            "customer360.show",
            {"customer_id": customer.id},
            customer.customer_code,
            customer.primary_email,
            customer.primary_phone,
            "" if customer.is_active else _("inactive"),
        )
        for customer in customers
    ]


PROVIDER = SearchProvider(
    key="customers",
    label=_l("Customers"),
    capability="view customers",
    find=find,
    list_endpoint="customers.index",
    list_args={"active": "all"},
)
