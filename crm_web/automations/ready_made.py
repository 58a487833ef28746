"""Ready-made journeys to start from: the welcome series, birthday email and SMS with a coupon
code, win-back, re-engagement and holiday greeting. Each is made as a draft in the current
organization; its emails come from templates/automations/starters/<name>.<language>.html,
added to the library once per language (kept if a template of that name is there) and wired
so that each customer gets the email in their own language."""

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from crm_web.accounts.models import Organization
from crm_web.automations import services
from crm_web.automations.models import Automation
from crm_web.campaigns import library
from crm_web.db import atomic, current_organization_id
from crm_web.extensions import db
from crm_web.i18n import DEFAULT_LANGUAGE, LANGUAGES, supported

# starter email name -> (library name, category)
EMAILS = {
    "birthday": (_l("Birthday greeting"), "birthday"),
    "welcome": (_l("Welcome"), "custom"),
    "welcome_tips": (_l("Welcome: getting started"), "custom"),
    "welcome_offer": (_l("Welcome: a gift"), "promotion"),
    "win_back": (_l("We miss you"), "promotion"),
    "re_engagement": (_l("Still interested?"), "custom"),
    "holiday": (_l("Holiday greeting"), "custom"),
    "tier_upgraded": (_l("Loyalty tier upgraded"), "custom"),
}


def _email(name: str) -> dict:
    return {"type": "email", "starter": name}


# key -> (title, description, the journey with {"starter": name} in place of its email templates)
READY_MADE = {
    "welcome_series": (
        _l("Welcome series"),
        _l("Three emails over the first 7 days of a new customer, until a first purchase."),
        {
            "trigger_kind": "customer_created",
            "goal": {"kind": "purchase"},
            "steps": [
                _email("welcome"),
                {"type": "wait", "days": 3, "at": "10:00"},
                _email("welcome_tips"),
                {"type": "wait", "days": 4, "at": "10:00"},
                _email("welcome_offer"),
            ],
        },
    ),
    "birthday": (
        _l("Birthday email and SMS with a coupon code"),
        _l("On the customer's birthday, an email and an SMS with a gift code to edit."),
        {
            "trigger_kind": "birthday",
            "steps": [_email("birthday"), {"type": "sms", "template": "birthday_coupon"}],
        },
    ),
    "win_back": (
        _l("Win-back after 90 days without contact"),
        _l("An offer after 90 days without contact, then a call task for the owner."),
        {
            "trigger_kind": "no_contact",
            "trigger_config": {"days": 90},
            "goal": {"kind": "purchase"},
            "steps": [
                _email("win_back"),
                {"type": "wait", "days": 7},
                {"type": "task", "subject": _l("Call to win the customer back"), "due_days": 2},
            ],
        },
    ),
    "re_engagement": (
        _l("Re-engagement of quiet subscribers"),
        _l(
            "Subscribers who opened nothing in 6 months are asked whether to stay; tagged by answer."
        ),
        {
            "trigger_kind": "no_open",
            "trigger_config": {"days": 180},
            "steps": [
                _email("re_engagement"),
                {"type": "wait", "days": 14},
                {
                    "type": "branch",
                    "condition": "opened",
                    "yes": [{"type": "tag", "action": "add", "tag": "re-engaged"}],
                    "no": [{"type": "tag", "action": "add", "tag": "unengaged"}],
                },
            ],
        },
    ),
    "holiday": (
        _l("Holiday greeting"),
        _l("An email and an SMS on each holiday of the organization's calendar."),
        {
            "trigger_kind": "holiday",
            "steps": [_email("holiday"), {"type": "sms", "template": "holiday"}],
        },
    ),
}


def starter_source(name: str, language: str) -> tuple[str, str]:
    """The subject and HTML body of a starter email in `language` (tr or en)."""
    environment = current_app.jinja_env
    source, _path, _uptodate = environment.loader.get_source(
        environment, f"automations/starters/{name}.{language}.html"
    )
    first, _newline, body = source.partition("\n")
    return first.removeprefix("Subject:").strip(), body


def starter_emails(name: str, languages=LANGUAGES) -> dict[str, int]:
    """The starter email `name` in the library, one template per language: language -> id."""
    title, category = EMAILS[name]
    existing = {template.name: template.id for template in library.list_templates()}
    ids, names = {}, set()
    for language in languages:
        with force_locale(language):
            template_name = str(title)
        if template_name in names:  # the same in two languages: say which is which
            template_name = f"{template_name} ({language})"
        names.add(template_name)
        if template_name not in existing:
            subject, body = starter_source(name, language)
            template = library.create_template(
                {"name": template_name, "category": category, "subject": subject,
                 "html": library._page(body)}
            )  # fmt: skip
            existing[template_name] = template.id
        ids[language] = existing[template_name]
    return ids


def _organization_language() -> str:
    organization = db.session.get(Organization, current_organization_id())
    return supported(organization.locale) or DEFAULT_LANGUAGE


def _wire(steps: list, language: str) -> list:
    out = []
    for step in steps:
        step = dict(step)
        if "starter" in step:
            by_language = starter_emails(step.pop("starter"))
            step.update(template_id=by_language[language], languages=by_language)
        if step.get("type") == "task":
            step["subject"] = str(step["subject"])
        for arm in ("yes", "no"):
            if arm in step:
                step[arm] = _wire(step[arm], language)
        out.append(step)
    return out


@atomic
def create_from(key: str, name: str = "") -> Automation:
    """A draft journey from the ready-made one `key`, named `name` or after it."""
    title, _description, journey = READY_MADE[key]
    data = {**journey, "name": name.strip() or str(title)}
    data["steps"] = _wire(journey["steps"], _organization_language())
    return services.create_automation(data)
