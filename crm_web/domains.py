"""Every domain's blueprints, navigation links and search, in one list: `create_app` registers
what is listed here.

A domain's pages are the blueprint `bp` of its `views.py`; its JSON API, if it has one, the
blueprint `bp` of its `api.py`, nested under /api/v1 (crm_web.api.views). Its links in the
navigation are `NavEntry`s (crm_web/navigation.py: group, label, page; who sees a link is
whoever may open its page), and its part of the global search a `SearchProvider`
(crm_web/search/providers.py). A new domain adds one line to DOMAINS.
"""

from dataclasses import dataclass

from flask import Blueprint
from flask_babel import lazy_gettext as _l

from crm_web.accounts import api as accounts_api
from crm_web.accounts import profile_views as accounts_profile_views
from crm_web.accounts import views as accounts_views
from crm_web.activities import api as activities_api
from crm_web.activities import views as activities_views
from crm_web.automations import api as automations_api
from crm_web.automations import public as automations_public
from crm_web.automations import views as automations_views
from crm_web.campaigns import api as campaigns_api
from crm_web.campaigns import public as campaigns_public
from crm_web.campaigns import views as campaigns_views
from crm_web.catalog import analytics_views as catalog_analytics_views
from crm_web.catalog import api as catalog_api
from crm_web.catalog import order_views as catalog_order_views
from crm_web.catalog import views as catalog_views
from crm_web.communications import views as communications_views
from crm_web.customer360 import api as customer360_api
from crm_web.customer360 import views as customer360_views
from crm_web.customers import api as customers_api
from crm_web.customers import export_views as customers_export_views
from crm_web.customers import search as customers_search
from crm_web.customers import views as customers_views
from crm_web.dashboard import api as dashboard_api
from crm_web.dashboard import views as dashboard_views
from crm_web.events import views as events_views
from crm_web.imports import views as imports_views
from crm_web.leads import api as leads_api
from crm_web.leads import search as leads_search
from crm_web.leads import views as leads_views
from crm_web.loyalty import api as loyalty_api
from crm_web.loyalty import views as loyalty_views
from crm_web.messaging import views as messaging_views
from crm_web.navigation import NavEntry
from crm_web.outbox import views as outbox_views
from crm_web.pipeline import api as pipeline_api
from crm_web.pipeline import approval_views, approvals
from crm_web.pipeline import search as pipeline_search
from crm_web.pipeline import views as pipeline_views
from crm_web.privacy import views as privacy_views
from crm_web.reports import views as reports_views
from crm_web.search import views as search_views
from crm_web.search.providers import SearchProvider
from crm_web.segments import api as segments_api
from crm_web.segments import views as segments_views
from crm_web.settings import views as settings_views
from crm_web.sla import api as sla_api
from crm_web.sla import views as sla_views
from crm_web.surveys import analytics_views as survey_analytics_views
from crm_web.surveys import api as surveys_api
from crm_web.surveys import public as surveys_public
from crm_web.surveys import views as surveys_views
from crm_web.system import views as system_views
from crm_web.tickets import api as tickets_api
from crm_web.tickets import search as tickets_search
from crm_web.tickets import views as tickets_views


@dataclass(frozen=True)
class Domain:
    """A domain's page blueprints, its API blueprint, its navigation links and its search."""

    pages: tuple[Blueprint, ...]
    api: Blueprint | None = None
    nav: tuple[NavEntry, ...] = ()
    search: SearchProvider | None = None


DOMAINS = (
    Domain(
        pages=(accounts_views.bp, accounts_profile_views.bp),
        api=accounts_api.bp,
        nav=(
            NavEntry(
                "admin",
                _l("Users"),
                "accounts.users",
                order=10,
                also=("accounts.invite", "accounts.edit_user"),
            ),
        ),
    ),
    Domain(
        pages=(activities_views.bp,),
        api=activities_api.bp,
        nav=(
            NavEntry("sales", _l("Tasks"), "activities.tasks", order=50, also=("activities.",)),
            NavEntry("sales", _l("Calendar"), "activities.calendar", order=60),
        ),
    ),
    Domain(
        pages=(campaigns_views.bp, campaigns_public.bp),
        api=campaigns_api.bp,
        nav=(
            NavEntry(
                "marketing",
                _l("Campaigns"),
                "campaigns.index",
                order=20,
                also=("campaigns.",),
            ),
            NavEntry(
                "marketing",
                _l("Email templates"),
                "campaigns.templates",
                order=30,
                also=(
                    "campaigns.new_template",
                    "campaigns.edit_template",
                    "campaigns.preview_html",
                    "campaigns.test_send",
                    "campaigns.add_starters",
                ),
            ),
        ),
    ),
    Domain(
        pages=(catalog_views.bp, catalog_order_views.bp, catalog_analytics_views.bp),
        api=catalog_api.bp,
        nav=(
            NavEntry("commerce", _l("Products"), "catalog.index", order=10, also=("catalog.",)),
            NavEntry("commerce", _l("Orders"), "orders.index", order=20, also=("orders.",)),
            NavEntry("commerce", _l("Sales analytics"), "sales.index", order=40, also=("sales.",)),
        ),
    ),
    Domain(pages=(communications_views.bp,)),
    Domain(pages=(customer360_views.bp,), api=customer360_api.bp),
    Domain(
        pages=(customers_views.bp, customers_export_views.bp),
        api=customers_api.bp,
        nav=(
            NavEntry(
                "sales",
                _l("Customers"),
                "customers.index",
                order=10,
                also=("customers.", "customer_export.", "customer360.", "communications."),
            ),
        ),
        search=customers_search.PROVIDER,
    ),
    Domain(
        pages=(dashboard_views.bp,),
        api=dashboard_api.bp,
        nav=(NavEntry(None, _l("Dashboard"), "dashboard.index"),),
    ),
    Domain(
        pages=(events_views.bp,),
        nav=(NavEntry("marketing", _l("Events"), "events.index", also=("events.",)),),
    ),
    Domain(pages=(imports_views.bp,)),
    Domain(
        pages=(leads_views.bp,),
        api=leads_api.bp,
        nav=(
            NavEntry("sales", _l("Leads"), "leads.index", order=20, also=("leads.",)),
            NavEntry("insights", _l("Lead scoring"), "leads.scoring_analysis", order=20),
        ),
        search=leads_search.PROVIDER,
    ),
    Domain(
        pages=(loyalty_views.bp,),
        api=loyalty_api.bp,
        nav=(NavEntry("commerce", _l("Loyalty"), "loyalty.index", order=30, also=("loyalty.",)),),
    ),
    Domain(
        pages=(outbox_views.bp,),
        nav=(NavEntry("admin", _l("Message templates"), "outbox.templates", order=50),),
    ),
    Domain(
        pages=(pipeline_views.bp, approval_views.bp),
        api=pipeline_api.bp,
        nav=(
            NavEntry("sales", _l("Pipeline"), "pipeline.board", order=30, also=("pipeline.",)),
            NavEntry(
                "sales",
                _l("Approvals"),
                "approvals.inbox",
                order=40,
                also=("approvals.",),
                badge=approvals.pending_count,
            ),
            NavEntry("insights", _l("Forecast"), "pipeline.forecast", order=10),
        ),
        search=pipeline_search.PROVIDER,
    ),
    Domain(
        pages=(privacy_views.bp,),
        nav=(NavEntry("admin", _l("Audit log"), "privacy.audit_log", order=30),),
    ),
    Domain(
        pages=(reports_views.bp,),
        nav=(NavEntry("insights", _l("Reports"), "reports.index", order=5, also=("reports.",)),),
    ),
    Domain(pages=(search_views.bp,)),
    Domain(
        pages=(automations_views.bp, automations_public.bp),
        api=automations_api.bp,
        nav=(
            NavEntry(
                "marketing",
                _l("Automations"),
                "automations.index",
                order=30,
                also=("automations.",),
            ),
        ),
    ),
    Domain(
        pages=(segments_views.bp,),
        api=segments_api.bp,
        nav=(
            NavEntry("marketing", _l("Segments"), "segments.index", order=10, also=("segments.",)),
        ),
    ),
    Domain(
        pages=(settings_views.bp,),
        nav=(
            NavEntry(
                "admin",
                _l("Settings"),
                "settings.index",
                order=20,
                also=tuple(endpoint for endpoint, _title, _about in settings_views.SETTINGS_PAGES),
            ),
        ),
    ),
    Domain(
        pages=(sla_views.bp,),
        api=sla_api.bp,
        nav=(
            NavEntry("service", _l("SLA"), "sla.index", order=20, also=("sla.",)),
            NavEntry("service", _l("Escalations"), "sla.escalations", order=30),
        ),
    ),
    Domain(
        pages=(surveys_views.bp, survey_analytics_views.bp, surveys_public.bp),
        api=surveys_api.bp,
        nav=(NavEntry("marketing", _l("Surveys"), "surveys.index", order=40, also=("surveys.",)),),
    ),
    Domain(
        pages=(system_views.bp,),
        nav=(NavEntry("admin", _l("System"), "system.index", order=40),),
    ),
    Domain(
        pages=(tickets_views.bp,),
        api=tickets_api.bp,
        nav=(NavEntry("service", _l("Tickets"), "tickets.index", order=10, also=("tickets.",)),),
        search=tickets_search.PROVIDER,
    ),
)


@dataclass(frozen=True)
class DevPage:
    """A development helper, registered only when the config names its folder."""

    folder_setting: str
    pages: Blueprint
    nav: NavEntry


DEV_PAGES = (
    DevPage(
        "DEV_MAILBOX_DIR",
        messaging_views.bp,
        NavEntry("admin", _l("Dev mail"), "messaging.dev_mailbox", order=90),
    ),
    DevPage(
        "DEV_SMS_DIR",
        messaging_views.devsms_bp,
        NavEntry("admin", _l("Dev SMS"), "devsms.dev_sms", order=91),
    ),
)


def navigation_entries() -> tuple[NavEntry, ...]:
    """Every domain's links; those of pages an app does not serve are left out when shown."""
    entries = [entry for domain in DOMAINS for entry in domain.nav]
    return tuple(entries + [dev.nav for dev in DEV_PAGES])


def search_providers() -> tuple[SearchProvider, ...]:
    """Every domain's search, in the order the results show them."""
    return tuple(domain.search for domain in DOMAINS if domain.search is not None)
