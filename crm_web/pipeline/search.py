"""The deals' part of the global search: by name or number, through opportunity_search_page
and its trigram index on the folded search text (migration 0027)."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from crm_web.accounts.models import User
from crm_web.customers.services import search_pattern
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.pipeline.models import Opportunity
from crm_web.search.providers import MIN_SUBSTRING_LENGTH, SearchHit, SearchProvider


def find(term: str, limit: int, user: User) -> list[SearchHit]:
    """Deals whose name or number contains the term (folded as the customers' search is),
    open ones first, soonest to close first."""
    if len(term) < MIN_SUBSTRING_LENGTH:
        return []
    page = func.opportunity_search_page(search_pattern(term), limit).table_valued("id")
    ids = db.session.scalars(select(page.c.id)).all()
    if not ids:
        return []
    deals = db.session.scalars(
        select(Opportunity)
        .options(joinedload(Opportunity.customer))
        .where(Opportunity.organization_id == current_organization_id(), Opportunity.id.in_(ids))
    ).all()
    deals = sorted(deals, key=lambda d: (d.status != "open", d.expected_close_date, d.id))
    return [
        SearchHit.of(
            deal.name,
            "pipeline.detail",
            {"opportunity_id": deal.id},
            deal.opportunity_number,
            deal.customer.display_name,
            deal.stage.name,
        )
        for deal in deals
    ]


PROVIDER = SearchProvider(key="deals", label=_l("Deals"), capability="work deals", find=find)
