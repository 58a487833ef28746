"""The customers' part of the global search: by name, code, email or phone, through
customer_search_page and its trigram index on the folded search text (see services)."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm_web.accounts.models import User
from crm_web.customers.models import Customer
from crm_web.customers.services import CustomerFilters, first_matching_ids
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.search.providers import MIN_TERM_LENGTH, SearchHit, SearchProvider


def find(term: str, limit: int, user: User) -> list[SearchHit]:
    """Customers, active or not, whose name, code, email or phone contains the term; a code,
    email or phone typed in full comes first."""
    if len(term) < MIN_TERM_LENGTH:
        return []
    ids = first_matching_ids(CustomerFilters(q=term, is_active=None), limit)
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
