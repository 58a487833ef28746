"""The tickets' part of the global search: a ticket by its number (T-1042, any status, by its
unique index), and active tickets whose subject contains the term, through ticket_search_page
and its trigram index on active tickets' subjects (as the queue's search)."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm_web.accounts.models import User
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.inputs import whole_number
from crm_web.search.providers import MIN_SUBSTRING_LENGTH, SearchHit, SearchProvider
from crm_web.tickets.models import Ticket
from crm_web.tickets.queue import QueueFilters, queue_page, queue_rows


def find(term: str, limit: int, user: User) -> list[SearchHit]:
    """The ticket numbered so first, then the newest active tickets about the term."""
    rows = []
    number = whole_number(term.upper().removeprefix("T-").strip())
    if number is not None:
        numbered = db.session.scalar(
            select(Ticket.id).where(
                Ticket.organization_id == current_organization_id(), Ticket.number == number
            )
        )
        rows = queue_rows([numbered]) if numbered else []
    if len(term) >= MIN_SUBSTRING_LENGTH:
        filters = QueueFilters(view="all", sort="newest", q=term)
        found = queue_page(user, filters, limit=limit).items
        rows += [row for row in found if row.id not in {r.id for r in rows}]
    return [
        SearchHit.of(
            row.subject,
            "tickets.show",
            {"ticket_id": row.id},
            row.reference,
            row.customer_name,
            row.status.replace("_", " "),
        )
        for row in rows[:limit]
    ]


PROVIDER = SearchProvider(
    key="tickets",
    label=_l("Tickets"),
    capability="work tickets",
    find=find,
    list_endpoint="tickets.index",
    list_args={"view": "all"},
)
