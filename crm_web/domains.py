"""Every domain's blueprints, in one list: `create_app` registers what is listed here.

A domain's pages are the blueprint `bp` of its `views.py`; its JSON API, if it has one, the
blueprint `bp` of its `api.py`, nested under /api/v1 (crm_web.api.views). A new domain adds
one line to DOMAINS.
"""

from dataclasses import dataclass

from flask import Blueprint

from crm_web.accounts import api as accounts_api
from crm_web.accounts import profile_views as accounts_profile_views
from crm_web.accounts import views as accounts_views
from crm_web.activities import api as activities_api
from crm_web.activities import views as activities_views
from crm_web.communications import views as communications_views
from crm_web.customer360 import api as customer360_api
from crm_web.customer360 import views as customer360_views
from crm_web.customers import api as customers_api
from crm_web.customers import export_views as customers_export_views
from crm_web.customers import views as customers_views
from crm_web.dashboard import views as dashboard_views
from crm_web.events import views as events_views
from crm_web.imports import views as imports_views
from crm_web.leads import api as leads_api
from crm_web.leads import views as leads_views
from crm_web.messaging import views as messaging_views
from crm_web.outbox import views as outbox_views
from crm_web.pipeline import api as pipeline_api
from crm_web.pipeline import views as pipeline_views
from crm_web.privacy import views as privacy_views
from crm_web.sla import api as sla_api
from crm_web.sla import views as sla_views
from crm_web.system import views as system_views
from crm_web.tickets import api as tickets_api
from crm_web.tickets import views as tickets_views


@dataclass(frozen=True)
class Domain:
    """A domain's page blueprints and, when it has a JSON API, its API blueprint."""

    pages: tuple[Blueprint, ...]
    api: Blueprint | None = None


DOMAINS = (
    Domain(pages=(accounts_views.bp, accounts_profile_views.bp), api=accounts_api.bp),
    Domain(pages=(activities_views.bp,), api=activities_api.bp),
    Domain(pages=(communications_views.bp,)),
    Domain(pages=(customer360_views.bp,), api=customer360_api.bp),
    Domain(pages=(customers_views.bp, customers_export_views.bp), api=customers_api.bp),
    Domain(pages=(dashboard_views.bp,)),
    Domain(pages=(events_views.bp,)),
    Domain(pages=(imports_views.bp,)),
    Domain(pages=(leads_views.bp,), api=leads_api.bp),
    Domain(pages=(outbox_views.bp,)),
    Domain(pages=(pipeline_views.bp,), api=pipeline_api.bp),
    Domain(pages=(privacy_views.bp,)),
    Domain(pages=(sla_views.bp,), api=sla_api.bp),
    Domain(pages=(system_views.bp,)),
    Domain(pages=(tickets_views.bp,), api=tickets_api.bp),
)

# Development helpers, each registered only when the config names its folder.
DEV_PAGES = (
    ("DEV_MAILBOX_DIR", messaging_views.bp),
    ("DEV_SMS_DIR", messaging_views.devsms_bp),
)
