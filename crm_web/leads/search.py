"""The leads' part of the global search: by name, company, email, number or phone.

A lead number or a whole email address is looked up by its unique or plain index, a phone
number (in E.164, as leads store them) by its partial index, anything else of three characters
or more through lead_search_page and the trigram index on the search text (migration 0027:
the few suggestions shown, where the list's lead_search_ids returns every match).
"""

import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, literal, select

from crm_web.accounts.models import User
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.labels import label
from crm_web.leads.models import Lead
from crm_web.leads.services import EMAIL, LEAD_NUMBER
from crm_web.search.providers import MIN_SUBSTRING_LENGTH, SearchHit, SearchProvider, like_pattern

PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")


def _matching(term: str, limit: int):
    """Which leads the term names (a condition on Lead), or None for none."""
    if LEAD_NUMBER.match(term):
        return Lead.lead_number == term.upper()
    if EMAIL.match(term):
        return Lead.email == term.lower()
    if PHONE.match(term):
        return Lead.phone == "+" + re.sub(r"\D", "", term)
    if len(term) >= MIN_SUBSTRING_LENGTH:
        # Folded by crm_fold() in the database, as the leads' search text is.
        # The ids first: joined in one query, the planner (guessing a thousand of them) would
        # walk the leads' id index instead. None found is no query (an empty IN scans).
        pattern = func.crm_fold(literal(like_pattern(term)))
        page = func.lead_search_page(pattern, limit).table_valued("id")
        ids = db.session.scalars(select(page.c.id)).all()
        return Lead.id.in_(ids) if ids else None
    return None


def find(term: str, limit: int, user: User) -> list[SearchHit]:
    """The newest of the leads the term finds."""
    matching = _matching(term, limit)
    if matching is None:
        return []
    leads = db.session.scalars(
        select(Lead)
        .where(Lead.organization_id == current_organization_id(), matching)
        .order_by(Lead.id.desc())
        .limit(limit)
    )
    return [
        SearchHit.of(
            lead.display_name or lead.lead_number,
            "leads.detail",
            {"lead_id": lead.id},
            lead.lead_number,
            lead.company if lead.company != lead.display_name else "",
            lead.email,
            lead.phone,
            label(lead.status, "lead_status"),
        )
        for lead in leads
    ]


PROVIDER = SearchProvider(
    key="leads",
    label=_l("Leads"),
    capability="view leads",
    find=find,
    list_endpoint="leads.index",
)
