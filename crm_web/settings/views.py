"""The settings page: links to every settings page the user may open, and the organization's
public lead and support forms to share or embed."""

from dataclasses import dataclass

from flask import Blueprint, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crm_web.leads import services as leads
from crm_web.permissions import may_open, requires
from crm_web.rendering import render

bp = Blueprint("settings", __name__)

# The settings pages this page links to: (endpoint, title, what one sets there).
SETTINGS_PAGES = (
    (
        "accounts.organization_settings",
        _l("Organization"),
        _l("Name, language, time zone and currency"),
    ),
    ("accounts.company", _l("Company details"), _l("Address and tax details printed on quotes")),
    ("profile.organization_tokens", _l("API tokens"), _l("Every token of the organization")),
    (
        "pipeline.settings",
        _l("Pipeline and quotes"),
        _l("Stages, win probabilities, approval threshold"),
    ),
    ("leads.settings", _l("Lead capture and assignment"), _l("Web form, teams, assignment rules")),
    ("leads.scoring_rules", _l("Lead scoring"), _l("The rules that score new leads")),
    ("tickets.settings", _l("Tickets"), _l("How many tickets an agent may hold at once")),
    ("sla.settings", _l("SLA policies"), _l("Response and resolution targets, business hours")),
)


@dataclass(frozen=True)
class PublicForm:
    key: str
    title: str
    url: str
    enabled: bool
    settings_endpoint: str


# The organization's public forms: (key, title, its page, its settings page, whether it is on).
PUBLIC_FORMS = (
    (
        "lead",
        _l("Lead form"),
        "leads.web_form",
        "leads.settings",
        lambda: leads.get_settings().web_form_enabled,
    ),
    ("support", _l("Support form"), "tickets.public_form", "tickets.settings", lambda: True),
)


@bp.route("/settings")
@requires("configure pipeline", "configure leads", "configure tickets", "manage SLA")
def index():
    """Each public form is shown to those who may change its settings."""
    slug = current_user.organization.slug
    forms = [
        PublicForm(
            key=key,
            title=str(title),
            url=url_for(endpoint, slug=slug, _external=True),
            enabled=enabled(),
            settings_endpoint=settings_endpoint,
        )
        for key, title, endpoint, settings_endpoint, enabled in PUBLIC_FORMS
        if may_open(settings_endpoint)
    ]
    pages = [page for page in SETTINGS_PAGES if may_open(page[0])]
    return render("settings/index.html", pages=pages, public_forms=forms)
