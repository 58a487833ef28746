"""One permission vocabulary (crm_web/permissions.py): every route still allows exactly the roles
it allowed before the vocabulary existed, and templates and services ask the same table."""

import re

import pytest

from crm_web import create_app
from crm_web.config import PROJECT_ROOT
from crm_web.customers.services import BULK_ACTIONS
from crm_web.imports.targets import get_target
from crm_web.permissions import CAPABILITIES, ROLES, allows, can, requires, roles_with
from tests.conftest import make_config

EVERYONE = ("admin", "manager", "marketing", "sales", "support")
PUBLIC = "public"

# "METHODS /rule" -> the roles that may use it, taken once from the role tuples the routes
# carried before (`roles_required(...)`). A route without one was open to any signed-in user
# (EVERYONE); the customers API's writes checked their roles inside the handler.
BEFORE = {
    "GET /": EVERYONE,
    "GET /dashboard/cards/<key>": EVERYONE,
    "GET /api/v1/crm/dashboard/": EVERYONE,
    "GET /reports": ("admin", "manager", "marketing", "sales"),
    "GET /reports/<name>.csv": ("admin", "manager", "marketing", "sales"),
    "GET /surveys/<int:survey_id>/analytics": ("admin", "manager", "marketing", "support"),
    "GET /surveys/<int:survey_id>/responses": ("admin", "manager", "marketing", "support"),
    "GET /surveys/<int:survey_id>/responses.csv": ("admin", "manager", "marketing", "support"),
    "GET /surveys/<int:survey_id>/responses/<int:response_id>": (
        "admin",
        "manager",
        "marketing",
        "support",
    ),
    "GET /activities": ("admin", "manager", "sales"),
    "GET /activities/<int:activity_id>": ("admin", "manager", "sales"),
    "POST /activities/<int:activity_id>/cancel": ("admin", "manager", "sales"),
    "POST /activities/<int:activity_id>/complete": ("admin", "manager", "sales"),
    "GET /admin/api-tokens": ("admin",),
    "POST /admin/api-tokens/<int:token_id>/revoke": ("admin",),
    "GET /admin/audit": ("admin",),
    "GET /admin/messages": ("admin",),
    "GET /admin/messages/<name>.html": ("admin",),
    "GET /admin/system": ("admin",),
    "GET /admin/users": ("admin",),
    "POST /admin/users/invite": ("admin",),
    "GET /api/v1/crm/activities/": ("admin", "manager", "sales"),
    "POST /api/v1/crm/activities/": ("admin", "manager", "sales"),
    "PUT /api/v1/crm/activities/<int:activity_id>/complete/": ("admin", "manager", "sales"),
    "GET /api/v1/crm/calendar/": ("admin", "manager", "sales"),
    "GET /api/v1/crm/customers/": EVERYONE,
    "POST /api/v1/crm/customers/": ("admin", "manager", "sales", "support"),
    "GET /api/v1/crm/customers/<int:customer_id>/": EVERYONE,
    "PUT /api/v1/crm/customers/<int:customer_id>/": ("admin", "manager", "sales", "support"),
    "GET /api/v1/crm/customers/<int:customer_id>/360/": EVERYONE,
    "GET /api/v1/crm/customers/<int:customer_id>/timeline/": EVERYONE,
    "GET /api/v1/crm/forecast/": ("admin", "manager", "sales"),
    "GET /api/v1/crm/leads/": ("admin", "manager", "marketing", "sales"),
    "POST /api/v1/crm/leads/": ("admin", "manager", "marketing", "sales"),
    "GET /api/v1/crm/leads/<int:lead_id>/": ("admin", "manager", "marketing", "sales"),
    "POST /api/v1/crm/leads/<int:lead_id>/convert/": ("admin", "manager", "sales"),
    "PUT /api/v1/crm/leads/<int:lead_id>/qualify/": ("admin", "manager", "sales"),
    "GET /api/v1/crm/leads/scoring/": ("admin", "manager", "marketing"),
    "GET /api/v1/crm/opportunities/": ("admin", "manager", "sales"),
    "POST /api/v1/crm/opportunities/": ("admin", "manager", "sales"),
    "PUT /api/v1/crm/opportunities/<int:opportunity_id>/stage/": ("admin", "manager", "sales"),
    "GET /api/v1/crm/pipeline/": ("admin", "manager", "sales"),
    "GET /api/v1/crm/sla/": ("admin", "manager", "support"),
    "GET /api/v1/crm/tickets/": ("admin", "manager", "support"),
    "POST /api/v1/crm/tickets/": ("admin", "manager", "support"),
    "GET /api/v1/crm/tickets/<int:ticket_id>/": ("admin", "manager", "support"),
    "PUT /api/v1/crm/tickets/<int:ticket_id>/": ("admin", "manager", "support"),
    "PUT /api/v1/crm/tickets/<int:ticket_id>/assign/": ("admin", "manager", "support"),
    "POST /api/v1/crm/tickets/<int:ticket_id>/messages/": ("admin", "manager", "support"),
    "PUT /api/v1/crm/tickets/<int:ticket_id>/status/": ("admin", "manager", "support"),
    "GET /api/v1/me": EVERYONE,
    "GET /calendar": ("admin", "manager", "sales"),
    "GET /customers": EVERYONE,
    "GET /customers/<int:customer_id>": EVERYONE,
    "POST /customers/<int:customer_id>/communications": ("admin", "manager", "sales", "support"),
    "POST /customers/<int:customer_id>/documents": ("admin", "manager", "sales"),
    "GET /customers/<int:customer_id>/documents/<int:document_id>": (
        "admin",
        "manager",
        "sales",
        "support",
    ),
    "POST /customers/<int:customer_id>/documents/<int:document_id>/delete": (
        "admin",
        "manager",
        "sales",
    ),
    "POST /customers/<int:customer_id>/events": ("admin", "manager", "marketing", "sales"),
    "GET /customers/<int:customer_id>/kpis": EVERYONE,
    "POST /customers/<int:customer_id>/notes": EVERYONE,
    "POST /customers/<int:customer_id>/notes/<int:note_id>/delete": EVERYONE,
    "GET /customers/<int:customer_id>/notes/<int:note_id>/edit": EVERYONE,
    "POST /customers/<int:customer_id>/preferences": EVERYONE,
    "GET /customers/<int:customer_id>/timeline": EVERYONE,
    "POST /customers/bulk": ("admin", "manager", "marketing", "sales"),
    "GET /customers/count": EVERYONE,
    "GET /customers/consent-log.csv": ("admin", "manager", "marketing"),
    "GET /customers/export.csv": ("admin", "manager", "marketing"),
    "GET /dev/mail": ("admin",),
    "GET /dev/sms": ("admin",),
    "GET /events": EVERYONE,
    "POST /events": ("admin", "manager", "marketing"),
    "GET /events/<int:event_id>": EVERYONE,
    "POST /events/<int:event_id>/attendees": ("admin", "manager", "marketing", "sales"),
    "POST /events/<int:event_id>/attendees/<int:attendee_id>/attendance": (
        "admin",
        "manager",
        "marketing",
        "sales",
    ),
    "POST /events/<int:event_id>/attendees/<int:attendee_id>/delete": (
        "admin",
        "manager",
        "marketing",
        "sales",
    ),
    "GET /forecast": ("admin", "manager", "sales"),
    "POST /forecast/targets": ("admin", "manager"),
    "GET /health": PUBLIC,
    "GET /imports/<int:job_id>": EVERYONE,
    "POST /imports/<int:job_id>/check": EVERYONE,
    "POST /imports/<int:job_id>/encoding": EVERYONE,
    "GET /imports/<int:job_id>/rejects": EVERYONE,
    "GET /imports/<int:job_id>/rejects.csv": EVERYONE,
    "POST /imports/<int:job_id>/run": EVERYONE,
    "GET /leads/": ("admin", "manager", "marketing", "sales"),
    "GET /leads/<int:lead_id>": ("admin", "manager", "marketing", "sales"),
    "POST /leads/<int:lead_id>/assign": ("admin", "manager"),
    "POST /leads/<int:lead_id>/status": ("admin", "manager", "sales"),
    "POST /leads/assignment-rules": ("admin", "manager"),
    "POST /leads/assignment-rules/<int:rule_id>/delete": ("admin", "manager"),
    "GET /leads/scoring": ("admin", "manager"),
    "GET /leads/scoring/analysis": ("admin", "manager", "marketing"),
    "POST /leads/scoring/rules": ("admin", "manager"),
    "POST /leads/scoring/rules/<int:rule_id>/delete": ("admin", "manager"),
    "GET /leads/settings": ("admin", "manager"),
    "POST /leads/settings/capture": ("admin", "manager"),
    "POST /leads/teams": ("admin", "manager"),
    "POST /leads/teams/<int:team_id>/delete": ("admin", "manager"),
    "POST /logout": EVERYONE,
    "POST /outbox/sms-inbound/<int:organization_id>": PUBLIC,
    "POST /outbox/sms-status/<int:organization_id>/<int:outbox_id>": PUBLIC,
    "POST /profile/tokens": EVERYONE,
    "POST /profile/tokens/<int:token_id>/revoke": EVERYONE,
    "GET /pipeline": ("admin", "manager", "sales"),
    "GET /pipeline/columns/<int:stage_id>": ("admin", "manager", "sales"),
    "GET /pipeline/list": ("admin", "manager", "sales"),
    "GET /pipeline/opportunities/<int:opportunity_id>": ("admin", "manager", "sales"),
    "POST /pipeline/opportunities/<int:opportunity_id>/move": ("admin", "manager", "sales"),
    "POST /pipeline/opportunities/<int:opportunity_id>/stage": ("admin", "manager", "sales"),
    "GET /pipeline/settings": ("admin",),
    "POST /pipeline/settings/quotes": ("admin",),
    "POST /pipeline/settings/stages": ("admin",),
    "POST /pipeline/settings/stages/<int:stage_id>": ("admin",),
    "POST /pipeline/settings/stages/<int:stage_id>/delete": ("admin",),
    "GET /approvals": ("admin", "manager"),
    "POST /approvals/<int:quote_id>/<any(approve, 'send-back'):decision>": ("admin", "manager"),
    "GET /analytics/sales": ("admin", "manager", "marketing", "sales"),
    "GET /analytics/sales.csv": ("admin", "manager", "marketing", "sales"),
    "POST /analytics/sales/recompute": ("admin", "manager", "marketing", "sales"),
    "GET /loyalty": EVERYONE,
    "POST /loyalty/programs": ("admin", "manager"),
    "POST /loyalty/programs/<int:program_id>": ("admin", "manager"),
    "POST /loyalty/programs/<int:program_id>/tiers": ("admin", "manager"),
    "POST /loyalty/programs/<int:program_id>/tiers/<int:tier_id>/delete": ("admin", "manager"),
    "POST /loyalty/programs/<int:program_id>/multipliers": ("admin", "manager"),
    "GET /loyalty/rewards": EVERYONE,
    "POST /loyalty/rewards": ("admin", "manager"),
    "POST /loyalty/rewards/<int:reward_id>/active": ("admin", "manager"),
    "GET /loyalty/members/<int:member_id>": EVERYONE,
    "POST /customers/<int:customer_id>/loyalty/enrol": ("admin", "manager", "sales", "support"),
    "POST /customers/<int:customer_id>/loyalty/redeem": ("admin", "manager", "sales", "support"),
    "POST /customers/<int:customer_id>/loyalty/spend": ("admin", "manager", "sales", "support"),
    "POST /customers/<int:customer_id>/loyalty/adjust": ("admin", "manager"),
    "GET /api/v1/crm/loyalty/programs/": EVERYONE,
    "POST /api/v1/crm/loyalty/programs/": ("admin", "manager"),
    "GET /api/v1/crm/customers/<int:customer_id>/loyalty/": EVERYONE,
    "POST /api/v1/crm/customers/<int:customer_id>/loyalty/": (
        "admin",
        "manager",
        "sales",
        "support",
    ),
    "POST /api/v1/crm/customers/<int:customer_id>/loyalty/redeem/": (
        "admin",
        "manager",
        "sales",
        "support",
    ),
    "GET /api/v1/crm/rewards/": EVERYONE,
    "GET /orders": EVERYONE,
    "GET POST /orders/new": ("admin", "manager", "sales"),
    "GET /orders/<int:order_id>": EVERYONE,
    "POST /orders/<int:order_id>/status": ("admin", "manager", "sales"),
    "POST /orders/<int:order_id>/returns": ("admin", "manager", "sales", "support"),
    "GET /api/v1/crm/orders/": EVERYONE,
    "POST /api/v1/crm/orders/": ("admin", "manager", "sales"),
    "GET /api/v1/crm/orders/<int:order_id>/": EVERYONE,
    "PUT /api/v1/crm/orders/<int:order_id>/status/": ("admin", "manager", "sales"),
    "POST /api/v1/crm/orders/<int:order_id>/returns/": ("admin", "manager", "sales", "support"),
    "GET /products": EVERYONE,
    "GET /products/movements": EVERYONE,
    "GET /products/<int:product_id>": EVERYONE,
    "POST /products/<int:product_id>/stock": ("admin", "manager"),
    "GET /products/categories": EVERYONE,
    "POST /products/categories": ("admin", "manager"),
    "POST /products/categories/<int:category_id>": ("admin", "manager"),
    "POST /products/categories/<int:category_id>/delete": ("admin", "manager"),
    "GET POST /products/new": ("admin", "manager"),
    "GET POST /products/<int:product_id>/edit": ("admin", "manager"),
    "GET /api/v1/crm/products/": EVERYONE,
    "POST /api/v1/crm/products/": ("admin", "manager"),
    "GET /api/v1/crm/products/<int:product_id>/": EVERYONE,
    "PUT /api/v1/crm/products/<int:product_id>/": ("admin", "manager"),
    "GET /api/v1/crm/products/<int:product_id>/stock/": EVERYONE,
    "POST /api/v1/crm/products/<int:product_id>/stock/": ("admin", "manager"),
    "GET /quotes/<int:quote_id>": ("admin", "manager", "sales"),
    "POST /quotes/<int:quote_id>/<any('approve', 'send-back'):decision>": ("admin", "manager"),
    "POST /quotes/<int:quote_id>/<any(submit, send, accept, reject):action>": (
        "admin",
        "manager",
        "sales",
    ),
    "GET /quotes/<int:quote_id>/print": ("admin", "manager", "sales"),
    "GET /quotes/<int:quote_id>/pdf": ("admin", "manager", "sales"),
    "GET /dev/mail/<name>/attachments/<int:index>": ("admin",),
    "POST /quotes/<int:quote_id>/email": ("admin", "manager", "sales"),
    "GET /search": EVERYONE,
    "GET /settings": ("admin", "manager"),
    "GET /api/v1/crm/campaigns/": ("admin", "manager", "marketing"),
    "GET /api/v1/crm/campaigns/<int:campaign_id>/": ("admin", "manager", "marketing"),
    "GET /api/v1/crm/campaigns/<int:campaign_id>/stats/": ("admin", "manager", "marketing"),
    "GET /api/v1/crm/email-templates/": ("admin", "manager", "marketing"),
    "GET /campaigns": ("admin", "manager", "marketing"),
    "GET /campaigns/<int:campaign_id>": ("admin", "manager", "marketing"),
    "GET /campaigns/<int:campaign_id>/recipients.csv": ("admin", "manager", "marketing"),
    "GET /email-templates": ("admin", "manager", "marketing"),
    "GET /email-templates/versions/<int:version_id>/preview.html": (
        "admin",
        "manager",
        "marketing",
    ),
    "GET POST /campaigns/<int:campaign_id>/edit": ("admin", "manager", "marketing"),
    "GET POST /campaigns/new": ("admin", "manager", "marketing"),
    "GET POST /email-templates/<int:template_id>": ("admin", "manager", "marketing"),
    "GET POST /email-templates/new": ("admin", "manager", "marketing"),
    "POST /api/v1/crm/campaigns/": ("admin", "manager", "marketing"),
    "POST /api/v1/crm/campaigns/<int:campaign_id>/cancel/": ("admin", "manager", "marketing"),
    "POST /api/v1/crm/campaigns/<int:campaign_id>/pause/": ("admin", "manager", "marketing"),
    "POST /api/v1/crm/campaigns/<int:campaign_id>/resume/": ("admin", "manager", "marketing"),
    "POST /api/v1/crm/campaigns/<int:campaign_id>/schedule/": ("admin", "manager", "marketing"),
    "POST /api/v1/crm/email-templates/": ("admin", "manager", "marketing"),
    "POST /campaigns/<int:campaign_id>/<any(pause, resume, cancel):action>": (
        "admin",
        "manager",
        "marketing",
    ),
    "POST /campaigns/<int:campaign_id>/schedule": ("admin", "manager", "marketing"),
    "POST /campaigns/form": ("admin", "manager", "marketing"),
    "POST /campaigns/<int:campaign_id>/form": ("admin", "manager", "marketing"),
    "POST /campaigns/sms-estimate": ("admin", "manager", "marketing"),
    "POST /campaigns/<int:campaign_id>/winner": ("admin", "manager", "marketing"),
    "POST /email-templates/<int:template_id>/test": ("admin", "manager", "marketing"),
    "POST /email-templates/starters": ("admin", "manager", "marketing"),
    "GET /t/c/<token>": PUBLIC,
    "GET /t/o/<token>.gif": PUBLIC,
    "GET POST /u/<token>": PUBLIC,
    "POST /u/<token>/preferences": PUBLIC,
    # Automations
    "GET /automations": ("admin", "manager", "marketing"),
    "GET POST /automations/new": ("admin", "manager", "marketing"),
    "GET /automations/<int:automation_id>": ("admin", "manager", "marketing"),
    "POST /automations/<int:automation_id>/steps": ("admin", "manager", "marketing"),
    "POST /automations/<int:automation_id>/steps/<step_id>": ("admin", "manager", "marketing"),
    "POST /automations/<int:automation_id>/steps/<step_id>/move": ("admin", "manager", "marketing"),
    "POST /automations/<int:automation_id>/steps/<step_id>/delete": (
        "admin",
        "manager",
        "marketing",
    ),
    "POST /automations/<int:automation_id>/settings": ("admin", "manager", "marketing"),
    "POST /automations/<int:automation_id>/activate": ("admin", "manager", "marketing"),
    "POST /automations/<int:automation_id>/pause": ("admin", "manager", "marketing"),
    "GET /automations/<int:automation_id>/report": ("admin", "manager", "marketing"),
    "GET POST /automations/holidays": ("admin", "manager", "marketing"),
    "GET /t/j/o/<token>.gif": PUBLIC,
    "GET /t/j/c/<token>": PUBLIC,
    "GET POST /u/j/<token>": PUBLIC,
    "GET /api/v1/crm/surveys/": ("admin", "manager", "marketing", "support"),
    "POST /api/v1/crm/surveys/": ("admin", "manager", "marketing"),
    "GET /api/v1/crm/surveys/<int:survey_id>/": ("admin", "manager", "marketing", "support"),
    "POST /api/v1/crm/surveys/<int:survey_id>/launch/": ("admin", "manager", "marketing"),
    "GET /api/v1/crm/surveys/<int:survey_id>/responses/": (
        "admin",
        "manager",
        "marketing",
        "support",
    ),
    "GET /api/v1/crm/surveys/<int:survey_id>/analytics/": (
        "admin",
        "manager",
        "marketing",
        "support",
    ),
    "GET /api/v1/crm/automations/": ("admin", "manager", "marketing"),
    "POST /api/v1/crm/automations/": ("admin", "manager", "marketing"),
    "GET /api/v1/crm/automations/<int:automation_id>/": ("admin", "manager", "marketing"),
    "PUT /api/v1/crm/automations/<int:automation_id>/": ("admin", "manager", "marketing"),
    "POST /api/v1/crm/automations/<int:automation_id>/activate/": ("admin", "manager", "marketing"),
    "POST /api/v1/crm/automations/<int:automation_id>/pause/": ("admin", "manager", "marketing"),
    "GET /api/v1/crm/automations/<int:automation_id>/enrollments/": (
        "admin",
        "manager",
        "marketing",
    ),
    # The survey builder: readers (support too) open it; changes need "manage surveys".
    "GET /surveys": ("admin", "manager", "marketing", "support"),
    "GET POST /surveys/new": ("admin", "manager", "marketing"),
    "GET /surveys/<int:survey_id>": ("admin", "manager", "marketing", "support"),
    "POST /surveys/<int:survey_id>/questions": ("admin", "manager", "marketing"),
    "GET POST /surveys/<int:survey_id>/questions/<question_id>": (
        "admin",
        "manager",
        "marketing",
        "support",
    ),
    "POST /surveys/<int:survey_id>/questions/<question_id>/move": ("admin", "manager", "marketing"),
    "POST /surveys/<int:survey_id>/questions/<question_id>/duplicate": (
        "admin",
        "manager",
        "marketing",
    ),
    "POST /surveys/<int:survey_id>/questions/<question_id>/delete": (
        "admin",
        "manager",
        "marketing",
    ),
    "POST /surveys/<int:survey_id>/questions/<question_id>/break": (
        "admin",
        "manager",
        "marketing",
    ),
    "POST /surveys/<int:survey_id>/pages": ("admin", "manager", "marketing"),
    "GET POST /surveys/<int:survey_id>/pages/<page_id>": (
        "admin",
        "manager",
        "marketing",
        "support",
    ),
    "POST /surveys/<int:survey_id>/pages/<page_id>/join": ("admin", "manager", "marketing"),
    "POST /surveys/<int:survey_id>/undo": ("admin", "manager", "marketing"),
    "POST /surveys/<int:survey_id>/launch": ("admin", "manager", "marketing"),
    "POST /surveys/<int:survey_id>/close": ("admin", "manager", "marketing"),
    "GET POST /surveys/<int:survey_id>/settings": ("admin", "manager", "marketing", "support"),
    "GET /surveys/<int:survey_id>/preview": ("admin", "manager", "marketing"),
    "GET /segments": ("admin", "manager", "marketing"),
    "GET /segments/<int:segment_id>": ("admin", "manager", "marketing"),
    "POST /segments/<int:segment_id>/delete": ("admin", "manager", "marketing"),
    "POST /segments/<int:segment_id>/refresh": ("admin", "manager", "marketing"),
    "POST /segments/builder": ("admin", "manager", "marketing"),
    "POST /segments/preview": ("admin", "manager", "marketing"),
    "GET POST /segments/<int:segment_id>/edit": ("admin", "manager", "marketing"),
    "GET POST /segments/new": ("admin", "manager", "marketing"),
    "GET /api/v1/crm/segments/": ("admin", "manager", "marketing"),
    "POST /api/v1/crm/segments/": ("admin", "manager", "marketing"),
    "POST /api/v1/crm/segments/<int:segment_id>/refresh/": ("admin", "manager", "marketing"),
    "GET /api/v1/crm/segments/<int:segment_id>/customers/": ("admin", "manager", "marketing"),
    "GET /sla": ("admin", "manager"),
    "GET /sla/escalations": ("admin", "manager"),
    "POST /sla/holidays": ("admin", "manager"),
    "POST /sla/holidays/<int:holiday_id>/delete": ("admin", "manager"),
    "POST /sla/policies": ("admin", "manager"),
    "POST /sla/policies/<int:policy_id>/delete": ("admin", "manager"),
    "GET /sla/settings/recompute": ("admin", "manager"),
    "GET /tasks": ("admin", "manager", "sales"),
    "GET /tickets": ("admin", "manager", "support"),
    "GET /tickets/<int:ticket_id>": ("admin", "manager", "support"),
    "POST /tickets/<int:ticket_id>/assign": ("admin", "manager", "support"),
    "POST /tickets/<int:ticket_id>/messages": ("admin", "manager", "support"),
    "POST /tickets/<int:ticket_id>/status": ("admin", "manager", "support"),
    "GET /tickets/attachments/<int:attachment_id>": ("admin", "manager", "support"),
    "POST /tickets/bulk": ("admin", "manager", "support"),
    "GET POST /activities/<int:activity_id>/edit": ("admin", "manager", "sales"),
    "GET POST /activities/new": ("admin", "manager", "sales"),
    "GET POST /admin/users/<int:user_id>": ("admin",),
    "GET POST /admin/company": ("admin",),
    "GET POST /admin/settings": ("admin",),
    "GET POST /profile": EVERYONE,
    "GET POST /customers/<int:customer_id>/edit": ("admin", "manager", "sales", "support"),
    "GET POST /customers/<int:customer_id>/merge": ("admin", "manager"),
    "GET POST /customers/<int:customer_id>/notes/<int:note_id>": EVERYONE,
    "GET POST /customers/new": ("admin", "manager", "sales", "support"),
    "GET POST /events/<int:event_id>/edit": ("admin", "manager", "marketing"),
    "GET POST /f/<slug>/lead": PUBLIC,
    "GET POST /imports/<target>/new": EVERYONE,
    "GET POST /invite/<token>": PUBLIC,
    "GET POST /leads/<int:lead_id>/convert": ("admin", "manager", "sales"),
    "GET POST /leads/<int:lead_id>/edit": ("admin", "manager", "marketing", "sales"),
    "GET POST /leads/assignment-rules/<int:rule_id>": ("admin", "manager"),
    "GET POST /leads/new": ("admin", "manager", "marketing", "sales"),
    "GET POST /leads/scoring/rules/<int:rule_id>": ("admin", "manager"),
    "GET POST /leads/teams/<int:team_id>": ("admin", "manager"),
    "GET POST /login": PUBLIC,
    "GET POST /pipeline/opportunities/<int:opportunity_id>/edit": ("admin", "manager", "sales"),
    "GET POST /pipeline/opportunities/<int:opportunity_id>/quotes/new": (
        "admin",
        "manager",
        "sales",
    ),
    "GET POST /pipeline/opportunities/new": ("admin", "manager", "sales"),
    "GET POST /quotes/<int:quote_id>/edit": ("admin", "manager", "sales"),
    "GET POST /signup": PUBLIC,
    "GET POST /signup/<token>": PUBLIC,
    "GET POST /sla/settings": ("admin", "manager"),
    "GET POST /s/<token>": PUBLIC,
    "GET POST /s/i/<token>": PUBLIC,
    "GET POST /s/r/<token>": PUBLIC,
    "GET POST /support/<slug>": PUBLIC,
    "GET POST /support/csat/<token>": PUBLIC,
    "GET POST /surveys/<int:survey_id>/preview/respond": ("admin", "manager", "marketing"),
    "GET POST /tickets/<int:ticket_id>/edit": ("admin", "manager", "support"),
    "GET POST /tickets/new": ("admin", "manager", "support"),
    "GET POST /tickets/settings": ("admin", "manager"),
}

# Routes that ask only for a sign-in: the imports check the capability of what is imported
# (test below), the dashboard, sign-out, one's own profile and /api/v1/me are everyone's, and
# the search asks each record type's capability (tests/test_search.py).
SIGNED_IN_ONLY = {
    "GET /",
    "GET /dashboard/cards/<key>",
    "GET /api/v1/crm/dashboard/",
    "GET /search",
    "POST /logout",
    "GET POST /profile",
    "GET /api/v1/me",
    "GET POST /imports/<target>/new",
    "GET /imports/<int:job_id>",
    "POST /imports/<int:job_id>/check",
    "POST /imports/<int:job_id>/encoding",
    "POST /imports/<int:job_id>/run",
    "GET /imports/<int:job_id>/rejects",
    "GET /imports/<int:job_id>/rejects.csv",
}


@pytest.fixture(scope="module")
def every_route_app(database_url, redis_url, tmp_path_factory):
    """The app with the dev mailbox and dev SMS pages registered too."""
    folder = tmp_path_factory.mktemp("dev")
    return create_app(
        make_config(database_url, redis_url, DEV_MAILBOX_DIR=str(folder), DEV_SMS_DIR=str(folder))
    )


def _routes(app) -> dict[str, object]:
    """Each route, as "METHODS /rule", with its view function."""
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            methods = " ".join(sorted(rule.methods - {"HEAD", "OPTIONS"}))
            routes[f"{methods} {rule.rule}"] = app.view_functions[rule.endpoint]
    return routes


def test_every_route_allows_the_roles_it_allowed_before(every_route_app):
    allowed, capabilities = {}, {}
    for route, view in _routes(every_route_app).items():
        if getattr(view, "is_public", False):
            allowed[route] = PUBLIC
            continue
        capabilities[route] = getattr(view, "capabilities", ())
        holders = {role for name in capabilities[route] for role in roles_with(name)}
        allowed[route] = tuple(sorted(holders or EVERYONE))
    assert allowed == {
        route: roles if roles == PUBLIC else tuple(sorted(roles)) for route, roles in BEFORE.items()
    }
    assert {route for route, names in capabilities.items() if not names} == SIGNED_IN_ONLY


def test_checks_inside_handlers_and_services_keep_their_roles():
    assert set(roles_with(get_target("customers").capability)) == {"admin", "manager", "marketing"}
    assert set(roles_with(get_target("leads").capability)) == {
        "admin",
        "manager",
        "sales",
        "marketing",
    }
    bulk = {
        action: set(roles_with(capability)) for action, (_label, capability) in BULK_ACTIONS.items()
    }
    assert bulk == {
        "assign_owner": {"admin", "manager"},
        "add_tag": {"admin", "manager", "sales", "marketing"},
        "deactivate": {"admin", "manager"},
    }
    inside = {
        "approve quotes": {"manager", "admin"},  # quotes.review_quote
        "moderate notes": {"admin", "manager"},  # customer360.services.can_change_note
        "change any activity": {"admin", "manager"},  # activities.services.can_change
        "plan activities": {"admin", "manager", "sales"},  # activities.services.activity_users
        "work tickets": {"support", "manager", "admin"},  # tickets.services.assignable_users
        "set sales targets": {"admin", "manager"},  # the forecast's targets form
    }
    assert {name: set(roles_with(name)) for name in inside} == inside


def test_the_vocabulary_names_only_known_roles_and_fails_loudly_on_a_misspelling(app):
    assert {role for roles in CAPABILITIES.values() for role in roles} <= set(ROLES)
    with pytest.raises(KeyError, match="edit customer"):
        requires("edit customer")
    assert not allows("marketing", "edit customers", "merge customers")
    assert allows("support", "edit customers", "merge customers")
    with app.test_request_context():
        assert not can("view customers")  # nobody signed in


# What each role's navigation shows: tests/test_navigation.py.


def test_the_readme_lists_the_vocabulary_as_it_is():
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Permissions\n", 1)[1].split("\n## ", 1)[0]
    listed = {
        name: set(ROLES) if roles.strip() == "everyone" else set(roles.strip().split(", "))
        for name, roles in re.findall(r"^\| `([^`]+)` \|([^|]+)\|", section, re.M)
    }
    assert listed == {name: set(roles) for name, roles in CAPABILITIES.items()}
