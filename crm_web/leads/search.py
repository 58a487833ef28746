"""The leads' part of the global search: by name, company, email, number or phone.

A lead number or a whole email address is looked up by its unique or plain index, a phone
number (in E.164, as leads store them) by its partial index, anything else of three characters
or more through lead_search_ids and its trigram index (all as the lead list searches).
"""

import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm_web.accounts.models import User
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.leads.models import Lead
from crm_web.leads.services import EMAIL, LEAD_NUMBER, STATUS_LABELS, search_leads
from crm_web.search.providers import MIN_SUBSTRING_LENGTH, SearchHit, SearchProvider

PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")


def _by_phone(term: str, limit: int) -> list[Lead]:
    digits = re.sub(r"\D", "", term)
    return list(
        db.session.scalars(
            select(Lead)
            .where(Lead.organization_id == current_organization_id(), Lead.phone == f"+{digits}")
            .order_by(Lead.id.desc())
            .limit(limit)
        )
    )


def find(term: str, limit: int, user: User) -> list[SearchHit]:
    """The newest leads the term finds."""
    if PHONE.match(term):
        leads = _by_phone(term, limit)
    elif len(term) >= MIN_SUBSTRING_LENGTH or LEAD_NUMBER.match(term) or EMAIL.match(term):
        leads = search_leads(q=term, limit=limit).items
    else:
        leads = []
    return [
        SearchHit.of(
            lead.display_name or lead.lead_number,
            "leads.detail",
            {"lead_id": lead.id},
            lead.lead_number,
            lead.company if lead.company != lead.display_name else "",
            lead.email,
            lead.phone,
            STATUS_LABELS.get(lead.status, lead.status),
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
